//! A detection scenario for AN0144 / AN0145: sixteen hosts of one network
//! (ten Windows, six Linux), an hour of history and, eight days later, the
//! period to judge, each as a capture and a native feed, plus a
//! configuration with a role for the Linux servers. Every process is a
//! labelled case: what the rules must report, and what must stay silent
//! and why.
//!
//! Bulk transfers use 60,000-byte segments (as a capture taken on a host
//! with segmentation offload shows them), so a gigabyte is some 25,000
//! frames.

use crate::conn::TcpConn;
use crate::http::{text_body, HttpRequest, HttpResponse};
use crate::pcap::Capture;
use crate::rng::mix64;
use crate::tls::{self, ClientHelloSpec, GREASE, TLS12, TLS13};
use crate::wire::{Link, LINKTYPE_ETHERNET};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

pub(crate) const SECOND: u64 = 1_000_000;
pub(crate) const WINDOW: u64 = 600 * SECOND;
/// The first history window: 2023-11-14T22:20:00Z.
pub const HISTORY_START: u64 = 1_700_000_400 * SECOND;
/// Windows of history.
pub const HISTORY_WINDOWS: u64 = 6;
/// The first window judged, eight days after the history.
pub const DETECTION_START: u64 = HISTORY_START + 8 * 86_400 * SECOND;
/// Segment size of bulk transfers.
const BULK_MSS: usize = 60_000;

/// An alert the scenario must raise.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExpectedAlert {
    /// The case.
    pub case: &'static str,
    /// "AN0144" or "AN0145".
    pub rule: &'static str,
    /// Host name.
    pub host: &'static str,
    /// Executable.
    pub executable: &'static str,
    /// Destination domain.
    pub domain: &'static str,
    /// Destination address.
    pub ip: &'static str,
    /// Destination port.
    pub port: u16,
    /// Window start (µs).
    pub window_start: u64,
}

/// A case that must stay silent, and why.
#[derive(Debug, Clone, Serialize)]
pub struct SilentCase {
    /// The case.
    pub case: &'static str,
    /// Hosts it runs on.
    pub hosts: Vec<&'static str>,
    /// Executable.
    pub executable: &'static str,
    /// Why no rule may fire.
    pub why: &'static str,
}

/// What was written and what it must give.
#[derive(Debug, Clone, Serialize)]
pub struct DetectionScenario {
    /// Alerts of the detection period, exactly.
    pub alerts: Vec<ExpectedAlert>,
    /// Cases that must stay silent.
    pub silent: Vec<SilentCase>,
    /// Packets of the history capture.
    pub history_packets: u64,
    /// Packets of the detection capture.
    pub detection_packets: u64,
}

