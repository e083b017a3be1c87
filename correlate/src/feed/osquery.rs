//! osquery results as osqueryd's filesystem logger writes them, one JSON
//! object a line, in any of its three layouts:
//!
//! - event (differential, one row a line): `{"name", "hostIdentifier",
//!   "calendarTime", "unixTime", "columns": {...}, "action": "added" |
//!   "removed"}`;
//! - snapshot: `{"name", "hostIdentifier", "unixTime", "snapshot": [...]}`;
//! - batch: `{"name", ..., "diffResults": {"added": [...], "removed": [...]}}`.
//!
//! Two tables carry sockets. `process_open_sockets` (a poll of open
//! sockets): rows added or in a snapshot are sockets seen open at
//! `unixTime`, rows removed are closed. Its `path` column is the AF_UNIX
//! socket path, so in an inet row a `path` comes from a join with
//! `processes` and is the executable. `socket_events` (audit-based):
//! `connect` / `accept` with the executable in `path` and the time in
//! `time`; `local_port` is often 0 (not known). The table is told by the
//! query name when it names it, else by the columns. Values are strings,
//! or numbers when osquery logs numerics.

use super::fields::{self, opt_string, optional, parse_ip, parse_pid, parse_port, text};
use super::{Findings, Rec};
use crate::event::{EventKind, Os, Process, SocketEvent, Transport};
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Added,
    Removed,
    Snapshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    SocketEvents,
    OpenSockets,
}

/// What every row of one line shares.
struct LineFacts<'a> {
    name: &'a str,
    host: &'a str,
    ts: Option<u64>,
    os: Option<Os>,
}

/// Reads one osquery result line (it may hold many rows).
pub(crate) fn line(ctx: &mut Findings, no: u64, o: &Map<String, Value>) {
    let decorations = o.get("decorations").and_then(Value::as_object);
    let host = o
        .get("hostIdentifier")
        .and_then(Value::as_str)
        .and_then(fields::present)
        .or_else(|| {
            decorations
                .and_then(|d| d.get("hostname"))
                .and_then(Value::as_str)
                .and_then(fields::present)
        })
        .unwrap_or(ctx.default_host);
    let facts = LineFacts {
        name: o.get("name").and_then(Value::as_str).unwrap_or(""),
        host,
        ts: o
            .get("unixTime")
            .and_then(text)
            .and_then(|t| crate::timestamp::parse(&t)),
        os: decorations.and_then(os_of),
    };
    let mut rows: Vec<(&Value, Action)> = Vec::new();
    if let Some(cols) = o.get("columns") {
        let action = match o.get("action").and_then(Value::as_str) {
            Some("added") | None => Action::Added,
            Some("removed") => Action::Removed,
            Some("snapshot") => Action::Snapshot,
            Some(other) => return ctx.bad(no, format!("bad action {}", fields::quote(other))),
        };
        rows.push((cols, action));
    } else if let Some(snap) = o.get("snapshot").and_then(Value::as_array) {
        rows.extend(snap.iter().map(|r| (r, Action::Snapshot)));
    } else if let Some(diff) = o.get("diffResults").and_then(Value::as_object) {
        for (key, action) in [("added", Action::Added), ("removed", Action::Removed)] {
            if let Some(list) = diff.get(key).and_then(Value::as_array) {
                rows.extend(list.iter().map(|r| (r, action)));
            }
        }
    } else {
        return ctx.bad(
            no,
            "osquery line without columns, snapshot or diffResults".into(),
        );
    }
    // A line with many rows is one line: the first broken row names it.
    let (mut bad, mut first_bad) = (0u64, None);
    for (row, action) in rows {
        let rec = match row.as_object() {
            Some(r) => self::row(r, action, &facts),
            None => Rec::Bad("row is not an object".into()),
        };
        match rec {
            Rec::Bad(b) => {
                bad += 1;
                first_bad.get_or_insert(b);
            }
            other => ctx.rec(no, other),
        }
    }
    if let Some(b) = first_bad {
        let more = if bad > 1 {
            format!(" (and {} more rows)", bad - 1)
        } else {
            String::new()
        };
        ctx.bad(no, format!("{b}{more}"));
    }
}

/// The platform a column or decoration names; osquery's `platform`
/// values are distribution names on Linux (`ubuntu`, `rhel`, ...).
fn os_of(m: &Map<String, Value>) -> Option<Os> {
    const LINUX: &[&str] = &[
        "ubuntu",
        "debian",
        "rhel",
        "centos",
        "fedora",
        "amzn",
        "arch",
        "gentoo",
        "suse",
        "opensuse",
        "alpine",
        "rocky",
        "almalinux",
        "oracle",
    ];
    let s = ["os", "platform", "os_name"]
        .iter()
        .find_map(|k| opt_string(m, k))?;
    Some(match Os::parse(&s) {
        Os::Other if LINUX.iter().any(|d| s.to_ascii_lowercase().starts_with(d)) => Os::Linux,
        os => os,
    })
}

