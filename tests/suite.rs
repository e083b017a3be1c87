//! The labelled detection suite (`pcapgen detection --suite`): twelve
//! cases the rules must report and seventeen they must leave alone. The
//! history is learnt, the detection period read: exactly the twelve alerts,
//! each with its rule, host, image and destination, and nothing for any
//! benign case. `scripts/suite.sh` prints precision, recall and the
//! reasons of each case.
#![allow(clippy::indexing_slicing)]

mod common;

use common::procflow;
use serde_json::Value;
use std::path::Path;

#[test]
fn the_suite_raises_exactly_its_true_cases() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("detection-suite");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let s = pcapgen::suite::write(&dir, 0.1).expect("suite written");
    assert!(s.alerts.len() >= 13 && s.silent.len() >= 15);
    let f = |n: &str| dir.join(n).display().to_string();
    let learn = procflow(&[
        "learn",
        &f("history.pcap"),
        "--feed",
        &f("history.feed.jsonl"),
        "--baseline",
        &f("b.db"),
        "--config",
        &f("config.toml"),
        "--no-progress",
    ]);
    assert!(learn.status.success(), "{}", learn.stderr);
    let read = procflow(&[
        "read",
        &f("detection.pcap"),
        "--feed",
        &f("detection.feed.jsonl"),
        "--baseline",
        &f("b.db"),
        "--config",
        &f("config.toml"),
        "--alerts",
        "-",
        "--no-progress",
    ]);
    assert!(read.status.success(), "{}", read.stderr);
    let alerts: Vec<Value> = read.records();
    let key = |rule: &str, host: &str, exe: &str, ip: &str, port: u64| {
        (
            rule.to_string(),
            host.to_string(),
            exe.to_string(),
            ip.to_string(),
            port,
        )
    };
    let mut got: Vec<_> = alerts
        .iter()
        .map(|a| {
            key(
                a["rule"].as_str().unwrap_or(""),
                a["host"]["name"].as_str().unwrap_or(""),
                a["process"]["executable"].as_str().unwrap_or(""),
                a["destination"]["ip"].as_str().unwrap_or(""),
                a["destination"]["port"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let mut want: Vec<_> = s
        .alerts
        .iter()
        .map(|e| key(e.rule, e.host, e.executable, e.ip, u64::from(e.port)))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{}", read.stderr);
    for e in &s.alerts {
        let a = alerts
            .iter()
            .find(|a| a["process"]["executable"] == e.executable)
            .expect("alert");
        assert_eq!(a["destination"]["domain"], e.domain, "{}", e.case);
    }
    for c in &s.silent {
        assert!(
            alerts
                .iter()
                .all(|a| a["process"]["executable"] != c.executable
                    || !c.hosts.contains(&a["host"]["name"].as_str().unwrap_or(""))),
            "{}: {}",
            c.case,
            c.why
        );
    }
    // The beacons read as beacons; the bulk uploads do not.
    for (exe, beacon) in [
        ("/tmp/.x/sysupd", true),
        ("/dev/shm/kworker", true),
        ("/tmp/svc", true),
        (r"C:\Users\bob\AppData\Local\Temp\upd.exe", false),
    ] {
        let a = alerts
            .iter()
            .find(|a| a["process"]["executable"] == exe)
            .expect("alert");
        let regular = a["beaconing"]["score"].as_f64().is_some_and(|s| s >= 0.8);
        assert_eq!(regular, beacon, "{exe}: {a}");
    }
    // The HTTPS beacon is counted from application data, its TLS 1.3
    // handshake left out: 120 connections, 200 bytes back each.
    let https = alerts
        .iter()
        .find(|a| a["process"]["executable"] == "/home/ops/.local/bin/syncd")
        .expect("HTTPS beacon");
    assert_eq!(https["metrics"]["http_connections"], 120);
    assert_eq!(https["metrics"]["tls_connections"], 120);
    assert_eq!(https["metrics"]["bytes_in"], 120 * 200);
}
