//! Sysmon Event ID 3 (NetworkConnect), whatever carried it: the fields are
//! the same in every rendering (flat JSON, Winlogbeat `event_data`, XML
//! `EventData`), so one mapping serves all of them.
//!
//! `Initiated` tells whether the local process connected (true) or
//! accepted (false). `Source*` is the local side, except for an accepted
//! TCP connection: there Sysmon writes the connection's initiator, the
//! remote peer, as `Source*` and the local listening side as
//! `Destination*`. (Checked on the corpus: in every inbound TCP record
//! whose host's own address is known, it is the destination, 87 of 87;
//! inbound UDP records keep the local socket, e.g. a DNS server's port 53,
//! as the source.) `UtcTime` is the event time. The pid is `ProcessId` only: the
//! `ProcessID` / `ExecutionProcessID` / `Execution/@ProcessID` some
//! renderings add are Sysmon's own process.

use super::fields::{
    opt_string, optional, parse_bool, parse_ip, parse_pid, parse_port, present, required, Fields,
};
use super::Rec;
use crate::event::{EventKind, Os, Process, SocketEvent, Transport};
use crate::timestamp;
use std::sync::Arc;

/// The event ID of Sysmon's NetworkConnect.
pub(crate) const EVENT_ID: u32 = 3;

/// Reads one EID 3 record of endpoint `host` running `os`.
pub(crate) fn record(f: &(impl Fields + ?Sized), host: Option<&str>, os: Os) -> Rec {
    match event(f, host, os) {
        Ok(Some(e)) => Rec::Event(e),
        Ok(None) => Rec::Skip("all-zero addresses"),
        Err(Skip(r)) => Rec::Skip(r),
        Err(Bad(r)) => Rec::Bad(r),
    }
}

enum Why {
    Skip(&'static str),
    Bad(String),
}
use Why::{Bad, Skip};

impl From<String> for Why {
    fn from(s: String) -> Self {
        Bad(s)
    }
}

fn event(
    f: &(impl Fields + ?Sized),
    host: Option<&str>,
    os: Os,
) -> Result<Option<SocketEvent>, Why> {
    let host = host
        .and_then(present)
        .ok_or_else(|| Bad("missing host name".into()))?;
    let ts = required(f, "UtcTime", timestamp::parse)?;
    let proto_text = f
        .get("Protocol")
        .ok_or_else(|| Bad("missing Protocol".into()))?;
    let Some(proto) = Transport::parse(&proto_text) else {
        return Err(Skip("other protocol"));
    };
    let initiated = required(f, "Initiated", parse_bool)?;
    let source = (
        required(f, "SourceIp", parse_ip)?,
        required(f, "SourcePort", parse_port)?,
    );
    let destination = (
        required(f, "DestinationIp", parse_ip)?,
        required(f, "DestinationPort", parse_port)?,
    );
    let ((local_ip, local_port), (remote_ip, remote_port)) =
        if !initiated && proto == Transport::Tcp {
            (destination, source)
        } else {
            (source, destination)
        };
    if remote_ip.is_unspecified() || remote_port == 0 {
        // Sysmon for Linux logs some UDP sockets with every address and
        // port zero: nothing to match a flow on.
        if local_ip.is_unspecified() && local_port == 0 {
            return Ok(None);
        }
        return Err(Skip("unspecified remote address"));
    }
    let pid = optional(f, "ProcessId", parse_pid)?;
    Ok(Some(SocketEvent {
        ts,
        host: host.to_string(),
        host_ip: None,
        os: Some(os),
        kind: if initiated {
            EventKind::Connect
        } else {
            EventKind::Accept
        },
        proto: Some(proto),
        local_ip: Some(local_ip),
        local_port: Some(local_port),
        remote_ip,
        remote_port,
        process: Arc::new(Process {
            pid,
            executable: opt_string(f, "Image").filter(|i| !placeholder(i)),
            guid: opt_string(f, "ProcessGuid").map(|g| g.to_ascii_lowercase()),
            user: opt_string(f, "User"),
            ..Process::default()
        }),
    }))
}

/// Sysmon's name for a process that ended before it resolved the image
/// (some exports escape it again): no executable.
fn placeholder(image: &str) -> bool {
    let t = image.trim();
    t.eq_ignore_ascii_case("<unknown process>") || t.eq_ignore_ascii_case("&lt;unknown process&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("UtcTime", "2019-07-19 14:50:20.871"),
            ("ProcessId", "3912"),
            (
                "Image",
                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            ),
            ("User", "MSEDGEWIN10\\IEUser"),
            ("Protocol", "tcp"),
            ("Initiated", "True"),
            ("SourceIp", "10.0.2.15"),
            ("SourcePort", "49727"),
            ("DestinationIp", "172.217.17.132"),
            ("DestinationPort", "80"),
        ]
    }

