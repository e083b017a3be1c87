//! `procflow live` stopped by SIGTERM with every combination of
//! `--metrics`, `--procfs`, `--feed-listen` and `--feed` (16 runs at once,
//! each on loopback with its own server port): each must end with exit 0
//! within a bound, with every flow written, even with a peer idling on the
//! metrics port and an agent idling on the feed listener. `--duration`
//! must end a run with `--metrics` by itself.
#![allow(clippy::indexing_slicing)]

mod common;

use common::is_root;
use common::live::{
    free_port, json_lines, metrics, post, request, sample, server, until, Live, RESPONSE,
};
use serde_json::Value;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn required() -> bool {
    std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_some()
}

fn temp_dir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("procflow-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Request bodies of the three connections every run makes.
const BODIES: [usize; 3] = [100, 2_000, 30_000];

/// One run: `combo`'s bits turn on --metrics, --procfs, --feed-listen, --feed.
fn one(combo: u8) -> Result<(), String> {
    let (with_metrics, procfs, listen, feed) = (
        combo & 1 != 0,
        combo & 2 != 0,
        combo & 4 != 0,
        combo & 8 != 0,
    );
    let dir = temp_dir(&format!("stop-{combo}"));
    let (flows, stats) = (dir.join("flows.jsonl"), dir.join("stats.json"));
    let port = server("127.0.0.1");
    let mut args: Vec<String> = ["-i", "lo", "--stats-interval", "0", "--buffer-mb", "4"]
        .map(String::from)
        .to_vec();
    args.extend(["-f".into(), format!("tcp port {port}")]);
    args.extend(["--flows".into(), flows.display().to_string()]);
    args.extend(["--stats".into(), stats.display().to_string()]);
    let metrics_port = free_port();
    if with_metrics {
        args.extend(["--metrics".into(), format!("127.0.0.1:{metrics_port}")]);
    }
    if procfs {
        args.extend(["--procfs", "--procfs-interval-ms", "100"].map(String::from));
    }
    if listen {
        args.extend(["--feed-listen", "127.0.0.1:0"].map(String::from));
    }
    if feed {
        let f = dir.join("feed.jsonl");
        std::fs::write(&f, "").expect("feed file");
        args.extend(["--feed".into(), f.display().to_string()]);
    }
    let mut live = Live::start(&args);
    // Peers that connect and say nothing must not hold the stop up.
    let mut idle = Vec::new();
    if with_metrics {
        let m = metrics(metrics_port);
        sample(&m, "procflow_packets_total");
        idle.push(TcpStream::connect(("127.0.0.1", metrics_port)).expect("metrics"));
    }
    if listen {
        let line = live.wait_for("procflow: feed listener on", Duration::from_secs(10));
        let p: u16 = line
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("listener port");
        idle.push(TcpStream::connect(("127.0.0.1", p)).expect("listener"));
        if with_metrics {
            // The idle agent shows in the listener's metrics (no token,
            // no TLS on loopback: authenticated at once).
            until(Duration::from_secs(10), "listener metrics", || {
                let m = metrics(metrics_port);
                sample(&m, "procflow_feed_listener_accepted_total") == 1
                    && sample(
                        &m,
                        "procflow_feed_listener_connections{state=\"authenticated\"}",
                    ) == 1
                    && sample(
                        &m,
                        "procflow_feed_listener_closed_total{reason=\"auth_timeout\"}",
                    ) == 0
            });
        }
    }
    let locals: Vec<u16> = BODIES
        .iter()
        .map(|&b| post("127.0.0.1", port, b, |_| {}))
        .collect();
    // No wait: packets the kernel still holds at the signal must be read.
    let began = Instant::now();
    let (status, stderr) = live.stop(Duration::from_secs(40));
    let took = began.elapsed();
    let flows = json_lines(&flows);
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap_or_default())
        .unwrap_or(Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
    let check = || -> Result<(), String> {
        if !status.success() {
            return Err(format!("exit {status}"));
        }
        if flows.len() != 3 {
            return Err(format!("{} flows written, not 3", flows.len()));
        }
        for (local, body) in locals.iter().zip(BODIES) {
            let f = flows
                .iter()
                .find(|f| f["source"]["port"] == *local)
                .ok_or(format!("no flow from port {local}"))?;
            let want = (request(body).len(), RESPONSE.len(), "fin");
            let got = (
                f["flow"]["payload_out"].as_u64().unwrap_or(0) as usize,
                f["flow"]["payload_in"].as_u64().unwrap_or(0) as usize,
                f["event"]["reason"].as_str().unwrap_or(""),
            );
            if got != want {
                return Err(format!("flow from {local}: {got:?}, not {want:?}"));
            }
        }
        let out = &stats["outputs"]["flows"];
        if (out["written"].as_u64(), out["dropped"].as_u64()) != (Some(3), Some(0)) {
            return Err(format!("flows output figures: {out}"));
        }
        if took > Duration::from_secs(10) {
            return Err(format!("took {took:?} to stop"));
        }
        Ok(())
    };
    drop(idle);
    check().map_err(|e| {
        format!("metrics {with_metrics}, procfs {procfs}, feed-listen {listen}, feed {feed}: {e}\n{stderr}")
    })
}

#[test]
fn sigterm_ends_every_combination_with_every_flow_written() {
    if !is_root() {
        assert!(!required(), "live capture needs root");
        eprintln!("live_stop: skipped: not root");
        return;
    }
    let began = Instant::now();
    let runs: Vec<_> = (0..16u8)
        .map(|c| std::thread::spawn(move || one(c)))
        .collect();
    let failed: Vec<String> = runs
        .into_iter()
        .filter_map(|r| match r.join() {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("a run panicked".into()),
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    eprintln!("live_stop: 16 combinations in {:?}", began.elapsed());
}

#[test]
fn duration_ends_a_run_that_serves_metrics() {
    if !is_root() {
        assert!(!required(), "live capture needs root");
        eprintln!("live_stop: skipped: not root");
        return;
    }
    let dir = temp_dir("duration");
    let flows = dir.join("flows.jsonl");
    let port = server("127.0.0.1");
    let metrics_port = free_port();
    let args: Vec<String> = vec![
        "-i".into(),
        "lo".into(),
        "-f".into(),
        format!("tcp port {port}"),
        "--metrics".into(),
        format!("127.0.0.1:{metrics_port}"),
        "--flows".into(),
        flows.display().to_string(),
        "--duration".into(),
        "3".into(),
        "--stats-interval".into(),
        "0".into(),
    ];
    let live = Live::start(&args);
    let local = post("127.0.0.1", port, 500, |_| {});
    let (status, stderr) = live.wait(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    let flows = json_lines(&flows);
    assert_eq!(flows.len(), 1, "{stderr}");
    assert_eq!(flows[0]["source"]["port"], local);
    assert_eq!(flows[0]["flow"]["payload_out"], request(500).len());
    let _ = std::fs::remove_dir_all(&dir);
}
