//! `read --pcap-out DIR`: one pcap per alert holding exactly the alert's
//! flows, frame for frame as the input had them, with no second pass; and
//! a memory budget too small to keep them is said, not silent.
#![allow(clippy::indexing_slicing)]

mod common;

use common::{pcap, procflow};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn setup(tag: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("procflow-pcap-out-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let config = common::alerting_config(&dir);
    (dir, config)
}

fn read(dir: &Path, config: &Path, extra: &[&str]) -> String {
    let s = |p: &Path| p.display().to_string();
    let mut args = vec![
        "read".to_string(),
        "--no-progress".into(),
        s(&pcap("attribution.pcap")),
        "--feed".into(),
        s(&pcap("attribution.feed.jsonl")),
        "--config".into(),
        s(config),
        "--flows".into(),
        s(&dir.join("flows.jsonl")),
        "--alerts".into(),
        s(&dir.join("alerts.jsonl")),
        "--pcap-out".into(),
        s(&dir.join("pcaps")),
    ];
    args.extend(extra.iter().map(|x| x.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = procflow(&args);
    assert!(run.status.success(), "{}", run.stderr);
    run.stderr
}

fn json_lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .expect("file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

/// What a flow's packets say, whichever capture they were read from.
fn counts(r: &Value) -> (Value, Value, Value, Value, Value, Value) {
    (
        r["source"]["packets"].clone(),
        r["source"]["bytes"].clone(),
        r["destination"]["packets"].clone(),
        r["destination"]["bytes"].clone(),
        r["flow"]["payload_out"].clone(),
        r["flow"]["payload_in"].clone(),
    )
}

#[test]
fn each_alert_gets_a_pcap_of_exactly_its_flows() {
    let (dir, config) = setup("exact");
    let stderr = read(&dir, &config, &[]);
    let alerts = json_lines(&dir.join("alerts.jsonl"));
    assert_eq!(alerts.len(), 3, "{stderr}");
    let all: BTreeMap<String, Value> = json_lines(&dir.join("flows.jsonl"))
        .into_iter()
        .map(|r| (r["community_id"].as_str().expect("id").to_string(), r))
        .collect();
    let mut pcaps: Vec<PathBuf> = std::fs::read_dir(dir.join("pcaps"))
        .expect("pcap dir")
        .map(|e| e.expect("entry").path())
        .collect();
    pcaps.sort();
    assert_eq!(pcaps.len(), alerts.len());
    for a in &alerts {
        let name = format!(
            "{}-{}-{}-{}.pcap",
            a["rule"].as_str().expect("rule"),
            a["host"]["name"].as_str().expect("host"),
            a["window"]["start"]
                .as_str()
                .expect("start")
                .replace(':', "-"),
            a["destination"]["domain"].as_str().expect("domain"),
        );
        let path = dir.join("pcaps").join(&name);
        let run = procflow(&["flows", "--no-progress", &path.display().to_string()]);
        assert!(run.status.success(), "{name}: {}", run.stderr);
        let got = run.records();
        let mut ids: Vec<&str> = got
            .iter()
            .map(|r| r["community_id"].as_str().expect("id"))
            .collect();
        ids.sort();
        let mut want: Vec<&str> = a["community_ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_str().expect("id"))
            .collect();
        want.sort();
        assert_eq!(ids, want, "{name}");
        // Frame for frame: the same packets and bytes each way.
        for r in &got {
            let id = r["community_id"].as_str().expect("id");
            assert_eq!(counts(r), counts(&all[id]), "{name}: {id}");
        }
    }
    assert!(
        stderr.contains("pcap-out")
            && stderr.contains(": 3 pcaps,")
            && stderr.contains("0 alert flows no longer held"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn too_little_memory_is_said() {
    let (dir, config) = setup("small");
    let stderr = read(&dir, &config, &["--pcap-out-memory", "0"]);
    let alerts = json_lines(&dir.join("alerts.jsonl"));
    let listed: usize = alerts
        .iter()
        .map(|a| a["community_ids"].as_array().expect("ids").len())
        .sum();
    assert!(
        stderr.contains(&format!("{listed} alert flows no longer held")),
        "{stderr}"
    );
    assert!(!stderr.contains(" 0 frames dropped for room"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