fn table(name: &str, row: &Map<String, Value>) -> Option<Table> {
    let n = name.to_ascii_lowercase();
    if n.contains("socket_events") {
        Some(Table::SocketEvents)
    } else if n.contains("open_sockets") {
        Some(Table::OpenSockets)
    } else if row.contains_key("remote_address") || row.contains_key("remote_port") {
        // Query packs often have names of their own: the columns tell.
        if row.contains_key("action") {
            Some(Table::SocketEvents)
        } else {
            Some(Table::OpenSockets)
        }
    } else {
        None
    }
}

fn row(r: &Map<String, Value>, action: Action, f: &LineFacts) -> Rec {
    let Some(table) = table(f.name, r) else {
        return Rec::Skip("other osquery query");
    };
    match socket(r, action, table, f) {
        Ok(rec) => rec,
        Err(e) => Rec::Bad(e),
    }
}

fn socket(
    r: &Map<String, Value>,
    action: Action,
    table: Table,
    f: &LineFacts,
) -> Result<Rec, String> {
    let kind = match table {
        Table::OpenSockets if action == Action::Removed => EventKind::Close,
        Table::OpenSockets => EventKind::Open,
        Table::SocketEvents => {
            if action == Action::Removed {
                return Ok(Rec::Skip("removed event row"));
            }
            let what = r.get("action").and_then(text).unwrap_or_default();
            let kind = match what.trim() {
                "connect" => EventKind::Connect,
                "accept" => EventKind::Accept,
                _ => return Ok(Rec::Skip("other socket action")),
            };
            match opt_string(r, "status").as_deref() {
                Some("failed" | "no_client") => return Ok(Rec::Skip("failed syscall")),
                Some(_) => {}
                // Before `status`, `success` 0 also marked a non-blocking
                // connect in progress: only a failed accept is certain.
                None if kind == EventKind::Accept
                    && opt_string(r, "success").as_deref() == Some("0") =>
                {
                    return Ok(Rec::Skip("failed syscall"))
                }
                None => {}
            }
            kind
        }
    };
    match opt_string(r, "family").as_deref() {
        None | Some("2" | "10") => {}
        Some(_) => return Ok(Rec::Skip("non-inet socket")),
    }
    let proto = match opt_string(r, "protocol").as_deref() {
        Some("6") => Some(Transport::Tcp),
        Some("17") => Some(Transport::Udp),
        None | Some("0") => None,
        Some(_) => return Ok(Rec::Skip("other protocol")),
    };
    let unspecified = if table == Table::OpenSockets {
        "listening socket"
    } else {
        "unspecified remote address"
    };
    let Some(remote_ip) = optional(r, "remote_address", parse_ip)? else {
        return Ok(Rec::Skip(unspecified));
    };
    let remote_port = optional(r, "remote_port", parse_port)?.unwrap_or(0);
    if remote_ip.is_unspecified() || remote_port == 0 {
        return Ok(Rec::Skip(unspecified));
    }
    let local_ip = optional(r, "local_address", parse_ip)?.filter(|ip| !ip.is_unspecified());
    let local_port = optional(r, "local_port", parse_port)?.filter(|&p| p != 0);
    let pid = fields::required(r, "pid", parse_pid)?;
    let ts = match table {
        Table::SocketEvents => optional(r, "time", crate::timestamp::parse)?.or(f.ts),
        Table::OpenSockets => f.ts,
    }
    .ok_or("missing unixTime")?;
    let executable = ["exe", "executable", "path"]
        .iter()
        .find_map(|k| opt_string(r, k))
        .or_else(|| opt_string(r, "name"));
    let user = opt_string(r, "username").or_else(|| {
        ["auid", "uid"]
            .iter()
            .find_map(|k| opt_string(r, k).filter(|u| u != "4294967295"))
    });
    Ok(Rec::Event(SocketEvent {
        ts,
        host: f.host.to_string(),
        host_ip: None,
        os: os_of(r).or(f.os),
        kind,
        proto,
        local_ip,
        local_port,
        remote_ip,
        remote_port,
        process: Arc::new(Process {
            pid: Some(pid),
            ppid: optional(r, "parent", parse_pid)?.or(optional(r, "ppid", parse_pid)?),
            executable,
            user,
            cmdline: opt_string(r, "cmdline"),
            ..Process::default()
        }),
    }))
}

