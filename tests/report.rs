//! `procflow report` on the outputs of a real `read` of the attribution
//! sample: the terminal tables, and the HTML page, checked as written and
//! as headless Chromium renders it (one point per process window, the
//! alerted ones marked, each naming its process when hovered; a
//! screenshot is kept in target/report.png).
#![allow(clippy::indexing_slicing)]

mod common;

use common::{procflow, which};
use std::path::{Path, PathBuf};

/// Runs `read` on the attribution sample with thresholds its custom
/// binaries cross; the folder holding flows, processes and alerts.
fn outputs(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("procflow-report-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let s = |p: &Path| p.display().to_string();
    common::read_attribution_sample(
        &dir,
        &[
            "--flows",
            &s(&dir.join("flows.jsonl")),
            "--processes",
            &s(&dir.join("procs.jsonl")),
            "--alerts",
            &s(&dir.join("alerts.jsonl")),
        ],
    );
    dir
}

fn count_lines(p: &Path) -> usize {
    std::fs::read_to_string(p).expect("file").lines().count()
}

fn report(dir: &Path) -> (String, String) {
    let s = |n: &str| dir.join(n).display().to_string();
    let run = procflow(&[
        "report",
        "--processes",
        &s("procs.jsonl"),
        "--alerts",
        &s("alerts.jsonl"),
        "--flows",
        &s("flows.jsonl"),
        "--html",
        &s("report.html"),
    ]);
    assert!(run.status.success(), "{}", run.stderr);
    let html = std::fs::read_to_string(dir.join("report.html")).expect("page");
    (run.stdout, html)
}

#[test]
fn terminal_and_page_hold_the_run() {
    let dir = outputs("page");
    let (text, html) = report(&dir);
    let (windows, alerts, flows) = (
        count_lines(&dir.join("procs.jsonl")),
        count_lines(&dir.join("alerts.jsonl")),
        count_lines(&dir.join("flows.jsonl")),
    );
    assert!(alerts >= 1);
    assert!(
        text.starts_with(&format!(
            "procflow report: {windows} process windows, {alerts} alerts, {flows} flows ("
        )),
        "{text}"
    );
    assert!(text.contains("Who talked to whom"), "{text}");
    assert!(text.contains("/tmp/.x/beacon"), "{text}");
    assert!(text.contains("Blind spots"), "{text}");
    // The page: one point per window, as many marked as alerted windows,
    // nothing fetched from elsewhere.
    assert_eq!(html.matches("<circle class=\"point").count(), windows);
    assert_eq!(
        html.matches("<circle class=\"point alerted\"").count(),
        alerts
    );
    // Nothing loaded from elsewhere: the only address is SVG's namespace.
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(!html.contains("src=\""), "nothing loaded from elsewhere");
    assert_eq!(html.matches("<div class=\"card").count(), alerts);
    // Text from the run is escaped.
    assert!(html.contains("C:\\Tools\\sync.exe"), "windows paths kept");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Outputs are files from outside: figures at the edge of u64 and lines
/// that are no JSON are drawn and counted, never a crash.
#[test]
fn extreme_and_broken_lines_are_taken_in_stride() {
    let dir = std::env::temp_dir().join(format!("procflow-report-edge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let procs = dir.join("procs.jsonl");
    let window = serde_json::json!({
        "host": {"name": "h"}, "process": {"executable": "/x"},
        "window": {"start": "2023-11-14T22:10:00.000000Z"},
        "metrics": {"connections": u64::MAX, "bytes_out": u64::MAX, "bytes_in": 0},
        "destinations": [{"ip": "not an ip", "bytes_out": u64::MAX}],
    });
    // Twice: one process's windows summed past u64.
    std::fs::write(&procs, format!("{window}\n{window}\nnot json\n[1,2]\n")).expect("write");
    let html = dir.join("r.html");
    let run = procflow(&[
        "report",
        "--processes",
        &procs.display().to_string(),
        "--html",
        &html.display().to_string(),
    ]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stderr.contains("2 lines are not JSON objects, skipped"),
        "{}",
        run.stderr
    );
    let page = std::fs::read_to_string(&html).expect("page");
    assert_eq!(page.matches("<circle class=\"point").count(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_report_needs_something_to_report() {
    let run = procflow(&["report"]);
    assert!(!run.status.success());
    assert!(run.stderr.contains("nothing to report"), "{}", run.stderr);
}

/// Headless Chromium renders the page: the DOM after its scripts ran has
/// the points, the alerted ones, and each point's hover title names its
/// process; a screenshot goes to target/report.png.
#[test]
fn chromium_renders_the_page() {
    let required = std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_some();
    let Some(chromium) = which("chromium") else {
        assert!(!required, "chromium is required");
        eprintln!("report: skipped: chromium missing");
        return;
    };
    let dir = outputs("chromium");
    let (_, html) = report(&dir);
    let page = format!("file://{}", dir.join("report.html").display());
    let profile = format!("--user-data-dir={}", dir.join("chromium-profile").display());
    let run = |extra: &[&str]| {
        std::process::Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", &profile])
            .args(extra)
            .arg(&page)
            .output()
            .expect("chromium runs")
    };
    let dom = run(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    let points = html.matches("<circle class=\"point").count();
    assert!(points > 0);
    assert_eq!(
        dom.matches("<circle class=\"point").count(),
        points,
        "{dom}"
    );
    let alerted = dom.matches("<circle class=\"point alerted\"").count();
    assert_eq!(alerted, count_lines(&dir.join("alerts.jsonl")));
    // Each point's hover text (its <title>) names its process.
    for c in dom.split("<circle class=\"point").skip(1) {
        let process = c
            .split("data-process=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("data-process");
        let title = c
            .split("<title>")
            .nth(1)
            .and_then(|r| r.split("</title>").next())
            .expect("title");
        assert!(title.starts_with(process), "{title} / {process}");
    }
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report.png");
    let arg = format!("--screenshot={}", shot.display());
    let out = run(&[&arg, "--window-size=1200,1600"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        png.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
