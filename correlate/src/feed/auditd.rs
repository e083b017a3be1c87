//! Linux audit logs (auditd's raw `audit.log`): `connect` and `accept`
//! syscall events.
//!
//! One event is several records sharing `msg=audit(EPOCH.mmm:SERIAL)`:
//! SYSCALL (pid, exe, uid, result), SOCKADDR (the kernel `sockaddr`, hex),
//! PROCTITLE (argv), CWD, PATH, ... An event ends with its EOE record, or
//! when a record of a later event arrives; a bounded number of events wait
//! for their records (interleaved logs), the oldest ended first past the
//! cap. The log names no host (unless records carry `node=`), logs no
//! transport, and for `connect` no local address: events have the remote
//! side only. For `accept` the SOCKADDR is the peer, also remote.
//! `ENRICHED` logs append names after a `\x1d` (`UID="root"`), preferred
//! to the numbers.

use super::fields::{parse_pid, unhex};
use super::Findings;
use crate::event::{EventKind, Os, Process, SocketEvent};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Events held waiting for more records.
const MAX_PENDING: usize = 1024;
/// Longest PROCTITLE / SOCKADDR value kept (the kernel logs at most 128
/// bytes of argv; more is not a real record).
const MAX_VALUE: usize = 4096;
/// `-EINPROGRESS`: a non-blocking connect under way, not a failure.
const EINPROGRESS: i64 = -115;

/// The SYSCALL record's facts.
#[derive(Debug, Default)]
struct Syscall {
    arch: String,
    nr: u64,
    a0: Option<String>,
    name: Option<String>,
    success: Option<bool>,
    exit: Option<i64>,
    pid: u32,
    ppid: Option<u32>,
    uid: Option<String>,
    auid: Option<String>,
    exe: Option<String>,
}

/// An event whose records are being gathered.
#[derive(Debug)]
struct Gathering {
    ts: u64,
    serial: u64,
    node: Option<String>,
    syscall: Option<Syscall>,
    /// The SOCKADDR value and its line.
    saddr: Option<(u64, String)>,
    proctitle: Option<String>,
    /// The first broken record: its line and what is wrong.
    bad: Option<(u64, String)>,
}

impl Gathering {
    fn key(&self) -> (u64, u64) {
        (self.ts, self.serial)
    }
}

/// Gathers records into events.
pub(crate) struct Assembler {
    pending: VecDeque<Gathering>,
}

/// One record line, split.
struct Record<'a> {
    node: Option<&'a str>,
    kind: &'a str,
    ts: u64,
    serial: u64,
    body: &'a str,
    enriched: &'a str,
}

impl Assembler {
    pub(crate) fn new() -> Self {
        Self {
            pending: VecDeque::new(),
        }
    }

    /// Takes one line.
    pub(crate) fn line(&mut self, ctx: &mut Findings, no: u64, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let rec = match split_record(&text) {
            Ok(r) => r,
            Err(e) => return ctx.bad(no, e),
        };
        let key = (rec.ts, rec.serial);
        let at = self
            .pending
            .iter()
            .rposition(|p| p.key() == key && p.node.as_deref() == rec.node);
        let at = match at {
            Some(i) => i,
            None => {
                // A record of a new event ends every older one still open.
                let mut i = 0;
                while let Some(p) = self.pending.get(i) {
                    if p.key() < key {
                        if let Some(p) = self.pending.remove(i) {
                            finish(ctx, p);
                        }
                    } else {
                        i += 1;
                    }
                }
                if self.pending.len() >= MAX_PENDING {
                    if let Some(p) = self.pending.pop_front() {
                        ctx.evicted();
                        finish(ctx, p);
                    }
                }
                self.pending.push_back(Gathering {
                    ts: rec.ts,
                    serial: rec.serial,
                    node: rec.node.map(str::to_string),
                    syscall: None,
                    saddr: None,
                    proctitle: None,
                    bad: None,
                });
                self.pending.len() - 1
            }
        };
        let Some(p) = self.pending.get_mut(at) else {
            return;
        };
        match rec.kind {
            "SYSCALL" if p.syscall.is_none() => match syscall(rec.body, rec.enriched) {
                Ok(s) => p.syscall = Some(s),
                Err(e) => {
                    p.bad.get_or_insert((no, e));
                }
            },
            "SOCKADDR" => {
                p.saddr = value(rec.body, "saddr").map(|(v, _)| (no, cap(v).to_string()));
                if p.saddr.is_none() {
                    p.bad.get_or_insert((no, "missing saddr".into()));
                }
            }
            "PROCTITLE" => {
                p.proctitle = value(rec.body, "proctitle").and_then(|(v, q)| proctitle(cap(v), q));
            }
            "EOE" => {
                if let Some(p) = self.pending.remove(at) {
                    finish(ctx, p);
                }
            }
            _ => {}
        }
    }