#[cfg(test)]
mod tests {
    use crate::event::{EventKind, Os, SocketEvent, Transport};
    use crate::feed::{read_reader, FeedFormat, FeedReport};

    fn read(input: &str, format: FeedFormat) -> (FeedReport, Vec<SocketEvent>) {
        let mut got = Vec::new();
        let r = read_reader(input.as_bytes(), "t", format, "dflt", &mut |e| got.push(e)).unwrap();
        (r, got)
    }

    // Written after osquery's documented schema and logger output.
    const EVENTS: &str = r#"{"name":"pack_incident-response_socket_events","hostIdentifier":"web-01","calendarTime":"Tue Nov 14 22:13:20 2023 UTC","unixTime":1700000000,"epoch":0,"counter":12,"numerics":false,"decorations":{"host_uuid":"4C4C4544","username":"root"},"columns":{"action":"connect","auid":"1000","family":"2","fd":"3","local_address":"","local_port":"0","path":"/usr/bin/curl","pid":"4242","protocol":"6","remote_address":"93.184.216.34","remote_port":"443","socket":"","status":"in_progress","success":"0","time":"1699999998","uptime":"3600"},"action":"added"}
{"name":"pack_incident-response_socket_events","hostIdentifier":"web-01","unixTime":"1700000001","columns":{"action":"accept","auid":"4294967295","family":"10","local_address":"::ffff:10.0.0.5","local_port":"8080","path":"/usr/sbin/nginx","pid":"900","protocol":"0","remote_address":"2001:0db8:0000:0000:0000:0000:0000:0007","remote_port":"51000","status":"succeeded","time":"1700000001"},"action":"added"}
{"name":"pack_incident-response_socket_events","hostIdentifier":"web-01","unixTime":1700000002,"columns":{"action":"bind","family":"2","local_address":"0.0.0.0","local_port":"8080","path":"/usr/sbin/nginx","pid":"900","remote_address":"","remote_port":"0","time":"1700000002"},"action":"added"}
{"name":"pack_incident-response_socket_events","hostIdentifier":"web-01","unixTime":1700000003,"columns":{"action":"connect","family":"2","path":"/usr/bin/curl","pid":"4243","remote_address":"10.9.9.9","remote_port":"80","status":"failed","time":"1700000003"},"action":"added"}
{"name":"pack_incident-response_socket_events","hostIdentifier":"web-01","unixTime":1700000004,"columns":{"action":"connect","family":"1","path":"/usr/bin/curl","pid":"4243","remote_address":"","remote_port":"0","socket":"/run/nscd/socket","time":"1700000004"},"action":"added"}
{"name":"pack_incident-response_socket_events","hostIdentifier":"web-01","unixTime":1700000005,"columns":{"action":"connect","family":"2","path":"/usr/bin/curl","pid":"x","remote_address":"10.9.9.9","remote_port":"80","time":"1700000005"},"action":"added"}
"#;

    #[test]
    fn socket_events_rows() {
        let (r, got) = read(EVENTS, FeedFormat::Auto);
        assert_eq!(
            (r.format, r.lines, r.events, r.bad_lines),
            ("osquery", 6, 2, 1)
        );
        assert_eq!(r.skipped.get("other socket action"), Some(&1));
        assert_eq!(r.skipped.get("failed syscall"), Some(&1));
        assert_eq!(r.skipped.get("non-inet socket"), Some(&1));
        assert_eq!(r.bad_examples[0].line, 6);
        assert_eq!(r.bad_examples[0].reason, "bad pid \"x\"");
        let c = &got[0];
        assert_eq!(c.kind, EventKind::Connect);
        assert_eq!(c.host, "web-01");
        assert_eq!(c.ts, 1_699_999_998_000_000, "the time column, not unixTime");
        assert_eq!((c.local_ip, c.local_port), (None, None));
        assert_eq!(
            (c.remote_ip.to_string(), c.remote_port),
            ("93.184.216.34".into(), 443)
        );
        assert_eq!(c.proto, Some(Transport::Tcp));
        assert_eq!(c.process.pid, Some(4242));
        assert_eq!(c.process.executable.as_deref(), Some("/usr/bin/curl"));
        assert_eq!(c.process.user.as_deref(), Some("1000"));
        assert_eq!(c.os, None);
        let a = &got[1];
        assert_eq!(a.kind, EventKind::Accept);
        assert_eq!(a.proto, None);
        assert_eq!(a.local_ip.unwrap().to_string(), "10.0.0.5");
        assert_eq!(a.local_port, Some(8080));
        assert_eq!(a.remote_ip.to_string(), "2001:db8::7");
        assert_eq!(a.process.user, None, "auid unset");
    }

