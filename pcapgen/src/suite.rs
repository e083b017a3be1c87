//! The labelled detection suite: the detection scenario's network and
//! history, and a detection period holding thirteen cases the rules must
//! report (POST and GET beacons, regular and jittered, cleartext and
//! HTTPS, bulk uploads by unseen and by uncommon images, a common name in
//! an unusual path, an upload spread over a CDN's addresses) and seventeen benign ones they must leave alone
//! (backup agents, browsers, updaters, package managers, monitoring and
//! health-check pollers, an in-house agent that polls as it always has, a
//! CI runner downloading, rare processes with tiny traffic).
//!
//! Beacons connect on a schedule within the window (every 4 s, or 4 s
//! ± 1.2 s), interleaved in time as on a real network.

use crate::detection::{
    lnx, win, Bulk, DetectionScenario, ExpectedAlert, Gen, Host, SilentCase, APT, BACKUP, CHROME,
    CONFIG, CURL, DETECTION_START, FETCHER, FIREFOX, HEALTHCHECK, HELPER, HISTORY_START,
    HISTORY_WINDOWS, LINUX_HOSTS, PROBE, RCLONE, REPORTER, SECOND, SVCHOST, UPD, VEEAM, WINDOW,
    WINDOWS_HOSTS, WUAUCLT, ZABBIX,
};
use crate::pcap::Capture;
use crate::rng::mix64;
use crate::wire::LINKTYPE_ETHERNET;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;

const POST_BEACON: &str = "/tmp/.x/sysupd";
const GET_BEACON: &str = "/var/tmp/.cache/upd";
const JITTER_BEACON: &str = "/dev/shm/kworker";
const HTTPS_BEACON: &str = "/home/ops/.local/bin/syncd";
const H2_BEACON: &str = "/tmp/svc";
const MANAGED_LOOKALIKE: &str = "/usr/local/bin/netmond";
const PORT_BEACON: &str = "/opt/.hidden/agent";
const RENAMED: &str = r"C:\Users\Public\svchost.exe";
const POSTER: &str = r"C:\ProgramData\Updater\agent.exe";
const INVENTORY: &str = "/srv/corp/inventory";
const RUNNER: &str = "/home/ci/runner/bin/Runner.Worker";
const VENDOR: &str = "/opt/vendor/tool";
const NO_SNI: &str = r"C:\Users\Public\Libraries\ms-cache.exe";

/// One connection a case makes at a point in time.
#[derive(Clone, Copy)]
enum Act {
    Post(
        Host,
        &'static str,
        (&'static str, &'static str),
        (usize, usize),
    ),
    Get(Host, &'static str, &'static str, &'static str, usize),
    Tls(
        Host,
        &'static str,
        &'static str,
        &'static str,
        (usize, usize),
        &'static [&'static str],
    ),
}

impl Act {
    fn run<W: Write>(self, g: &mut Gen<W>) {
        match self {
            Act::Post(h, exe, to, sizes) => g.posts(h, exe, to, 1, sizes),
            Act::Get(h, exe, server, domain, size) => g.gets(h, exe, server, domain, 1, size),
            Act::Tls(h, exe, server, sni, sizes, alpn) => {
                g.tls_alpn(h, exe, server, sni, sizes, alpn)
            }
        }
    }
}

/// `n` connections of `act` from `start`, every `every` µs, moved by up to
/// `jitter` µs either way (a fixed pattern from `seed`).
fn every(start: u64, n: u64, every: u64, jitter: u64, seed: u64, act: Act) -> Vec<(u64, Act)> {
    (0..n)
        .map(|i| {
            let j = if jitter == 0 {
                0
            } else {
                mix64(seed ^ i) % (2 * jitter + 1)
            };
            (start + i * every + j, act)
        })
        .collect()
}

/// Runs `acts` in time order; one whose time has passed runs at once.
fn play<W: Write>(g: &mut Gen<W>, mut acts: Vec<(u64, Act)>) {
    acts.sort_by_key(|(t, _)| *t);
    for (t, act) in acts {
        if t > g.cap.now_us() {
            g.at(t);
        }
        act.run(g);
    }
}

