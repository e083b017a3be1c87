//! AN0144 / AN0145 end to end on the generated detection scenario
//! (pcapgen's `detection` module): the exact alert set, silence for every
//! benign case, `learn` then `read` equal to one run over history and new
//! traffic, and a baseline that survives a kill in the middle of a write.
#![allow(clippy::indexing_slicing)]

mod common;

use common::procflow;
use pcapgen::detection::{self, DetectionScenario, DETECTION_START};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The scenario is written once per run of this test binary, over the
/// previous run's copy (1.8 GB: generated, never committed).
fn scenario() -> &'static (PathBuf, DetectionScenario) {
    static S: OnceLock<(PathBuf, DetectionScenario)> = OnceLock::new();
    S.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("detection-scenario");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scenario dir");
        let s = detection::write(&dir, 1.0).expect("scenario written");
        (dir, s)
    })
}

fn path(name: &str) -> String {
    scenario().0.join(name).display().to_string()
}

fn tmp(name: &str) -> PathBuf {
    let p = scenario().0.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
    p
}

fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// Runs procflow and asserts it succeeded; its standard error.
fn ok(args: &[&str]) -> String {
    let r = procflow(args);
    assert!(
        r.status.success(),
        "procflow {args:?} failed:\n{}",
        r.stderr
    );
    r.stderr
}

/// Every row of every baseline table, as text, sorted.
fn dump(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).expect("open baseline");
    let mut out = Vec::new();
    for t in ["images", "image_hosts", "hosts", "volumes", "meta"] {
        let mut q = c.prepare(&format!("SELECT * FROM {t}")).expect("query");
        let n = q.column_count();
        let rows = q
            .query_map([], |r| {
                let mut cols = Vec::new();
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    cols.push(format!("{v:?}"));
                }
                Ok(format!("{t}: {}", cols.join(" | ")))
            })
            .expect("rows");
        out.extend(rows.map(|r| r.expect("row")));
    }
    out.sort();
    out
}

