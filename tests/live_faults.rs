//! `procflow live` under faults, on real traffic: an alert sink that
//! blocks (a FIFO whose reader stops reading), outputs on a full disk and
//! full devices, an interface that goes down, comes back, and is
//! deleted. The sensor must say so once, keep capturing, and count every
//! line it could not write, exactly.
#![allow(clippy::indexing_slicing)]

mod common;

use common::netns::sh;

use common::live::{
    append, feed_line, free_port, json_lines, metrics, post, sample, server, until, Live,
};
use common::{is_root, which, Killed};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn required() -> bool {
    std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_some()
}

fn skip(why: &str) -> bool {
    assert!(!required(), "{why}");
    eprintln!("live_faults: skipped: {why}");
    true
}

fn temp_dir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("procflow-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Every process counts as unseen, one HTTP connection is enough for
/// AN0145, windows of 1 s: each process below raises exactly one alert.
fn config(dir: &Path) -> PathBuf {
    let c = dir.join("live.toml");
    std::fs::write(
        &c,
        "home_net = [\"10.0.0.0/8\"]\nwindow_secs = 1\n[thresholds.an0145]\nmin_http_connections = 1\n",
    )
    .expect("config");
    c
}

/// Arguments shared by the output tests: loopback, the server's port,
/// the feed naming each client's process, flows ending at once.
fn base_args(port: u16, dir: &Path, feed: &Path, metrics_port: u16) -> Vec<String> {
    let mut a: Vec<String> = ["-i", "lo", "--buffer-mb", "4", "--stats-interval", "1"]
        .map(String::from)
        .to_vec();
    a.extend(["-f".into(), format!("tcp port {port}")]);
    a.extend(["--config".into(), config(dir).display().to_string()]);
    a.extend(["--feed".into(), feed.display().to_string()]);
    a.extend(["--metrics".into(), format!("127.0.0.1:{metrics_port}")]);
    a.extend([
        "--stats".into(),
        dir.join("stats.json").display().to_string(),
    ]);
    a.extend(
        [
            "--tcp-timeout",
            "1",
            "--udp-timeout",
            "1",
            "--late-window",
            "2",
        ]
        .map(String::from),
    );
    a
}

/// POSTs from processes `from..to` (one connection each, each named in
/// the feed as its own binary under /tmp).
fn posts(port: u16, feed: &Path, from: usize, to: usize) {
    for i in from..to {
        post("127.0.0.1", port, 300, |local| {
            append(feed, &feed_line(local, port, &format!("/tmp/pf-agent-{i}")));
        });
    }
}

fn stats(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).expect("stats"))
        .expect("stats JSON")
}

fn count_lines(text: &str, what: &str) -> usize {
    text.lines().filter(|l| l.contains(what)).count()
}

/// Every flow names its process from the feed.
fn check_attributed(flows: &[Value], n: usize, stderr: &str) {
    assert_eq!(flows.len(), n, "{stderr}");
    let mut exes: Vec<&str> = flows
        .iter()
        .map(|f| f["process"]["executable"].as_str().unwrap_or("none"))
        .collect();
    exes.sort_unstable();
    exes.dedup();
    assert_eq!(exes.len(), n, "one process per flow: {exes:?}\n{stderr}");
    assert!(
        exes.iter().all(|e| e.starts_with("/tmp/pf-agent-")),
        "{exes:?}"
    );
}

