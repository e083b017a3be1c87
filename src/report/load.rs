//! Reading a run's native outputs for the report: each line parsed once,
//! a line that is not one of ours counted and skipped.

use crate::cli::ReportArgs;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::net::IpAddr;
use std::path::Path;

/// One process window.
pub struct Window {
    pub host: String,
    pub executable: String,
    pub start: String,
    pub connections: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// An alert names this window.
    pub alerted: bool,
}

/// One alert.
pub struct AlertRow {
    pub rule: String,
    pub severity: String,
    pub host: String,
    pub executable: String,
    pub start: String,
    pub destination: String,
    pub reasons: Vec<String>,
    pub risk_score: u64,
    pub flows: Vec<(String, String)>,
}

/// One process (host and executable) over every window.
#[derive(Default)]
pub struct Talker {
    pub host: String,
    pub executable: String,
    pub connections: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// Destinations in private, loopback or link-local space, by bytes
    /// sent, largest first.
    pub internal: Vec<(String, u64)>,
    /// The others.
    pub external: Vec<(String, u64)>,
}

impl Talker {
    /// Bytes in over bytes out.
    pub fn ratio(&self) -> f64 {
        if self.bytes_out == 0 {
            0.0
        } else {
            self.bytes_in as f64 / self.bytes_out as f64
        }
    }
}

/// Attribution coverage, from the flow records.
pub struct Coverage {
    pub flows: u64,
    pub client_attributed: u64,
    /// Unattributed clients: address, flows, payload bytes sent.
    pub blind: Vec<(String, u64, u64)>,
}

impl Coverage {
    /// Share of flows with their client's process, in percent.
    pub fn percent(&self) -> f64 {
        if self.flows == 0 {
            0.0
        } else {
            self.client_attributed as f64 * 100.0 / self.flows as f64
        }
    }
}

/// Everything the report shows.
pub struct Loaded {
    pub windows: Vec<Window>,
    pub alerts: Vec<AlertRow>,
    pub talkers: Vec<Talker>,
    pub coverage: Option<Coverage>,
}

/// Reads the files `a` names.
pub fn load(a: &ReportArgs) -> Result<Loaded> {
    if a.processes.is_none() && a.alerts.is_none() && a.flows.is_none() {
        bail!("nothing to report: name --processes, --alerts or --flows (the outputs of read or live)");
    }
    let alerts: Vec<AlertRow> = match &a.alerts {
        Some(p) => lines(p)?.iter().map(alert).collect(),
        None => Vec::new(),
    };
    let mut windows = Vec::new();
    let mut talkers: BTreeMap<(String, String), Talker> = BTreeMap::new();
    let mut dests: HashMap<(String, String), BTreeMap<String, (bool, u64)>> = HashMap::new();
    if let Some(p) = &a.processes {
        for v in lines(p)? {
            let w = window(&v, &alerts);
            let key = (w.host.clone(), w.executable.clone());
            let t = talkers.entry(key.clone()).or_default();
            t.host.clone_from(&w.host);
            t.executable.clone_from(&w.executable);
            // Figures from a file: summed without overflow.
            t.connections = t.connections.saturating_add(w.connections);
            t.bytes_out = t.bytes_out.saturating_add(w.bytes_out);
            t.bytes_in = t.bytes_in.saturating_add(w.bytes_in);
            let d = dests.entry(key).or_default();
            for x in at(&v, "destinations").as_array().into_iter().flatten() {
                let (label, internal) = destination(x);
                let e = d.entry(label).or_insert((internal, 0));
                e.1 = e.1.saturating_add(at(x, "bytes_out").as_u64().unwrap_or(0));
            }
            windows.push(w);
        }
    }
    let mut talkers: Vec<Talker> = talkers
        .into_iter()
        .map(|(key, mut t)| {
            let mut all: Vec<(String, bool, u64)> = dests
                .remove(&key)
                .unwrap_or_default()
                .into_iter()
                .map(|(l, (i, b))| (l, i, b))
                .collect();
            all.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
            for (label, internal, b) in all {
                let list = if internal {
                    &mut t.internal
                } else {
                    &mut t.external
                };
                list.push((label, b));
            }
            t
        })
        .collect();
    talkers.sort_by(|a, b| b.bytes_out.cmp(&a.bytes_out).then(a.host.cmp(&b.host)));
    let coverage = a.flows.as_deref().map(coverage).transpose()?;
    Ok(Loaded {
        windows,
        alerts,
        talkers,
        coverage,
    })
}

