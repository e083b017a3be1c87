//! Windows Security event 5156: "The Windows Filtering Platform has
//! permitted a connection".
//!
//! Unlike Sysmon, `ProcessID` here is the connection's process, and
//! `Application` its NT device path (`\device\harddiskvolume2\...`, kept as
//! reported; matching folds the volume away). `Source*` is the local side
//! in both directions (Microsoft's documentation: "local IP address on
//! which the application received the connection" for inbound).
//! `Direction` is `%%14593` (outbound: the process connected) or `%%14592`
//! (inbound: it accepted), or the words when the export renders them.
//! `Protocol` is the IANA number. The time is the event log's
//! (`TimeCreated`), which may be far from Sysmon's `UtcTime` on the same
//! host: each feed gets its own clock offset.

use super::fields::{
    opt_string, optional, parse_ip, parse_pid, parse_port, quote, required, Fields,
};
use super::Rec;
use crate::event::{EventKind, Os, Process, SocketEvent, Transport};
use std::sync::Arc;

/// The event ID.
pub(crate) const EVENT_ID: u32 = 5156;

/// Reads one 5156 record of endpoint `host`, logged at `ts` (µs).
pub(crate) fn record(f: &(impl Fields + ?Sized), host: Option<&str>, ts: Option<u64>) -> Rec {
    match event(f, host, ts) {
        Ok(r) => r,
        Err(e) => Rec::Bad(e),
    }
}

fn event(f: &(impl Fields + ?Sized), host: Option<&str>, ts: Option<u64>) -> Result<Rec, String> {
    let host = host
        .and_then(super::fields::present)
        .ok_or("missing host name")?;
    let ts = ts.ok_or("missing TimeCreated")?;
    let proto_text = f.get("Protocol").ok_or("missing Protocol")?;
    let proto = match proto_text.trim() {
        "6" => Transport::Tcp,
        "17" => Transport::Udp,
        p if p.parse::<u8>().is_ok() => return Ok(Rec::Skip("other protocol")),
        _ => return Err(format!("bad Protocol {}", quote(&proto_text))),
    };
    let kind = required(f, "Direction", direction)?;
    let local_ip = required(f, "SourceAddress", parse_ip)?;
    let local_port = required(f, "SourcePort", parse_port)?;
    let remote_ip = required(f, "DestAddress", parse_ip)?;
    let remote_port = required(f, "DestPort", parse_port)?;
    if remote_ip.is_unspecified() || remote_port == 0 {
        return Ok(Rec::Skip("unspecified remote address"));
    }
    let pid = optional(f, "ProcessID", parse_pid)?;
    Ok(Rec::Event(SocketEvent {
        ts,
        host: host.to_string(),
        host_ip: None,
        os: Some(Os::Windows),
        kind,
        proto: Some(proto),
        local_ip: Some(local_ip),
        local_port: Some(local_port),
        remote_ip,
        remote_port,
        process: Arc::new(Process {
            pid,
            executable: opt_string(f, "Application"),
            ..Process::default()
        }),
    }))
}

fn direction(s: &str) -> Option<EventKind> {
    let s = s.trim();
    if s == "%%14593" || s.eq_ignore_ascii_case("outbound") {
        Some(EventKind::Connect)
    } else if s == "%%14592" || s.eq_ignore_ascii_case("inbound") {
        Some(EventKind::Accept)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(&str, &str)]) -> Rec {
        let f: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        record(
            f.as_slice(),
            Some("MKT01.pandalab.com"),
            Some(1_692_093_228_739_000),
        )
    }

    const OUT: &[(&str, &str)] = &[
        ("ProcessID", "1048"),
        (
            "Application",
            "\\device\\harddiskvolume2\\windows\\system32\\svchost.exe",
        ),
        ("Direction", "%%14593"),
        ("SourceAddress", "192.168.1.41"),
        ("SourcePort", "63829"),
        ("DestAddress", "192.168.1.4"),
        ("DestPort", "53"),
        ("Protocol", "17"),
    ];

    #[test]
    fn outbound_and_inbound() {
        let Rec::Event(e) = rec(OUT) else {
            panic!("event")
        };
        assert_eq!(e.kind, EventKind::Connect);
        assert_eq!(e.proto, Some(Transport::Udp));
        assert_eq!(e.process.pid, Some(1048));
        assert_eq!(
            e.process.executable.as_deref(),
            Some("\\device\\harddiskvolume2\\windows\\system32\\svchost.exe")
        );
        assert_eq!(e.local_ip.unwrap().to_string(), "192.168.1.41");
        assert_eq!(e.local_port, Some(63829));
        assert_eq!(
            (e.remote_ip.to_string(), e.remote_port),
            ("192.168.1.4".into(), 53)
        );
        assert_eq!(e.host, "MKT01.pandalab.com");
        assert_eq!(e.os, Some(Os::Windows));
        assert_eq!(e.ts, 1_692_093_228_739_000);

        let mut inbound = OUT.to_vec();
        inbound.retain(|(k, _)| *k != "Direction" && *k != "Protocol");
        inbound.push(("Direction", "Inbound"));
        inbound.push(("Protocol", "6"));
        let Rec::Event(a) = rec(&inbound) else {
            panic!("event")
        };
        assert_eq!(a.kind, EventKind::Accept);
        assert_eq!(a.proto, Some(Transport::Tcp));
    }

    #[test]
    fn icmp_unspecified_and_broken() {
        let change = |k: &'static str, v: &'static str| {
            let mut r = OUT.to_vec();
            r.retain(|(x, _)| *x != k);
            r.push((k, v));
            rec(&r)
        };
        assert!(matches!(
            change("Protocol", "58"),
            Rec::Skip("other protocol")
        ));
        assert!(matches!(
            change("DestPort", "0"),
            Rec::Skip("unspecified remote address")
        ));
        assert!(matches!(change("Direction", "%%1"), Rec::Bad(b) if b == "bad Direction \"%%1\""));
        assert!(matches!(change("Protocol", "tcp"), Rec::Bad(b) if b == "bad Protocol \"tcp\""));
        assert!(
            matches!(change("ProcessID", "0x41c"), Rec::Event(e) if e.process.pid == Some(1052))
        );
    }
}
