//! `procflow live` with this host's sockets from the kernel (eBPF), on real
//! traffic through two network namespaces joined to this one by veth
//! pairs: a server namespace (HTTP over IPv4 and IPv6, a DNS responder)
//! and a client namespace.
//!
//! - a copy of curl in a temporary folder posts 400 times and a Python
//!   client makes 200 GETs: every flow (at least 99.5 %) is attributed
//!   `exact` to the right executable and pid, and AN0145 fires once, for
//!   the copy;
//! - a shell script starts a client that connects once and exits at once:
//!   attributed, with its parent;
//! - curl inside the client namespace: attributed, with that namespace;
//! - an IPv6 GET and a DNS query over UDP: attributed;
//! - where eBPF cannot load (a user without CAP_BPF), `auto` falls back to
//!   /proc and says why, and `--ebpf` fails in one line.
#![allow(clippy::indexing_slicing)]

mod common;

use common::live::{json_lines, Live};
use common::netns::Netns;
use common::{is_root, which, Killed};
use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn required() -> bool {
    std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_some()
}

/// Starts a server that prints one JSON line when ready; it and its stdout.
fn start_server(mut c: Command) -> (Killed, BufReader<std::process::ChildStdout>) {
    let mut k = Killed(c.stdout(Stdio::piped()).spawn().expect("server starts"));
    let mut out = BufReader::new(k.0.stdout.take().expect("stdout"));
    let mut ready = String::new();
    out.read_line(&mut ready).expect("server ready");
    assert!(ready.contains("ready"), "{ready}");
    (k, out)
}