/// The configuration written beside the captures: the defaults, plus a
/// role for the Linux servers with a higher AN0145 connection threshold.
pub const CONFIG: &str = "\
# Detection scenario: the defaults, and a role for the Linux servers.
[[roles]]
name = \"linux-servers\"
cidrs = [\"10.10.2.0/24\"]
[roles.an0145]
min_http_connections = 100
";

#[derive(Clone, Copy)]
pub(crate) struct Host {
    pub(crate) name: &'static str,
    pub(crate) ip: Ipv4Addr,
    os: &'static str,
    user: &'static str,
}

pub(crate) const WINDOWS_HOSTS: [Host; 10] = {
    let mut h = [Host {
        name: "",
        ip: Ipv4Addr::new(10, 10, 1, 11),
        os: "windows",
        user: "",
    }; 10];
    let names = [
        "WIN01", "WIN02", "WIN03", "WIN04", "WIN05", "WIN06", "WIN07", "WIN08", "WIN09", "WIN10",
    ];
    let users = [
        "CORP\\alice",
        "CORP\\ben",
        "CORP\\bob",
        "CORP\\dana",
        "CORP\\erin",
        "CORP\\frank",
        "CORP\\carol",
        "CORP\\hana",
        "CORP\\ivan",
        "CORP\\jo",
    ];
    let mut i = 0;
    while i < 10 {
        h[i].name = names[i];
        h[i].user = users[i];
        h[i].ip = Ipv4Addr::new(10, 10, 1, 11 + i as u8);
        i += 1;
    }
    h
};

pub(crate) const LINUX_HOSTS: [Host; 6] = {
    let mut h = [Host {
        name: "",
        ip: Ipv4Addr::new(10, 10, 2, 11),
        os: "linux",
        user: "root",
    }; 6];
    let names = ["lnx01", "lnx02", "lnx03", "lnx04", "lnx05", "lnx06"];
    let mut i = 0;
    while i < 6 {
        h[i].name = names[i];
        h[i].ip = Ipv4Addr::new(10, 10, 2, 11 + i as u8);
        i += 1;
    }
    h
};

pub(crate) fn win(i: usize) -> Host {
    WINDOWS_HOSTS[i - 1]
}

pub(crate) fn lnx(i: usize) -> Host {
    LINUX_HOSTS[i - 1]
}

pub(crate) const SVCHOST: &str = r"C:\Windows\System32\svchost.exe";
pub(crate) const CHROME: &str = r"C:\Program Files\Google\Chrome\Application\chrome.exe";
pub(crate) const BACKUP: &str = r"C:\Program Files\Contoso Backup\cbagent.exe";
pub(crate) const REPORTER: &str = r"C:\Program Files\Contoso\Reporter\reporter.exe";
pub(crate) const RCLONE: &str = r"C:\Tools\rclone.exe";
pub(crate) const UPD: &str = r"C:\Users\bob\AppData\Local\Temp\upd.exe";
pub(crate) const HELPER: &str = r"C:\Users\carol\AppData\Local\Temp\helper.exe";
pub(crate) const VEEAM: &str = r"C:\Program Files\Veeam\Endpoint Backup\Veeam.EndPoint.Service.exe";
pub(crate) const WUAUCLT: &str = r"C:\Windows\System32\wuauclt.exe";
pub(crate) const ZABBIX: &str = "/usr/sbin/zabbix_agentd";
pub(crate) const CURL: &str = "/usr/bin/curl";
pub(crate) const APT: &str = "/usr/lib/apt/methods/http";
pub(crate) const FIREFOX: &str = "/usr/bin/firefox";
pub(crate) const BEACON: &str = "/tmp/.x/sysupd";
pub(crate) const FETCHER: &str = "/home/dev/bin/fetcher";
pub(crate) const PROBE: &str = "/tmp/probe";
pub(crate) const HEALTHCHECK: &str = "/tmp/.cache/healthcheck";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address literal")
}

pub(crate) struct Gen<W: Write> {
    pub(crate) cap: Capture,
    pub(crate) feed: W,
    pub(crate) ports: HashMap<&'static str, u16>,
    pub(crate) seed: u64,
    pub(crate) scale: f64,
}

impl<W: Write> Gen<W> {
    pub(crate) fn bytes(&self, n: u64) -> usize {
        ((n as f64 * self.scale).round() as usize).max(1)
    }

    pub(crate) fn next_seed(&mut self) -> u64 {
        self.seed = mix64(self.seed.wrapping_add(1));
        self.seed
    }

    /// Moves the clock to `t` (never back).
    pub(crate) fn at(&mut self, t: u64) {
        let now = self.cap.now_us();
        assert!(t >= now, "scenario traffic overran its window");
        self.cap.advance_us(t - now);
    }

    pub(crate) fn client(&mut self, h: Host) -> SocketAddr {
        let p = self.ports.entry(h.name).or_insert(49_152);
        *p = if *p >= 65_000 { 49_152 } else { *p + 1 };
        SocketAddr::new(IpAddr::V4(h.ip), *p)
    }

    /// A connection with its handshake, and the feed's connect event.
    pub(crate) fn open(&mut self, h: Host, exe: &str, server: SocketAddr, mss: usize) -> TcpConn {
        let c = self.client(h);
        let ts = self.cap.now_us() + 300;
        let pid = 1000 + (mix64(exe.len() as u64 ^ u64::from(u32::from(h.ip))) % 30_000) as u32;
        let v = serde_json::json!({
            "ts": crate::attribution::rfc3339(ts as i64),
            "host": h.name, "os": h.os, "event": "connect", "proto": "tcp",
            "src_ip": c.ip().to_string(), "src_port": c.port(),
            "dst_ip": server.ip().to_string(), "dst_port": server.port(),
            "pid": pid, "process": exe, "user": h.user,
        });
        writeln!(self.feed, "{v}").expect("writing the feed");
        let mut conn = TcpConn::new(Link::Ethernet, c, server).with_mss(mss);
        conn.handshake(&mut self.cap);
        conn
    }

