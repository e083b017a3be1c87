//! `procflow live` attributing from an endpoint agent that streams its
//! socket events over `--feed-listen` with a TLS client certificate; a peer
//! without a certificate is refused and nothing it sent is used. The
//! traffic is real (curl from chosen local ports to a server on loopback).
#![allow(clippy::indexing_slicing)]

mod common;

use common::certs::certificates;
use common::live::{free_port, free_ports};
use common::{is_root, stderr_lines, which, Killed};

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn rfc3339_now() -> String {
    let us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64;
    capture::time::rfc3339(us)
}

#[test]
fn streamed_feed_over_tls_attributes_and_a_peer_without_certificate_is_refused() {
    let required = std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_some();
    let (Some(curl), Some(python), Some(_)) = (which("curl"), which("python3"), which("openssl"))
    else {
        assert!(!required, "curl, python3 and openssl are required");
        eprintln!("live_feeds: skipped: curl, python3 or openssl missing");
        return;
    };
    if !is_root() {
        assert!(!required, "live capture needs root");
        eprintln!("live_feeds: skipped: not root");
        return;
    }
    let tag = std::process::id() % 10_000;
    let dir = std::env::temp_dir().join(format!("procflow-live-feeds-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    certificates(&dir);
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/slow_server.py");
    let mut server = Killed(
        Command::new(&python)
            .arg(&script)
            .args([&port.to_string(), "127.0.0.1", "50"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("server"),
    );
    let mut server_out = BufReader::new(server.0.stdout.take().expect("stdout"));
    let mut ready = String::new();
    server_out.read_line(&mut ready).expect("ready");
    assert!(
        ready.contains("ready"),
        "the test server did not start: {ready:?}"
    );

    let flows = dir.join("flows.jsonl");
    let stats = dir.join("stats.json");
    let p = |n: &str| dir.join(n).display().to_string();
    let mut live = Killed(
        Command::new(env!("CARGO_BIN_EXE_procflow"))
            .args(["live", "-i", "lo", "-f", &format!("tcp port {port}")])
            .args(["--feed-listen", "127.0.0.1:0"])
            .args([
                "--tls-cert",
                &p("server.pem"),
                "--tls-key",
                &p("server.key"),
                "--tls-client-ca",
                &p("ca.pem"),
            ])
            .args([
                "--flows",
                flows.to_str().expect("path"),
                "--stats",
                stats.to_str().expect("path"),
            ])
            .args(["--stats-interval", "0"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("procflow live"),
    );
    let (rx, reader) = stderr_lines(&mut live.0);
    let mut feed_port = None;
    while feed_port.is_none() || !rx.try_iter().any(|l| l.contains("procflow: live on")) {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("procflow starts");
        if let Some(a) = line.strip_prefix("procflow: feed listener on ") {
            feed_port = a.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
        }
        if line.contains("procflow: live on") && feed_port.is_some() {
            break;
        }
    }
    let feed_port = feed_port.expect("listener port");
    let event = |local_port: u16, exe: &str| {
        serde_json::json!({
            "ts": rfc3339_now(), "host": "agent-host", "os": "linux", "event": "connect",
            "proto": "tcp", "src_ip": "127.0.0.1", "src_port": local_port,
            "dst_ip": "127.0.0.1", "dst_port": port, "pid": 4242, "process": exe,
        })
        .to_string()
    };
    // Ports bindable now: a fixed port may still be held by an earlier
    // connection in TIME_WAIT, and curl would fail to bind it.
    let ports = free_ports(4);
    let local = [ports[0], ports[1], ports[2]];
    let rogue_port = ports[3];
    let send = |with_cert: bool, lines: &[String]| {
        let mut cmd = Command::new("openssl");
        cmd.args([
            "s_client",
            "-quiet",
            "-no_ign_eof",
            "-connect",
            &format!("127.0.0.1:{feed_port}"),
            "-CAfile",
            &p("ca.pem"),
        ]);
        if with_cert {
            cmd.args(["-cert", &p("client.pem"), "-key", &p("client.key")]);
        }
        let mut c = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s_client");
        let mut stdin = c.stdin.take().expect("stdin");
        for l in lines {
            let _ = writeln!(stdin, "{l}");
        }
        let _ = stdin.flush();
        std::thread::sleep(Duration::from_millis(500));
        drop(stdin);
        let _ = c.wait();
    };
    // The agent names three connections; a peer without a certificate
    // claims the fourth.
    send(
        true,
        &local
            .iter()
            .map(|&p| event(p, "/opt/agent/app"))
            .collect::<Vec<_>>(),
    );
    send(false, &[event(rogue_port, "/evil/binary")]);
    for lp in local.iter().chain(std::iter::once(&rogue_port)) {
        let out = Command::new(&curl)
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "--local-port",
                &lp.to_string(),
                &format!("http://127.0.0.1:{port}/x"),
            ])
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl from local port {lp}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill")
        .args(["-TERM", &live.0.id().to_string()])
        .status()
        .expect("kill")
        .success());
    let status = live.0.wait().expect("exit");
    let stderr = reader.join().expect("stderr");
    assert!(status.success(), "{stderr}");

    let flows: Vec<Value> = std::fs::read_to_string(&flows)
        .expect("flows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(flows.len(), 4, "{stderr}");
    for f in &flows {
        let sport = f["source"]["port"].as_u64().expect("port") as u16;
        if sport == rogue_port {
            assert_eq!(f["attribution"]["quality"], "none", "{f}");
        } else {
            assert!(local.contains(&sport), "{f}");
            assert_eq!(f["attribution"]["quality"], "exact", "{f}\n{stderr}");
            assert_eq!(f["process"]["executable"], "/opt/agent/app");
            assert_eq!(f["host"]["name"], "agent-host");
        }
    }
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("json");
    assert_eq!(s["listener"]["totals"]["events"], 3, "{s}");
    assert!(
        s["listener"]["auth_failed"].as_u64().expect("count") >= 1,
        "{s}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The listener's limits come from the configuration's `[listener]`: a
/// line over `max_line` is a bad line, a connection past
/// `max_connections` is refused.
#[test]
fn listener_limits_come_from_the_configuration() {
    let required = std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_some();
    if !is_root() {
        assert!(!required, "live capture needs root");
        eprintln!("live_feeds: skipped: not root");
        return;
    }
    let dir = std::env::temp_dir().join(format!("procflow-listener-cfg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("live.toml");
    std::fs::write(&config, "[listener]\nmax_line = 300\nmax_connections = 1\n").expect("config");
    let port = free_port();
    let args: Vec<String> = [
        "-i",
        "lo",
        "-f",
        &format!("tcp port {port}"),
        "--feed-listen",
        "127.0.0.1:0",
        "--config",
        &config.display().to_string(),
        "--stats-interval",
        "0",
    ]
    .map(String::from)
    .to_vec();
    let mut live = common::live::Live::start(&args);
    let line = live.wait_for("procflow: feed listener on ", Duration::from_secs(10));
    let addr = line.trim().rsplit(' ').next().expect("address").to_string();
    let mut first = std::net::TcpStream::connect(&addr).expect("first agent connects");
    let event = common::live::feed_line(40_000, port, "/usr/bin/agent-cfg");
    assert!(event.len() < 300, "{}", event.len());
    writeln!(first, "{event}").expect("line");
    writeln!(first, "{}", "x".repeat(400)).expect("long line");
    first.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(500));
    // A second agent while the first holds the only place.
    let mut second = std::net::TcpStream::connect(&addr).expect("second agent connects");
    let _ = writeln!(second, "{event}");
    std::thread::sleep(Duration::from_millis(500));
    drop(second);
    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    let (status, err) = live.stop(Duration::from_secs(30));
    assert!(status.success(), "{err}");
    assert!(err.contains("1 refused at the cap"), "{err}");
    assert!(
        err.contains("2 lines, 1 socket events, 1 bad lines"),
        "{err}"
    );
}