fn key(a: &Value) -> (String, String, String, String, String, u64) {
    (
        a["rule"].as_str().unwrap_or("").to_string(),
        a["host"]["name"].as_str().unwrap_or("").to_string(),
        a["process"]["executable"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        a["destination"]["domain"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        a["destination"]["ip"].as_str().unwrap_or("").to_string(),
        a["destination"]["port"].as_u64().unwrap_or(0),
    )
}

#[test]
fn learn_then_read_gives_the_exact_alerts_and_equals_one_run() {
    let (_, s) = scenario();
    let (config, hist, hist_feed, det, det_feed) = (
        path("config.toml"),
        path("history.pcap"),
        path("history.feed.jsonl"),
        path("detection.pcap"),
        path("detection.feed.jsonl"),
    );
    // Two steps: learn the history, then judge the new traffic.
    let db = tmp("two-step.db");
    let db_arg = db.display().to_string();
    let learn = ok(&[
        "learn",
        &hist,
        "--feed",
        &hist_feed,
        "--baseline",
        &db_arg,
        "--config",
        &config,
        "--no-progress",
    ]);
    assert!(learn.contains("alerts: none asked (learning)"), "{learn}");
    // Judged twice without --learn: the same alerts, byte for byte, and
    // the baseline as it was.
    let before = dump(&db);
    let judge = |name: &str| {
        let a = tmp(name);
        ok(&[
            "read",
            &det,
            "--feed",
            &det_feed,
            "--baseline",
            &db_arg,
            "--config",
            &config,
            "--alerts",
            &a.display().to_string(),
            "--no-progress",
        ]);
        std::fs::read(&a).expect("alerts")
    };
    let first = judge("judge-1.alerts.jsonl");
    assert_eq!(
        first,
        judge("judge-2.alerts.jsonl"),
        "the same alerts twice"
    );
    assert_eq!(dump(&db), before, "the baseline untouched");
    let alerts = tmp("two-step.alerts.jsonl");
    let stats = tmp("two-step.stats.json");
    let read = ok(&[
        "read",
        &det,
        "--feed",
        &det_feed,
        "--baseline",
        &db_arg,
        "--learn",
        "--config",
        &config,
        "--alerts",
        &alerts.display().to_string(),
        "--stats",
        &stats.display().to_string(),
        "--no-progress",
    ]);
    assert!(read.contains("alerts: AN0144 3, AN0145 1"), "{read}");
    // Sixteen hosts' clocks: one line for all, then the farthest three.
    assert_eq!(read.matches("procflow: clock of ").count(), 3, "{read}");
    assert!(
        read.contains("procflow: clocks of 16 feed hosts: "),
        "{read}"
    );
    assert_eq!(
        std::fs::read(&alerts).expect("alerts"),
        first,
        "learning after judging changes no alert"
    );
    let got = lines(&alerts);

    // The exact set.
    let want: Vec<_> = s
        .alerts
        .iter()
        .map(|e| {
            (
                e.rule.to_string(),
                e.host.to_string(),
                e.executable.to_string(),
                e.domain.to_string(),
                e.ip.to_string(),
                u64::from(e.port),
            )
        })
        .collect();
    let mut got_keys: Vec<_> = got.iter().map(key).collect();
    got_keys.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got_keys, want_sorted);
    for a in &got {
        assert_eq!(
            a["window"]["start"],
            capture::time::rfc3339(DETECTION_START),
            "{a}"
        );
        assert_eq!(
            a["timestamp"],
            capture::time::rfc3339(DETECTION_START + 600_000_000)
        );
        assert!(!a["reasons"].as_array().expect("reasons").is_empty());
        assert!(!a["community_ids"].as_array().expect("ids").is_empty());
    }
    // Benign cases: not one alert names them.
    for c in &s.silent {
        assert!(
            got.iter()
                .all(|a| a["process"]["executable"] != c.executable),
            "{}: {}",
            c.case,
            c.why
        );
    }

    // One alert in full detail: the unseen uploader.
    let upd = got
        .iter()
        .find(|a| a["host"]["name"] == "WIN03")
        .expect("WIN03 alert");
    assert_eq!(upd["severity"], "critical");
    assert_eq!(upd["process"]["name"], "upd.exe");
    assert_eq!(upd["user"]["name"], "CORP\\bob");
    assert_eq!(upd["host"]["ip"], "10.10.1.13");
    assert_eq!(upd["host"]["os"]["family"], "windows");
    // 200,000,000 bytes of records sent, plus the 53-byte Finished.
    assert_eq!(upd["metrics"]["bytes_out"], 200_000_053);
    // 8,000 bytes back, plus the 2,800-byte encrypted server handshake.
    assert_eq!(upd["metrics"]["bytes_in"], 10_800);
    assert_eq!(upd["metrics"]["tls_connections"], 1);
    assert_eq!(upd["baseline"]["hosts_seen"], 0);
    assert_eq!(upd["baseline"]["hosts_total"], 16);
    assert_eq!(upd["baseline"]["first_seen"], Value::Null);
    assert_eq!(
        upd["reasons"][1],
        "it sent 200 MB to 203.0.113.50 (sync.example.net) in 10 minutes, 20x its role's threshold of 10.0 MB"
    );
    let rclone = got
        .iter()
        .find(|a| a["host"]["name"] == "WIN05")
        .expect("WIN05 alert");
    assert_eq!(rclone["metrics"]["http_requests"], 1);
    assert_eq!(rclone["baseline"]["hosts_seen"], 1);
    assert_eq!(rclone["baseline"]["novelty"], "known");
    assert_eq!(
        rclone["reasons"][0],
        "C:\\Tools\\rclone.exe has run on 1 of 16 hosts in the last 30 days (first seen 8 days ago; the baseline has watched for 8 days)"
    );
    let beacon = got
        .iter()
        .find(|a| a["rule"] == "AN0145")
        .expect("AN0145 alert");
    assert_eq!(beacon["metrics"]["http_connections"], 300);
    assert_eq!(beacon["metrics"]["http_requests"], 300);
    assert_eq!(beacon["host"]["role"], "linux-servers");
    // A connection every 10 ms, 642-byte requests: clockwork.
    assert_eq!(beacon["beaconing"]["interval_us"], 10_000);
    assert_eq!(beacon["beaconing"]["score"], 1.0);
    assert!(
        beacon["reasons"].as_array().expect("reasons").iter().any(|r| r
            == "its 300 listed connections to 198.51.100.77 (c2.example.net) came every 10 ms (median; spread 0 %) with requests of 642 B (spread 0 %): as regular as a beacon (score 1.00)"),
        "{beacon}"
    );
    // Every one of its 300 flows is listed, and gives back its record.
    let listed = beacon["flows"].as_array().expect("flows");
    assert_eq!(listed.len(), 300);
    assert_eq!(beacon["flows_omitted"], 0);
    assert_eq!(beacon["community_ids"].as_array().map(Vec::len), Some(300));
    let all_listed: usize = got
        .iter()
        .map(|a| a["flows"].as_array().map_or(0, Vec::len))
        .sum();
    let back = procflow(&[
        "flows",
        &det,
        "--community-ids-from",
        &alerts.display().to_string(),
        "--no-progress",
    ]);
    assert!(back.status.success(), "{}", back.stderr);
    let records = back.records();
    assert_eq!(records.len(), all_listed, "{}", back.stderr);
    assert!(
        back.stderr.contains(&format!(
            "procflow: {all_listed} of {all_listed} Community IDs asked for found"
        )),
        "{}",
        back.stderr
    );
    for f in listed {
        let r = records
            .iter()
            .find(|r| r["community_id"] == f["community_id"])
            .unwrap_or_else(|| panic!("no record for {f}"));
        assert_eq!(r["event"]["start"], f["start"], "{f}");
        assert_eq!(r["source"]["ip"], f["source"]["ip"], "{f}");
        assert_eq!(r["source"]["port"], f["source"]["port"], "{f}");
        assert_eq!(r["destination"]["ip"], f["destination"]["ip"], "{f}");
        assert_eq!(r["destination"]["port"], f["destination"]["port"], "{f}");
        assert_eq!(r["network"]["transport"], f["transport"], "{f}");
    }
    let reporter = got
        .iter()
        .find(|a| a["host"]["name"] == "WIN06")
        .expect("WIN06 alert");
    assert_eq!(reporter["baseline"]["p99_bytes_out"], 200_053);
    assert_eq!(reporter["metrics"]["bytes_out"], 5_000_053);

    // The run summary names the top senders and the lowest ratios.
    assert!(read.contains("top processes by outbound volume:"), "{read}");
    assert!(read.contains("/tmp/.x/sysupd on lnx03"), "{read}");
    let st: Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("json");
    assert_eq!(st["detection"]["alerts"]["AN0144"], 3);
    assert_eq!(st["detection"]["baseline"]["meta"]["batches"], 8);

    // One run over the history and the new traffic, from an empty baseline.
    let one = tmp("one-run.db");
    let one_alerts = tmp("one-run.alerts.jsonl");
    let single = ok(&[
        "read",
        &hist,
        &det,
        "--feed",
        &hist_feed,
        "--feed",
        &det_feed,
        "--baseline",
        &one.display().to_string(),
        "--learn",
        "--config",
        &config,
        "--alerts",
        &one_alerts.display().to_string(),
        "--no-progress",
    ]);
    assert!(
        single.contains("is new: every process counts as previously unseen"),
        "{single}"
    );
    let all = lines(&one_alerts);
    let (history, new): (Vec<&Value>, Vec<&Value>) = all.iter().partition(|a| {
        a["window"]["start"].as_str().unwrap_or("")
            < capture::time::rfc3339(DETECTION_START).as_str()
    });
    assert!(
        history.is_empty(),
        "the history raises nothing: {history:?}"
    );
    assert_eq!(
        new,
        got.iter().collect::<Vec<_>>(),
        "alerts equal, field for field, in order"
    );
    assert_eq!(dump(&one), dump(&db), "the baselines are the same");
}

#[test]
fn a_killed_write_leaves_the_last_committed_baseline() {
    let (hist, hist_feed, config) = (
        path("history.pcap"),
        path("history.feed.jsonl"),
        path("config.toml"),
    );
    // What the history's six batches hold, window by window.
    let procs = tmp("crash.processes.jsonl");
    let full = tmp("crash-full.db");
    ok(&[
        "learn",
        &hist,
        "--feed",
        &hist_feed,
        "--baseline",
        &full.display().to_string(),
        "--config",
        &config,
        "--processes",
        &procs.display().to_string(),
        "--no-progress",
    ]);
    let windows = lines(&procs);
    let mut ends: Vec<String> = windows
        .iter()
        .map(|w| w["window"]["end"].as_str().unwrap_or("").to_string())
        .collect();
    ends.sort();
    ends.dedup();
    assert_eq!(ends.len(), 6);
    let in_first_three = windows
        .iter()
        .filter(|w| w["window"]["end"].as_str() <= Some(ends[2].as_str()))
        .count();

    // Stop inside the fourth transaction, with every row written, and kill.
    let db = tmp("crash.db");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_procflow"))
        .args([
            "learn",
            &hist,
            "--feed",
            &hist_feed,
            "--baseline",
            &db.display().to_string(),
            "--config",
            &config,
            "--no-progress",
        ])
        .env("PROCFLOW_FAILPOINT", "baseline-commit:4")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("procflow starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut reader = std::io::BufReader::new(stderr);
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).expect("read stderr");
        assert!(n > 0, "procflow ended before the failpoint:\n{seen}");
        seen.push_str(&line);
        if line.contains("failpoint baseline-commit:4 reached") {
            break;
        }
    }
    child.kill().expect("kill");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    // The file opens, is whole, and holds three batches.
    let c = rusqlite::Connection::open(&db).expect("opens after the kill");
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    let meta = |k: &str| -> u64 {
        c.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| {
            r.get::<_, String>(0)
        })
        .expect("meta")
        .parse()
        .expect("number")
    };
    assert_eq!(meta("batches"), 3);
    assert_eq!(meta("windows_folded"), in_first_three as u64);
    let latest: i64 = c
        .query_row("SELECT max(last_seen) FROM images", [], |r| r.get(0))
        .expect("max");
    let third_end = windows
        .iter()
        .find(|w| w["window"]["end"] == ends[2].as_str())
        .expect("window");
    assert_eq!(
        capture::time::rfc3339(latest as u64),
        third_end["window"]["end"].as_str().expect("end")
    );
    drop(c);
    // procflow carries on from it.
    let stderr = ok(&[
        "read",
        &hist,
        "--feed",
        &hist_feed,
        "--baseline",
        &db.display().to_string(),
        "--config",
        &config,
        "--no-learn",
        "--alerts",
        &tmp("crash.alerts.jsonl").display().to_string(),
        "--no-progress",
    ]);
    assert!(stderr.contains("windows folded in 3 batches"), "{stderr}");
}