    /// One HTTP exchange per connection.
    pub(crate) fn http(
        &mut self,
        h: Host,
        exe: &str,
        server: &str,
        req: &HttpRequest,
        resp: &HttpResponse,
    ) {
        let mss = if req.body.len() + resp.body.len() > 512 << 10 {
            BULK_MSS
        } else {
            1460
        };
        let mut c = self.open(h, exe, addr(server), mss);
        c.client_send(&mut self.cap, &req.bytes());
        c.server_send(&mut self.cap, &resp.bytes());
        c.close(&mut self.cap);
    }

    /// A small POST of `body` bytes answered with `reply` bytes, `n`
    /// times, each on its own connection to `(server, domain)`.
    pub(crate) fn posts(
        &mut self,
        h: Host,
        exe: &str,
        (server, domain): (&str, &str),
        n: u64,
        (body, reply): (usize, usize),
    ) {
        for _ in 0..n {
            let seed = self.next_seed();
            let len = body.to_string();
            let req = HttpRequest::new(
                "POST",
                "/api/v2/report",
                "HTTP/1.1",
                &[
                    ("Host", domain),
                    ("User-Agent", "agent/2.1"),
                    ("Content-Type", "application/json"),
                    ("Content-Length", &len),
                ],
                text_body(body, seed),
            );
            let resp = HttpResponse::ok("text/plain", reply, seed ^ 1);
            self.http(h, exe, server, &req, &resp);
        }
    }

    /// GETs of `size` bytes each, one connection each.
    pub(crate) fn gets(
        &mut self,
        h: Host,
        exe: &str,
        server: &str,
        domain: &str,
        n: u64,
        size: usize,
    ) {
        for _ in 0..n {
            let seed = self.next_seed();
            let req = HttpRequest::get(domain, "/files/data.bin");
            let resp = HttpResponse::ok("application/octet-stream", size, seed);
            self.http(h, exe, server, &req, &resp);
        }
    }

    /// A TLS 1.3 session: `out` application-data bytes sent, `back` received
    /// (plus the server's 2,800-byte encrypted handshake flight).
    pub(crate) fn tls(
        &mut self,
        h: Host,
        exe: &str,
        server: &str,
        sni: &str,
        out: usize,
        back: usize,
    ) {
        self.tls_alpn(h, exe, server, sni, (out, back), &["http/1.1"]);
    }

    /// As [`Gen::tls`], the client offering `alpn` (none: no extension).
    pub(crate) fn tls_alpn(
        &mut self,
        h: Host,
        exe: &str,
        server: &str,
        sni: &str,
        (out, back): (usize, usize),
        alpn: &[&str],
    ) {
        let seed = self.next_seed();
        let mss = if out + back > 512 << 10 {
            BULK_MSS
        } else {
            1460
        };
        let mut c = self.open(h, exe, addr(server), mss);
        let ch = tls::client_hello(&ClientHelloSpec {
            legacy_version: TLS12,
            // An empty name: a ClientHello without SNI.
            sni: (!sni.is_empty()).then(|| sni.to_string()),
            alpn: alpn.iter().map(|p| p.to_string()).collect(),
            supported_versions: vec![GREASE, TLS13, TLS12],
            seed,
        });
        let sid = ch[44..76].to_vec();
        c.client_send(&mut self.cap, &ch);
        let sh = tls::record(
            tls::CT_HANDSHAKE,
            TLS12,
            &tls::server_hello(0x1301, Some(TLS13), &sid, seed ^ 1),
        );
        c.server_send(&mut self.cap, &[sh, tls::change_cipher_spec()].concat());
        c.server_send(&mut self.cap, &tls::app_data(2800, seed ^ 2));
        c.client_send(
            &mut self.cap,
            &[tls::change_cipher_spec(), tls::app_data(53, seed ^ 3)].concat(),
        );
        for (dir_out, total) in [(true, out), (false, back)] {
            let mut data = Vec::with_capacity(total + total / 16_384 * 5 + 5);
            let mut left = total;
            let mut k = 0u64;
            while left > 0 {
                let n = left.min(16_384);
                data.extend_from_slice(&tls::app_data(n, seed ^ (k << 8) ^ u64::from(dir_out)));
                left -= n;
                k += 1;
            }
            if dir_out {
                c.client_send(&mut self.cap, &data);
            } else {
                c.server_send(&mut self.cap, &data);
            }
        }
        c.close(&mut self.cap);
    }

