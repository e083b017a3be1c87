//! The `ecs` output profile checked against the field definitions of the
//! Elastic Common Schema 8.17 (`tests/data/ecs/fields.tsv`, drawn from
//! ECS's `ecs_flat.yml`, Apache 2.0): every field outside `procflow.*`
//! must be an ECS field, of its type (an array only where ECS says so),
//! and categorisation fields must hold ECS's allowed values. Flow records
//! of every project capture and of the whole corpus, attributed flows,
//! process windows and alerts are checked.
#![allow(clippy::indexing_slicing)]

mod common;

use common::{pcap, procflow};
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

/// An ECS field: its type, whether it holds an array, its allowed values.
struct Field {
    kind: String,
    array: bool,
    allowed: Vec<String>,
}

fn fields() -> HashMap<String, Field> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ecs/fields.tsv"),
    )
    .expect("fields.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut p = l.split('\t');
            let name = p.next()?.to_string();
            let kind = p.next()?.to_string();
            let array = p.next()? == "array";
            let allowed = p
                .next()
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            Some((
                name,
                Field {
                    kind,
                    array,
                    allowed,
                },
            ))
        })
        .collect()
}

/// Why `v` is no value of ECS type `kind`, if it is not.
fn type_error(kind: &str, v: &Value) -> Option<String> {
    let ok = match kind {
        "keyword" | "constant_keyword" | "wildcard" | "text" | "match_only_text" => v.is_string(),
        "long" | "integer" | "short" | "byte" | "unsigned_long" => v.is_u64() || v.is_i64(),
        "float" | "double" | "scaled_float" | "half_float" => v.is_number(),
        "boolean" => v.is_boolean(),
        "ip" => v.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
        "date" => v.as_str().is_some_and(|s| {
            s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T' && s.ends_with('Z')
        }),
        _ => false,
    };
    (!ok).then(|| format!("{v} is no {kind}"))
}

/// Every error of one document.
fn check(doc: &Value, ecs: &HashMap<String, Field>, errors: &mut Vec<String>) {
    fn walk(v: &Value, path: &str, ecs: &HashMap<String, Field>, errors: &mut Vec<String>) {
        if path == "procflow" {
            return;
        }
        if let Value::Object(m) = v {
            if ecs.get(path).is_some_and(|f| f.kind == "flattened") {
                return;
            }
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(x, &p, ecs, errors);
            }
            return;
        }
        let Some(f) = ecs.get(path) else {
            errors.push(format!(
                "{path}: not an ECS field (custom fields go under procflow.)"
            ));
            return;
        };
        let values: Vec<&Value> = match v {
            Value::Array(a) if f.array => a.iter().collect(),
            Value::Array(_) => {
                errors.push(format!("{path}: an array where ECS has one value"));
                return;
            }
            v => vec![v],
        };
        for x in values {
            if let Some(e) = type_error(&f.kind, x) {
                errors.push(format!("{path}: {e}"));
            }
            if !f.allowed.is_empty()
                && !x.as_str().is_some_and(|s| f.allowed.iter().any(|a| a == s))
            {
                errors.push(format!("{path}: {x} is not an allowed value"));
            }
        }
    }
    walk(doc, "", ecs, errors);
    for required in [
        "@timestamp",
        "ecs.version",
        "event.kind",
        "observer.product",
    ] {
        let mut cur = Some(doc);
        for part in required.split('.') {
            cur = cur.and_then(|c| c.get(part));
        }
        if cur.is_none() {
            errors.push(format!("{required} missing"));
        }
    }
}

/// Checks every line of `text`; how many documents.
fn check_lines(text: &str, what: &str, ecs: &HashMap<String, Field>) -> usize {
    let mut n = 0;
    for line in text.lines() {
        let doc: Value = serde_json::from_str(line).expect("JSON line");
        let mut errors = Vec::new();
        check(&doc, ecs, &mut errors);
        assert!(errors.is_empty(), "{what}: {errors:#?}\n{line}");
        n += 1;
    }
    n
}