#[test]
fn a_blocked_alert_sink_drops_and_counts_while_capture_goes_on() {
    if !is_root() && skip("live capture needs root") {
        return;
    }
    let (Some(python), Some(_)) = (which("python3"), which("mkfifo")) else {
        skip("python3 and mkfifo are needed");
        return;
    };
    let dir = temp_dir("blocked-sink");
    let (fifo, feed) = (dir.join("alerts.fifo"), dir.join("feed.jsonl"));
    assert!(sh(&["mkfifo", fifo.to_str().expect("path")]));
    std::fs::write(&feed, "").expect("feed");
    // The reader: a 4 KiB pipe, read only once procflow has ended.
    let mut reader = Killed(
        Command::new(&python)
            .args([
                "-c",
                "import fcntl, os, sys\n\
                 fd = os.open(sys.argv[1], os.O_RDONLY)\n\
                 fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 4096)\n\
                 print('open', flush=True)\n\
                 sys.stdin.read()\n\
                 while chunk := os.read(fd, 65536):\n    sys.stdout.buffer.write(chunk)\n",
            ])
            .arg(&fifo)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("reader starts"),
    );
    let port = server("127.0.0.1");
    let metrics_port = free_port();
    let mut args = base_args(port, &dir, &feed, metrics_port);
    args.extend(["--alerts".into(), fifo.display().to_string()]);
    args.extend(["--output-queue".into(), "2".into()]);
    let mut live = Live::start(&args);
    let mut reader_out = BufReader::new(reader.0.stdout.take().expect("stdout"));
    let mut open = String::new();
    reader_out.read_line(&mut open).expect("reader line");
    assert_eq!(open, "open\n");

    // Twelve alerts: more than the pipe, the writer and its queue of 2 hold.
    posts(port, &feed, 0, 12);
    let warning = live.wait_for("alerts output", Duration::from_secs(60));
    assert!(warning.contains("not keeping up"), "{warning}");
    // The sink stays blocked: capture, attribution and detection go on.
    posts(port, &feed, 12, 16);
    until(
        Duration::from_secs(60),
        "16 flows attributed, 16 alerts raised",
        || {
            let m = metrics(metrics_port);
            sample(&m, "procflow_flows_attributed_total") == 16
                && sample(&m, "procflow_alerts_total{rule=\"AN0145\"}") == 16
        },
    );
    let m = metrics(metrics_port);
    let queue_full = sample(
        &m,
        "procflow_output_dropped_total{output=\"alerts\",reason=\"queue_full\"}",
    );
    assert!(queue_full >= 1);
    let line = live.wait_for(
        &format!("dropped at outputs: alerts {queue_full},"),
        Duration::from_secs(10),
    );
    assert!(line.contains("; 16 flows, 100.0 % attributed;"), "{line}");

    let (status, stderr) = live.stop(Duration::from_secs(40));
    assert!(!status.success(), "lines were lost: {stderr}");
    // What reached the pipe: whole lines, then perhaps one cut short.
    drop(reader.0.stdin.take());
    let mut text = String::new();
    reader_out.read_to_string(&mut text).expect("pipe read");
    let whole: Vec<Value> = text
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).expect("a whole alert"))
        .collect();
    for a in &whole {
        assert_eq!(a["rule"], "AN0145", "{a}");
        let exe = a["process"]["executable"].as_str().unwrap_or_default();
        assert!(exe.starts_with("/tmp/pf-agent-"), "{a}");
    }
    let written = whole.len() as u64;

    let s = stats(&dir);
    let a = &s["outputs"]["alerts"];
    assert_eq!(s["detection"]["alerts"]["AN0145"], 16, "{s}");
    assert_eq!(a["lines"], 16, "{a}");
    assert_eq!(a["written"], written, "{a}");
    assert_eq!(a["dropped"], 16 - written, "{a}");
    assert_eq!(a["write_failed"], 0, "{a}");
    assert_eq!(
        a["queue_full"], queue_full,
        "no drop after the sixteenth: {a}"
    );
    assert_eq!(a["abandoned"], 16 - written - queue_full, "{a}");
    assert!(
        a["abandoned"].as_u64() >= Some(1),
        "the writer was still blocked: {a}"
    );
    assert_eq!(s["coverage"]["flows"], 16, "{s}");
    eprintln!("live_faults: blocked alert sink: {a}");
    assert_eq!(
        count_lines(&stderr, "warning: alerts output"),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: lines not written: alerts {}",
            16 - written
        )),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tmpfs of 8 KiB, unmounted on drop.