    const SOCKETS: &str = r#"{"name":"open_sockets_with_processes","hostIdentifier":"ws-7","calendarTime":"Tue Nov 14 22:13:20 2023 UTC","unixTime":1700000000,"epoch":0,"counter":0,"numerics":true,"decorations":{"platform":"ubuntu"},"snapshot":[{"pid":1200,"fd":5,"socket":91234,"family":2,"protocol":6,"local_address":"10.1.0.5","remote_address":"203.0.113.10","local_port":41001,"remote_port":80,"state":"ESTABLISHED","path":"/opt/agent/late-agent","name":"late-agent","cmdline":"/opt/agent/late-agent --beacon","uid":1001,"username":"svc"},{"pid":700,"fd":3,"socket":1,"family":2,"protocol":6,"local_address":"0.0.0.0","remote_address":"0.0.0.0","local_port":22,"remote_port":0,"state":"LISTEN","path":""},{"pid":701,"fd":4,"socket":2,"family":1,"protocol":0,"local_address":"","remote_address":"","local_port":0,"remote_port":0,"path":"/run/systemd/notify"},{"pid":702,"family":2,"protocol":1,"remote_address":"10.0.0.1","remote_port":0}]}
{"name":"pos","hostIdentifier":"ws-7","unixTime":"1700000060","columns":{"pid":"1200","fd":"5","family":"10","protocol":"17","local_address":"fe80:0000:0000:0000:0000:0000:0000:0005","remote_address":"fe80::1","local_port":"5353","remote_port":"5353","path":""},"action":"removed"}
{"name":"pack_x_process_open_sockets","hostIdentifier":"ws-7","unixTime":1700000120,"diffResults":{"added":[{"pid":"1","family":"2","protocol":"6","local_address":"10.1.0.5","remote_address":"198.51.100.1","local_port":"40000","remote_port":"443"}],"removed":[{"pid":"1","family":"2","protocol":"6","local_address":"10.1.0.5","remote_address":"x","local_port":"40001","remote_port":"443"},{"pid":"y","family":"2","protocol":"6","local_address":"10.1.0.5","remote_address":"198.51.100.1","local_port":"40001","remote_port":"443"}]}}
{"name":"uptime","hostIdentifier":"ws-7","unixTime":1700000120,"columns":{"days":"1","hours":"2"},"action":"added"}
"#;

    #[test]
    fn process_open_sockets_snapshot_event_and_batch_rows() {
        let (r, got) = read(SOCKETS, FeedFormat::Osquery);
        assert_eq!(
            (r.format, r.lines, r.events, r.bad_lines),
            ("osquery", 4, 3, 1)
        );
        assert_eq!(r.skipped.get("listening socket"), Some(&1));
        assert_eq!(r.skipped.get("non-inet socket"), Some(&1));
        assert_eq!(r.skipped.get("other protocol"), Some(&1));
        assert_eq!(r.skipped.get("other osquery query"), Some(&1));
        assert_eq!(r.bad_examples[0].line, 3);
        assert_eq!(
            r.bad_examples[0].reason,
            "bad remote_address \"x\" (and 1 more rows)"
        );
        let s = &got[0];
        assert_eq!(s.kind, EventKind::Open);
        assert_eq!(s.ts, 1_700_000_000_000_000);
        assert_eq!(s.host, "ws-7");
        assert_eq!(s.os, Some(Os::Linux), "decorations.platform ubuntu");
        assert_eq!(
            (s.local_ip.unwrap().to_string(), s.local_port),
            ("10.1.0.5".into(), Some(41001))
        );
        assert_eq!(
            (s.remote_ip.to_string(), s.remote_port),
            ("203.0.113.10".into(), 80)
        );
        assert_eq!(s.proto, Some(Transport::Tcp));
        assert_eq!(s.process.pid, Some(1200));
        assert_eq!(
            s.process.executable.as_deref(),
            Some("/opt/agent/late-agent")
        );
        assert_eq!(
            s.process.cmdline.as_deref(),
            Some("/opt/agent/late-agent --beacon")
        );
        assert_eq!(s.process.user.as_deref(), Some("svc"));
        let c = &got[1];
        assert_eq!(c.kind, EventKind::Close);
        assert_eq!(c.proto, Some(Transport::Udp));
        assert_eq!(c.process.executable, None);
        assert_eq!(c.local_ip.unwrap().to_string(), "fe80::5");
        assert_eq!(got[2].kind, EventKind::Open);
        assert_eq!(got[2].remote_port, 443);
    }
}