    /// A DNS query from `h` for `name` (A), answered with `answers`.
    pub(crate) fn resolve(&mut self, h: Host, name: &str, answers: &[IpAddr]) {
        let client = self.client(h);
        let id = (self.next_seed() & 0xffff) as u16;
        let mut f = crate::conn::UdpFlow::new(Link::Ethernet, client, addr("10.10.0.53:53"));
        f.client_send(
            &mut self.cap,
            &crate::dns::query(id, name, crate::dns::QTYPE_A),
        );
        f.server_send(
            &mut self.cap,
            &crate::dns::response(id, name, crate::dns::QTYPE_A, answers),
        );
    }

    /// An HTTP upload of `size` bytes.
    pub(crate) fn upload(&mut self, h: Host, exe: &str, server: &str, domain: &str, size: usize) {
        let seed = self.next_seed();
        let len = size.to_string();
        let req = HttpRequest::new(
            "PUT",
            "/upload/archive.part",
            "HTTP/1.1",
            &[
                ("Host", domain),
                ("User-Agent", "rclone/v1.66.0"),
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", &len),
            ],
            text_body(size, seed),
        );
        let resp = HttpResponse::ok("application/json", 20, seed ^ 1);
        self.http(h, exe, server, &req, &resp);
    }

    /// What every host does in every window: the common processes.
    pub(crate) fn routine(&mut self, backup_bytes: u64, zabbix_polls: u64) {
        for h in WINDOWS_HOSTS {
            self.tls(
                h,
                SVCHOST,
                "13.107.4.50:443",
                "settings-win.data.microsoft.com",
                900,
                2000,
            );
            self.tls(
                h,
                CHROME,
                "142.250.74.14:443",
                "www.example-news.com",
                1500,
                60_000,
            );
            let b = self.bytes(backup_bytes);
            self.tls(
                h,
                BACKUP,
                "198.51.100.200:443",
                "vault.contoso-backup.example",
                b,
                4000,
            );
        }
        for h in LINUX_HOSTS {
            self.posts(
                h,
                ZABBIX,
                ("203.0.113.80:80", "monitor.corp-cloud.example"),
                zabbix_polls,
                (400, 20),
            );
            self.gets(
                h,
                CURL,
                "203.0.113.81:80",
                "repo.corp-cloud.example",
                1,
                3000,
            );
        }
    }
}

/// Volumes of the bulk cases (bytes).
pub(crate) struct Bulk {
    pub(crate) up200: usize,
    pub(crate) up40: usize,
    pub(crate) up30: usize,
    pub(crate) up5: usize,
    pub(crate) down60: usize,
    pub(crate) down40: usize,
    pub(crate) down30: usize,
}

impl<W: Write> Gen<W> {
    /// One window of history: the routine, the reporter's usual volume on
    /// two hosts, and (third window) one small rclone upload.
    pub(crate) fn history_window(&mut self, w: u64) {
        self.routine(2_000_000, 20);
        for h in [win(6), win(9)] {
            self.tls(
                h,
                REPORTER,
                "203.0.113.60:443",
                "reports.contoso-cloud.example",
                200_000,
                3000,
            );
        }
        if w == 2 {
            self.upload(
                win(5),
                RCLONE,
                "198.51.100.20:80",
                "files.example.org",
                3000,
            );
        }
    }

