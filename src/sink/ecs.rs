//! The `ecs` profile: Elastic Common Schema 8.17 documents that Elastic's
//! ingest takes unchanged. Each document starts from the native line:
//! fields with an ECS home move there under ECS names, types and
//! categorisation (`@timestamp`, `event.*`, `network.community_id`,
//! `rule.*`, `observer.*`, `related.*`, `http.request.method`, `url.*`,
//! `tls.client.server_name`, `process.*`...), and everything else stays,
//! unchanged, under `procflow.*` (ECS's place for custom fields is a
//! name of one's own), so nothing the native line says is lost. JA4 has
//! no ECS field yet: it is `procflow.tls.ja4`.
//! `tests/ecs.rs` checks every field against the ECS definitions.

use super::Profile;
use capture::FlowRecord;
use correlate::{AttributedFlow, ProcessWindow};
use rules::Alert;
use serde_json::{json, Map, Value};

/// The ECS release the documents follow.
pub const ECS_VERSION: &str = "8.17.0";

/// Elastic Common Schema documents.
pub struct Ecs;

impl Profile for Ecs {
    fn name(&self) -> &'static str {
        "ecs"
    }

    fn record(&self, r: &FlowRecord, out: &mut Vec<u8>) {
        write(flow_doc(parse(&r.to_json())), out);
    }

    fn flow(&self, f: &AttributedFlow, out: &mut Vec<u8>) {
        write(flow_doc(parse(&f.to_json())), out);
    }

    fn window(&self, w: &ProcessWindow, out: &mut Vec<u8>) {
        write(window_doc(parse(&w.to_json())), out);
    }

    fn alert(&self, a: &Alert, out: &mut Vec<u8>) {
        write(alert_doc(parse(&a.to_json())), out);
    }
}

