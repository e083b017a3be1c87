//! The native feed: one JSON object a line (DESIGN.md, "Endpoint socket
//! feed: native JSON lines"). `src` is the endpoint's own side.
//!
//! `ts`, `host`, `dst_ip`, `dst_port` and `pid` or `process` must be there.
//! `proto`, `src_ip` and `src_port` must be valid when present but may be
//! left out, as for an event of a feed that does not log them (auditd):
//! [`SocketEvent::to_native_json`] leaves them out then, and the project's
//! own attribution fixture has such a line (no local port).

use super::fields::{
    opt_string, optional, parse_ip, parse_pid, parse_port, quote, required, Fields,
};
use super::Rec;
use crate::event::{EventKind, Os, Process, SocketEvent, Transport};
use crate::timestamp;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// Reads one native line.
pub(crate) fn record(o: &Map<String, Value>) -> Rec {
    event(o).into()
}

/// Reads one native line from its fast form (see [`NativeLine`]).
pub(crate) fn record_fast(line: &NativeLine<'_>) -> Rec {
    event(line).into()
}

/// The keys of the native feed.
const KEYS: [&str; 20] = [
    "ts",
    "host",
    "proto",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "pid",
    "process",
    "event",
    "host_ip",
    "os",
    "ppid",
    "sha256",
    "user",
    "cmdline",
    "signer",
    "exe_deleted",
    "netns",
    "cgroup_id",
];

/// A native line read straight into its known fields, strings borrowed
/// from the line where they can be: what a JSON map of every key would
/// give, at a fraction of the cost (feeds of millions of lines). A field
/// is its value as text (numbers and booleans in their JSON spelling);
/// objects, arrays and null count as absent, and the last of duplicated
/// keys wins, as in the map.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NativeLine<'a> {
    values: [Option<Cow<'a, str>>; KEYS.len()],
    /// Keys `ts` and `dst_ip` are there (whatever their values): the line
    /// is a native one, as detection tells it.
    has_ts: bool,
    has_dst_ip: bool,
}

/// Where a key sits in [`KEYS`].
fn key_index(key: &str) -> Option<usize> {
    Some(match key {
        "ts" => 0,
        "host" => 1,
        "proto" => 2,
        "src_ip" => 3,
        "src_port" => 4,
        "dst_ip" => 5,
        "dst_port" => 6,
        "pid" => 7,
        "process" => 8,
        "event" => 9,
        "host_ip" => 10,
        "os" => 11,
        "ppid" => 12,
        "sha256" => 13,
        "user" => 14,
        "cmdline" => 15,
        "signer" => 16,
        "exe_deleted" => 17,
        "netns" => 18,
        "cgroup_id" => 19,
        _ => return None,
    })
}

impl<'a> NativeLine<'a> {
    fn empty() -> Self {
        NativeLine {
            values: Default::default(),
            has_ts: false,
            has_dst_ip: false,
        }
    }

    fn set(&mut self, key: &str, value: Option<Cow<'a, str>>) {
        let Some(i) = key_index(key) else { return };
        self.has_ts |= i == 0;
        self.has_dst_ip |= i == 5;
        if let Some(slot) = self.values.get_mut(i) {
            *slot = value;
        }
    }

    /// Reads a flat line in one pass (see [`super::flat`]); `None` when
    /// the line needs serde_json.
    pub(crate) fn scan(line: &'a [u8]) -> Option<Self> {
        let mut out = NativeLine::empty();
        super::flat::scan(line, &mut |k, v| out.set(k, v)).then_some(out)
    }

    /// True when the line is a native one.
    pub(crate) fn is_native(&self) -> bool {
        self.has_ts && self.has_dst_ip
    }
}

impl Fields for NativeLine<'_> {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        self.values
            .get(key_index(key)?)?
            .as_deref()
            .map(Cow::Borrowed)
    }
}

/// A JSON value as text, or `None` for null, objects and arrays.
struct Scalar<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
                // Spelt as serde_json spells numbers.
                Ok(Scalar(
                    serde_json::Number::from_f64(v).map(|n| Cow::Owned(n.to_string())),
                ))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Borrowed(if v {
                    "true"
                } else {
                    "false"
                }))))
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Scalar<'de>, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<Scalar<'de>, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for NativeLine<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NativeLine<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<NativeLine<'de>, A::Error> {
                let mut line = NativeLine::empty();
                while let Some(key) = m.next_key::<Cow<'de, str>>()? {
                    if key_index(&key).is_some() {
                        let v: Scalar<'de> = m.next_value()?;
                        line.set(&key, v.0);
                    } else {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(line)
            }
        }
        d.deserialize_map(V)
    }
}