    /// The Windows cases the scenario and the suite share: three bulk
    /// uploads that must alert, the reporter at its usual volume, an
    /// allowlisted backup agent, a browser and an updater downloading,
    /// and a rare process with a few KB.
    pub(crate) fn windows_cases(&mut self, v: &Bulk) {
        let reports = "reports.contoso-cloud.example";
        self.tls(
            win(3),
            UPD,
            "203.0.113.50:443",
            "sync.example.net",
            v.up200,
            8000,
        );
        self.upload(
            win(5),
            RCLONE,
            "198.51.100.20:80",
            "files.example.org",
            v.up40,
        );
        self.tls(win(6), REPORTER, "203.0.113.60:443", reports, v.up5, 3000);
        self.tls(win(9), REPORTER, "203.0.113.60:443", reports, 200_000, 3000);
        self.tls(
            win(8),
            VEEAM,
            "198.51.100.210:443",
            "backup.veeam-cloud.example",
            v.up30,
            4000,
        );
        self.tls(
            win(2),
            CHROME,
            "203.0.113.90:443",
            "dl.example-mirror.com",
            2000,
            v.down60,
        );
        self.tls(
            win(1),
            WUAUCLT,
            "203.0.113.91:443",
            "download.windowsupdate.com",
            3000,
            v.down40,
        );
        self.tls(
            win(7),
            HELPER,
            "203.0.113.92:443",
            "cdn.example-ads.net",
            2500,
            2500,
        );
    }

    /// The Linux downloads the scenario and the suite share: a custom
    /// binary fetching large answers, a probe of three connections,
    /// package downloads and a browser.
    pub(crate) fn linux_downloads(&mut self, v: &Bulk) {
        self.gets(
            lnx(2),
            FETCHER,
            "203.0.113.95:80",
            "data.example.org",
            80,
            100_000,
        );
        self.gets(
            lnx(4),
            PROBE,
            "203.0.113.96:80",
            "probe.example.org",
            3,
            200,
        );
        self.gets(
            lnx(1),
            APT,
            "203.0.113.97:80",
            "deb.debian.org",
            4,
            v.down40 / 8,
        );
        self.tls(
            lnx(6),
            FIREFOX,
            "203.0.113.98:443",
            "iso.example-linux.org",
            3000,
            v.down30,
        );
    }
}