    /// Ends every event still open (end of input).
    pub(crate) fn finish(&mut self, ctx: &mut Findings) {
        while let Some(p) = self.pending.pop_front() {
            finish(ctx, p);
        }
    }
}

fn cap(v: &str) -> &str {
    let mut end = v.len().min(MAX_VALUE);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v.get(..end).unwrap_or("")
}

/// Splits `[node=N ]type=T msg=audit(TS:SERIAL): body[\x1dENRICHED]`, with
/// anything (a syslog header) before it.
fn split_record(line: &str) -> Result<Record<'_>, String> {
    let not = || "not an audit record".to_string();
    let msg_at = line.find("msg=audit(").ok_or_else(not)?;
    let head = line.get(..msg_at).ok_or_else(not)?;
    let type_at = head.rfind("type=").ok_or_else(not)?;
    let kind = head
        .get(type_at + 5..)
        .and_then(|t| t.split_whitespace().next())
        .ok_or_else(not)?;
    let node = head
        .get(..type_at)
        .and_then(|h| h.rfind("node=").and_then(|i| h.get(i + 5..)))
        .and_then(|n| n.split_whitespace().next());
    let rest = line.get(msg_at + 10..).ok_or_else(not)?;
    let close = rest.find(')').ok_or("bad msg=audit(...)")?;
    let id = rest.get(..close).unwrap_or("");
    let (ts, serial) = id
        .split_once(':')
        .ok_or_else(|| format!("bad msg=audit({id})"))?;
    let ts = crate::timestamp::parse(ts).ok_or_else(|| format!("bad msg=audit({id})"))?;
    let serial: u64 = serial.parse().map_err(|_| format!("bad msg=audit({id})"))?;
    let after = rest.get(close + 1..).unwrap_or("");
    let after = after.strip_prefix(':').unwrap_or(after);
    let (body, enriched) = after.split_once('\x1d').unwrap_or((after, ""));
    Ok(Record {
        node,
        kind,
        ts,
        serial,
        body,
        enriched,
    })
}

/// The `key=value` pairs of a record: values bare, `"quoted"` or
/// `'quoted'` (the flag says quoted).
fn pairs(s: &str) -> Vec<(&str, &str, bool)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(|&c| c != b'=' && c != b' ') {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            continue;
        }
        let key = s.get(start..i).unwrap_or("");
        i += 1;
        match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let from = i + 1;
                let to = b
                    .get(from..)
                    .and_then(|r| r.iter().position(|&c| c == q))
                    .map_or(b.len(), |p| from + p);
                out.push((key, s.get(from..to).unwrap_or(""), true));
                i = to + 1;
            }
            _ => {
                let from = i;
                while b.get(i).is_some_and(|&c| c != b' ') {
                    i += 1;
                }
                out.push((key, s.get(from..i).unwrap_or(""), false));
            }
        }
    }
    out
}

fn value<'a>(body: &'a str, key: &str) -> Option<(&'a str, bool)> {
    pairs(body)
        .into_iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, v, q)| (v, q))
}

/// A value that auditd hex-encodes when it holds odd bytes (`exe`,
/// `comm`); `(null)` is none.
fn decoded(v: &str, quoted: bool) -> Option<String> {
    if quoted {
        return Some(v.to_string());
    }
    if v.is_empty() || v == "(null)" || v == "?" {
        return None;
    }
    match unhex(v) {
        Some(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        None => Some(v.to_string()),
    }
}

/// The command line: argv NUL-separated in hex, or quoted.
fn proctitle(v: &str, quoted: bool) -> Option<String> {
    if quoted {
        return Some(v.to_string());
    }
    let bytes = unhex(v)?;
    let args: Vec<String> = bytes
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!args.is_empty()).then(|| args.join(" "))
}

