//! Traffic through a real forward proxy (tinyproxy) on loopback, seen by
//! `procflow live` while tcpdump records the same packets, then the
//! recording read back by `procflow flows` and `procflow read`:
//!
//! - HTTP inside a CONNECT tunnel (a hand-written client with exact bytes,
//!   and curl `--proxytunnel`) is read as HTTP, transaction by transaction;
//! - a forward-proxied GET (absolute URI) and TLS inside a CONNECT tunnel;
//! - curl's h2c upgrade to a server that answers 101: the stream is handed
//!   over after the 101 and its bytes still counted.
//!
//! The three modes must give the same flows, and live capture must take no
//! packet for one from the past.
#![allow(clippy::indexing_slicing)]

mod common;

use common::live::{free_port, json_lines, Live, RESPONSE};
use common::{is_root, procflow, read, which, Killed};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the origin answers to a request asking for an h2c upgrade.
const SWITCH: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";

fn required() -> bool {
    std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_some()
}

/// Reads until the end of a message head; the bytes read.
fn read_head(c: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match c.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => break,
        }
    }
    got
}

/// The origin server: 101 to an h2c upgrade (then it reads what the client
/// sends for a moment, and closes), [`RESPONSE`] to anything else.
fn origin() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("origin binds");
    let port = l.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut c in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                let head = String::from_utf8_lossy(&read_head(&mut c)).to_ascii_lowercase();
                if head.contains("upgrade: h2c") {
                    let _ = c.write_all(SWITCH);
                    let mut sink = [0u8; 4096];
                    while c.read(&mut sink).is_ok_and(|n| n > 0) {}
                } else {
                    let _ = c.write_all(RESPONSE);
                    let _ = c.shutdown(std::net::Shutdown::Write);
                    let mut sink = [0u8; 512];
                    while c.read(&mut sink).is_ok_and(|n| n > 0) {}
                }
            });
        }
    });
    port
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process from `args`, its output in `log`.
fn spawn(args: &[&str], log: &Path) -> Killed {
    let out = std::fs::File::create(log).expect("log file");
    Killed(
        Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", args[0])),
    )
}

/// tinyproxy on 127.0.0.1:`port`, no Via header, every port allowed for
/// CONNECT.
fn proxy(dir: &Path, port: u16) -> Killed {
    let conf = dir.join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nDisableViaHeader Yes\n\
             LogLevel Warning\nPidFile \"{}\"\n",
            dir.join("tinyproxy.pid").display()
        ),
    )
    .expect("proxy configuration");
    let p = spawn(
        &["tinyproxy", "-d", "-c", &conf.display().to_string()],
        &dir.join("tinyproxy.log"),
    );
    wait_listening(port, "tinyproxy");
    p
}

/// An `openssl s_server -www` on 127.0.0.1:`port` with a throwaway
/// certificate.
fn tls_origin(dir: &Path, port: u16) -> Killed {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=origin.procflow.test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl req");
    assert!(made.success(), "throwaway certificate");
    let s = spawn(
        &[
            "openssl",
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            &cert.display().to_string(),
            "-key",
            &key.display().to_string(),
            "-www",
        ],
        &dir.join("s_server.log"),
    );
    wait_listening(port, "openssl s_server");
    s
}

