//! Helpers shared by the end-to-end tests.
#![allow(dead_code, clippy::indexing_slicing)]

pub mod certs;
pub mod live;
pub mod nats;
pub mod netns;
pub mod postgres;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The corpus of captures written by others, found through
/// `PROCFLOW_CORPUS` (default `../shared/corpus` from the repository root).
/// `None` (and a line saying the test was skipped) when it is absent.
pub fn corpus(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("PROCFLOW_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "{test}: skipped: corpus not found at {} (set PROCFLOW_CORPUS)",
            dir.display()
        );
        None
    }
}

/// A file under the repository's `pcaps/`.
pub fn pcap(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pcaps")
        .join(name)
}

/// The result of one `procflow` run.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Flow records printed on stdout.
    pub fn records(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }
}

/// Runs the procflow binary.
pub fn procflow(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_procflow"))
        .args(args)
        .output()
        .expect("procflow runs");
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `procflow flows FILES...`, asserting it succeeded; the records.
pub fn flows(files: &[&Path]) -> Vec<Value> {
    let mut args = vec!["flows", "--no-progress"];
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let run = procflow(&args);
    assert!(
        run.status.success(),
        "procflow failed on {names:?}: {}",
        run.stderr
    );
    run.records()
}

/// Follows a dotted path (`source.ip`) into a record.
pub fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

/// `procflow flows --stats FILE ARGS...`: the run and the statistics JSON.
pub fn flows_with_stats(args: &[&str]) -> (Run, Value) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::env::temp_dir().join(format!("procflow-stats-{}-{n}.json", std::process::id()));
    let file_arg = file.display().to_string();
    let mut all = vec!["flows", "--no-progress", "--stats", file_arg.as_str()];
    all.extend_from_slice(args);
    let run = procflow(&all);
    assert!(run.status.success(), "procflow {args:?}: {}", run.stderr);
    let stats = serde_json::from_str(&std::fs::read_to_string(&file).expect("stats file"))
        .expect("stats JSON");
    let _ = std::fs::remove_file(&file);
    (run, stats)
}

/// Record headers of a little-endian classic pcap: (offset, captured
/// length, length on the wire) of every packet.
pub fn pcap_records(bytes: &[u8]) -> Vec<(usize, u32, u32)> {
    let mut out = Vec::new();
    let mut at = 24usize;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("len"));
        let len = u32::from_le_bytes(bytes[at + 12..at + 16].try_into().expect("len"));
        out.push((at, caplen, len));
        at += 16 + caplen as usize;
    }
    out
}

/// What one `procflow read` run wrote.
pub struct ReadRun {
    pub run: Run,
    pub flows: Vec<Value>,
    pub processes: Vec<Value>,
    pub stats: Value,
}

fn temp_file(what: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("procflow-{what}-{}-{n}", std::process::id()))
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// `procflow read ARGS... --flows F --processes P --stats S`, asserting it
/// succeeded.
pub fn read(args: &[&str]) -> ReadRun {
    let (f, p, s) = (temp_file("flows"), temp_file("procs"), temp_file("stats"));
    let (fa, pa, sa) = (
        f.display().to_string(),
        p.display().to_string(),
        s.display().to_string(),
    );
    let mut all = vec![
        "read",
        "--no-progress",
        "--flows",
        &fa,
        "--processes",
        &pa,
        "--stats",
        &sa,
    ];
    all.extend_from_slice(args);
    let run = procflow(&all);
    assert!(run.status.success(), "procflow {args:?}: {}", run.stderr);
    let stats = serde_json::from_str(&std::fs::read_to_string(&s).expect("stats file"))
        .expect("stats JSON");
    let out = ReadRun {
        flows: json_lines(&f),
        processes: json_lines(&p),
        stats,
        run,
    };
    for x in [f, p, s] {
        let _ = std::fs::remove_file(x);
    }
    out
}

/// The flow whose client or server is `a` and whose other end is `b`
/// (addresses as "ip:port"; IPv6 as "[ip]:port").
pub fn flow_between<'a>(flows: &'a [Value], a: &str, b: &str) -> Vec<&'a Value> {
    let ep = |v: &Value, side: &str| {
        let ip = v[side]["ip"].as_str().unwrap_or_default().to_string();
        let port = &v[side]["port"];
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    flows
        .iter()
        .filter(|v| {
            let (s, d) = (ep(v, "source"), ep(v, "destination"));
            (s == a && d == b) || (s == b && d == a)
        })
        .collect()
}

/// Absolute path of a program on PATH, symlinks resolved (what
/// /proc/PID/exe shows).
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// True when the test runs as root (live capture needs it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A child process killed and reaped when dropped.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a child's standard error on a thread: every line is sent as it
/// comes, and the whole text is returned at the end.
pub fn stderr_lines(
    child: &mut std::process::Child,
) -> (
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<String>,
) {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let err = child.stderr.take().expect("stderr piped");
    let handle = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    (rx, handle)
}

/// Waits (at most `within`) for a line of [`stderr_lines`] containing
/// `what`; panics naming it when none comes.
pub fn wait_for_line(
    lines: &std::sync::mpsc::Receiver<String>,
    what: &str,
    within: std::time::Duration,
) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) if l.contains(what) => return,
            Ok(_) => {}
            Err(_) => panic!("no line with {what:?} within {within:?}"),
        }
    }
}

/// Every capture file (`.pcap`, `.pcapng`, `.cap`) under `dir`, sorted
/// (walked with a stack, not recursion).
pub fn captures_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "pcap" | "pcapng" | "cap"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Writes `DIR/site.toml`: thresholds under which the attribution
/// sample's custom binaries raise AN0145 on every platform (three
/// alerts); its path.
/// `procflow read` of the bundled attribution sample (capture and feed)
/// with [`alerting_config`] written into `dir`, and `extra` arguments
/// (outputs, profile); asserts it succeeded.
pub fn read_attribution_sample(dir: &Path, extra: &[&str]) -> Run {
    let config = alerting_config(dir);
    let (cap, feed) = (pcap("attribution.pcap"), pcap("attribution.feed.jsonl"));
    let (cap, feed, config) = (
        cap.display().to_string(),
        feed.display().to_string(),
        config.display().to_string(),
    );
    let mut args = vec![
        "read",
        "--no-progress",
        &cap,
        "--feed",
        &feed,
        "--config",
        &config,
    ];
    args.extend_from_slice(extra);
    let run = procflow(&args);
    assert!(run.status.success(), "{}", run.stderr);
    run
}

pub fn alerting_config(dir: &Path) -> PathBuf {
    let config = dir.join("site.toml");
    std::fs::write(
        &config,
        "home_net = [\"10.0.0.0/8\"]\n[rules]\nall_platforms = true\n\
         [thresholds.an0145]\nmin_http_connections = 2\nmin_http_requests = 2\n",
    )
    .expect("config");
    config
}