/// Runs a client to the end; its stdout, which must be one JSON line.
fn client(c: &mut Command) -> Value {
    let out = c.output().expect("client runs");
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{c:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

struct Tools {
    curl: PathBuf,
    python: PathBuf,
    bash: PathBuf,
}

fn tools(test: &str) -> Option<Tools> {
    // Debian's python3, not a pyenv shim: its path is the executable.
    let python = Path::new("/usr/bin/python3");
    let found = (which("curl"), python.is_file(), which("bash"));
    match found {
        (Some(curl), true, Some(bash)) if is_root() => Some(Tools {
            curl,
            python: std::fs::canonicalize(python).expect("python path"),
            bash,
        }),
        _ => {
            assert!(
                !required(),
                "{test}: root, curl, /usr/bin/python3 and bash are required"
            );
            eprintln!("{test}: skipped: needs root, curl, /usr/bin/python3 and bash");
            None
        }
    }
}

fn support(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

#[test]
fn kernel_source_attributes_every_connection_however_short() {
    let Some(t) = tools("ebpf") else { return };
    let tag = std::process::id() % 10_000;
    let srv = Netns::new(
        &format!("pf-es-{tag}"),
        &format!("pfes{tag}"),
        ("198.18.96.1/24", "198.18.96.2/24"),
        Some(("fd00:96::1/64", "fd00:96::2/64")),
    );
    let cli = Netns::new(
        &format!("pf-ec-{tag}"),
        &format!("pfec{tag}"),
        ("198.18.95.1/24", "198.18.95.2/24"),
        None,
    );
    let (Some(srv), Some(cli)) = (srv, cli) else {
        assert!(!required(), "network namespaces are required");
        eprintln!("ebpf: skipped: network namespaces cannot be made here");
        return;
    };
    let dir = std::env::temp_dir().join(format!("procflow-ebpf-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".cache")).expect("temp dir");
    let custom = dir.join(".cache/updater");
    std::fs::copy(&t.curl, &custom).expect("copy of curl");
    let config = dir.join("live.toml");
    std::fs::write(
        &config,
        "home_net = [\"10.0.0.0/8\"]\nwindow_secs = 86400\n",
    )
    .expect("config");

    // Servers: HTTP on IPv4 and IPv6 and a DNS responder in the server
    // namespace; plain HTTP in this one, for the client namespace.
    let port = 18_500 + (tag % 1000) as u16;
    let server = |addr: &str| {
        let mut c = srv.cmd(&t.python);
        c.arg(support("slow_server.py"))
            .arg(port.to_string())
            .arg(addr)
            .arg("0");
        start_server(c)
    };
    let (_http4, _out4) = server("198.18.96.2");
    let (_http6, _out6) = server("fd00:96::2");
    let mut dns_cmd = srv.cmd(&t.python);
    dns_cmd
        .arg(support("clients.py"))
        .args(["responder", "198.18.96.2", "53"]);
    let (_dns, _dns_out) = start_server(dns_cmd);
    let local_port = common::live::server("198.18.95.1");

    let (alerts, flows) = (dir.join("alerts.jsonl"), dir.join("flows.jsonl"));
    let metrics_port = common::live::free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let args: Vec<String> = [
        "--metrics",
        &metrics_addr,
        "-i",
        &srv.veth,
        "-i",
        &cli.veth,
        "--ebpf",
        "--config",
        config.to_str().expect("path"),
        "--alerts",
        alerts.to_str().expect("path"),
        "--flows",
        flows.to_str().expect("path"),
        "--stats-interval",
        "0",
    ]
    .map(String::from)
    .to_vec();
    let mut live = Live::start(&args);
    live.wait_for("local sockets from the kernel", Duration::from_secs(1));

    // Who made each connection: (local port, executable, pid). A port may
    // come round again for a later client, so this is a list, not a map.
    let mut want: Vec<(u64, PathBuf, u64)> = Vec::new();
    let url = format!("http://198.18.96.2:{port}");
    // A beacon's report: a few hundred bytes out, "ok" back.
    let report = format!("report={}", "A".repeat(250));
    for i in 0..400 {
        let child = Command::new(&custom)
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{local_port}",
                "-d",
                &report,
            ])
            .arg(format!("{url}/post/{i}"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl starts");
        let pid = u64::from(child.id());
        let out = child.wait_with_output().expect("curl ends");
        assert!(out.status.success(), "curl {i}");
        let p: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("local port");
        want.push((p, custom.clone(), pid));
    }
    let py = client(Command::new(&t.python).arg(support("clients.py")).args([
        "gets",
        "198.18.96.2",
        &port.to_string(),
        "200",
    ]));
    for p in py["ports"].as_array().expect("ports") {
        want.push((
            p.as_u64().expect("port"),
            t.python.clone(),
            py["pid"].as_u64().expect("pid"),
        ));
    }
    // A client that connects once and exits at once, started by a script.
    let script = dir.join("quick.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$\n{} -c 'exec 3<>/dev/tcp/198.18.96.2/{port} && printf \"GET /quick HTTP/1.0\\r\\n\\r\\n\" >&3'\n",
            t.bash.display()
        ),
    )
    .expect("script");
    let out = Command::new("/bin/sh")
        .arg(&script)
        .output()
        .expect("script runs");
    // A program deleted after it started, before it connects.
    let doomed = dir.join("doomed");
    std::fs::copy(&t.bash, &doomed).expect("copy of bash");
    let mut gone = Command::new(&doomed)
        .arg("-c")
        .arg(format!(
            "sleep 0.3; exec 3<>/dev/tcp/198.18.96.2/{port} && printf 'GET /deleted HTTP/1.0\\r\\n\\r\\n' >&3"
        ))
        .spawn()
        .expect("doomed starts");
    std::thread::sleep(Duration::from_millis(100));
    std::fs::remove_file(&doomed).expect("deleted");
    assert!(gone.wait().expect("doomed ends").success());
    let script_pid: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("script pid");
    // curl inside the client namespace, to this one.
    let ns_out = cli
        .cmd(&t.curl)
        .args(["-s", "-o", "/dev/null", "-w", "%{local_port}"])
        .arg(format!("http://198.18.95.1:{local_port}/from-namespace"))
        .output()
        .expect("curl in the namespace");
    let ns_port: u64 = String::from_utf8_lossy(&ns_out.stdout)
        .trim()
        .parse()
        .expect("port");
    let v6 = client(Command::new(&t.python).arg(support("clients.py")).args([
        "gets",
        "fd00:96::2",
        &port.to_string(),
        "1",
    ]));
    let dns = client(Command::new(&t.python).arg(support("clients.py")).args([
        "dns",
        "198.18.96.2",
        "53",
    ]));

    std::thread::sleep(Duration::from_millis(500));
    let m = common::live::metrics(metrics_port);
    assert!(common::live::sample(&m, "procflow_ebpf_socket_events_total") >= 1200);
    assert_eq!(common::live::sample(&m, "procflow_ebpf_lost_total"), 0);
    assert_eq!(
        common::live::sample(&m, "procflow_source_events_lost_total"),
        0
    );
    let (status, stderr) = live.stop(Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    let flows = json_lines(&flows);
    // A flow by its source port and destination: ports come round again,
    // and the namespace has its own.
    let by_port = |p: u64, ip: &str, dport: u64| -> Option<&Value> {
        flows.iter().find(|f| {
            f["source"]["port"].as_u64() == Some(p)
                && f["destination"]["ip"] == ip
                && f["destination"]["port"].as_u64() == Some(dport)
        })
    };

    // The 600 connections of the two clients: exact, right executable, right
    // pid. Where a port served two clients, one flow from it is each's.
    let mut right = 0;
    for (p, exe, pid) in &want {
        let from_port: Vec<&Value> = flows
            .iter()
            .filter(|f| f["source"]["port"].as_u64() == Some(*p))
            .collect();
        assert!(!from_port.is_empty(), "no flow from port {p}\n{stderr}");
        let is_right = |f: &&&Value| {
            f["attribution"]["quality"] == "exact"
                && f["process"]["executable"] == exe.display().to_string()
                && f["process"]["pid"].as_u64() == Some(*pid)
        };
        match from_port.iter().find(is_right) {
            Some(_) => right += 1,
            None => eprintln!("not attributed right: {from_port:?}"),
        }
    }
    let reused = want.len() - want.iter().map(|w| w.0).collect::<HashSet<_>>().len();
    eprintln!(
        "ebpf: {right} of {} connections attributed exact to the right executable and pid ({reused} ports used twice)",
        want.len()
    );
    assert_eq!(want.len(), 600);
    assert!(right * 1000 >= 995 * want.len(), "{right} of 600\n{stderr}");

    // The quick client: bash, child of the script.
    let quick = flows
        .iter()
        .find(|f| f["http"][0]["uri"] == "/quick")
        .unwrap_or_else(|| panic!("the quick client's flow\n{stderr}"));
    assert_eq!(quick["attribution"]["quality"], "exact", "{quick}");
    assert_eq!(
        quick["process"]["executable"],
        t.bash.display().to_string(),
        "{quick}"
    );
    assert_eq!(
        quick["process"]["parent"]["pid"].as_u64(),
        Some(script_pid),
        "{quick}"
    );

    let f = flows
        .iter()
        .find(|f| f["http"][0]["uri"] == "/deleted")
        .unwrap_or_else(|| panic!("the deleted program's flow\n{stderr}"));
    assert_eq!(
        f["process"]["executable"],
        doomed.display().to_string(),
        "{f}"
    );
    assert_eq!(f["process"]["executable_deleted"], true, "{f}");

    // The client in its own namespace.
    let f = by_port(ns_port, "198.18.95.1", u64::from(local_port))
        .unwrap_or_else(|| panic!("namespace flow\n{stderr}"));
    assert_eq!(f["attribution"]["quality"], "exact", "{f}");
    assert_eq!(
        f["process"]["executable"],
        t.curl.display().to_string(),
        "{f}"
    );
    assert_eq!(f["process"]["netns"].as_u64(), Some(cli.inode()), "{f}");
    assert!(f["process"]["cgroup_id"].as_u64().is_some(), "{f}");

    // IPv6 and UDP.
    let f = by_port(
        v6["ports"][0].as_u64().expect("port"),
        "fd00:96::2",
        u64::from(port),
    )
    .expect("IPv6 flow");
    assert_eq!(f["destination"]["ip"], "fd00:96::2", "{f}");
    assert_eq!(f["attribution"]["quality"], "exact", "{f}");
    assert_eq!(f["process"]["pid"].as_u64(), v6["pid"].as_u64(), "{f}");
    let f = by_port(dns["ports"][0].as_u64().expect("port"), "198.18.96.2", 53).expect("DNS flow");
    assert_eq!(f["network"]["transport"], "udp", "{f}");
    assert_eq!(
        f["process"]["executable"],
        t.python.display().to_string(),
        "{f}"
    );
    assert_eq!(f["process"]["pid"].as_u64(), dns["pid"].as_u64(), "{f}");

    // One AN0145 alert, for the copy in the temporary folder.
    let alerts = json_lines(&alerts);
    let ours: Vec<&Value> = alerts.iter().filter(|a| a["rule"] == "AN0145").collect();
    assert_eq!(ours.len(), 1, "{alerts:?}\n{stderr}");
    assert_eq!(
        ours[0]["process"]["executable"],
        custom.display().to_string()
    );
    assert_eq!(ours[0]["metrics"]["http_connections"], 400);
    assert!(stderr.contains(" 0 lost in the kernel"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_bpf_privileges_auto_falls_back_to_proc_and_says_why() {
    let Some(_) = tools("ebpf fallback") else {
        return;
    };
    let Some(setpriv) = which("setpriv") else {
        assert!(!required(), "setpriv (util-linux) is required");
        eprintln!("ebpf fallback: skipped: no setpriv");
        return;
    };
    // A user who may capture (CAP_NET_RAW) but not load eBPF programs.
    let run = |mode: &str| {
        let began = Instant::now();
        let out = Command::new(&setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args([
                "--inh-caps=+net_raw,+net_admin",
                "--ambient-caps=+net_raw,+net_admin",
            ])
            .arg(env!("CARGO_BIN_EXE_procflow"))
            .args([
                "live",
                "-i",
                "lo",
                "--local-sockets",
                mode,
                "--duration",
                "1",
                "--stats-interval",
                "0",
            ])
            .output()
            .expect("procflow runs");
        assert!(began.elapsed() < Duration::from_secs(30));
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, stderr) = run("auto");
    assert!(status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("procflow: local sockets from /proc polling: eBPF unavailable: "))
        .unwrap_or_else(|| panic!("the fallback is said:\n{stderr}"));
    assert!(line.contains("not permitted"), "{line}");
    let (status, stderr) = run("ebpf");
    assert!(!status.success(), "{stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("procflow: error: --ebpf: not permitted"),
        "{stderr}"
    );
}