fn event(o: &(impl Fields + ?Sized)) -> Result<SocketEvent, String> {
    let ts = required(o, "ts", timestamp::parse)?;
    let host = opt_string(o, "host").ok_or("missing host")?;
    let proto = optional(o, "proto", Transport::parse)?;
    let local_ip = optional(o, "src_ip", parse_ip)?;
    let local_port = optional(o, "src_port", parse_port)?;
    let remote_ip = required(o, "dst_ip", parse_ip)?;
    let remote_port = required(o, "dst_port", parse_port)?;
    let pid = optional(o, "pid", parse_pid)?;
    let executable = opt_string(o, "process");
    if pid.is_none() && executable.is_none() {
        return Err("missing pid or process".into());
    }
    let kind = optional(o, "event", EventKind::parse)?.unwrap_or(EventKind::Connect);
    let host_ip = optional(o, "host_ip", parse_ip)?;
    let os = opt_string(o, "os").map(|s| Os::parse(&s));
    let ppid = optional(o, "ppid", parse_pid)?;
    let sha256 = opt_string(o, "sha256").map(|s| s.to_ascii_lowercase());
    if let Some(h) = &sha256 {
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("bad sha256 {}", quote(h)));
        }
    }
    Ok(SocketEvent {
        ts,
        host,
        host_ip,
        os,
        kind,
        proto,
        local_ip,
        local_port,
        remote_ip,
        remote_port,
        process: Arc::new(Process {
            pid,
            ppid,
            executable,
            user: opt_string(o, "user"),
            cmdline: opt_string(o, "cmdline"),
            sha256,
            signer: opt_string(o, "signer"),
            exe_deleted: optional(o, "exe_deleted", |v| v.parse::<bool>().ok())? == Some(true),
            netns: optional(o, "netns", |v| v.parse().ok())?,
            cgroup_id: optional(o, "cgroup_id", |v| v.parse().ok())?,
            guid: None,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn read(line: &str) -> Result<SocketEvent, String> {
        let v: Map<String, Value> = serde_json::from_str(line).unwrap();
        event(&v)
    }

    #[test]
    fn every_field() {
        let e = read(
            r#"{"ts":"2023-11-14T22:13:20.000900Z","host":"ws1","event":"accept","os":"linux",
            "proto":"tcp","src_ip":"10.1.0.5","src_port":"8080","dst_ip":"fe80:0000:0000:0000:0000:0000:0000:0001",
            "dst_port":41001,"pid":"1100","ppid":1,"process":"/usr/sbin/nginx","user":"www-data",
            "sha256":"AB00000000000000000000000000000000000000000000000000000000000000",
            "signer":"Debian","cmdline":"nginx -g daemon off;","host_ip":"192.0.2.1","extra":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(capture::time::rfc3339(e.ts), "2023-11-14T22:13:20.000900Z");
        assert_eq!(e.host, "ws1");
        assert_eq!(e.kind, EventKind::Accept);
        assert_eq!(e.os, Some(Os::Linux));
        assert_eq!(e.proto, Some(Transport::Tcp));
        assert_eq!(e.local_ip, Some("10.1.0.5".parse::<IpAddr>().unwrap()));
        assert_eq!(e.local_port, Some(8080));
        assert_eq!(e.remote_ip, "fe80::1".parse::<IpAddr>().unwrap());
        assert_eq!(e.remote_port, 41001);
        assert_eq!(e.host_ip, Some("192.0.2.1".parse().unwrap()));
        let p = &e.process;
        assert_eq!(p.pid, Some(1100));
        assert_eq!(p.ppid, Some(1));
        assert_eq!(p.executable.as_deref(), Some("/usr/sbin/nginx"));
        assert_eq!(p.user.as_deref(), Some("www-data"));
        assert_eq!(p.cmdline.as_deref(), Some("nginx -g daemon off;"));
        assert_eq!(p.signer.as_deref(), Some("Debian"));
        assert!(p.sha256.as_deref().unwrap().starts_with("ab00"));
    }

    #[test]
    fn minimal_line_and_epoch_seconds() {
        let e = read(
            r#"{"ts":1700000000.25,"host":"h","proto":"udp","src_ip":"10.0.0.1","src_port":5353,
            "dst_ip":"224.0.0.251","dst_port":5353,"process":"C:\\Windows\\svchost.exe"}"#,
        )
        .unwrap();
        assert_eq!(e.ts, 1_700_000_000_250_000);
        assert_eq!(e.kind, EventKind::Connect);
        assert_eq!(e.process.pid, None);
        assert_eq!(e.os, None);
    }

    #[test]
    fn bad_lines_name_the_problem() {
        let base = r#""ts":"1700000000","host":"h","proto":"tcp","src_ip":"10.0.0.1","src_port":1,"dst_ip":"10.0.0.2","dst_port":2,"pid":3"#;
        let err = |extra: &str, drop: &str| {
            let line = format!("{{{base}{extra}}}");
            let mut v: Map<String, Value> = serde_json::from_str(&line).unwrap();
            v.remove(drop);
            event(&v).unwrap_err()
        };
        assert_eq!(err("", "dst_port"), "missing dst_port");
        assert_eq!(err("", "ts"), "missing ts");
        assert_eq!(err("", "host"), "missing host");
        assert_eq!(err(r#","src_ip":"x""#, ""), "bad src_ip \"x\"");
        assert_eq!(err(r#","dst_port":"70000""#, ""), "bad dst_port \"70000\"");
        assert_eq!(err(r#","proto":"icmp""#, ""), "bad proto \"icmp\"");
        assert_eq!(err(r#","event":"listen""#, ""), "bad event \"listen\"");
        assert_eq!(err(r#","ts":"yesterday""#, ""), "bad ts \"yesterday\"");
        assert_eq!(err(r#","pid":-1"#, ""), "bad pid \"-1\"");
        assert_eq!(err("", "pid"), "missing pid or process");
    }

    #[test]
    fn transport_and_local_side_may_be_left_out() {
        let e = read(
            r#"{"ts":"1700000000","host":"ws2","dst_ip":"198.51.100.7","dst_port":8080,"pid":3100,"src_ip":"10.1.0.7"}"#,
        )
        .unwrap();
        assert_eq!((e.proto, e.local_port), (None, None));
        assert_eq!(e.local_ip, Some("10.1.0.7".parse().unwrap()));
        // An auditd-like event (remote side only) goes through the native
        // form and back unchanged.
        let mut a = e.clone();
        a.local_ip = None;
        assert_eq!(read(&a.to_native_json()).unwrap(), a);
    }

    /// The fast form reads every line exactly as the map does.
    #[test]
    fn the_fast_form_reads_as_the_map() {
        let lines = [
            r#"{"ts":"2023-11-14T22:13:20.000900Z","host":"ws1","event":"accept","os":"linux","proto":"tcp","src_ip":"10.1.0.5","src_port":"8080","dst_ip":"fe80::1","dst_port":41001,"pid":"1100","ppid":1,"process":"/usr/sbin/nginx","user":"www-data","signer":"Debian","cmdline":"nginx -g daemon off;","host_ip":"192.0.2.1","extra":{"x":[1,2]}}"#,
            r#"{"ts":1700000000.25,"host":"h","proto":"udp","src_ip":"10.0.0.1","src_port":5353,"dst_ip":"224.0.0.251","dst_port":5353,"process":"C:\\Windows\\svc\u0068ost.exe"}"#,
            r#"{"ts":"1700000000","host":"h","dst_ip":"10.0.0.2","dst_port":2,"pid":3,"pid":4}"#,
            r#"{"ts":"1700000000","host":null,"dst_ip":"10.0.0.2","dst_port":2,"pid":3}"#,
            r#"{"ts":"1700000000","host":"h","dst_ip":"10.0.0.2","dst_port":{"a":1},"pid":3}"#,
            r#"{"ts":"1700000000","host":"h","dst_ip":"10.0.0.2","dst_port":2.0,"pid":true}"#,
            r#"{"ts":"1700000000","host":" - ","dst_ip":"10.0.0.2","dst_port":-2,"pid":3}"#,
            r#"{"ts":"x","host":"h","dst_ip":"10.0.0.2","dst_port":2,"process":"/a","sha256":"zz"}"#,
        ];
        for l in lines {
            let map: Map<String, Value> = serde_json::from_str(l).unwrap();
            let fast: NativeLine = serde_json::from_str(l).unwrap();
            assert!(fast.is_native());
            assert_eq!(event(&fast), event(&map), "{l}");
        }
        let not: NativeLine = serde_json::from_str(r#"{"EventID":3,"ts":1}"#).unwrap();
        assert!(!not.is_native());
    }

    #[test]
    fn keys_are_where_the_table_says() {
        for (i, k) in KEYS.iter().enumerate() {
            assert_eq!(key_index(k), Some(i));
        }
        assert_eq!(key_index("process_path"), None);
    }

    /// What the one-pass scanner accepts, it reads as serde_json does: on
    /// the lines above, on lines as endpoint agents write them, and on
    /// thousands of damaged copies of those (one byte changed, cut, or
    /// doubled), where it must either refuse or agree.
    #[test]
    fn the_scanner_reads_as_serde_json() {
        let lines = [
            r#"{"ts":"2025-03-04T08:59:40.006508Z","event":"connect","host":"WS-1040","os":"windows","host_ip":"10.0.10.51","pid":4332,"process_name":"msedge.exe","process_path":"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe","process":"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe","user":"CORP\\sven.chen","proto":"tcp","src_ip":"10.0.10.51","src_port":59689,"dst_ip":"146.205.88.157","dst_port":443}"#,
            r#"{"ts":"2023-11-14T22:13:20.000900Z","host":"ws1","event":"accept","os":"linux","proto":"tcp","src_ip":"10.1.0.5","src_port":"8080","dst_ip":"fe80::1","dst_port":41001,"pid":"1100","ppid":1,"process":"/usr/sbin/nginx","user":"www-data","signer":"Debian","cmdline":"nginx -g \"daemon off;\"\t","host_ip":"192.0.2.1"}"#,
            r#"{"ts":"1700000000","host":"h","dst_ip":"10.0.0.2","dst_port":2,"pid":3,"pid":4,"x":null,"y":true}"#,
            r#"{"ts":"1700000000","host":null,"dst_ip":"10.0.0.2","dst_port":-2,"pid":false}"#,
        ];
        let mut accepted = 0;
        let mut checked = 0;
        for l in lines {
            let fast = NativeLine::scan(l.as_bytes()).expect("a flat line");
            let slow: NativeLine = serde_json::from_str(l).unwrap();
            assert_eq!(fast, slow, "{l}");
            let b = l.as_bytes();
            let mut variants: Vec<Vec<u8>> = Vec::new();
            for i in 0..b.len() {
                for c in [
                    b'"', b'\\', b',', b':', b'{', b'}', b'1', b'.', b'e', b' ', b'n', 0x01,
                ] {
                    let mut v = b.to_vec();
                    v[i] = c;
                    variants.push(v);
                }
                variants.push(b[..i].to_vec());
                variants.push([&b[..i], &b[i..i + 1], &b[i..]].concat());
            }
            for v in variants {
                checked += 1;
                if let Some(fast) = NativeLine::scan(&v) {
                    accepted += 1;
                    let slow: Result<NativeLine, _> = serde_json::from_slice(&v);
                    assert_eq!(
                        Ok(&fast),
                        slow.as_ref().map_err(|_| ()),
                        "{}",
                        String::from_utf8_lossy(&v)
                    );
                }
            }
        }
        // Both ways are exercised: damage to the structure is refused, a
        // changed letter inside a string still makes a line.
        assert!(
            accepted > 3000 && checked - accepted > 3000,
            "{accepted} of {checked}"
        );
    }

    #[test]
    fn what_the_event_model_writes_reads_back() {
        let e = read(
            r#"{"ts":"2023-01-01T00:00:00.5Z","host":"h","proto":"tcp","src_ip":"::1","src_port":1,
            "dst_ip":"::1","dst_port":2,"pid":3,"process":"/bin/x","event":"close","os":"windows",
            "user":"u","cmdline":"x -y","ppid":2}"#,
        )
        .unwrap();
        let back = read(&e.to_native_json()).unwrap();
        assert_eq!(back, e);
    }
}
