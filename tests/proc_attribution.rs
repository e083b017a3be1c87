//! Real traffic, real processes: a server and clients on loopback, packets
//! recorded through libpcap (tcpdump), the feed built from what this host's
//! /proc says about the sockets (`procflow sockets`). `procflow read` must
//! name each client's executable and count its bytes exactly.
#![allow(clippy::indexing_slicing)]

mod common;

use common::{which, Killed};

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Tools this test needs; CI installs them and sets PROCFLOW_REQUIRE_TOOLS,
/// so there a missing tool fails the test instead of skipping it.
fn tools() -> Option<(PathBuf, PathBuf, PathBuf)> {
    // python3 may be a launcher script (pyenv): ask it for the real binary.
    let python = which("python3").and_then(|p| {
        let out = Command::new(p)
            .args([
                "-c",
                "import os, sys; print(os.path.realpath(sys.executable))",
            ])
            .output()
            .ok()?;
        Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    let found = (which("tcpdump"), which("curl"), python);
    match found {
        (Some(t), Some(c), Some(p)) => Some((t, c, p)),
        _ => {
            assert!(
                std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_none(),
                "tcpdump, curl and python3 are required: {found:?}"
            );
            eprintln!("proc_attribution: skipped: tcpdump, curl or python3 missing ({found:?})");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("client runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn proc_feed_names_each_client_with_exact_bytes() {
    let Some((tcpdump, curl, python)) = tools() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("procflow-proc-{}", std::process::id()));
    let hidden = dir.join(".cache");
    std::fs::create_dir_all(&hidden).expect("temp dir");
    let beacon = hidden.join("beacon");
    std::fs::copy(&curl, &beacon).expect("copy of curl");
    let (cap, feed) = (dir.join("cap.pcap"), dir.join("feed.jsonl"));
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");

    let server_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/slow_server.py");
    let mut server = Killed(
        Command::new(&python)
            .arg(&server_script)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("server starts"),
    );
    let mut server_out = BufReader::new(server.0.stdout.take().expect("server stdout"));
    let mut line = String::new();
    server_out.read_line(&mut line).expect("server ready line");
    assert!(line.contains("ready"), "{line}");

    let mut dump = Killed(
        Command::new(&tcpdump)
            .args(["-i", "lo", "--immediate-mode", "-U", "-s", "0", "-w"])
            .arg(&cap)
            .arg(format!("tcp port {port}"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump starts"),
    );
    let mut dump_err = BufReader::new(dump.0.stderr.take().expect("tcpdump stderr"));
    line.clear();
    dump_err
        .read_line(&mut line)
        .expect("tcpdump says it listens");
    assert!(line.contains("listening"), "tcpdump: {line}");
    let poller = Killed(
        Command::new(env!("CARGO_BIN_EXE_procflow"))
            .args(["sockets", "--interval-ms", "10", "--out"])
            .arg(&feed)
            .spawn()
            .expect("poller starts"),
    );
    std::thread::sleep(Duration::from_millis(200));

    // The clients, one after another (the server answers one at a time).
    let mut clients: Vec<PathBuf> = Vec::new();
    run_ok(
        Command::new(&curl)
            .args(["-s", "-o", "/dev/null"])
            .arg(format!("{url}/data")),
    );
    clients.push(curl.clone());
    run_ok(Command::new(&python).arg("-c").arg(format!(
        "import urllib.request; urllib.request.urlopen('{url}/data').read()"
    )));
    clients.push(python.clone());
    for i in 0..5 {
        let body = format!("id={i}&{}", "a".repeat(300));
        run_ok(
            Command::new(&beacon)
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-X",
                    "POST",
                    "--data-binary",
                    &body,
                ])
                .arg(format!("{url}/report")),
        );
        clients.push(beacon.clone());
    }
    std::thread::sleep(Duration::from_millis(300));
    // SIGTERM lets tcpdump write out what it holds.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(dump.0.id().to_string())
        .status();
    let _ = dump.0.wait();
    drop(poller);

    let mut served: Vec<Value> = Vec::new();
    for _ in 0..clients.len() {
        line.clear();
        server_out.read_line(&mut line).expect("server log");
        served.push(serde_json::from_str(&line).expect("server JSON"));
    }
    drop(server);

    let r = common::read(&[
        &cap.display().to_string(),
        "--feed",
        &feed.display().to_string(),
    ]);
    let ports: Vec<&Value> = r.flows.iter().map(|f| &f["source"]["port"]).collect();
    assert_eq!(
        r.flows.len(),
        clients.len(),
        "{ports:?} {served:?} {}",
        r.run.stderr
    );
    for (s, exe) in served.iter().zip(&clients) {
        let cport = s["port"].as_u64().expect("port");
        let f = r
            .flows
            .iter()
            .find(|f| f["source"]["port"] == cport)
            .unwrap_or_else(|| panic!("flow from port {cport}"));
        assert_eq!(f["attribution"]["quality"], "exact", "{f}");
        assert_eq!(f["process"]["executable"], exe.display().to_string(), "{f}");
        assert_eq!(f["flow"]["payload_out"], s["received"], "{f}");
        assert_eq!(f["flow"]["payload_in"], s["sent"], "{f}");
        assert_eq!(f["flow"]["missed_bytes"], 0, "{f}");
        // The server's accepted socket is in /proc too.
        assert_eq!(
            f["attribution"]["server"]["process"]["executable"],
            python.display().to_string(),
            "{f}"
        );
    }
    // The beacon's five connections make one process window, or two when
    // the run straddles a window boundary of the wall clock.
    let windows: Vec<&Value> = r
        .processes
        .iter()
        .filter(|w| w["process"]["executable"] == beacon.display().to_string())
        .collect();
    assert!(matches!(windows.len(), 1 | 2), "{windows:?}");
    let sum = |k: &str| -> u64 {
        windows
            .iter()
            .map(|w| w["metrics"][k].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(sum("connections"), 5);
    assert_eq!(sum("http_requests"), 5);
    let pids: std::collections::BTreeSet<u64> = windows
        .iter()
        .flat_map(|w| w["process"]["pid"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p.as_u64())
        .collect();
    assert_eq!(pids.len(), 5);
    let _ = std::fs::remove_dir_all(&dir);
}