fn parse(line: &str) -> Map<String, Value> {
    match serde_json::from_str(line) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn write(doc: Map<String, Value>, out: &mut Vec<u8>) {
    // Maps of JSON values: serialising into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, &Value::Object(doc));
}

/// Removes the value at a dotted path of `m` (emptied parents removed).
fn take(m: &mut Map<String, Value>, path: &str) -> Option<Value> {
    match path.split_once('.') {
        None => m.remove(path),
        Some((head, rest)) => {
            let inner = m.get_mut(head)?.as_object_mut()?;
            let v = take(inner, rest);
            if inner.is_empty() {
                m.remove(head);
            }
            v
        }
    }
}

/// Sets a dotted path of `m`, making the objects on the way.
fn put(m: &mut Map<String, Value>, path: &str, v: Value) {
    if v.is_null() {
        return;
    }
    match path.split_once('.') {
        None => {
            m.insert(path.to_string(), v);
        }
        Some((head, rest)) => {
            let slot = m
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Some(inner) = slot.as_object_mut() {
                put(inner, rest, v);
            }
        }
    }
}

/// Moves `from` of the native line to `to` of the document.
fn mv(native: &mut Map<String, Value>, doc: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = take(native, from) {
        put(doc, to, v);
    }
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The start of a document: its ECS version, observer and dataset.
fn skeleton(dataset: &str) -> Map<String, Value> {
    let mut doc = Map::new();
    put(&mut doc, "ecs.version", json!(ECS_VERSION));
    let sensor = super::identity::sensor();
    put(
        &mut doc,
        "observer",
        json!({"product": "procflow", "vendor": "procflow", "type": "sensor",
               "version": env!("CARGO_PKG_VERSION"),
               "name": sensor.name, "hostname": sensor.hostname}),
    );
    put(&mut doc, "event.module", json!("procflow"));
    put(&mut doc, "event.dataset", json!(dataset));
    doc
}

/// `TLS 1.3` as ECS's protocol and version.
fn tls_version(v: &str) -> (&'static str, String) {
    match v.split_once(' ') {
        Some(("SSL", n)) => ("ssl", n.to_string()),
        Some((_, n)) => ("tls", n.split(' ').next().unwrap_or(n).to_string()),
        None => ("tls", v.to_string()),
    }
}

/// The client's side (host, process, user) of an attributed line.
fn client_side(native: &mut Map<String, Value>, doc: &mut Map<String, Value>) {
    mv(native, doc, "host.name", "host.name");
    if let Some(ip) = take(native, "host.ip") {
        let ips = if ip.is_array() { ip } else { json!([ip]) };
        put(doc, "host.ip", ips);
    }
    mv(native, doc, "host.os.family", "host.os.family");
    mv(native, doc, "process.pid", "process.pid");
    mv(native, doc, "process.executable", "process.executable");
    mv(native, doc, "process.name", "process.name");
    mv(native, doc, "process.command_line", "process.command_line");
    mv(native, doc, "process.parent.pid", "process.parent.pid");
    mv(native, doc, "process.hash.sha256", "process.hash.sha256");
    mv(
        native,
        doc,
        "process.code_signature.subject_name",
        "process.code_signature.subject_name",
    );
    mv(native, doc, "user.name", "user.name");
}

/// A flow record (attributed or not) as an ECS network event.
fn flow_doc(mut n: Map<String, Value>) -> Map<String, Value> {
    let mut doc = skeleton("procflow.flow");
    put(&mut doc, "event.kind", json!("event"));
    put(&mut doc, "event.category", json!(["network"]));
    put(&mut doc, "event.type", json!(["connection", "end"]));
    if let Some(start) = n.get("event").and_then(|e| e.get("start")).cloned() {
        put(&mut doc, "@timestamp", start);
    }
    mv(&mut n, &mut doc, "event.start", "event.start");
    mv(&mut n, &mut doc, "event.end", "event.end");
    mv(&mut n, &mut doc, "event.reason", "event.reason");
    mv(&mut n, &mut doc, "community_id", "network.community_id");
    mv(&mut n, &mut doc, "network.transport", "network.transport");
    mv(&mut n, &mut doc, "network.protocol", "network.protocol");
    if let Some(id) = take(&mut n, "network.vlan.id") {
        put(&mut doc, "network.vlan.id", json!(id.to_string()));
    }
    let (mut bytes, mut packets) = (0, 0);
    // An ICMP flow's "ports" are its types and codes (its key): ECS has no
    // ICMP fields, so they stay in `procflow.icmp` and the ports go.
    let icmp = n.contains_key("icmp");
    for side in ["source", "destination"] {
        if icmp {
            take(&mut n, &format!("{side}.port"));
        }
        for f in ["ip", "port", "bytes", "packets"] {
            if let Some(v) = n.get(side).and_then(|s| s.get(f)) {
                if f == "bytes" {
                    bytes += num(v);
                }
                if f == "packets" {
                    packets += num(v);
                }
            }
            mv(
                &mut n,
                &mut doc,
                &format!("{side}.{f}"),
                &format!("{side}.{f}"),
            );
        }
    }
    put(&mut doc, "network.bytes", json!(bytes));
    put(&mut doc, "network.packets", json!(packets));
    let mut hosts: Vec<Value> = Vec::new();
    first_http(&mut n, &mut doc, &mut hosts);
    tls(&mut n, &mut doc, &mut hosts);
    client_side(&mut n, &mut doc);
    let ips: Vec<Value> = ["source.ip", "destination.ip", "host.ip"]
        .iter()
        .filter_map(|p| get(&doc, p))
        .flat_map(|v| match v {
            Value::Array(a) => a.clone(),
            v => vec![v.clone()],
        })
        .fold(Vec::new(), |mut acc, v| {
            if !acc.contains(&v) {
                acc.push(v);
            }
            acc
        });
    put(&mut doc, "related.ip", json!(ips));
    if let Some(h) = get(&doc, "host.name").cloned() {
        hosts.push(h);
    }
    hosts.dedup();
    if !hosts.is_empty() {
        put(&mut doc, "related.hosts", json!(hosts));
    }
    if let Some(user) = get(&doc, "user.name").cloned() {
        put(&mut doc, "related.user", json!([user]));
    }
    rest(n, &mut doc);
    doc
}

fn get<'a>(m: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut v = m.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    Some(v)
}

/// The first HTTP transaction in ECS's `http.*`, `url.*`,
/// `user_agent.*`; every transaction stays in `procflow.http`.
fn first_http(n: &mut Map<String, Value>, doc: &mut Map<String, Value>, hosts: &mut Vec<Value>) {
    let Some(t) = n.get("http").and_then(|h| h.get(0)).cloned() else {
        return;
    };
    let copy = |doc: &mut Map<String, Value>, from: &str, to: &str| {
        if let Some(v) = t.get(from) {
            put(doc, to, v.clone());
        }
    };
    copy(doc, "method", "http.request.method");
    copy(doc, "request_bytes", "http.request.bytes");
    copy(doc, "request_body_bytes", "http.request.body.bytes");
    copy(doc, "status", "http.response.status_code");
    copy(doc, "response_bytes", "http.response.bytes");
    copy(doc, "response_body_bytes", "http.response.body.bytes");
    copy(doc, "content_type", "http.response.mime_type");
    copy(doc, "uri", "url.original");
    copy(doc, "user_agent", "user_agent.original");
    if let Some(v) = t.get("version").and_then(Value::as_str) {
        put(doc, "http.version", json!(v.trim_start_matches("HTTP/")));
    }
    if let Some(h) = t.get("host").and_then(Value::as_str) {
        let name = rules::policy::allowlist::host_part(h);
        put(doc, "url.domain", json!(name));
        hosts.push(json!(name));
    }
}

/// TLS facts in ECS's `tls.*`; what ECS has no field for (JA4, offered
/// ALPN and versions, application bytes) stays in `procflow.tls`.
fn tls(n: &mut Map<String, Value>, doc: &mut Map<String, Value>, hosts: &mut Vec<Value>) {
    if let Some(v) = take(n, "tls.version") {
        let (protocol, version) = tls_version(v.as_str().unwrap_or_default());
        put(doc, "tls.version_protocol", json!(protocol));
        put(doc, "tls.version", json!(version));
        put(doc, "tls.established", json!(true));
    }
    if let Some(sni) = take(n, "tls.sni") {
        hosts.push(sni.clone());
        put(doc, "tls.client.server_name", sni.clone());
        put(doc, "destination.domain", sni);
    }
    mv(n, doc, "tls.cipher", "tls.cipher");
    mv(n, doc, "tls.alpn_chosen", "tls.next_protocol");
}

/// A list where ECS has one value (a window's pids, its users): the first
/// goes to the document under the same name, the whole list stays in the
/// native line as `keep` (so under `procflow.*`).
fn first_of(n: &mut Map<String, Value>, doc: &mut Map<String, Value>, (path, keep): (&str, &str)) {
    if let Some(list) = take(n, path) {
        if let Some(first) = list.as_array().and_then(|a| a.first()) {
            put(doc, path, first.clone());
        }
        put(n, keep, list);
    }
}

/// What ECS has no field for, under `procflow.*`, as the native line has it.
fn rest(n: Map<String, Value>, doc: &mut Map<String, Value>) {
    for (k, v) in n {
        put(doc, &format!("procflow.{k}"), v);
    }
}

/// A process window as an ECS metric-like event of the process.
fn window_doc(mut n: Map<String, Value>) -> Map<String, Value> {
    let mut doc = skeleton("procflow.process_window");
    put(&mut doc, "event.kind", json!("metric"));
    put(&mut doc, "event.category", json!(["network", "process"]));
    put(&mut doc, "event.type", json!(["info"]));
    if let Some(start) = take(&mut n, "window.start") {
        put(&mut doc, "@timestamp", start.clone());
        put(&mut doc, "event.start", start);
    }
    mv(&mut n, &mut doc, "window.end", "event.end");
    first_of(&mut n, &mut doc, ("process.pid", "process.pids"));
    first_of(&mut n, &mut doc, ("user.name", "user.names"));
    client_side(&mut n, &mut doc);
    mv(&mut n, &mut doc, "tls.client.ja4", "procflow.tls.ja4");
    rest(n, &mut doc);
    doc
}

/// Elastic's severity numbers for the four levels.
fn severity_number(s: &str) -> u64 {
    match s {
        "low" => 21,
        "medium" => 47,
        "high" => 73,
        _ => 99,
    }
}

/// An alert as an ECS alert: `rule.*`, numeric `event.severity`,
/// `event.risk_score`, the reasons as `message`.
fn alert_doc(mut n: Map<String, Value>) -> Map<String, Value> {
    let mut doc = skeleton("procflow.alert");
    put(&mut doc, "event.kind", json!("alert"));
    put(
        &mut doc,
        "event.category",
        json!(["network", "intrusion_detection"]),
    );
    put(&mut doc, "event.type", json!(["connection", "info"]));
    if let Some(t) = take(&mut n, "timestamp") {
        put(&mut doc, "@timestamp", t);
    }
    mv(&mut n, &mut doc, "window.start", "event.start");
    mv(&mut n, &mut doc, "window.end", "event.end");
    if let Some(rule) = take(&mut n, "rule") {
        put(&mut doc, "rule.id", rule.clone());
        put(&mut doc, "rule.ruleset", json!("procflow"));
        put(&mut doc, "rule.category", json!("Command and Control"));
        put(&mut n, "alert.rule", rule);
    }
    mv(&mut n, &mut doc, "title", "rule.name");
    if let Some(s) = take(&mut n, "severity") {
        put(
            &mut doc,
            "event.severity",
            json!(severity_number(s.as_str().unwrap_or_default())),
        );
        put(&mut n, "alert.severity", s);
    }
    mv(&mut n, &mut doc, "risk_score", "event.risk_score");
    if let Some(Value::Array(reasons)) = take(&mut n, "reasons") {
        let text: Vec<&str> = reasons.iter().filter_map(Value::as_str).collect();
        put(&mut doc, "message", json!(text.join("; ")));
        put(&mut n, "alert.reasons", Value::Array(reasons));
    }
    first_of(&mut n, &mut doc, ("process.pid", "process.pids"));
    first_of(&mut n, &mut doc, ("user.name", "user.names"));
    if let Some(ips) = take(&mut n, "host.ips") {
        put(&mut doc, "host.ip", ips);
        take(&mut n, "host.ip");
    }
    client_side(&mut n, &mut doc);
    mv(&mut n, &mut doc, "destination.ip", "destination.ip");
    mv(&mut n, &mut doc, "destination.port", "destination.port");
    mv(&mut n, &mut doc, "destination.domain", "destination.domain");
    let mut related_ip: Vec<Value> = Vec::new();
    for p in ["destination.ip"] {
        if let Some(v) = get(&doc, p) {
            related_ip.push(v.clone());
        }
    }
    if let Some(Value::Array(ips)) = get(&doc, "host.ip") {
        related_ip.extend(ips.iter().cloned());
    }
    put(&mut doc, "related.ip", json!(related_ip));
    let mut hosts = Vec::new();
    for p in ["host.name", "destination.domain"] {
        if let Some(v) = get(&doc, p) {
            hosts.push(v.clone());
        }
    }
    put(&mut doc, "related.hosts", json!(hosts));
    rest(n, &mut doc);
    doc
}
