//! TEMPORARY STUB (replaced by the real readers): native JSON lines only.
#![allow(missing_docs)]
use crate::event::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub enum FeedFormat {
    Auto,
    Jsonl,
    Sysmon,
    Osquery,
    Auditd,
}
impl std::str::FromStr for FeedFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => Self::Auto,
            "jsonl" => Self::Jsonl,
            "sysmon" => Self::Sysmon,
            "osquery" => Self::Osquery,
            "auditd" => Self::Auditd,
            _ => return Err(format!("unknown format {s}")),
        })
    }
}
#[derive(Debug, Clone, serde::Serialize)]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
}
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedReport {
    pub path: String,
    pub format: &'static str,
    pub lines: u64,
    pub events: u64,
    pub skipped: BTreeMap<&'static str, u64>,
    pub bad_lines: u64,
    pub bad_examples: Vec<BadLine>,
}
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{0}")]
    Io(String),
}

pub fn read_file(
    path: &Path,
    _f: FeedFormat,
    _h: &str,
    sink: &mut dyn FnMut(SocketEvent),
) -> Result<FeedReport, FeedError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| FeedError::Io(format!("{}: {e}", path.display())))?;
    let mut r = FeedReport {
        path: path.display().to_string(),
        format: "jsonl",
        lines: 0,
        events: 0,
        skipped: BTreeMap::new(),
        bad_lines: 0,
        bad_examples: vec![],
    };
    for (i, l) in text.lines().enumerate() {
        r.lines += 1;
        let v: serde_json::Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(e) => {
                r.bad_lines += 1;
                r.bad_examples.push(BadLine {
                    line: i as u64 + 1,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let s = |k: &str| {
            v.get(k).and_then(|x| {
                x.as_str()
                    .map(String::from)
                    .or_else(|| x.as_u64().map(|n| n.to_string()))
            })
        };
        let ev = (|| {
            Some(SocketEvent {
                ts: crate::timestamp::parse(&s("ts")?)?,
                host: s("host")?,
                host_ip: None,
                os: s("os").map(|o| Os::parse(&o)),
                kind: s("event")
                    .map(|e| EventKind::parse(&e))
                    .unwrap_or(Some(EventKind::Connect))?,
                proto: Proto::parse(&s("proto")?),
                local_ip: s("src_ip").and_then(|x| x.parse().ok()),
                local_port: s("src_port").and_then(|x| x.parse().ok()),
                remote_ip: s("dst_ip")?.parse().ok()?,
                remote_port: s("dst_port")?.parse().ok()?,
                process: Arc::new(Process {
                    pid: s("pid").and_then(|p| p.parse().ok()),
                    executable: s("process"),
                    user: s("user"),
                    ..Process::default()
                }),
            })
        })();
        match ev {
            Some(e) => {
                r.events += 1;
                sink(e)
            }
            None => {
                r.bad_lines += 1;
                r.bad_examples.push(BadLine {
                    line: i as u64 + 1,
                    reason: "missing field".into(),
                })
            }
        }
    }
    Ok(r)
}
