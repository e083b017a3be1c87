//! An attribution scenario: one capture, the endpoint feed that goes with
//! it (native JSON lines), and what each flow must be attributed to.
//!
//! Cases: exact matches on several hosts, a late event (12 s after the
//! connection) on a host whose other events are on time, a socket living
//! 40 ms with its close event, one local port reused by two processes three
//! minutes apart, a feed without the local port, two feed records that
//! disagree, a host clock 1 s behind, a host clock three days behind, IPv6,
//! an accepting server's process, and a flow no feed names.

use crate::conn::TcpConn;
use crate::http::{HttpRequest, HttpResponse};
use crate::pcap::Capture;
use crate::wire::{Link, LINKTYPE_ETHERNET};
use serde::Serialize;
use std::net::SocketAddr;

const SECOND: i64 = 1_000_000;

/// What one side of a flow must be attributed to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExpectedSide {
    /// Host name.
    pub host: &'static str,
    /// Process id.
    pub pid: u32,
    /// Executable.
    pub executable: &'static str,
    /// "exact", "remote_only" or "time_window".
    pub quality: &'static str,
}

/// One flow of the scenario and its attribution.
#[derive(Debug, Clone, Serialize)]
pub struct ExpectedAttribution {
    /// What the case shows.
    pub case: &'static str,
    /// Client address and port.
    pub client: SocketAddr,
    /// Server address and port.
    pub server: SocketAddr,
    /// Flow start (µs).
    pub start: u64,
    /// The client's process; `None`: unattributed.
    pub client_process: Option<ExpectedSide>,
    /// The server's process, when a feed names it.
    pub server_process: Option<ExpectedSide>,
    /// The client side must be reported as a conflict.
    pub conflict: bool,
}

/// The capture, the feed and the expectations.
pub struct AttributionScenario {
    /// pcap bytes.
    pub pcap: Vec<u8>,
    /// Native JSON lines feed, one event a line.
    pub feed: String,
    /// Expected attribution per flow, in capture order.
    pub flows: Vec<ExpectedAttribution>,
    /// Expected clock offsets (sensor minus host, µs) for the hosts whose
    /// clocks are off, as (host, offset).
    pub clock_offsets: Vec<(&'static str, i64)>,
}

struct Builder {
    cap: Capture,
    feed: Vec<String>,
    flows: Vec<ExpectedAttribution>,
}

/// One feed event, as written.
struct Ev<'a> {
    ts: i64,
    host: &'a str,
    os: &'a str,
    event: &'a str,
    local: SocketAddr,
    local_port: bool,
    remote: SocketAddr,
    pid: u32,
    exe: &'a str,
}

pub(crate) fn rfc3339(us: i64) -> String {
    let us = u64::try_from(us).unwrap_or(0);
    let secs = us / 1_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since the epoch (era-based algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        us % 1_000_000
    )
}

impl Builder {
    fn event(&mut self, e: Ev) {
        let mut v = serde_json::json!({
            "ts": rfc3339(e.ts),
            "host": e.host,
            "os": e.os,
            "event": e.event,
            "proto": "tcp",
            "src_ip": e.local.ip().to_string(),
            "dst_ip": e.remote.ip().to_string(),
            "dst_port": e.remote.port(),
            "pid": e.pid,
            "process": e.exe,
        });
        if e.local_port {
            v["src_port"] = e.local.port().into();
        }
        self.feed.push(v.to_string());
    }

    /// A GET with a `len`-byte response; returns the flow's start time.
    fn http(&mut self, client: &str, server: &str, len: usize) -> (SocketAddr, SocketAddr, i64) {
        let c: SocketAddr = client.parse().expect("address literal");
        let s: SocketAddr = server.parse().expect("address literal");
        let start = self.cap.now_us() as i64;
        let mut conn = TcpConn::new(Link::Ethernet, c, s);
        conn.handshake(&mut self.cap);
        conn.client_send(
            &mut self.cap,
            &HttpRequest::get("app.example.net", "/poll").bytes(),
        );
        conn.server_send(
            &mut self.cap,
            &HttpResponse::ok("text/plain", len, len as u64).bytes(),
        );
        conn.close(&mut self.cap);
        self.cap.advance_us(200_000);
        (c, s, start)
    }

