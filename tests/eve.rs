//! The `eve` output profile read back as Suricata EVE consumers read it:
//! every event of every project capture and of the corpus has EVE's field
//! names and types (`timestamp` with a `+0000` offset, a positive 63-bit
//! `flow_id` shared by a flow's events, addresses, ports, `proto` in
//! capitals, the `flow` counters, `http.status`, `http.length`...), and a
//! known capture's events hold exactly its facts.
#![allow(clippy::indexing_slicing)]

mod common;

use common::{pcap, procflow};
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

fn is_eve_time(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 31
            && s.as_bytes()[10] == b'T'
            && s.ends_with("+0000")
            && s.as_bytes()[19] == b'.'
    })
}

/// Why an event is not EVE as Suricata writes it, if it is not.
fn errors(ev: &Value) -> Vec<String> {
    let mut e = Vec::new();
    let mut need = |ok: bool, what: &str| {
        if !ok {
            e.push(what.to_string());
        }
    };
    need(is_eve_time(&ev["timestamp"]), "timestamp");
    let kind = ev["event_type"].as_str().unwrap_or_default();
    need(
        matches!(
            kind,
            "flow" | "http" | "tls" | "quic" | "alert" | "procflow_window"
        ),
        "event_type",
    );
    if kind == "procflow_window" {
        return e;
    }
    need(
        ev["flow_id"].as_u64().is_some_and(|f| f < 1 << 63),
        "flow_id",
    );
    for ip in ["src_ip", "dest_ip"] {
        need(
            ev[ip].as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
            ip,
        );
    }
    match ev["proto"].as_str() {
        Some("TCP" | "UDP") => {
            for port in ["src_port", "dest_port"] {
                need(ev[port].as_u64().is_some_and(|p| p <= 65535), port);
            }
        }
        // ICMP has types and codes where the others have ports.
        Some("ICMP" | "IPv6-ICMP") => {
            need(ev.get("src_port").is_none(), "no src_port");
            for k in ["icmp_type", "icmp_code"] {
                need(ev[k].as_u64().is_some_and(|v| v <= 255), k);
            }
        }
        _ => need(false, "proto"),
    }
    match kind {
        "flow" => {
            let f = &ev["flow"];
            for k in [
                "pkts_toserver",
                "pkts_toclient",
                "bytes_toserver",
                "bytes_toclient",
                "age",
            ] {
                need(f[k].is_u64(), k);
            }
            need(
                is_eve_time(&f["start"]) && is_eve_time(&f["end"]),
                "flow times",
            );
            need(
                matches!(f["state"].as_str(), Some("closed" | "established")),
                "state",
            );
            need(
                matches!(
                    f["reason"].as_str(),
                    Some("shutdown" | "timeout" | "forced")
                ),
                "reason",
            );
            need(f["alerted"].is_boolean(), "alerted");
        }
        "http" => {
            let h = &ev["http"];
            need(ev["tx_id"].is_u64(), "tx_id");
            for k in [
                "hostname",
                "url",
                "http_user_agent",
                "http_method",
                "protocol",
                "http_content_type",
            ] {
                need(h.get(k).is_none_or(Value::is_string), k);
            }
            need(h.get("status").is_none_or(Value::is_u64), "status");
            need(h.get("length").is_none_or(Value::is_u64), "length");
        }
        "tls" | "quic" => {
            let t = &ev[kind];
            for k in ["sni", "version", "ja4"] {
                need(t.get(k).is_none_or(Value::is_string), k);
            }
        }
        _ => {
            let a = &ev["alert"];
            need(
                a["signature_id"].is_u64() && a["gid"].is_u64() && a["rev"].is_u64(),
                "ids",
            );
            need(
                a["signature"].is_string() && a["category"].is_string(),
                "signature",
            );
            need(matches!(a["severity"].as_u64(), Some(1..=3)), "severity");
            need(a["action"] == "allowed", "action");
        }
    }
    e
}

fn eve(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["flows", "--no-progress", "--output-profile", "eve"];
    all.extend_from_slice(args);
    let run = procflow(&all);
    assert!(run.status.success(), "{args:?}: {}", run.stderr);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one event a line"))
        .collect()
}