fn syscall(body: &str, enriched: &str) -> Result<Syscall, String> {
    let mut s = Syscall::default();
    let mut have = (false, false, false);
    for (k, v, q) in pairs(body) {
        match k {
            "arch" => {
                s.arch = v.to_ascii_lowercase();
                have.0 = true;
            }
            "syscall" => {
                s.nr = v.parse().map_err(|_| format!("bad syscall {v:?}"))?;
                have.1 = true;
            }
            "a0" => s.a0 = Some(v.to_string()),
            "success" => s.success = Some(v == "yes"),
            "exit" => s.exit = v.parse().ok(),
            "pid" => {
                s.pid = parse_pid(v).ok_or_else(|| format!("bad pid {v:?}"))?;
                have.2 = true;
            }
            "ppid" => s.ppid = parse_pid(v),
            // 4294967295 is (uid_t)-1: unset.
            "uid" => s.uid = (v != "4294967295").then(|| v.to_string()),
            "auid" => s.auid = (v != "4294967295").then(|| v.to_string()),
            "exe" => s.exe = decoded(v, q),
            _ => {}
        }
    }
    for (k, v, _) in pairs(enriched) {
        match k {
            "UID" if v != "unset" && !v.is_empty() => s.uid = Some(v.to_string()),
            "SYSCALL" => s.name = Some(v.to_string()),
            _ => {}
        }
    }
    // The login uid stands in only when the record has no uid.
    if s.uid.is_none() {
        s.uid = s.auid.take();
    }
    match have {
        (false, _, _) => Err("missing arch".into()),
        (_, false, _) => Err("missing syscall".into()),
        (_, _, false) => Err("missing pid".into()),
        _ => Ok(s),
    }
}

/// connect or accept, by architecture and syscall number.
fn kind(s: &Syscall) -> Result<EventKind, &'static str> {
    use EventKind::{Accept, Connect};
    let by_number = match s.arch.as_str() {
        // x86_64
        "c000003e" => match s.nr {
            42 => Some(Connect),
            43 | 288 => Some(Accept),
            _ => None,
        },
        // aarch64
        "c00000b7" => match s.nr {
            203 => Some(Connect),
            202 | 242 => Some(Accept),
            _ => None,
        },
        // i386: socketcall(2) names the call in a0, or the direct calls.
        "40000003" => match (s.nr, s.a0.as_deref()) {
            (102, Some("3")) | (362, _) => Some(Connect),
            (102, Some("5" | "12")) | (364, _) => Some(Accept),
            _ => None,
        },
        _ => match s.name.as_deref() {
            Some("connect") => Some(Connect),
            Some("accept" | "accept4") => Some(Accept),
            Some(_) => None,
            None => return Err("unsupported arch"),
        },
    };
    by_number.ok_or("other syscall")
}

/// The address in a `sockaddr` (hex): `Ok(None)` for families other than
/// AF_INET / AF_INET6.
fn sockaddr(hex: &str) -> Result<Option<(IpAddr, u16)>, String> {
    let bad = || format!("bad saddr {}", super::fields::quote(hex));
    let b = unhex(hex).ok_or_else(bad)?;
    let family = match (b.first(), b.get(1)) {
        (Some(&lo), Some(&hi)) => u16::from_le_bytes([lo, hi]),
        _ => return Err(bad()),
    };
    let port = |b: &[u8]| match (b.get(2), b.get(3)) {
        (Some(&hi), Some(&lo)) => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    };
    match family {
        2 => {
            let a: [u8; 4] = b
                .get(4..8)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(bad)?;
            let p = port(&b).ok_or_else(bad)?;
            Ok(Some((IpAddr::V4(Ipv4Addr::from(a)), p)))
        }
        10 => {
            let a: [u8; 16] = b
                .get(8..24)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(bad)?;
            let p = port(&b).ok_or_else(bad)?;
            Ok(Some((IpAddr::V6(Ipv6Addr::from(a)).to_canonical(), p)))
        }
        _ => Ok(None),
    }
}

