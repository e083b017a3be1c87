//! The `eve` profile: Suricata's EVE JSON, so EVE consumers (Security
//! Onion, Evebox, jq scripts written for Suricata) take procflow's lines.
//! A flow record is its `flow` event, then one `http` event per
//! transaction and a `tls` (or `quic`) event, each a line of its own, all
//! sharing the flow's `flow_id`; an alert is an `alert` event naming the
//! flow of its top destination. Names and types are EVE's: `src_ip` /
//! `dest_ip`, `proto` in capitals, `flow.pkts_toserver`,
//! `flow.bytes_toclient`, timestamps as `2023-11-14T22:13:20.000000+0000`.
//! What EVE has no field for (processes, attribution, windows) is under
//! `procflow`, and process windows are events of their own type,
//! `procflow_window`.

use super::Profile;
use capture::FlowRecord;
use correlate::{AttributedFlow, ProcessWindow};
use rules::Alert;
use serde_json::{json, Map, Value};

/// Suricata's EVE JSON.
pub struct Eve;

impl Profile for Eve {
    fn name(&self) -> &'static str {
        "eve"
    }

    fn record(&self, r: &FlowRecord, out: &mut Vec<u8>) {
        events(&native(&r.to_json()), None, out);
    }

    fn flow(&self, f: &AttributedFlow, out: &mut Vec<u8>) {
        let mut n = native(&f.to_json());
        let mut extra = Map::new();
        for k in ["host", "process", "user", "attribution"] {
            if let Some(v) = n.remove(k) {
                extra.insert(k.to_string(), v);
            }
        }
        events(&n, Some(Value::Object(extra)), out);
    }

    fn window(&self, w: &ProcessWindow, out: &mut Vec<u8>) {
        let n = native(&w.to_json());
        let ts = n
            .get("window")
            .and_then(|x| x.get("start"))
            .and_then(Value::as_str)
            .map(eve_time)
            .unwrap_or_default();
        let doc = json!({"timestamp": ts, "event_type": "procflow_window",
                         "host": super::identity::sensor().name, "procflow": n});
        line(&doc, out);
    }

    fn alert(&self, a: &Alert, out: &mut Vec<u8>) {
        line(&alert_event(a), out);
    }
}