/// Writes the suite (`history.pcap`, `detection.pcap`, their feeds and
/// `config.toml`) into `dir`; `scale` multiplies the bulk volumes.
pub fn write(dir: &Path, scale: f64) -> io::Result<DetectionScenario> {
    std::fs::write(dir.join("config.toml"), CONFIG)?;
    let mut hist = Gen {
        cap: Capture::to_file(LINKTYPE_ETHERNET, &dir.join("history.pcap"))?,
        feed: io::BufWriter::new(std::fs::File::create(dir.join("history.feed.jsonl"))?),
        ports: HashMap::new(),
        seed: 0x5017_0144,
        scale,
    };
    for w in 0..HISTORY_WINDOWS {
        hist.at(HISTORY_START + w * WINDOW + 5 * SECOND);
        history_window(&mut hist, w);
    }
    let history_packets = hist.cap.packets();
    hist.feed.flush()?;
    hist.cap.finish_file()?;

    let mut det = Gen {
        cap: Capture::to_file(LINKTYPE_ETHERNET, &dir.join("detection.pcap"))?,
        feed: io::BufWriter::new(std::fs::File::create(dir.join("detection.feed.jsonl"))?),
        ports: HashMap::new(),
        seed: 0x5017_0145,
        scale,
    };
    det.at(DETECTION_START + 5 * SECOND);
    det.routine(120_000_000, 120);
    one_shots(&mut det);
    play(&mut det, schedule());
    // A quiet second window, so the period closes in two batches.
    det.at(DETECTION_START + WINDOW + 5 * SECOND);
    det.routine(1_000_000, 10);
    let detection_packets = det.cap.packets();
    det.feed.flush()?;
    det.cap.finish_file()?;
    Ok(DetectionScenario {
        alerts: expected(),
        silent: silent(),
        history_packets,
        detection_packets,
    })
}

/// One window of history: the routine, the reporter's usual volume, one
/// rclone upload, the in-house inventory agent polling on every Linux host.
fn history_window<W: Write>(g: &mut Gen<W>, w: u64) {
    g.history_window(w);
    let start = g.cap.now_us() + SECOND;
    let polls = LINUX_HOSTS
        .iter()
        .enumerate()
        .flat_map(|(i, h)| {
            let act = Act::Tls(
                *h,
                INVENTORY,
                "203.0.113.30:443",
                "inventory.corp.example",
                (400, 300),
                &["http/1.1"],
            );
            every(start + i as u64 * 300_000, 110, 4 * SECOND, 0, 0, act)
        })
        .collect();
    play(g, polls);
}

/// The cases that happen once, at the window's start. Their volumes are
/// the cases' own (the scale only changes the routine's backups).
fn one_shots<W: Write>(g: &mut Gen<W>) {
    const MB: usize = 1_000_000;
    let bulk = Bulk {
        up200: 200 * MB,
        up40: 40 * MB,
        up30: 30 * MB,
        up5: 5 * MB,
        down60: 60 * MB,
        down40: 40 * MB,
        down30: 30 * MB,
    };
    g.windows_cases(&bulk);
    g.tls(
        win(4),
        RENAMED,
        "203.0.113.51:443",
        "cdn.files-share.example",
        50 * MB,
        6000,
    );
    // TLS without a server name to a CDN that answers with two addresses:
    // 6 MB to each, one destination by the name the host resolved.
    let cdn = [[203, 0, 113, 120], [203, 0, 113, 121]].map(IpAddr::from);
    g.resolve(win(2), "files.cdn-rotate.example", &cdn);
    g.tls(win(2), NO_SNI, "203.0.113.120:443", "", 6 * MB, 3000);
    g.tls(win(2), NO_SNI, "203.0.113.121:443", "", 6 * MB, 3000);
    g.posts(
        win(10),
        POSTER,
        ("198.51.100.30:80", "collect.example.biz"),
        30,
        (MB / 2, 40),
    );
    g.linux_downloads(&bulk);
    g.gets(
        lnx(3),
        RUNNER,
        "203.0.113.99:80",
        "artifacts.ci.example",
        120,
        150_000,
    );
    g.gets(
        lnx(5),
        VENDOR,
        "203.0.113.100:80",
        "license.vendor.example",
        5,
        300,
    );
}