/// Turns a gathered event into a socket event, a skip, or a bad line.
fn finish(ctx: &mut Findings, p: Gathering) {
    if let Some((line, why)) = p.bad {
        return ctx.bad(line, why);
    }
    let Some(s) = p.syscall else {
        return ctx.skip("not a syscall event");
    };
    let kind = match kind(&s) {
        Ok(k) => k,
        Err(why) => return ctx.skip(why),
    };
    let in_progress = kind == EventKind::Connect && s.exit == Some(EINPROGRESS);
    if s.success == Some(false) && !in_progress {
        return ctx.skip("failed syscall");
    }
    let Some((line, hex)) = p.saddr else {
        return ctx.skip("no SOCKADDR record");
    };
    let (remote_ip, remote_port) = match sockaddr(&hex) {
        Ok(Some(a)) => a,
        Ok(None) => return ctx.skip("non-inet socket"),
        Err(e) => return ctx.bad(line, e),
    };
    if remote_ip.is_unspecified() || remote_port == 0 {
        return ctx.skip("unspecified remote address");
    }
    let host = p.node.unwrap_or_else(|| ctx.default_host.to_string());
    ctx.seen("auditd");
    ctx.event(SocketEvent {
        ts: p.ts,
        host,
        host_ip: None,
        os: Some(Os::Linux),
        kind,
        proto: None,
        local_ip: None,
        local_port: None,
        remote_ip,
        remote_port,
        process: Arc::new(Process {
            pid: Some(s.pid),
            ppid: s.ppid,
            executable: s.exe,
            user: s.uid,
            cmdline: p.proctitle,
            ..Process::default()
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::{read_reader, FeedFormat, FeedReport};

    fn read(input: &str) -> (FeedReport, Vec<SocketEvent>) {
        let mut got = Vec::new();
        let r = read_reader(input.as_bytes(), "t", FeedFormat::Auto, "audit", &mut |e| {
            got.push(e)
        })
        .unwrap();
        (r, got)
    }

    #[test]
    fn sockaddr_families() {
        assert_eq!(
            sockaddr("02000050A9FEA9FE0000000000000000").unwrap(),
            Some(("169.254.169.254".parse().unwrap(), 80))
        );
        assert_eq!(
            sockaddr("0A0001BB00000000200107F8000000000000000000000001000000").unwrap(),
            Some(("2001:7f8::1".parse().unwrap(), 443))
        );
        assert_eq!(sockaddr("01002F7661722F72756E").unwrap(), None);
        assert_eq!(sockaddr("0000").unwrap(), None);
        assert!(sockaddr("0200").is_err());
        assert!(sockaddr("02G0").is_err());
    }

    #[test]
    fn record_lines_and_values() {
        let r = split_record("node=web1 type=SYSCALL msg=audit(1492752520.441:8832): arch=c000003e a=\"x y\"\x1dUID=\"root\"").unwrap();
        assert_eq!((r.node, r.kind, r.serial), (Some("web1"), "SYSCALL", 8832));
        assert_eq!(r.ts, 1_492_752_520_441_000);
        assert_eq!(r.enriched, "UID=\"root\"");
        assert_eq!(
            pairs(r.body),
            vec![("arch", "c000003e", false), ("a", "x y", true)]
        );
        assert!(split_record("hello").is_err());
        assert_eq!(
            proctitle("6375726C002D73002F", false).as_deref(),
            Some("curl -s /")
        );
        assert_eq!(
            decoded(
                "2F7573722F62696E2F707974686F6E322E373B3538643163636662202864656C6574656429",
                false
            )
            .as_deref(),
            Some("/usr/bin/python2.7;58d1ccfb (deleted)")
        );
        assert_eq!(decoded("(null)", false), None);
    }

    #[test]
    fn connect_accept_and_what_is_skipped() {
        let log = "\
type=SYSCALL msg=audit(1492752520.441:8832): arch=c000003e syscall=43 success=yes exit=5 a0=3 ppid=1 pid=1663 auid=4294967295 uid=0 comm=\"sshd\" exe=\"/usr/sbin/sshd\" key=\"key=net\"
type=SOCKADDR msg=audit(1492752520.441:8832): saddr=0200E31C4853E6640000000000000000
type=PROCTITLE msg=audit(1492752520.441:8832): proctitle=\"(sshd)\"
type=EOE msg=audit(1492752520.441:8832):
type=SYSCALL msg=audit(1795423772.376:831): arch=c000003e syscall=42 success=no exit=-2 a0=4 ppid=11896 pid=11927 uid=0 comm=\"python3\" exe=\"/usr/bin/python3.11\" key=\"netconn\"\x1dARCH=x86_64 SYSCALL=connect UID=\"root\"
type=SOCKADDR msg=audit(1795423772.376:831): saddr=01002F7661722F72756E2F6E7363642F736F636B6574\x1dSADDR={ saddr_fam=local path=/var/run/nscd/socket }
type=SYSCALL msg=audit(1795423774.580:892): arch=c000003e syscall=42 success=no exit=-115 a0=5 ppid=11896 pid=11976 uid=0 comm=\"curl\" exe=\"/usr/bin/curl\" key=\"netconn\"\x1dARCH=x86_64 SYSCALL=connect UID=\"root\"
type=SOCKADDR msg=audit(1795423774.580:892): saddr=020046A07F0000010000000000000000\x1dSADDR={ saddr_fam=inet laddr=127.0.0.1 lport=18080 }
type=PROCTITLE msg=audit(1795423774.580:892): proctitle=6375726C002D73
type=SYSCALL msg=audit(1795423774.600:893): arch=c000003e syscall=42 success=yes exit=0 a0=3 ppid=1 pid=12 uid=0 exe=\"/usr/bin/openssl\"
type=SOCKADDR msg=audit(1795423774.600:893): saddr=0200480B000000000000000000000000
type=SYSCALL msg=audit(1795423774.700:894): arch=c000003e syscall=42 success=yes exit=0 a0=3 ppid=1 pid=13 uid=1000 exe=\"/x\"
type=SYSCALL msg=audit(1795423774.800:895): arch=c000003e syscall=49 success=yes exit=0 a0=3 ppid=1 pid=13 uid=1000 exe=\"/x\"
type=USER_LOGIN msg=audit(1795423774.900:896): pid=1 uid=0 msg='op=login acct=\"root\" res=success'
garbage line
type=SYSCALL msg=audit(1795423775.000:897): arch=c000003e syscall=42 success=yes pid=abc
";
        let (r, got) = read(log);
        assert_eq!(r.format, "auditd");
        assert_eq!(r.lines, 16);
        assert_eq!(r.events, 2);
        let skipped: Vec<(&str, u64)> = r.skipped.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(
            skipped,
            vec![
                ("failed syscall", 1),
                ("no SOCKADDR record", 1),
                ("not a syscall event", 1),
                ("other syscall", 1),
                ("unspecified remote address", 1),
            ]
        );
        assert_eq!(r.bad_lines, 2);
        assert_eq!(r.bad_examples[0].line, 15);
        assert_eq!(r.bad_examples[0].reason, "not an audit record");
        assert_eq!(r.bad_examples[1].line, 16);
        assert_eq!(r.bad_examples[1].reason, "bad pid \"abc\"");

        let a = &got[0];
        assert_eq!(a.kind, EventKind::Accept);
        assert_eq!(
            (a.remote_ip.to_string(), a.remote_port),
            ("72.83.230.100".into(), 58140)
        );
        assert_eq!((a.local_ip, a.local_port, a.proto), (None, None, None));
        assert_eq!(a.process.pid, Some(1663));
        assert_eq!(a.process.ppid, Some(1));
        assert_eq!(a.process.user.as_deref(), Some("0"));
        assert_eq!(a.process.executable.as_deref(), Some("/usr/sbin/sshd"));
        assert_eq!(a.process.cmdline.as_deref(), Some("(sshd)"));
        assert_eq!(a.host, "audit");
        assert_eq!(a.os, Some(Os::Linux));
        assert_eq!(capture::time::rfc3339(a.ts), "2017-04-21T05:28:40.441000Z");

        let c = &got[1];
        assert_eq!(c.kind, EventKind::Connect);
        assert_eq!(
            (c.remote_ip.to_string(), c.remote_port),
            ("127.0.0.1".into(), 18080)
        );
        assert_eq!(
            c.process.user.as_deref(),
            Some("root"),
            "ENRICHED name preferred"
        );
        assert_eq!(c.process.cmdline.as_deref(), Some("curl -s"));
    }

    #[test]
    fn interleaved_events_node_names_and_the_pending_cap() {
        let log = "\
node=db1 type=SYSCALL msg=audit(100.000:1): arch=c000003e syscall=42 success=yes exit=0 pid=7 uid=0 exe=\"/a\"
node=db1 type=SYSCALL msg=audit(100.000:2): arch=c000003e syscall=42 success=yes exit=0 pid=8 uid=0 exe=\"/b\"
node=db1 type=SOCKADDR msg=audit(100.000:2): saddr=020000357F0000350000000000000000
node=db1 type=SOCKADDR msg=audit(100.000:1): saddr=020000357F0000010000000000000000
";
        // Event 1 ended when event 2 began: its late SOCKADDR is an event
        // of its own without a SYSCALL.
        let (r, got) = read(log);
        assert_eq!(r.events, 1);
        assert_eq!(got[0].host, "db1");
        assert_eq!(got[0].process.pid, Some(8));
        assert_eq!(r.skipped.get("no SOCKADDR record"), Some(&1));
        assert_eq!(r.skipped.get("not a syscall event"), Some(&1));

        // Serials counting down never end each other: the cap does.
        let mut log = String::new();
        for i in 0..(MAX_PENDING as u64 + 5) {
            let serial = 100_000 - i;
            log.push_str(&format!("type=SYSCALL msg=audit(100.000:{serial}): arch=c000003e syscall=42 success=yes exit=0 pid=1 uid=0 exe=\"/a\"\ntype=SOCKADDR msg=audit(100.000:{serial}): saddr=020000507F0000010000000000000000\n"));
        }
        let (r, got) = read(&log);
        assert_eq!(r.events, MAX_PENDING as u64 + 5);
        assert_eq!(r.evicted, 5);
        assert_eq!(got.len(), MAX_PENDING + 5);
    }
}