#[test]
fn bad_configuration_is_one_line_naming_key_and_line() {
    let dir = scenario().0.clone();
    let cap = path("history.pcap");
    for (text, want) in [
        ("window_secs = 600\n[thresholds.an0144]\nmin_bytes = 5\n", ":3: thresholds.an0144.min_bytes: unknown field `min_bytes`"),
        ("home_net = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n", ":1: home_net: bad CIDR \"10.0.0.0/40\": prefix must be 0-32"),
        ("[thresholds.an0145]\nmax_response_ratio = -1\n", ":2: thresholds.an0145.max_response_ratio: must be a number not below 0, not -1"),
        ("[[roles]]\nname = \"x\"\ncidrs = [\"10.1.0.0/16\"]\n[roles.an0144]\nmin_bytes_out = -3\n", ":5: roles.an0144.min_bytes_out: invalid value: integer `-3`"),
    ] {
        let file = dir.join("bad.toml");
        std::fs::write(&file, text).expect("write");
        let f = file.display().to_string();
        let r = procflow(&["read", &cap, "--config", &f, "--alerts", "-"]);
        assert!(!r.status.success());
        assert_eq!(r.stdout, "", "nothing is written");
        let err = r.stderr.trim_end();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("procflow: error: {f}{want}")), "{err}\nwant {want}");
    }
    // The documented default file passes the check.
    let d = procflow(&["config", "--default"]);
    assert!(d.status.success());
    let file = dir.join("default.toml");
    std::fs::write(&file, &d.stdout).expect("write");
    let c = procflow(&["config", "--check", &file.display().to_string()]);
    assert!(c.status.success(), "{}", c.stderr);
    assert!(c.stdout.contains(": ok ("), "{}", c.stdout);
}

#[test]
fn an_unusable_baseline_is_a_clear_error() {
    let dir = scenario().0.clone();
    let cap = path("history.pcap");
    let junk = dir.join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).expect("write");
    let r = procflow(&[
        "read",
        &cap,
        "--baseline",
        &junk.display().to_string(),
        "--alerts",
        "-",
    ]);
    assert!(!r.status.success());
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "procflow: error: baseline {}: not a baseline (not an SQLite database)",
            junk.display()
        )
    );
}