    fn with(changes: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
        let mut b = base();
        for (k, v) in changes {
            b.retain(|(x, _)| x != k);
            if !v.is_empty() {
                b.push((k, v));
            }
        }
        fields(&b)
    }

    #[test]
    fn the_unknown_process_placeholder_is_no_executable() {
        for image in [
            "<unknown process>",
            "&lt;unknown process&gt;",
            " <Unknown Process> ",
        ] {
            let mut f = base();
            f.retain(|(k, _)| *k != "Image");
            f.push(("Image", image));
            let Rec::Event(e) = record(fields(&f).as_slice(), Some("h"), Os::Windows) else {
                panic!("{image}: an event");
            };
            assert_eq!(e.process.executable, None, "{image}");
            assert_eq!(e.process.pid, Some(3912));
        }
    }
    #[test]
    fn connect_and_accept() {
        let Rec::Event(e) = record(fields(&base()).as_slice(), Some("MSEDGEWIN10"), Os::Windows)
        else {
            panic!("event")
        };
        assert_eq!(capture::time::rfc3339(e.ts), "2019-07-19T14:50:20.871000Z");
        assert_eq!(e.kind, EventKind::Connect);
        assert_eq!(e.host, "MSEDGEWIN10");
        assert_eq!(e.os, Some(Os::Windows));
        assert_eq!(e.local_ip.unwrap().to_string(), "10.0.2.15");
        assert_eq!(e.local_port, Some(49727));
        assert_eq!(e.remote_ip.to_string(), "172.217.17.132");
        assert_eq!(e.remote_port, 80);
        assert_eq!(e.proto, Some(Transport::Tcp));
        assert_eq!(e.process.pid, Some(3912));
        assert_eq!(e.process.user.as_deref(), Some("MSEDGEWIN10\\IEUser"));
        assert_eq!(
            e.process.executable.as_deref(),
            Some("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe")
        );
        // Accepted TCP: the peer is the source, the local side the destination.
        let Rec::Event(a) = record(
            with(&[("Initiated", "false"), ("User", "-")]).as_slice(),
            Some("h"),
            Os::Linux,
        ) else {
            panic!("event")
        };
        assert_eq!(a.kind, EventKind::Accept);
        assert_eq!(a.process.user, None);
        assert_eq!(a.os, Some(Os::Linux));
        assert_eq!(
            (a.local_ip.unwrap().to_string(), a.local_port),
            ("172.217.17.132".into(), Some(80))
        );
        assert_eq!(
            (a.remote_ip.to_string(), a.remote_port),
            ("10.0.2.15".into(), 49727)
        );
        // Inbound UDP keeps the local socket as the source.
        let Rec::Event(u) = record(
            with(&[("Initiated", "false"), ("Protocol", "udp")]).as_slice(),
            Some("h"),
            Os::Windows,
        ) else {
            panic!("event")
        };
        assert_eq!(u.kind, EventKind::Accept);
        assert_eq!(
            (u.local_ip.unwrap().to_string(), u.local_port),
            ("10.0.2.15".into(), Some(49727))
        );
    }

    #[test]
    fn skipped_and_bad() {
        let r = |c: &[(&'static str, &'static str)]| match record(
            with(c).as_slice(),
            Some("h"),
            Os::Windows,
        ) {
            Rec::Event(_) => "event".to_string(),
            Rec::Skip(s) => format!("skip: {s}"),
            Rec::Bad(b) => format!("bad: {b}"),
        };
        assert_eq!(
            r(&[
                ("SourceIp", "0:0:0:0:0:0:0:0"),
                ("SourcePort", "0"),
                ("DestinationIp", "0:0:0:0:0:0:0:0"),
                ("DestinationPort", "0"),
            ]),
            "skip: all-zero addresses"
        );
        assert_eq!(
            r(&[("DestinationIp", "0.0.0.0")]),
            "skip: unspecified remote address"
        );
        assert_eq!(r(&[("Protocol", "icmp")]), "skip: other protocol");
        assert_eq!(
            r(&[("DestinationPort", "")]),
            "bad: missing DestinationPort"
        );
        assert_eq!(r(&[("SourceIp", "10.0.2")]), "bad: bad SourceIp \"10.0.2\"");
        assert_eq!(
            r(&[("Initiated", "perhaps")]),
            "bad: bad Initiated \"perhaps\""
        );
        assert_eq!(r(&[("UtcTime", "")]), "bad: missing UtcTime");
        assert_eq!(r(&[("ProcessId", "")]), "event");
        assert_eq!(r(&[("ProcessId", "x")]), "bad: bad ProcessId \"x\"");
        assert_eq!(
            match record(fields(&base()).as_slice(), None, Os::Windows) {
                Rec::Bad(b) => b,
                _ => String::new(),
            },
            "missing host name"
        );
    }
}