/// Writes `history.pcap`, `history.feed.jsonl`, `detection.pcap`,
/// `detection.feed.jsonl` and `config.toml` into `dir`. `scale` multiplies
/// the bulk volumes (1.0: about 1.6 GB of detection traffic; the alerts
/// are the same down to about 0.5).
pub fn write(dir: &Path, scale: f64) -> io::Result<DetectionScenario> {
    std::fs::write(dir.join("config.toml"), CONFIG)?;
    let mut hist = Gen {
        cap: Capture::to_file(LINKTYPE_ETHERNET, &dir.join("history.pcap"))?,
        feed: io::BufWriter::new(std::fs::File::create(dir.join("history.feed.jsonl"))?),
        ports: HashMap::new(),
        seed: 0x5eed_0144,
        scale,
    };
    for w in 0..HISTORY_WINDOWS {
        hist.at(HISTORY_START + w * WINDOW + 5 * SECOND);
        hist.history_window(w);
    }
    let history_packets = hist.cap.packets();
    hist.feed.flush()?;
    hist.cap.finish_file()?;

    let mut det = Gen {
        cap: Capture::to_file(LINKTYPE_ETHERNET, &dir.join("detection.pcap"))?,
        feed: io::BufWriter::new(std::fs::File::create(dir.join("detection.feed.jsonl"))?),
        ports: HashMap::new(),
        seed: 0x5eed_0145,
        scale,
    };
    det.at(DETECTION_START + 5 * SECOND);
    // The backup agent on every Windows host uploads 120 MB (1.2 GB in
    // all), 60 times its usual volume; the monitoring agent polls 120 times.
    det.routine(120_000_000, 120);
    let mb = |n: u64| det.bytes(n * 1_000_000);
    let bulk = Bulk {
        up200: mb(200),
        up40: mb(40),
        up30: mb(30),
        up5: mb(5),
        down60: mb(60),
        down40: mb(40),
        down30: mb(30),
    };
    det.windows_cases(&bulk);
    det.tls(
        win(7),
        HELPER,
        "203.0.113.92:443",
        "cdn.example-ads.net",
        2500,
        2500,
    );
    det.posts(
        lnx(3),
        BEACON,
        ("198.51.100.77:80", "c2.example.net"),
        300,
        (512, 2),
    );
    det.posts(
        lnx(5),
        HEALTHCHECK,
        ("198.51.100.78:80", "status.example.net"),
        60,
        (200, 2),
    );
    det.linux_downloads(&bulk);
    // A quiet second window, so the period closes in two batches.
    det.at(DETECTION_START + WINDOW + 5 * SECOND);
    det.routine(1_000_000, 10);
    let detection_packets = det.cap.packets();
    det.feed.flush()?;
    det.cap.finish_file()?;

    let d = DETECTION_START;
    let alerts = vec![
        ExpectedAlert {
            case: "unseen Windows executable uploading 200 MB over TLS",
            rule: "AN0144",
            host: "WIN03",
            executable: UPD,
            domain: "sync.example.net",
            ip: "203.0.113.50",
            port: 443,
            window_start: d,
        },
        ExpectedAlert {
            case: "executable seen on one host before, uploading 40 MB over HTTP",
            rule: "AN0144",
            host: "WIN05",
            executable: RCLONE,
            domain: "files.example.org",
            ip: "198.51.100.20",
            port: 80,
            window_start: d,
        },
        ExpectedAlert {
            case: "uncommon executable sending 25 times its own p99",
            rule: "AN0144",
            host: "WIN06",
            executable: REPORTER,
            domain: "reports.contoso-cloud.example",
            ip: "203.0.113.60",
            port: 443,
            window_start: d,
        },
        ExpectedAlert {
            case: "unseen binary in /tmp making 300 HTTP POSTs with tiny responses",
            rule: "AN0145",
            host: "lnx03",
            executable: BEACON,
            domain: "c2.example.net",
            ip: "198.51.100.77",
            port: 80,
            window_start: d,
        },
    ];
    let silent = vec![
        SilentCase {
            case: "backup agent on every Windows host uploading 1.2 GB",
            hosts: WINDOWS_HOSTS.iter().map(|h| h.name).collect(),
            executable: BACKUP,
            why: "common: it runs on all ten Windows hosts",
        },
        SilentCase {
            case: "browser downloading 60 MB",
            hosts: vec!["WIN02"],
            executable: CHROME,
            why: "allowlisted browser, and little goes out",
        },
        SilentCase {
            case: "OS updater downloading 40 MB",
            hosts: vec!["WIN01"],
            executable: WUAUCLT,
            why: "allowlisted updater and update domain; little goes out",
        },
        SilentCase {
            case: "unseen backup agent uploading 30 MB",
            hosts: vec!["WIN08"],
            executable: VEEAM,
            why: "allowlisted backup agent",
        },
        SilentCase {
            case: "unseen process with a few KB of traffic",
            hosts: vec!["WIN07", "lnx04"],
            executable: HELPER,
            why: "far below every threshold (and /tmp/probe opens 3 connections)",
        },
        SilentCase {
            case: "monitoring agent polling with small responses on every Linux host",
            hosts: LINUX_HOSTS.iter().map(|h| h.name).collect(),
            executable: ZABBIX,
            why: "package-managed and known for eight days",
        },
        SilentCase {
            case: "custom Linux binary downloading large responses",
            hosts: vec!["lnx02"],
            executable: FETCHER,
            why: "response ratio far above the threshold",
        },
        SilentCase {
            case: "custom Linux binary under the role's connection threshold",
            hosts: vec!["lnx05"],
            executable: HEALTHCHECK,
            why: "60 connections: over the default 50, under the linux-servers role's 100",
        },
        SilentCase {
            case: "package downloads and a Linux browser",
            hosts: vec!["lnx01", "lnx06"],
            executable: APT,
            why: "allowlisted; little goes out",
        },
    ];
    Ok(DetectionScenario {
        alerts,
        silent,
        history_packets,
        detection_packets,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_are_distinct() {
        let mut names: Vec<&str> = super::WINDOWS_HOSTS
            .iter()
            .chain(&super::LINUX_HOSTS)
            .map(|h| h.name)
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 16);
        assert_eq!(super::win(10).ip.to_string(), "10.10.1.20");
        assert_eq!(super::lnx(6).ip.to_string(), "10.10.2.16");
    }
}
