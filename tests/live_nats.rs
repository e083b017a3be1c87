//! `procflow live` on the fleet's bus, against a real nats-server: the
//! socket events of real loopback connections reach the sensor only
//! through NATS (published by `procflow relay` as each client connects),
//! the sensor publishes its flows and alerts back, named by it, and folds
//! its windows into a shared baseline on a real PostgreSQL.
#![allow(clippy::indexing_slicing)]

mod common;

use common::is_root;
use common::live::{feed_line, free_port, json_lines, metrics, post, sample, server, Live};
use common::nats::Nats;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use transport::{consume, Server};

fn skip(why: &str) -> bool {
    assert!(
        std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_none(),
        "{why}"
    );
    eprintln!("live_nats: skipped: {why}");
    true
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("procflow-live-nats-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// One relay run: the line, as a feed file, published.
fn relay(url: &str, dir: &Path, line: &str) {
    let feed = dir.join("agent.jsonl");
    std::fs::write(&feed, format!("{line}\n")).expect("feed");
    let o = Command::new(env!("CARGO_BIN_EXE_procflow"))
        .args([
            "relay",
            "--feed",
            &feed.display().to_string(),
            "--publish",
            url,
        ])
        .args([
            "--publish-spool",
            &dir.join("relay-spool").display().to_string(),
        ])
        .output()
        .expect("relay runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn live_takes_socket_events_from_the_bus_and_publishes_back() {
    if !is_root() && skip("live capture needs root") {
        return;
    }
    let Some(nats) = Nats::start("live") else {
        return;
    };
    // The fleet's baseline too: the sensor folds its windows into it.
    let Some(pg) = common::postgres::Postgres::start("live-nats") else {
        return;
    };
    pg.createdb("fleet");
    let url = nats.url();
    let dir = temp_dir();
    let config = dir.join("live.toml");
    // Every process unseen, one HTTP connection enough for AN0145, 1 s
    // windows: each client below raises one alert.
    std::fs::write(
        &config,
        "home_net = [\"10.0.0.0/8\"]\nwindow_secs = 1\n[thresholds.an0145]\nmin_http_connections = 1\n",
    )
    .expect("config");
    let port = server("127.0.0.1");
    let metrics_port = free_port();
    let (flows, alerts) = (dir.join("flows.jsonl"), dir.join("alerts.jsonl"));
    let p = |x: &Path| x.display().to_string();
    let args: Vec<String> = [
        "-i",
        "lo",
        "--buffer-mb",
        "4",
        "--stats-interval",
        "0",
        "-f",
        &format!("tcp port {port}"),
        "--config",
        &p(&config),
        "--feed-nats",
        &url,
        "--flows",
        &p(&flows),
        "--alerts",
        &p(&alerts),
        "--publish",
        &url,
        "--publish-spool",
        &p(&dir.join("spool")),
        "--sensor-name",
        "tap-live",
        "--tcp-timeout",
        "1",
        "--late-window",
        "2",
        "--metrics",
        &format!("127.0.0.1:{metrics_port}"),
        "--baseline",
        &pg.url("fleet"),
    ]
    .map(String::from)
    .to_vec();
    let live = Live::start(&args);
    for i in 0..3 {
        post("127.0.0.1", port, 300, |local| {
            relay(
                &url,
                &dir,
                &feed_line(local, port, &format!("/tmp/pf-bus-{i}")),
            );
        });
    }
    // The flows are written as they end; the windows and their alerts
    // close at the latest when the sensor stops.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while json_lines(&flows).len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // The metrics say what came from the bus and what went back. A loaded
    // machine may take a while: a minute, and the counters if it fails.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let m = metrics(metrics_port);
        let [events, acked, appended] = [
            "procflow_nats_feed_events_total",
            "procflow_publish_acknowledged_total",
            "procflow_publish_appended_total",
        ]
        .map(|k| sample(&m, k));
        if events == 3 && acked >= 3 && acked == appended {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "flows acknowledged: not within 60 s: {events} socket events from the bus \
             (3 expected), {appended} lines appended, {acked} acknowledged"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, err) = live.stop(Duration::from_secs(60));
    assert_eq!(json_lines(&alerts).len(), 3, "{err}");
    assert!(status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "NATS {url}: 3 messages, 3 socket events, 0 bad lines, 0 dropped"
        )),
        "{err}"
    );
    let flows = json_lines(&flows);
    let mut exes: Vec<&str> = flows
        .iter()
        .map(|f| f["process"]["executable"].as_str().unwrap_or("none"))
        .collect();
    exes.sort_unstable();
    assert_eq!(
        exes,
        ["/tmp/pf-bus-0", "/tmp/pf-bus-1", "/tmp/pf-bus-2"],
        "{err}"
    );
    // What the sensor wrote is on the bus, named by it.
    let server = Server::parse(&url).expect("url");
    let on_bus = |kind: &str| {
        consume::all(
            &server,
            "PROCFLOW",
            Some(&format!("procflow.{kind}.tap-live")),
        )
        .expect("stream read")
    };
    let bus_alerts = on_bus("alerts");
    assert_eq!(bus_alerts.len(), json_lines(&alerts).len());
    assert!(bus_alerts
        .iter()
        .all(|m| m.sensor.as_deref() == Some("tap-live")));
    assert_eq!(on_bus("flows").len(), 3);
    assert!(err.contains("0 dropped at its cap"), "{err}");
    // Each client's window is in the shared baseline, and no window waits.
    assert!(err.contains("0 outages; 0 windows still queued"), "{err}");
    let images = pg.query("fleet", "SELECT executable FROM images ORDER BY executable");
    assert_eq!(
        images,
        ["/tmp/pf-bus-0", "/tmp/pf-bus-1", "/tmp/pf-bus-2"],
        "{err}"
    );
}