/// The connections made on a schedule: the beacons and the pollers.
fn schedule() -> Vec<(u64, Act)> {
    let t0 = DETECTION_START + 60 * SECOND;
    let s4 = 4 * SECOND;
    let mut acts = Vec::new();
    let mut add = |v: Vec<(u64, Act)>| acts.extend(v);
    add(every(
        t0,
        120,
        s4,
        0,
        1,
        Act::Post(
            lnx(3),
            POST_BEACON,
            ("198.51.100.77:80", "c2.example.net"),
            (512, 2),
        ),
    ));
    add(every(
        t0 + 100_000,
        120,
        s4,
        0,
        2,
        Act::Get(
            lnx(1),
            GET_BEACON,
            "198.51.100.81:80",
            "updates.example.info",
            40,
        ),
    ));
    add(every(
        t0 + 200_000,
        120,
        s4,
        1_200_000,
        3,
        Act::Get(
            lnx(2),
            JITTER_BEACON,
            "198.51.100.82:80",
            "cdn.example.info",
            60,
        ),
    ));
    add(every(
        t0 + 300_000,
        120,
        s4,
        0,
        4,
        Act::Tls(
            lnx(4),
            HTTPS_BEACON,
            "198.51.100.83:443",
            "api.sync-now.example",
            (300, 200),
            &["http/1.1"],
        ),
    ));
    add(every(
        t0 + 400_000,
        120,
        s4,
        1_200_000,
        5,
        Act::Tls(
            lnx(5),
            H2_BEACON,
            "198.51.100.84:8443",
            "edge.example.info",
            (350, 150),
            &["h2", "http/1.1"],
        ),
    ));
    add(every(
        t0 + 500_000,
        120,
        s4,
        0,
        6,
        Act::Post(
            lnx(6),
            MANAGED_LOOKALIKE,
            ("198.51.100.85:80", "telemetry.example.info"),
            (400, 2),
        ),
    ));
    add(every(
        t0 + 600_000,
        120,
        s4,
        0,
        7,
        Act::Tls(
            lnx(6),
            PORT_BEACON,
            "198.51.100.86:443",
            "static.example.info",
            (280, 120),
            &[],
        ),
    ));
    // Benign pollers: the health check under its role's threshold, curl
    // polling a status page, the inventory agent as every hour before.
    add(every(
        t0 + 700_000,
        60,
        2 * s4,
        0,
        8,
        Act::Post(
            lnx(5),
            HEALTHCHECK,
            ("198.51.100.78:80", "status.example.net"),
            (200, 2),
        ),
    ));
    add(every(
        t0 + 800_000,
        150,
        3 * SECOND,
        0,
        9,
        Act::Get(
            lnx(4),
            CURL,
            "203.0.113.82:80",
            "status.corp-cloud.example",
            20,
        ),
    ));
    for (i, h) in LINUX_HOSTS.iter().enumerate() {
        add(every(
            t0 + 900_000 + i as u64 * 300_000,
            110,
            s4,
            0,
            10,
            Act::Tls(
                *h,
                INVENTORY,
                "203.0.113.30:443",
                "inventory.corp.example",
                (400, 300),
                &["http/1.1"],
            ),
        ));
    }
    acts
}

fn alert(
    case: &'static str,
    rule: &'static str,
    host: Host,
    executable: &'static str,
    (domain, ip, port): (&'static str, &'static str, u16),
) -> ExpectedAlert {
    ExpectedAlert {
        case,
        rule,
        host: host.name,
        executable,
        domain,
        ip,
        port,
        window_start: DETECTION_START,
    }
}

/// The thirteen alerts the suite must raise, exactly.
fn expected() -> Vec<ExpectedAlert> {
    vec![
        alert(
            "unseen binary in /tmp, regular POST beacon over HTTP",
            "AN0145",
            lnx(3),
            POST_BEACON,
            ("c2.example.net", "198.51.100.77", 80),
        ),
        alert(
            "unseen binary in /var/tmp, regular GET beacon with near-empty answers",
            "AN0145",
            lnx(1),
            GET_BEACON,
            ("updates.example.info", "198.51.100.81", 80),
        ),
        alert(
            "unseen binary in /dev/shm, jittered GET beacon",
            "AN0145",
            lnx(2),
            JITTER_BEACON,
            ("cdn.example.info", "198.51.100.82", 80),
        ),
        alert(
            "unseen binary in a hidden home folder, regular HTTPS beacon",
            "AN0145",
            lnx(4),
            HTTPS_BEACON,
            ("api.sync-now.example", "198.51.100.83", 443),
        ),
        alert(
            "unseen binary in /tmp, jittered HTTPS (h2) beacon to port 8443",
            "AN0145",
            lnx(5),
            H2_BEACON,
            ("edge.example.info", "198.51.100.84", 8443),
        ),
        alert(
            "unseen binary outside the package-managed folders, POST beacon",
            "AN0145",
            lnx(6),
            MANAGED_LOOKALIKE,
            ("telemetry.example.info", "198.51.100.85", 80),
        ),
        alert(
            "binary in a hidden folder, TLS beacon to port 443 without ALPN",
            "AN0145",
            lnx(6),
            PORT_BEACON,
            ("static.example.info", "198.51.100.86", 443),
        ),
        alert(
            "unseen Windows executable uploading 200 MB over TLS",
            "AN0144",
            win(3),
            UPD,
            ("sync.example.net", "203.0.113.50", 443),
        ),
        alert(
            "executable seen on one host before, uploading 40 MB over HTTP",
            "AN0144",
            win(5),
            RCLONE,
            ("files.example.org", "198.51.100.20", 80),
        ),
        alert(
            "a common name (svchost.exe) in an unusual path uploading 50 MB",
            "AN0144",
            win(4),
            RENAMED,
            ("cdn.files-share.example", "203.0.113.51", 443),
        ),
        alert(
            "uncommon executable sending 25 times its own p99",
            "AN0144",
            win(6),
            REPORTER,
            ("reports.contoso-cloud.example", "203.0.113.60", 443),
        ),
        alert(
            "unseen executable posting 15 MB in 30 HTTP requests",
            "AN0144",
            win(10),
            POSTER,
            ("collect.example.biz", "198.51.100.30", 80),
        ),
        alert(
            "unseen executable uploading 2 x 6 MB over TLS without SNI to a CDN's two addresses, named by DNS",
            "AN0144",
            win(2),
            NO_SNI,
            ("files.cdn-rotate.example", "203.0.113.120", 443),
        ),
    ]
}