/// tcpdump writing `filter`'s packets on lo to `out`, once it listens.
fn recorder(dir: &Path, filter: &str, out: &Path) -> Killed {
    let log = dir.join("tcpdump.log");
    let t = spawn(
        &[
            "tcpdump",
            "-i",
            "lo",
            "-s",
            "0",
            "-U",
            "-Z",
            "root",
            "-w",
            &out.display().to_string(),
            filter,
        ],
        &log,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("listening on")) {
        assert!(Instant::now() < deadline, "tcpdump did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    t
}

/// The hand-written tunnel client: CONNECT to the origin, then one GET
/// inside. Its local port and the exact bytes of each message.
struct Tunnelled {
    port: u16,
    connect: usize,
    established: usize,
    get: usize,
}

fn tunnel_by_hand(proxy: u16, origin: u16) -> Tunnelled {
    let mut c = TcpStream::connect(("127.0.0.1", proxy)).expect("proxy accepts");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let port = c.local_addr().expect("local").port();
    let connect =
        format!("CONNECT 127.0.0.1:{origin} HTTP/1.1\r\nHost: 127.0.0.1:{origin}\r\n\r\n");
    c.write_all(connect.as_bytes()).expect("CONNECT sent");
    let established = read_head(&mut c);
    assert!(
        established.starts_with(b"HTTP/1.0 200") || established.starts_with(b"HTTP/1.1 200"),
        "tunnel refused: {}",
        String::from_utf8_lossy(&established)
    );
    let get =
        b"GET /by-hand HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: procflow-tunnel/1.0\r\n\r\n";
    c.write_all(get).expect("GET sent");
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).expect("reply");
    assert_eq!(reply, RESPONSE);
    Tunnelled {
        port,
        connect: connect.len(),
        established: established.len(),
        get: get.len(),
    }
}

/// Runs curl with `args`; whether it succeeded (h2c fails on purpose).
fn curl(args: &[&str]) -> bool {
    Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "10"])
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// What every mode must agree on for one flow: ports, payload bytes each
/// way, and each HTTP transaction's method, URI, status and sizes.
fn digest(f: &Value) -> String {
    let http: Vec<String> = f["http"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    format!(
                        "{} {} {} {}/{}",
                        t["method"], t["uri"], t["status"], t["request_bytes"], t["response_bytes"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{}->{} out {} in {} tls {} http [{}]",
        f["source"]["port"],
        f["destination"]["port"],
        f["flow"]["payload_out"],
        f["flow"]["payload_in"],
        !f["tls"].is_null(),
        http.join("; ")
    )
}

/// The digests of the flows that carried payload, sorted. The probes that
/// waited for the servers to listen carry none, and their last packets
/// may reach one capture and not the other, which started later.
fn digests(flows: &[Value]) -> Vec<String> {
    let mut d: Vec<String> = flows
        .iter()
        .filter(|f| f["flow"]["payload_out"] != 0 || f["flow"]["payload_in"] != 0)
        .map(digest)
        .collect();
    d.sort();
    d
}

/// The flows from `port` on this host to `to`.
fn from_port(flows: &[Value], port: u16) -> &Value {
    let found: Vec<&Value> = flows
        .iter()
        .filter(|f| f["source"]["port"] == port)
        .collect();
    assert_eq!(found.len(), 1, "flows from port {port}: {found:?}");
    found[0]
}

/// The flows to `port` whose first request is for `uri`.
fn to_port_for<'a>(flows: &'a [Value], port: u16, uri: &str) -> &'a Value {
    let found: Vec<&Value> = flows
        .iter()
        .filter(|f| f["destination"]["port"] == port && f["http"][0]["uri"] == uri)
        .collect();
    assert_eq!(found.len(), 1, "flows to {port} for {uri}: {found:?}");
    found[0]
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("procflow-live-proxy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn proxied_and_upgraded_streams_read_the_same_live_and_from_a_recording() {
    let tools = ["tinyproxy", "curl", "tcpdump", "openssl"];
    if !is_root() || tools.iter().any(|t| which(t).is_none()) {
        assert!(!required(), "needs root and {tools:?}");
        eprintln!("skipped: needs root and {tools:?}");
        return;
    }
    let dir = temp_dir();
    let (origin_port, proxy_port, tls_port) = (origin(), free_port(), free_port());
    let _proxy = proxy(&dir, proxy_port);
    let _tls = tls_origin(&dir, tls_port);
    let filter = format!("tcp port {origin_port} or tcp port {proxy_port} or tcp port {tls_port}");
    let recording = dir.join("proxy.pcap");
    let mut tcpdump = recorder(&dir, &filter, &recording);
    let (flows_out, stats_out) = (dir.join("flows.jsonl"), dir.join("stats.json"));
    let live = Live::start(&[
        "-i".into(),
        "lo".into(),
        "-f".into(),
        filter.clone(),
        "--stats-interval".into(),
        "0".into(),
        "--buffer-mb".into(),
        "4".into(),
        "--flows".into(),
        flows_out.display().to_string(),
        "--stats".into(),
        stats_out.display().to_string(),
    ]);

    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let by_hand = tunnel_by_hand(proxy_port, origin_port);
    let tunnel_url = format!("http://127.0.0.1:{origin_port}/curl-tunnel");
    assert!(
        curl(&["-p", "-x", &proxy_url, &tunnel_url]),
        "curl through a tunnel"
    );
    let forward_url = format!("http://127.0.0.1:{origin_port}/forward");
    assert!(curl(&["-x", &proxy_url, &forward_url]), "curl, proxied");
    let tls_url = format!("https://127.0.0.1:{tls_port}/");
    assert!(
        curl(&["-k", "-x", &proxy_url, &tls_url]),
        "curl, TLS tunnel"
    );
    let h2c_url = format!("http://127.0.0.1:{origin_port}/h2c");
    curl(&["--http2", &h2c_url]);

    // Every connection has closed; let the last FINs reach both captures.
    std::thread::sleep(Duration::from_millis(500));
    let (status, stderr) = live.stop(Duration::from_secs(30));
    assert!(status.success(), "live: {stderr}");
    let _ = Command::new("kill")
        .args(["-INT", &tcpdump.0.id().to_string()])
        .status();
    let _ = tcpdump.0.wait();

    let live_flows = json_lines(&flows_out);
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(&stats_out).expect("stats")).expect("JSON");
    assert_eq!(stats["stats"]["time_backwards"], 0, "{stderr}");
    assert_eq!(stats["stats"]["flows_emitted"], live_flows.len());

    // HTTP inside the hand-made tunnel: two transactions, exact bytes.
    let f = from_port(&live_flows, by_hand.port);
    let http = &f["http"];
    assert_eq!(http.as_array().map(Vec::len), Some(2), "{f}");
    assert_eq!(http[0]["method"], "CONNECT");
    assert_eq!(http[0]["host"], format!("127.0.0.1:{origin_port}"));
    assert_eq!(http[0]["status"], 200);
    assert_eq!(http[0]["request_bytes"], by_hand.connect);
    assert_eq!(http[0]["response_bytes"], by_hand.established);
    assert_eq!(http[1]["method"], "GET");
    assert_eq!(http[1]["uri"], "/by-hand");
    assert_eq!(http[1]["user_agent"], "procflow-tunnel/1.0");
    assert_eq!(http[1]["request_bytes"], by_hand.get);
    assert_eq!(http[1]["status"], 200);
    assert_eq!(http[1]["response_bytes"], RESPONSE.len());
    assert_eq!(http[1]["response_body_bytes"], 2);
    assert_eq!(f["flow"]["payload_out"], by_hand.connect + by_hand.get);
    assert_eq!(
        f["flow"]["payload_in"],
        by_hand.established + RESPONSE.len()
    );
    // The proxy's own leg carries the tunnelled bytes unchanged.
    let leg = to_port_for(&live_flows, origin_port, "/by-hand");
    assert_eq!(leg["flow"]["payload_out"], by_hand.get);
    assert_eq!(leg["flow"]["payload_in"], RESPONSE.len());

    // curl's tunnel: the same GET on both legs.
    let leg = to_port_for(&live_flows, origin_port, "/curl-tunnel");
    let f = live_flows
        .iter()
        .find(|f| f["destination"]["port"] == proxy_port && f["http"][1]["uri"] == "/curl-tunnel")
        .expect("curl's tunnel flow");
    assert_eq!(f["http"][0]["method"], "CONNECT");
    assert_eq!(
        f["http"][1]["request_bytes"],
        leg["http"][0]["request_bytes"]
    );
    assert_eq!(f["http"][1]["response_bytes"], RESPONSE.len());
    assert!(f["http"][1]["user_agent"]
        .as_str()
        .is_some_and(|u| u.starts_with("curl/")));

    // A forward-proxied GET: the absolute URI to the proxy, the path to the
    // origin.
    let f = to_port_for(&live_flows, proxy_port, &forward_url);
    assert_eq!(f["http"][0]["status"], 200);
    assert_eq!(f["http"][0]["response_body_bytes"], 2);
    to_port_for(&live_flows, origin_port, "/forward");

    // TLS inside a tunnel: the ClientHello read after the CONNECT.
    let f = to_port_for(&live_flows, proxy_port, &format!("127.0.0.1:{tls_port}"));
    assert_eq!(f["http"][0]["method"], "CONNECT");
    assert_eq!(f["http"][0]["status"], 200);
    assert!(!f["tls"].is_null(), "no TLS read in the tunnel: {f}");
    assert!(live_flows
        .iter()
        .any(|f| f["destination"]["port"] == tls_port && !f["tls"].is_null()));

    // h2c: the 101 ends HTTP; what curl sent after it is counted.
    let f = to_port_for(&live_flows, origin_port, "/h2c");
    assert_eq!(f["http"].as_array().map(Vec::len), Some(1), "{f}");
    assert_eq!(f["http"][0]["status"], 101);
    assert_eq!(f["http"][0]["response_bytes"], SWITCH.len());
    let sent = f["flow"]["payload_out"].as_u64().unwrap_or(0);
    let request = f["http"][0]["request_bytes"].as_u64().unwrap_or(0);
    // The HTTP/2 connection preface alone is 24 bytes.
    assert!(sent >= request + 24, "bytes after the upgrade: {f}");

    // The recording, read back: the same flows.
    let rec = recording.display().to_string();
    let run = procflow(&["flows", "--no-progress", &rec]);
    assert!(run.status.success(), "flows: {}", run.stderr);
    // Nine connections carried payload: four to the origin, four to the
    // proxy, one to the TLS server.
    assert_eq!(digests(&live_flows).len(), 9, "{live_flows:?}");
    assert_eq!(digests(&run.records()), digests(&live_flows));
    let two = read(&[&rec, "--threads", "2"]);
    assert_eq!(digests(&two.flows), digests(&live_flows));
    let _ = std::fs::remove_dir_all(&dir);
}