#[test]
fn every_event_has_eve_names_and_types() {
    let mut files = common::captures_under(&pcap(""));
    if let Some(corpus) = common::corpus("every_event_has_eve_names_and_types") {
        files.extend(common::captures_under(&corpus));
    }
    let mut by_type: HashMap<String, usize> = HashMap::new();
    for f in &files {
        let path = f.display().to_string();
        let run = procflow(&["flows", "--no-progress", "--output-profile", "eve", &path]);
        if !run.status.success() {
            continue;
        }
        for line in run.stdout.lines() {
            let ev: Value = serde_json::from_str(line).expect("one event a line");
            let e = errors(&ev);
            assert!(e.is_empty(), "{path}: {e:?}\n{line}");
            *by_type
                .entry(ev["event_type"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    eprintln!("eve: {by_type:?}");
    for kind in ["flow", "http", "tls", "quic"] {
        assert!(
            by_type.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} event"
        );
    }
}

/// The keep-alive capture: one flow, three transactions; every event of
/// the flow shares its id, and the values are the capture's.
#[test]
fn a_known_flow_in_eve() {
    let events = eve(&[
        "--sensor-name",
        "tap-7",
        &pcap("http-keepalive.pcap").display().to_string(),
    ]);
    // The sensor names itself on every event (EVE's host).
    assert!(events.iter().all(|e| e["host"] == "tap-7"));
    // And on every native line (`observer`), only when it was named.
    let named = common::procflow(&[
        "flows",
        "--no-progress",
        "--sensor-name",
        "tap-7",
        &pcap("http-keepalive.pcap").display().to_string(),
    ]);
    let named = named.records();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0]["observer"]["name"], "tap-7");
    assert!(!named[0]["observer"]["hostname"]
        .as_str()
        .unwrap_or("")
        .is_empty());
    assert_eq!(named[0]["community_id"].as_str().map(str::len), Some(30));
    let native = common::flows(&[&pcap("http-keepalive.pcap")]);
    assert_eq!(native.len(), 1);
    let n = &native[0];
    let flow: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "flow")
        .collect();
    let http: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "http")
        .collect();
    assert_eq!(flow.len(), 1);
    assert_eq!(http.len(), n["http"].as_array().expect("http").len());
    let f = flow[0];
    assert_eq!(f["flow"]["pkts_toserver"], n["source"]["packets"]);
    assert_eq!(f["flow"]["bytes_toclient"], n["destination"]["bytes"]);
    assert_eq!(f["app_proto"], "http");
    assert_eq!(f["flow"]["state"], "closed");
    assert_eq!(f["community_id"], n["community_id"]);
    assert!(n.get("observer").is_none(), "unnamed: no observer key");
    for (i, h) in http.iter().enumerate() {
        assert_eq!(h["flow_id"], f["flow_id"]);
        assert_eq!(h["tx_id"], i);
        let t = &n["http"][i];
        assert_eq!(h["http"]["hostname"], t["host"]);
        assert_eq!(h["http"]["url"], t["uri"]);
        assert_eq!(h["http"]["status"], t["status"]);
        assert_eq!(h["http"]["length"], t["response_body_bytes"]);
        assert_eq!(h["http"]["protocol"], "HTTP/1.1");
    }
    // QUIC flows: a quic event with the hello's facts.
    let quic = eve(&[&pcap("quic.pcap").display().to_string()]);
    let q: Vec<&Value> = quic.iter().filter(|e| e["event_type"] == "quic").collect();
    assert_eq!(q.len(), 3);
    assert_eq!(q[0]["quic"]["sni"], "upload.example.test");
    assert_eq!(q[0]["quic"]["version"], "1");
    assert_eq!(q[0]["proto"], "UDP");
}

/// Alerts: Suricata's alert object, on the flow of the alert.
#[test]
fn alerts_are_eve_alerts() {
    let dir = std::env::temp_dir().join(format!("procflow-eve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let alerts = dir.join("alerts.jsonl");
    let s = |p: &Path| p.display().to_string();
    let run = common::read_attribution_sample(
        &dir,
        &[
            "--output-profile",
            "eve",
            "--flows",
            "/dev/null",
            "--alerts",
            &s(&alerts),
        ],
    );
    let text = std::fs::read_to_string(&alerts).expect("alerts");
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert!(!events.is_empty(), "{}", run.stderr);
    for ev in &events {
        assert!(errors(ev).is_empty(), "{:?}\n{ev}", errors(ev));
        assert_eq!(ev["event_type"], "alert");
        assert_eq!(ev["alert"]["signature_id"], 1_000_145);
        let community = ev["community_id"].as_str().expect("community id");
        assert!(ev["procflow"]["community_ids"]
            .as_array()
            .expect("ids")
            .iter()
            .any(|c| c == community));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `[sensor] name` of the configuration names the sensor on every line;
/// `--sensor-name` wins over it.
#[test]
fn the_configuration_names_the_sensor_unless_the_flag_does() {
    let dir = std::env::temp_dir().join(format!("procflow-sensor-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("sensor.toml");
    std::fs::write(&config, "[sensor]\nname = \"tap-conf\"\n").expect("config");
    let cap = pcap("http-keepalive.pcap").display().to_string();
    let c = config.display().to_string();
    let named = |extra: &[&str]| {
        let mut args = vec!["read", "--no-progress", "--config", &c, &cap];
        args.extend_from_slice(extra);
        let run = common::procflow(&args);
        assert!(run.status.success(), "{}", run.stderr);
        let records = run.records();
        assert_eq!(records.len(), 1);
        records[0]["observer"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(named(&[]), "tap-conf");
    assert_eq!(named(&["--sensor-name", "tap-flag"]), "tap-flag");
}