struct SmallDisk(PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_and_full_devices_lose_lines_counted_and_files_stay_whole() {
    if !is_root() && skip("live capture needs root") {
        return;
    }
    let dir = temp_dir("full-disk");
    let small = dir.join("small");
    std::fs::create_dir_all(&small).expect("mount point");
    let p = small.to_str().expect("path");
    if !sh(&["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", p]) {
        skip("cannot mount a tmpfs here");
        return;
    }
    let disk = SmallDisk(small.clone());
    let (feed, flows) = (dir.join("feed.jsonl"), small.join("flows.jsonl"));
    std::fs::write(&feed, "").expect("feed");
    let port = server("127.0.0.1");
    let metrics_port = free_port();
    let mut args = base_args(port, &dir, &feed, metrics_port);
    args.extend(["--alerts", "/dev/full"].map(String::from));
    args.extend(["--flows".into(), flows.display().to_string()]);
    args.extend(["--processes", "/dev/full"].map(String::from));
    let live = Live::start(&args);
    posts(port, &feed, 0, 20);
    // Every flow and every alert accounted for while running.
    until(
        Duration::from_secs(60),
        "20 flows and 20 alerts settled",
        || {
            let m = metrics(metrics_port);
            let out = |o: &str, what: &str| {
                sample(&m, &format!("procflow_output_{what}{{output=\"{o}\"}}"))
            };
            let failed =
                |o: &str| {
                    sample(
                &m,
                &format!("procflow_output_dropped_total{{output=\"{o}\",reason=\"write_failed\"}}"),
            )
                };
            out("flows", "written_total") + failed("flows") == 20 && failed("alerts") == 20
        },
    );
    let (status, stderr) = live.stop(Duration::from_secs(40));
    assert!(!status.success(), "lines were lost: {stderr}");

    // The file holds whole lines only: a line cut by the full disk was taken back.
    let text = std::fs::read_to_string(&flows).expect("flows file");
    assert!(text.is_empty() || text.ends_with('\n'), "{text}");
    let written = json_lines(&flows);
    let kept = written.len() as u64;
    check_attributed(&written, written.len(), &stderr);
    assert!((1..20).contains(&kept), "{kept} of 20 flows fit in 8 KiB");
    let s = stats(&dir);
    let f = &s["outputs"]["flows"];
    assert_eq!(f["lines"], 20, "{f}");
    assert_eq!(f["written"], kept, "{f}");
    assert_eq!(f["write_failed"], 20 - kept, "{f}");
    assert_eq!(f["dropped"], 20 - kept, "{f}");
    let a = &s["outputs"]["alerts"];
    assert_eq!(s["detection"]["alerts"]["AN0145"], 20, "{s}");
    assert_eq!(
        (&a["written"], &a["write_failed"]),
        (&Value::from(0), &Value::from(20))
    );
    eprintln!("live_faults: full disk: flows {f}; /dev/full: alerts {a}");
    // One window per process, each lost.
    let p = &s["outputs"]["processes"];
    assert_eq!(
        (&p["lines"], &p["written"]),
        (&Value::from(20), &Value::from(0)),
        "{p}"
    );
    assert_eq!(p["write_failed"], 20, "{p}");
    assert_eq!(count_lines(&stderr, "warning: flows output"), 1, "{stderr}");
    assert_eq!(
        count_lines(&stderr, "warning: alerts output /dev/full"),
        1,
        "{stderr}"
    );
    assert_eq!(
        count_lines(&stderr, "warning: processes output /dev/full"),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: lines not written: alerts 20, flows {}, processes 20",
            20 - kept
        )),
        "{stderr}"
    );
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A namespace holding a server and the far ends of veth pairs; removed
/// (with the pairs) on drop.
struct Net {
    ns: String,
    links: Vec<String>,
    _server: Option<(Killed, BufReader<std::process::ChildStdout>)>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for l in &self.links {
            let _ = Command::new("ip")
                .args(["link", "del", l])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// Port of the server inside the namespace.
const NS_PORT: u16 = 8080;

/// A namespace with one veth pair per name in `links`, pair `k` on
/// 198.19.(`first` + k).0/24 (this side .1, the namespace .2), and an HTTP
/// server on every address of the namespace. `None` where not allowed.
fn net(tag: &str, links: &[&str], first: u8, python: &Path) -> Option<Net> {
    let ns = format!("pf-faults-{tag}");
    let mut n = Net {
        ns: ns.clone(),
        links: Vec::new(),
        _server: None,
    };
    if !sh(&["ip", "netns", "add", &ns]) {
        return None;
    }
    for (k, l) in links.iter().enumerate() {
        let (peer, net) = (format!("{l}p"), first + k as u8);
        n.links.push(l.to_string());
        let exec = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", &ns];
            all.extend_from_slice(args);
            sh(&all)
        };
        let ok = sh(&[
            "ip", "link", "add", l, "type", "veth", "peer", "name", &peer,
        ]) && sh(&["ip", "link", "set", &peer, "netns", &ns])
            && sh(&["ip", "addr", "add", &format!("198.19.{net}.1/24"), "dev", l])
            && sh(&["ip", "link", "set", l, "up"])
            && exec(&[
                "ip",
                "addr",
                "add",
                &format!("198.19.{net}.2/24"),
                "dev",
                &peer,
            ])
            && exec(&["ip", "link", "set", &peer, "up"]);
        if !ok {
            return None;
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/slow_server.py");
    let mut server = Killed(
        Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(python)
            .arg(script)
            .args([&NS_PORT.to_string(), "0.0.0.0", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .ok()?,
    );
    // Its stdout stays open: it writes a line per connection.
    let mut out = BufReader::new(server.0.stdout.take()?);
    let mut ready = String::new();
    out.read_line(&mut ready).ok()?;
    n._server = Some((server, out));
    ready.contains("ready").then_some(n)
}

/// `k` POSTs to the namespace through pair `net`.
fn posts_via(net: u8, k: usize) -> Vec<u16> {
    let ip = format!("198.19.{net}.2");
    (0..k).map(|_| post(&ip, NS_PORT, 200, |_| {})).collect()
}

fn netns_setup() -> Option<(u32, PathBuf)> {
    if !is_root() {
        skip("live capture needs root");
        return None;
    }
    let Some(python) = which("python3") else {
        skip("python3 is needed");
        return None;
    };
    Some((std::process::id() % 100_000, python))
}

#[test]
fn an_interface_down_is_reported_and_the_others_keep_capturing() {
    let Some((tag, python)) = netns_setup() else {
        return;
    };
    let (a, b) = (format!("pfa{tag}"), format!("pfb{tag}"));
    let first = 1 + (tag % 100) as u8 * 2;
    let Some(_net) = net(&format!("two-{tag}"), &[&a, &b], first, &python) else {
        skip("network namespaces are not allowed here");
        return;
    };
    let dir = temp_dir("iface-down");
    let flows = dir.join("flows.jsonl");
    let metrics_port = free_port();
    let mut args: Vec<String> = vec!["-i".into(), a.clone(), "-i".into(), b.clone()];
    args.extend(["-f".into(), format!("tcp port {NS_PORT}")]);
    args.extend(["--flows".into(), flows.display().to_string()]);
    args.extend([
        "--stats".into(),
        dir.join("stats.json").display().to_string(),
    ]);
    args.extend(["--metrics".into(), format!("127.0.0.1:{metrics_port}")]);
    args.extend(["--stats-interval", "0", "--buffer-mb", "4"].map(String::from));
    let mut live = Live::start(&args);
    let down = || sample(&metrics(metrics_port), "procflow_interfaces_down");
    let (via_a, via_b) = (first, first + 1);
    let mut clients = posts_via(via_a, 2);
    clients.extend(posts_via(via_b, 2));

    assert!(sh(&["ip", "link", "set", &a, "down"]));
    let l = live.wait_for(&format!("interface {a} is down"), Duration::from_secs(10));
    assert!(l.contains("(1 of 2 interfaces capturing)"), "{l}");
    assert_eq!(down(), 1);
    clients.extend(posts_via(via_b, 2));

    assert!(sh(&["ip", "link", "set", &a, "up"]));
    live.wait_for(
        &format!("interface {a} is up again"),
        Duration::from_secs(10),
    );
    assert_eq!(down(), 0);
    clients.extend(posts_via(via_a, 2));

    assert!(sh(&["ip", "link", "del", &a]));
    let l = live.wait_for("no longer read", Duration::from_secs(10));
    assert!(
        l.contains(&format!("interface {a}:")) && l.contains("(1 of 2 interfaces capturing)"),
        "{l}"
    );
    until(Duration::from_secs(5), "the gauge says 1", || down() == 1);
    clients.extend(posts_via(via_b, 2));

    let (status, stderr) = live.stop(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    let flows = json_lines(&flows);
    assert_eq!(flows.len(), 10, "{stderr}");
    let mut ports: Vec<u64> = flows
        .iter()
        .map(|f| f["source"]["port"].as_u64().expect("port"))
        .collect();
    let mut want: Vec<u64> = clients.iter().map(|&p| u64::from(p)).collect();
    ports.sort_unstable();
    want.sort_unstable();
    assert_eq!(ports, want);
    assert!(
        flows.iter().all(|f| f["flow"]["payload_in"] == 85),
        "{flows:?}"
    );
    assert_eq!(stats(&dir)["interfaces_down"], 1);
    assert_eq!(count_lines(&stderr, "no longer read"), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_only_interface_deleted_ends_the_run_with_every_flow_written() {
    let Some((tag, python)) = netns_setup() else {
        return;
    };
    let c = format!("pfc{tag}");
    let first = 201 + (tag % 50) as u8;
    let Some(_net) = net(&format!("one-{tag}"), &[&c], first, &python) else {
        skip("network namespaces are not allowed here");
        return;
    };
    let dir = temp_dir("iface-gone");
    let flows = dir.join("flows.jsonl");
    let mut args: Vec<String> = vec!["-i".into(), c.clone()];
    args.extend(["-f".into(), format!("tcp port {NS_PORT}")]);
    args.extend(["--flows".into(), flows.display().to_string()]);
    args.extend(["--stats-interval", "0", "--buffer-mb", "4"].map(String::from));
    let live = Live::start(&args);
    let mut clients = posts_via(first, 3);
    assert!(sh(&["ip", "link", "del", &c]));
    let (status, stderr) = live.wait(Duration::from_secs(30));
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("every interface is down: capture ends"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: every interface went down"),
        "{stderr}"
    );
    let mut ports: Vec<u16> = json_lines(&flows)
        .iter()
        .map(|f| f["source"]["port"].as_u64().unwrap_or(0) as u16)
        .collect();
    ports.sort_unstable();
    clients.sort_unstable();
    assert_eq!(ports, clients, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