fn quiet(
    case: &'static str,
    hosts: Vec<&'static str>,
    executable: &'static str,
    why: &'static str,
) -> SilentCase {
    SilentCase {
        case,
        hosts,
        executable,
        why,
    }
}

/// The seventeen cases that must stay silent.
fn silent() -> Vec<SilentCase> {
    let all_win: Vec<&'static str> = WINDOWS_HOSTS.iter().map(|h| h.name).collect();
    let all_lnx: Vec<&'static str> = LINUX_HOSTS.iter().map(|h| h.name).collect();
    vec![
        quiet(
            "backup agent on every Windows host uploading 1.2 GB",
            all_win.clone(),
            BACKUP,
            "common: it runs on all ten Windows hosts",
        ),
        quiet(
            "OS telemetry on every Windows host",
            all_win,
            SVCHOST,
            "common and small",
        ),
        quiet(
            "browser downloading 60 MB",
            vec!["WIN02"],
            CHROME,
            "allowlisted browser, and little goes out",
        ),
        quiet(
            "OS updater downloading 40 MB",
            vec!["WIN01"],
            WUAUCLT,
            "allowlisted updater",
        ),
        quiet(
            "unseen backup agent uploading 30 MB",
            vec!["WIN08"],
            VEEAM,
            "allowlisted backup agent",
        ),
        quiet(
            "the reporter at its usual 200 KB",
            vec!["WIN09"],
            REPORTER,
            "within its own history",
        ),
        quiet(
            "unseen process with a few KB of traffic",
            vec!["WIN07"],
            HELPER,
            "far below every threshold",
        ),
        quiet(
            "unseen binary in /tmp opening 3 connections",
            vec!["lnx04"],
            PROBE,
            "far below the connection threshold",
        ),
        quiet(
            "monitoring agent polling with small responses on every Linux host",
            all_lnx.clone(),
            ZABBIX,
            "package-managed and known",
        ),
        quiet(
            "curl polling a status page 150 times",
            vec!["lnx04"],
            CURL,
            "package-managed and known for eight days",
        ),
        quiet(
            "in-house inventory agent polling over HTTPS on every Linux host",
            all_lnx,
            INVENTORY,
            "custom, but polling as its own history says it always has",
        ),
        quiet(
            "custom Linux binary downloading large responses",
            vec!["lnx02"],
            FETCHER,
            "much comes back",
        ),
        quiet(
            "CI runner downloading 120 artifacts",
            vec!["lnx03"],
            RUNNER,
            "much comes back",
        ),
        quiet(
            "custom Linux binary under the role's connection threshold",
            vec!["lnx05"],
            HEALTHCHECK,
            "60 connections: under the linux-servers role's 100",
        ),
        quiet(
            "package downloads",
            vec!["lnx01"],
            APT,
            "allowlisted; little goes out",
        ),
        quiet(
            "a Linux browser downloading 30 MB",
            vec!["lnx06"],
            FIREFOX,
            "allowlisted; little goes out",
        ),
        quiet(
            "a rare vendor tool checking its licence",
            vec!["lnx05"],
            VENDOR,
            "5 connections: far below the threshold",
        ),
    ]
}