#[test]
fn every_flow_record_is_valid_ecs() {
    let ecs = fields();
    let mut files = common::captures_under(&pcap(""));
    if let Some(corpus) = common::corpus("every_flow_record_is_valid_ecs") {
        files.extend(common::captures_under(&corpus));
    }
    let mut docs = 0;
    for f in &files {
        let path = f.display().to_string();
        let run = procflow(&["flows", "--no-progress", "--output-profile", "ecs", &path]);
        if !run.status.success() {
            // Captures the sensor refuses (an unsupported link type) are
            // the corpus test's business.
            continue;
        }
        docs += check_lines(&run.stdout, &path, &ecs);
    }
    eprintln!("ecs: {} captures, {docs} flow documents valid", files.len());
    assert!(docs > 1000, "{docs}");
}

#[test]
fn attributed_flows_windows_and_alerts_are_valid_ecs() {
    let ecs = fields();
    let dir = std::env::temp_dir().join(format!("procflow-ecs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (flows, procs, alerts) = (
        dir.join("flows.jsonl"),
        dir.join("procs.jsonl"),
        dir.join("alerts.jsonl"),
    );
    let s = |p: &Path| p.display().to_string();
    let run = common::read_attribution_sample(
        &dir,
        &[
            // `--format` is the other name of `--output-profile`.
            "--format",
            "ecs",
            "--sensor-name",
            "tap-7",
            "--flows",
            &s(&flows),
            "--processes",
            &s(&procs),
            "--alerts",
            &s(&alerts),
        ],
    );
    let read = |p: &Path| std::fs::read_to_string(p).expect("output");
    assert!(check_lines(&read(&flows), "flows", &ecs) >= 19);
    assert!(check_lines(&read(&procs), "windows", &ecs) >= 3);
    let alerts_text = read(&alerts);
    assert!(
        check_lines(&alerts_text, "alerts", &ecs) >= 1,
        "{}",
        run.stderr
    );
    let a: Value =
        serde_json::from_str(alerts_text.lines().next().expect("an alert")).expect("json");
    assert_eq!(a["event"]["kind"], "alert");
    assert!(
        matches!(a["rule"]["id"].as_str(), Some("AN0144" | "AN0145")),
        "{a}"
    );
    assert!(a["event"]["severity"].is_u64(), "{a}");
    assert!(a["message"].as_str().is_some_and(|m| !m.is_empty()), "{a}");
    // A flow record keeps every native field: ECS's where it has one,
    // procflow.* for the rest.
    let f: Value =
        serde_json::from_str(read(&flows).lines().next().expect("a flow")).expect("json");
    assert!(f["network"]["community_id"]
        .as_str()
        .is_some_and(|c| c.starts_with("1:")));
    assert!(f["procflow"]["flow"]["payload_out"].is_u64(), "{f}");
    assert_eq!(f["observer"]["name"], "tap-7");
    assert_eq!(a["observer"]["name"], "tap-7");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The check itself: native lines, which do not follow ECS, fail it for
/// the reasons the ECS profile exists.
#[test]
fn the_check_refuses_what_ecs_refuses() {
    let ecs = fields();
    let mut errors = Vec::new();
    let native_alert = serde_json::json!({
        "@timestamp": "2023-11-14T22:20:00.000000Z", "ecs": {"version": "8.17.0"},
        "observer": {"product": "procflow"},
        "event": {"kind": "alarm", "category": "network"},
        "rule": "AN0144", "community_id": "1:x", "severity": "high",
        "network": {"vlan": {"id": 12}}, "source": {"ip": "not an address"},
    });
    check(&native_alert, &ecs, &mut errors);
    let text = errors.join("\n");
    for want in [
        "event.kind: \"alarm\" is not an allowed value",
        "rule: not an ECS field",
        "community_id: not an ECS field",
        "severity: not an ECS field",
        "network.vlan.id: 12 is no keyword",
        "source.ip: \"not an address\" is no ip",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
}
