//! HTTP/3: QUIC flows, whose Initials the sensor decrypts, count as HTTPS
//! volume for the process windows and the rules. The capture is the
//! generator's `quic` scenario (Initials sealed with real keys).
#![allow(clippy::indexing_slicing)]

mod common;

use common::{pcap, read};
use serde_json::Value;
use std::io::Write;

/// One socket event per QUIC flow of `pcaps/quic.pcap`: the version 1
/// upload from an unseen Windows image, the others from a browser.
fn feed(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("feed.jsonl");
    let mut f = std::fs::File::create(&path).expect("feed");
    for (port, exe) in [
        (50443, r"C:\Users\bob\AppData\Local\Temp\h3up.exe"),
        (
            50444,
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        ),
        (
            50445,
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        ),
    ] {
        let line = serde_json::json!({
            "ts": "2023-11-14T22:13:19.900000Z", "host": "ws7", "os": "windows",
            "event": "connect", "proto": "udp", "src_ip": format!("10.0.0.{}", port - 50443 + 40),
            "src_port": port, "dst_ip": "203.0.113.43", "dst_port": 443, "pid": port,
            "process": exe,
        });
        writeln!(f, "{line}").expect("write");
    }
    path
}

#[test]
fn an_upload_over_http3_is_https_volume_to_an0144() {
    let dir = std::env::temp_dir().join(format!("procflow-http3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let feed = feed(&dir);
    let config = dir.join("site.toml");
    std::fs::write(
        &config,
        "home_net = [\"10.0.0.0/8\"]\n[thresholds.an0144]\nmin_bytes_out = 5000\n",
    )
    .expect("config");
    let alerts = dir.join("alerts.jsonl");
    let run = read(&[
        &pcap("quic.pcap").display().to_string(),
        "--feed",
        &feed.display().to_string(),
        "--config",
        &config.display().to_string(),
        "--alerts",
        &alerts.display().to_string(),
        "--no-learn",
    ]);
    let alerts: Vec<Value> = std::fs::read_to_string(&alerts)
        .expect("alerts")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}\n{}", run.run.stderr);
    let a = &alerts[0];
    assert_eq!(a["rule"], "AN0144", "{a}");
    // Every datagram of the client's: two Initials of 1,200 bytes and six
    // 1-RTT datagrams of 1,200.
    assert_eq!(a["metrics"]["bytes_out"], 9600, "{a}");
    assert_eq!(
        a["reasons"][2],
        "over 1 QUIC connection, counted from its datagrams; 1.29 KB came back (response ratio 0.13)"
    );
    assert_eq!(a["metrics"]["tls_connections"], 1, "{a}");
    assert_eq!(a["destinations"][0]["domain"], "upload.example.test", "{a}");
    let w = run
        .processes
        .iter()
        .find(|w| w["process"]["name"] == "h3up.exe")
        .expect("the uploader's window");
    assert_eq!(w["metrics"]["tls_connections"], 1);
    assert_eq!(w["metrics"]["request_bytes"], 9600);
    assert_eq!(
        w["tls"]["client"]["ja4"],
        serde_json::json!(["q13d0910h3_f91f431d341e_560390466015"])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
