//! `procflow live` on real traffic: two network namespaces joined by a
//! veth pair (the loopback interface where namespaces are not allowed), a
//! real HTTP server on the far side, real clients (curl, Python, and a copy
//! of curl in a hidden temporary folder posting 60 times) on this side,
//! sockets attributed from this host's /proc. The flows must name each
//! client's executable with exact bytes, AN0145 must fire for the custom
//! binary and for nothing else, metrics must be served, and SIGTERM must
//! lose no flow.
#![allow(clippy::indexing_slicing)]

mod common;

use common::live::free_ports;
use common::netns::Netns;
use common::{is_root, stderr_lines, which, Killed};

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn required() -> bool {
    std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_some()
}

/// The server's namespace and our end of its veth pair, or `None` where
/// they cannot be made.
fn netns(tag: u32) -> Option<Netns> {
    Netns::new(
        &format!("pf-srv-{tag}"),
        &format!("pfv{tag}"),
        ("198.18.99.1/24", "198.18.99.2/24"),
        None,
    )
}

fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn live_sidecar_attributes_real_clients_and_alerts_on_the_custom_one() {
    let (curl, python) = match (which("curl"), which("python3")) {
        (Some(c), Some(p)) => (c, p),
        found => {
            assert!(!required(), "curl and python3 are required: {found:?}");
            eprintln!("live: skipped: curl or python3 missing");
            return;
        }
    };
    if !is_root() {
        assert!(!required(), "live capture needs root");
        eprintln!("live: skipped: not root");
        return;
    }
    let tag = std::process::id() % 100_000;
    let dir = std::env::temp_dir().join(format!("procflow-live-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    let hidden = dir.join(".update");
    std::fs::create_dir_all(&hidden).expect("temp dir");
    let custom = hidden.join("sync-agent");
    std::fs::copy(&curl, &custom).expect("copy of curl");
    let custom = std::fs::canonicalize(&custom).expect("path");
    let config = dir.join("live.toml");
    // Only 10/8 is ours: the server (198.18.99.2, or 127.0.0.1) is outside.
    // Day-long windows: the traffic runs on the wall clock, and must not
    // straddle a window boundary (the window is judged at the end anyway).
    std::fs::write(
        &config,
        "home_net = [\"10.0.0.0/8\"]\nwindow_secs = 86400\n",
    )
    .expect("config");

    // PROCFLOW_TEST_LOOPBACK=1 takes the fallback on purpose.
    let net = if std::env::var_os("PROCFLOW_TEST_LOOPBACK").is_some() {
        None
    } else {
        netns(tag)
    };
    let (iface, server_ip) = match &net {
        Some(n) => (n.veth.clone(), "198.18.99.2"),
        None => {
            eprintln!("live: network namespaces not allowed here: using the loopback interface");
            ("lo".to_string(), "127.0.0.1")
        }
    };
    let [port, metrics_port] = free_ports(2)[..] else {
        unreachable!("two ports asked for")
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/slow_server.py");
    let mut server_cmd = match &net {
        Some(n) => n.cmd(&python),
        None => Command::new(&python),
    };
    let mut server = Killed(
        server_cmd
            .arg(&script)
            .arg(port.to_string())
            .arg(server_ip)
            .arg("100")
            .stdout(Stdio::piped())
            .spawn()
            .expect("server starts"),
    );
    let mut server_out = BufReader::new(server.0.stdout.take().expect("stdout"));
    let mut ready = String::new();
    server_out.read_line(&mut ready).expect("server ready");
    assert!(ready.contains("ready"), "{ready}");

    let (alerts, flows) = (dir.join("alerts.jsonl"), dir.join("flows.jsonl"));
    let mut live = Killed(
        Command::new(env!("CARGO_BIN_EXE_procflow"))
            .args([
                "live",
                "-i",
                &iface,
                "-f",
                &format!("tcp port {port}"),
                "--procfs",
            ])
            .args(["--config", config.to_str().expect("path")])
            .args(["--alerts", alerts.to_str().expect("path")])
            .args(["--flows", flows.to_str().expect("path")])
            .args(["--pcap-out", dir.join("pcaps").to_str().expect("path")])
            .args(["--metrics", &format!("127.0.0.1:{metrics_port}")])
            .args(["--stats-interval", "1"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("procflow live starts"),
    );
    let (rx, reader) = stderr_lines(&mut live.0);
    let began = Instant::now();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("procflow live says it is capturing");
        if line.contains("procflow: live on") {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(20), "{line}");
    }

    let url = format!("http://{server_ip}:{port}");
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("client runs");
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for i in 0..3 {
        run(Command::new(&curl).args(["-s", "-o", "/dev/null", &format!("{url}/get/{i}")]));
    }
    for i in 0..2 {
        run(Command::new(&python).args([
            "-c",
            &format!("import urllib.request; urllib.request.urlopen('{url}/py/{i}').read()"),
        ]));
    }
    // The custom binary: 60 small POSTs, six at a time.
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (custom, url) = (custom.clone(), url.clone());
            std::thread::spawn(move || {
                for i in 0..10 {
                    let out = Command::new(&custom)
                        .args([
                            "-s",
                            "-o",
                            "/dev/null",
                            "-d",
                            &"m".repeat(300),
                            &format!("{url}/report/{w}/{i}"),
                        ])
                        .output()
                        .expect("custom client runs");
                    assert!(out.status.success());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("posts done");
    }
    // Metrics while running.
    let mut m = std::net::TcpStream::connect(("127.0.0.1", metrics_port)).expect("metrics listen");
    m.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").expect("ask");
    let mut text = String::new();
    m.read_to_string(&mut text).expect("answer");
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let packets: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("procflow_packets_total "))
        .and_then(|v| v.parse().ok())
        .expect("packets counter");
    assert!(packets > 0, "{text}");

    // What the server saw, then SIGTERM: every flow must be written.
    std::thread::sleep(Duration::from_millis(300));
    let pid = live.0.id() as i32;
    assert!(Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill")
        .success());
    let status = live.0.wait().expect("procflow exits");
    let stderr = reader.join().expect("stderr");
    assert!(status.success(), "{stderr}");
    let poller = stderr
        .lines()
        .find(|l| l.starts_with("procflow: /proc poller: "))
        .unwrap_or_else(|| panic!("the /proc source reports at the end:\n{stderr}"));
    assert!(
        poller.contains(", 0 dropped at a full queue, 0 sockets not tracked"),
        "{poller}"
    );
    drop(server);
    let mut served = Vec::new();
    for line in server_out.lines().map_while(Result::ok) {
        let v: Value = serde_json::from_str(&line).expect("server line");
        served.push(v);
    }
    assert_eq!(served.len(), 65, "every connection served");

    let flows = lines(&flows);
    assert_eq!(
        flows.len(),
        65,
        "every flow written after SIGTERM:\n{stderr}"
    );
    let python_real = {
        let out = Command::new(&python)
            .args([
                "-c",
                "import os, sys; print(os.path.realpath(sys.executable))",
            ])
            .output()
            .expect("python");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let mut by_exe = std::collections::BTreeMap::<String, usize>::new();
    for s in &served {
        let port = s["port"].as_u64().expect("port");
        // A port may come round again for a later client: the flow from it
        // that carried exactly what this client sent and was sent.
        let f = flows
            .iter()
            .find(|f| {
                f["source"]["port"] == port
                    && f["flow"]["payload_out"] == s["received"]
                    && f["flow"]["payload_in"] == s["sent"]
            })
            .unwrap_or_else(|| panic!("no flow for client port {port} with {s}"));
        assert_eq!(f["attribution"]["quality"], "exact", "{f}\n{stderr}");
        let exe = f["process"]["executable"]
            .as_str()
            .expect("exe")
            .to_string();
        let uri = f["http"][0]["uri"].as_str().expect("uri");
        let want = if uri.starts_with("/get/") {
            curl.display().to_string()
        } else if uri.starts_with("/py/") {
            python_real.clone()
        } else {
            custom.display().to_string()
        };
        assert_eq!(exe, want, "{f}");
        *by_exe.entry(exe).or_default() += 1;
    }
    assert_eq!(by_exe[&custom.display().to_string()], 60);

    let alerts = lines(&alerts);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["rule"], "AN0145");
    assert_eq!(a["process"]["executable"], custom.display().to_string());
    assert_eq!(a["destination"]["ip"], server_ip);
    assert_eq!(a["destination"]["port"], port);
    assert_eq!(a["metrics"]["http_connections"], 60);
    assert_eq!(a["metrics"]["http_requests"], 60);
    // --pcap-out: the alert's pcap holds exactly its listed flows.
    let pcaps: Vec<PathBuf> = std::fs::read_dir(dir.join("pcaps"))
        .expect("pcap dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(pcaps.len(), 1, "{pcaps:?}");
    let back = Command::new(env!("CARGO_BIN_EXE_procflow"))
        .args(["flows", "--no-progress"])
        .arg(&pcaps[0])
        .output()
        .expect("procflow flows");
    let mut got: Vec<String> = String::from_utf8_lossy(&back.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            v["community_id"].as_str().expect("id").to_string()
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = a["community_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_string())
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(
        stderr.contains("procflow: live "),
        "a statistics line: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn live_drops_root_once_the_interface_is_open() {
    if !is_root() {
        assert!(!required(), "live capture needs root");
        eprintln!("live: skipped: not root");
        return;
    }
    let mut live = Killed(
        Command::new(env!("CARGO_BIN_EXE_procflow"))
            .args([
                "live",
                "-i",
                "lo",
                "-f",
                "tcp port 9",
                "--user",
                "nobody",
                "--stats-interval",
                "0",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .expect("procflow live starts"),
    );
    let err = live.0.stderr.take().expect("stderr");
    let mut lines = BufReader::new(err).lines().map_while(Result::ok);
    assert!(
        lines
            .by_ref()
            .any(|l| l.contains("procflow: running as nobody")),
        "says it dropped root"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", live.0.id())).expect("status");
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line")
        .to_string();
    let nobody = Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .expect("id");
    let nobody = String::from_utf8_lossy(&nobody.stdout).trim().to_string();
    for field in uid.split_whitespace().skip(1) {
        assert_eq!(field, nobody, "{uid}");
    }
    assert!(Command::new("kill")
        .args(["-TERM", &live.0.id().to_string()])
        .status()
        .expect("kill")
        .success());
    assert!(live.0.wait().expect("exit").success());
}