/// The JSON objects of a file, a line each; lines that are not JSON
/// objects are counted, said once, and skipped.
fn lines(path: &Path) -> Result<Vec<Value>> {
    let f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut out = Vec::new();
    let mut bad = 0u64;
    for line in std::io::BufReader::new(f).lines() {
        let line = line.with_context(|| format!("{}: cannot read", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(v) if v.is_object() => out.push(v),
            _ => bad += 1,
        }
    }
    if bad > 0 {
        eprintln!(
            "procflow: warning: {}: {bad} lines are not JSON objects, skipped",
            path.display()
        );
    }
    Ok(out)
}

/// The value at a dotted path, `Null` where there is none.
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .try_fold(v, |cur, k| cur.get(k))
        .unwrap_or(&Value::Null)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn window(v: &Value, alerts: &[AlertRow]) -> Window {
    let m = &at(v, "metrics");
    let (host, executable, start) = (
        text(at(v, "host.name")),
        text(at(v, "process.executable")),
        text(at(v, "window.start")),
    );
    let alerted = alerts
        .iter()
        .any(|a| a.host == host && a.executable == executable && a.start == start);
    Window {
        connections: at(m, "connections").as_u64().unwrap_or(0),
        bytes_out: at(m, "bytes_out").as_u64().unwrap_or(0),
        bytes_in: at(m, "bytes_in").as_u64().unwrap_or(0),
        host,
        executable,
        start,
        alerted,
    }
}

/// A destination's label (name, else address and port) and whether it is
/// inside (private, loopback, link-local or unique-local space).
fn destination(x: &Value) -> (String, bool) {
    let ip: Option<IpAddr> = at(x, "ip").as_str().and_then(|s| s.parse().ok());
    let internal = ip.is_some_and(|ip| match ip {
        IpAddr::V4(v) => v.is_private() || v.is_loopback() || v.is_link_local(),
        IpAddr::V6(v) => v.is_loopback() || (v.segments()[0] & 0xfe00) == 0xfc00,
    });
    let label = match (at(x, "domain").as_str(), ip) {
        (Some(d), _) => d.to_string(),
        (None, Some(ip)) => format!("{ip}:{}", at(x, "port").as_u64().unwrap_or(0)),
        (None, None) => "(others)".to_string(),
    };
    (label, internal)
}

fn alert(v: &Value) -> AlertRow {
    let d = &at(v, "destination");
    let destination = match (at(d, "domain").as_str(), at(d, "ip").as_str()) {
        (Some(n), Some(ip)) => format!("{n} ({ip})"),
        (Some(n), None) => n.to_string(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => "?".to_string(),
    };
    AlertRow {
        rule: text(at(v, "rule")),
        severity: text(at(v, "severity")),
        host: text(at(v, "host.name")),
        executable: text(at(v, "process.executable")),
        start: text(at(v, "window.start")),
        destination,
        reasons: at(v, "reasons")
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect(),
        risk_score: at(v, "risk_score").as_u64().unwrap_or(0),
        flows: at(v, "flows")
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| (text(at(f, "start")), text(at(f, "destination.ip"))))
            .collect(),
    }
}

fn coverage(path: &Path) -> Result<Coverage> {
    let mut c = Coverage {
        flows: 0,
        client_attributed: 0,
        blind: Vec::new(),
    };
    let mut blind: HashMap<String, (u64, u64)> = HashMap::new();
    for v in lines(path)? {
        // No socket owns an ICMP flow: it is no blind spot.
        if at(&v, "network.transport")
            .as_str()
            .is_some_and(|t| t.contains("icmp"))
        {
            continue;
        }
        c.flows += 1;
        if at(&v, "process").is_object() {
            c.client_attributed += 1;
        } else {
            let e = blind.entry(text(at(&v, "source.ip"))).or_default();
            e.0 += 1;
            e.1 =
                e.1.saturating_add(at(&v, "flow.payload_out").as_u64().unwrap_or(0));
        }
    }
    let mut b: Vec<(String, u64, u64)> = blind.into_iter().map(|(k, (f, x))| (k, f, x)).collect();
    b.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    b.truncate(10);
    c.blind = b;
    Ok(c)
}