    fn expect(
        &mut self,
        case: &'static str,
        (client, server, start): (SocketAddr, SocketAddr, i64),
        client_process: Option<ExpectedSide>,
        server_process: Option<ExpectedSide>,
        conflict: bool,
    ) {
        self.flows.push(ExpectedAttribution {
            case,
            client,
            server,
            start: start as u64,
            client_process,
            server_process,
            conflict,
        });
    }
}

fn side(
    host: &'static str,
    pid: u32,
    executable: &'static str,
    quality: &'static str,
) -> Option<ExpectedSide> {
    Some(ExpectedSide {
        host,
        pid,
        executable,
        quality,
    })
}

/// Builds the scenario.
pub fn attribution() -> AttributionScenario {
    let mut b = Builder {
        cap: Capture::new(LINKTYPE_ETHERNET),
        feed: Vec::new(),
        flows: Vec::new(),
    };
    let ev = |ts, host, os, event, local, remote, pid, exe| Ev {
        ts,
        host,
        os,
        event,
        local,
        local_port: true,
        remote,
        pid,
        exe,
    };

    // ws1: four connections logged on time, then one logged 12 s late.
    for (i, port) in [41001u16, 41002, 41003, 41004].into_iter().enumerate() {
        let f = b.http(&format!("10.1.0.5:{port}"), "203.0.113.10:80", 300 + i * 10);
        b.event(ev(
            f.2 + 900,
            "ws1",
            "linux",
            "connect",
            f.0,
            f.1,
            1100,
            "/usr/bin/curl",
        ));
        b.expect(
            "on time",
            f,
            side("ws1", 1100, "/usr/bin/curl", "exact"),
            None,
            false,
        );
    }
    let f = b.http("10.1.0.5:41005", "203.0.113.10:80", 500);
    b.event(ev(
        f.2 + 12 * SECOND,
        "ws1",
        "linux",
        "connect",
        f.0,
        f.1,
        1200,
        "/opt/agent/late-agent",
    ));
    b.expect(
        "late event",
        f,
        side("ws1", 1200, "/opt/agent/late-agent", "time_window"),
        None,
        false,
    );

    // A socket living 40 ms, with connect and close events.
    let f = b.http("10.1.0.5:41006", "203.0.113.11:80", 100);
    b.event(ev(
        f.2 + 300,
        "ws1",
        "linux",
        "connect",
        f.0,
        f.1,
        1300,
        "/usr/bin/wget",
    ));
    b.event(ev(
        f.2 + 40_000,
        "ws1",
        "linux",
        "close",
        f.0,
        f.1,
        1300,
        "/usr/bin/wget",
    ));
    b.expect(
        "short-lived socket",
        f,
        side("ws1", 1300, "/usr/bin/wget", "exact"),
        None,
        false,
    );

    // One local port, two processes, three minutes apart.
    let f = b.http("10.1.0.5:41100", "203.0.113.20:80", 2000);
    b.event(ev(
        f.2 + 500,
        "ws1",
        "linux",
        "connect",
        f.0,
        f.1,
        2010,
        "/usr/bin/curl",
    ));
    b.expect(
        "port reuse, first",
        f,
        side("ws1", 2010, "/usr/bin/curl", "exact"),
        None,
        false,
    );
    b.cap.advance_us(180 * SECOND as u64);
    let f = b.http("10.1.0.5:41100", "203.0.113.20:80", 2000);
    b.event(ev(
        f.2 + 500,
        "ws1",
        "linux",
        "connect",
        f.0,
        f.1,
        2020,
        "/opt/app/uploader",
    ));
    b.expect(
        "port reuse, second",
        f,
        side("ws1", 2020, "/opt/app/uploader", "exact"),
        None,
        false,
    );

    // ws2's feed has no local port (like auditd).
    let f = b.http("10.1.0.7:50123", "198.51.100.7:8080", 700);
    let mut e = ev(
        f.2 - 800,
        "ws2",
        "linux",
        "connect",
        f.0,
        f.1,
        3100,
        "/tmp/.x/beacon",
    );
    e.local_port = false;
    b.event(e);
    b.expect(
        "no local port",
        f,
        side("ws2", 3100, "/tmp/.x/beacon", "remote_only"),
        None,
        false,
    );

    // Two records name one connection with different processes.
    let f = b.http("10.1.0.5:41200", "203.0.113.30:80", 400);
    b.event(ev(
        f.2 + 200,
        "ws1",
        "linux",
        "connect",
        f.0,
        f.1,
        4100,
        "/usr/bin/python3",
    ));
    b.event(ev(
        f.2 + 300,
        "ws1",
        "linux",
        "connect",
        f.0,
        f.1,
        4200,
        "/usr/bin/perl",
    ));
    b.expect("conflicting records", f, None, None, true);

    // ws3's clock is 1 s behind the sensor.
    for port in [42001u16, 42002, 42003] {
        let f = b.http(&format!("10.1.0.8:{port}"), "203.0.113.40:80", 256);
        b.event(ev(
            f.2 - SECOND + 700,
            "ws3",
            "linux",
            "connect",
            f.0,
            f.1,
            5100,
            "/usr/bin/curl",
        ));
        b.expect(
            "clock 1 s behind",
            f,
            side("ws3", 5100, "/usr/bin/curl", "exact"),
            None,
            false,
        );
    }

    // ws4's clock is three days behind: only the offset estimate can join it.
    for port in [43001u16, 43002, 43003] {
        let f = b.http(&format!("10.1.0.9:{port}"), "203.0.113.50:80", 256);
        let ts = f.2 - 3 * 86_400 * SECOND + 1_000;
        b.event(ev(
            ts,
            "WS4.corp.example",
            "windows",
            "connect",
            f.0,
            f.1,
            6100,
            "C:\\Tools\\sync.exe",
        ));
        b.expect(
            "clock 3 days behind",
            f,
            side("WS4.corp.example", 6100, "C:\\Tools\\sync.exe", "exact"),
            None,
            false,
        );
    }

    // IPv6.
    let f = b.http("[fd00::5]:44001", "[2001:db8::10]:80", 900);
    b.event(ev(
        f.2 + 400,
        "ws6",
        "linux",
        "connect",
        f.0,
        f.1,
        7100,
        "/usr/bin/curl",
    ));
    b.expect(
        "ipv6",
        f,
        side("ws6", 7100, "/usr/bin/curl", "exact"),
        None,
        false,
    );

    // Both ends have a feed: the server's accept names its process.
    let f = b.http("10.1.0.5:41300", "10.2.0.20:80", 1000);
    b.event(ev(
        f.2 + 300,
        "ws1",
        "linux",
        "connect",
        f.0,
        f.1,
        1100,
        "/usr/bin/curl",
    ));
    b.event(ev(
        f.2 + 2000,
        "web1",
        "linux",
        "accept",
        f.1,
        f.0,
        800,
        "/usr/sbin/nginx",
    ));
    b.expect(
        "server side",
        f,
        side("ws1", 1100, "/usr/bin/curl", "exact"),
        side("web1", 800, "/usr/sbin/nginx", "exact"),
        false,
    );

    // No feed names this one.
    let f = b.http("10.1.0.66:45000", "203.0.113.99:80", 5000);
    b.expect("no event", f, None, None, false);

    AttributionScenario {
        pcap: b.cap.into_bytes(),
        feed: b.feed.join("\n") + "\n",
        flows: b.flows,
        clock_offsets: vec![
            ("ws3", SECOND - 700),
            ("WS4.corp.example", 3 * 86_400 * SECOND - 1_000),
        ],
    }
}