fn native(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Appends one event; events after the first start on a new line (the
/// sink ends the last).
fn line(v: &Value, out: &mut Vec<u8>) {
    if !out.is_empty() {
        out.push(b'\n');
    }
    // JSON values: serialising into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// RFC 3339 in UTC (`...Z`) as EVE writes times (`...+0000`).
pub fn eve_time(t: &str) -> String {
    match t.strip_suffix('Z') {
        Some(base) => format!("{base}+0000"),
        None => t.to_string(),
    }
}

/// A flow id as EVE has one (a positive 63-bit number): the first eight
/// bytes of the Community ID's hash, so every event of a flow, and the
/// same flow seen by another sensor, share it.
pub fn flow_id(community_id: &str) -> u64 {
    use base64::Engine;
    let hash = community_id.strip_prefix("1:").unwrap_or(community_id);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(hash)
        .unwrap_or_default();
    let mut id = [0u8; 8];
    for (d, s) in id.iter_mut().zip(bytes) {
        *d = s;
    }
    u64::from_be_bytes(id) & (u64::MAX >> 1)
}

fn get<'a>(v: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = v.get(parts.next()?)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(cur)
}

fn str_at(v: &Map<String, Value>, path: &str) -> String {
    get(v, path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn u64_at(v: &Map<String, Value>, path: &str) -> u64 {
    get(v, path).and_then(Value::as_u64).unwrap_or(0)
}

/// The fields every event of a flow starts with.
fn header(n: &Map<String, Value>, event_type: &str, ts: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("timestamp".into(), json!(eve_time(ts)));
    m.insert("flow_id".into(), json!(flow_id(&str_at(n, "community_id"))));
    m.insert("event_type".into(), json!(event_type));
    m.insert("host".into(), json!(super::identity::sensor().name));
    m.insert("src_ip".into(), json!(str_at(n, "source.ip")));
    let transport = str_at(n, "network.transport");
    // ICMP has no ports: EVE gives its types and codes instead.
    let icmp = get(n, "icmp").and_then(Value::as_object);
    if icmp.is_none() {
        m.insert("src_port".into(), json!(u64_at(n, "source.port")));
    }
    m.insert("dest_ip".into(), json!(str_at(n, "destination.ip")));
    match icmp {
        None => {
            m.insert("dest_port".into(), json!(u64_at(n, "destination.port")));
        }
        Some(i) => {
            for (ours, eve) in [
                ("type", "icmp_type"),
                ("code", "icmp_code"),
                ("response_type", "response_icmp_type"),
                ("response_code", "response_icmp_code"),
            ] {
                if let Some(v) = i.get(ours) {
                    m.insert(eve.into(), v.clone());
                }
            }
        }
    }
    let proto = match transport.as_str() {
        "ipv6-icmp" => "IPv6-ICMP".to_string(),
        t => t.to_uppercase(),
    };
    m.insert("proto".into(), json!(proto));
    if let Some(v) = get(n, "network.vlan.id") {
        m.insert("vlan".into(), json!([v]));
    }
    m.insert("community_id".into(), json!(str_at(n, "community_id")));
    m
}

/// The flow's events: `flow`, then `http` per transaction, then `tls` or
/// `quic`; `extra` (the processes) goes with the flow event.
fn events(n: &Map<String, Value>, extra: Option<Value>, out: &mut Vec<u8>) {
    let (start, end) = (str_at(n, "event.start"), str_at(n, "event.end"));
    // Every event of the flow starts alike: the header is made once.
    let base = header(n, "flow", &start);
    let of_type = |t: &str| {
        let mut m = base.clone();
        m.insert("event_type".into(), json!(t));
        m
    };
    let mut flow = base.clone();
    if let Some(p) = get(n, "network.protocol") {
        flow.insert("app_proto".into(), p.clone());
    }
    let reason = str_at(n, "event.reason");
    let state = match reason.as_str() {
        "fin" | "rst" => "closed",
        _ => "established",
    };
    let eve_reason = match reason.as_str() {
        "fin" | "rst" => "shutdown",
        "idle" => "timeout",
        _ => "forced",
    };
    let age = age_secs(&start, &end);
    flow.insert(
        "flow".into(),
        json!({
            "pkts_toserver": u64_at(n, "source.packets"),
            "pkts_toclient": u64_at(n, "destination.packets"),
            "bytes_toserver": u64_at(n, "source.bytes"),
            "bytes_toclient": u64_at(n, "destination.bytes"),
            "start": eve_time(&start), "end": eve_time(&end), "age": age,
            "state": state, "reason": eve_reason, "alerted": false,
        }),
    );
    let mut procflow = Map::new();
    for k in ["flow", "tunnel", "icmp_errors", "dns", "quic"] {
        if let Some(v) = n.get(k) {
            procflow.insert(k.to_string(), v.clone());
        }
    }
    if let Some(Value::Object(x)) = extra {
        procflow.extend(x);
    }
    flow.insert("procflow".into(), Value::Object(procflow));
    line(&Value::Object(flow), out);
    if let Some(Value::Array(txs)) = n.get("http") {
        for (i, t) in txs.iter().enumerate() {
            let mut ev = of_type("http");
            ev.insert("tx_id".into(), json!(i));
            ev.insert("http".into(), http(t));
            line(&Value::Object(ev), out);
        }
    }
    if let Some(t) = n.get("tls") {
        let quic = n.get("quic");
        let kind = if quic.is_some() { "quic" } else { "tls" };
        let mut ev = of_type(kind);
        let mut body = Map::new();
        for (from, to) in [("sni", "sni"), ("version", "version"), ("ja4", "ja4")] {
            if let Some(v) = t.get(from) {
                body.insert(to.into(), v.clone());
            }
        }
        if let Some(a) = t.get("alpn") {
            body.insert("client_alpns".into(), a.clone());
        }
        if let Some(a) = t.get("alpn_chosen") {
            body.insert("server_alpns".into(), json!([a]));
        }
        if let Some(v) = quic.and_then(|q| q.get("version")) {
            body.insert("version".into(), v.clone());
        }
        ev.insert(kind.into(), Value::Object(body));
        line(&Value::Object(ev), out);
    }
}

/// Seconds between two RFC 3339 times of the same run (whole seconds,
/// as EVE's `age`).
fn age_secs(start: &str, end: &str) -> u64 {
    let secs = |t: &str| -> Option<i64> {
        let (date, time) = t.split_once('T')?;
        let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
        let (y, m, day) = (d.next()??, d.next()??, d.next()??);
        let mut h = time.get(..8)?.split(':').map(|x| x.parse::<i64>().ok());
        let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe;
        Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
    };
    match (secs(start), secs(end)) {
        (Some(a), Some(b)) if b >= a => (b - a) as u64,
        _ => 0,
    }
}

/// One transaction with EVE's names.
fn http(t: &Value) -> Value {
    let mut m = Map::new();
    for (from, to) in [
        ("host", "hostname"),
        ("uri", "url"),
        ("user_agent", "http_user_agent"),
        ("content_type", "http_content_type"),
        ("method", "http_method"),
        ("version", "protocol"),
        ("status", "status"),
    ] {
        if let Some(v) = t.get(from) {
            m.insert(to.into(), v.clone());
        }
    }
    if let Some(v) = t.get("response_body_bytes") {
        m.insert("length".into(), v.clone());
    }
    for k in [
        "request_bytes",
        "response_bytes",
        "request_body_bytes",
        "response_body_bytes",
    ] {
        if let Some(v) = t.get(k) {
            m.insert(format!("procflow_{k}"), v.clone());
        }
    }
    Value::Object(m)
}

/// Suricata's severity: 1 (highest) to 3.
fn severity(s: &str) -> u64 {
    match s {
        "critical" | "high" => 1,
        "medium" => 2,
        _ => 3,
    }
}

/// A signature id in the range for local rules: 1,000,000 plus the
/// rule's number (AN0144: 1000144).
fn signature_id(rule: &str) -> u64 {
    let n: u64 = rule
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0);
    1_000_000 + n
}

/// An alert as an EVE `alert` event on the flow of its top destination.
fn alert_event(a: &Alert) -> Value {
    let n = native(&a.to_json());
    let first = a.flows.first();
    let community = a.community_ids.first().cloned().unwrap_or_default();
    json!({
        "timestamp": eve_time(&a.timestamp),
        "flow_id": flow_id(&community),
        "event_type": "alert",
        "host": super::identity::sensor().name,
        "src_ip": first.map_or(json!(a.host.ip), |f| json!(f.source.ip)),
        "src_port": first.map_or(0, |f| f.source.port),
        "dest_ip": first.map_or(json!(a.destination.ip), |f| json!(f.destination.ip)),
        "dest_port": first.map_or(json!(a.destination.port), |f| json!(f.destination.port)),
        "proto": first.map_or_else(|| "TCP".to_string(), |f| f.transport.to_uppercase()),
        "community_id": community,
        "alert": {
            "action": "allowed", "gid": 1, "signature_id": signature_id(a.rule), "rev": 1,
            "signature": format!("procflow {} {}", a.rule, a.title),
            "category": "Potentially Bad Traffic", "severity": severity(a.severity),
            "metadata": {"procflow_rule": [a.rule], "risk_score": [a.risk_score.to_string()]},
        },
        "procflow": n,
    })
}
