//! Publishing to NATS JetStream against a real server (Debian's
//! `nats-server`, started by the test on a free port): every record the
//! run writes arrives, named by its sensor, exactly once per message id,
//! through a server killed while the sensor publishes; a server that is
//! never there leaves the messages in the spool for the next run.
#![allow(clippy::indexing_slicing)]

mod common;

use common::nats::Nats;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use transport::consume::{self, Stored};
use transport::Server;

/// A capture of 6,000 HTTP connections, written once.
fn capture() -> &'static Path {
    static C: OnceLock<PathBuf> = OnceLock::new();
    C.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nats");
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("flood.pcap");
        let file = std::fs::File::create(&p).expect("capture");
        pcapgen::flood::write_flood(file, &pcapgen::Flood::new(6_000)).expect("capture written");
        p
    })
}

fn fresh(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("nats")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    d
}

fn read_cmd(url: &str, dir: &Path, wait: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_procflow"));
    c.args(["read", &capture().display().to_string(), "--no-progress"])
        .args(["--flows", &dir.join("flows.jsonl").display().to_string()])
        .args(["--publish", url, "--publish-final-wait", wait])
        .args(["--publish-spool", &dir.join("spool").display().to_string()])
        .args(["--sensor-name", "tap-1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn stored(url: &str) -> Vec<Stored> {
    consume::all(&Server::parse(url).expect("url"), "PROCFLOW", None).expect("stream read")
}

/// Each stored message id once, every flow line of the file once, all
/// from tap-1.
fn assert_once_each(msgs: &[Stored], flows_file: &Path) {
    let lines: Vec<String> = std::fs::read_to_string(flows_file)
        .expect("flows")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 6_000, "one record per connection");
    let ids: BTreeSet<&str> = msgs.iter().filter_map(|m| m.id.as_deref()).collect();
    assert_eq!(ids.len(), msgs.len(), "a message id stored twice");
    let seqs: BTreeSet<u64> = msgs.iter().map(|m| m.sequence).collect();
    assert_eq!(seqs.len(), msgs.len());
    assert!(msgs.iter().all(|m| m.sensor.as_deref() == Some("tap-1")));
    assert!(msgs.iter().all(|m| m.subject == "procflow.flows.tap-1"));
    let mut got: BTreeMap<&[u8], usize> = BTreeMap::new();
    for m in msgs {
        *got.entry(m.payload.as_slice()).or_default() += 1;
    }
    let mut want: BTreeMap<&[u8], usize> = BTreeMap::new();
    for l in &lines {
        *want.entry(l.as_bytes()).or_default() += 1;
    }
    assert_eq!(got, want, "the stream holds exactly the flow lines");
}

/// The server killed (SIGKILL) while the sensor publishes, then started
/// again on its store: every record arrives once.
#[test]
fn every_record_arrives_once_through_a_killed_server() {
    let Some(mut nats) = Nats::start("killed") else {
        return;
    };
    let dir = fresh("killed");
    let mut c = read_cmd(&nats.url(), &dir, "120");
    c.env("PROCFLOW_FAILPOINT", "publish-pause:1500");
    let mut child = c.spawn().expect("procflow starts");
    let (rx, reader) = common::stderr_lines(&mut child);
    common::wait_for_line(
        &rx,
        "failpoint publish-pause reached",
        Duration::from_secs(60),
    );
    nats.kill();
    // Longer than an acknowledgement may take (5 s): the sensor sees the
    // outage, and sends again what was not acknowledged.
    std::thread::sleep(Duration::from_secs(7));
    nats.up();
    let status = child.wait().expect("procflow ends");
    let e = reader.join().expect("stderr");
    assert!(status.success(), "{e}");
    // Whether the client's own reconnection hid the outage (its buffered
    // messages acknowledged once the server was back) or the
    // acknowledgements timed out and the spool was sent again depends on
    // timing; either way nothing is lost and nothing is stored twice.
    assert!(
        e.contains("6000 appended to the spool this run, 0 dropped"),
        "{e}"
    );
    assert_once_each(&stored(&nats.url()), &dir.join("flows.jsonl"));
}

/// Acknowledgements lost (a failpoint drops those of one batch): the
/// batch is sent again, and the server, which has it, says so; the stream
/// holds each message once.
#[test]
fn a_batch_sent_again_is_stored_once() {
    let Some(nats) = Nats::start("again") else {
        return;
    };
    let dir = fresh("again");
    let mut c = read_cmd(&nats.url(), &dir, "60");
    c.env("PROCFLOW_FAILPOINT", "publish-acks-lost:1024");
    let out = c.output().expect("runs");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{e}");
    // The batch whose acknowledgements were lost (up to 512 messages: as
    // many as the spool held when it was sent) came back as stored.
    let again: u64 = e
        .split("messages acknowledged (")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!((1..=512).contains(&again), "{e}");
    assert!(
        e.contains(&format!(
            "6000 messages acknowledged ({again} already stored), 1 outages"
        )),
        "{e}"
    );
    assert_once_each(&stored(&nats.url()), &dir.join("flows.jsonl"));
}

/// A server that asks for a user and password: a wrong password is an
/// outage that keeps the messages (the password never shown); the right
/// one publishes them.
#[test]
fn a_server_with_a_password_takes_only_the_right_one() {
    let Some(nats) = Nats::start_with("auth", &["--user", "sensor", "--pass", "s3cret"]) else {
        return;
    };
    let dir = fresh("auth");
    let wrong = format!("nats://sensor:wrong@127.0.0.1:{}", nats.port);
    let out = read_cmd(&wrong, &dir, "1").output().expect("runs");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{e}");
    assert!(!e.contains("wrong@"), "no password in a message: {e}");
    assert!(
        e.contains(&format!("NATS nats://sensor@127.0.0.1:{}", nats.port)),
        "{e}"
    );
    assert!(e.contains("0 messages acknowledged"), "{e}");
    let right = format!("nats://sensor:s3cret@127.0.0.1:{}", nats.port);
    let out = read_cmd(&right, &dir, "60").output().expect("runs");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{e}");
    assert!(e.contains("12000 messages acknowledged"), "{e}");
    assert_eq!(stored(&right).len(), 12_000);
}

/// A server that takes TLS only: a sensor trusting its CA publishes over
/// `tls://`; one that does not trust it keeps its messages in the spool.
#[test]
fn publishing_over_tls() {
    if common::which("openssl").is_none() {
        assert!(
            std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_none(),
            "openssl is required"
        );
        eprintln!("nats: skipped: openssl missing");
        return;
    }
    let certs = fresh("tls-certs");
    common::certs::certificates(&certs);
    let c = |f: &str| certs.join(f).display().to_string();
    let (cert, key) = (c("server.pem"), c("server.key"));
    let Some(nats) = Nats::start_with("tls", &["--tls", "--tlscert", &cert, "--tlskey", &key])
    else {
        return;
    };
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let dir = fresh("tls");
    let mut cmd = read_cmd(&url, &dir, "60");
    cmd.args(["--nats-tls-ca", &c("ca.pem")]);
    let out = cmd.output().expect("runs");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{e}");
    assert!(
        e.contains("6000 messages acknowledged (0 already stored), 0 outages"),
        "{e}"
    );
    let mut server = Server::parse(&url).expect("url");
    server.tls_ca = Some(certs.join("ca.pem"));
    let msgs = consume::all(&server, "PROCFLOW", None).expect("stream read");
    assert_once_each(&msgs, &dir.join("flows.jsonl"));
    // Trusting another certificate as the CA: nothing reaches the server.
    let dir = fresh("tls-wrong");
    let mut cmd = read_cmd(&url, &dir, "1");
    cmd.args(["--nats-tls-ca", &c("client.pem")]);
    let out = cmd.output().expect("runs");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{e}");
    assert!(e.contains("0 messages acknowledged"), "{e}");
    assert!(e.contains("left in the spool"), "{e}");
}

/// No server during the run: the messages stay in the spool (said, with
/// their size); the next run with the spool sends them first, and the
/// stream holds each record once.
#[test]
fn a_server_that_is_not_there_leaves_the_spool_for_the_next_run() {
    let Some(mut nats) = Nats::start("absent") else {
        return;
    };
    let url = nats.url();
    nats.kill();
    let dir = fresh("absent");
    let out = read_cmd(&url, &dir, "1").output().expect("runs");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{e}");
    assert!(e.contains("messages kept in the spool"), "{e}");
    assert!(e.contains("0 messages acknowledged"), "{e}");
    assert!(e.contains("left in the spool"), "{e}");
    // A second sensor cannot take a spool in use... and once the first
    // is gone the next run sends what it left, then its own.
    nats.up();
    let flows_first = std::fs::read_to_string(dir.join("flows.jsonl")).expect("flows");
    let out = read_cmd(&url, &dir, "60").output().expect("runs");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{e}");
    assert!(
        e.contains("12000 messages acknowledged (0 already stored)"),
        "{e}"
    );
    let msgs = stored(&url);
    assert_eq!(msgs.len(), 12_000);
    // Both runs wrote the same lines: each twice, under distinct ids.
    let (first, second) = msgs.split_at(6_000);
    let f = dir.join("first.jsonl");
    std::fs::write(&f, &flows_first).expect("copy");
    assert_once_each(first, &f);
    assert_once_each(second, &dir.join("flows.jsonl"));
}

/// `relay --follow`: a feed file followed as an agent appends to it, each
/// event on the bus within moments, until SIGTERM.
#[test]
fn a_following_relay_publishes_what_is_appended() {
    let Some(nats) = Nats::start("follow") else {
        return;
    };
    let url = nats.url();
    let dir = fresh("follow");
    let feed = dir.join("agent.jsonl");
    let line = |i: u16| common::live::feed_line(40_000 + i, 80, &format!("/usr/bin/app{i}"));
    std::fs::write(&feed, format!("{}\n{}\n", line(0), line(1))).expect("feed");
    let mut relay = common::Killed(
        Command::new(env!("CARGO_BIN_EXE_procflow"))
            .args(["relay", "--follow", "--feed", &feed.display().to_string()])
            .args(["--publish", &url, "--publish-spool"])
            .arg(dir.join("spool"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("relay starts"),
    );
    let (rx, reader) = common::stderr_lines(&mut relay.0);
    common::wait_for_line(&rx, "following 1 feeds", Duration::from_secs(20));
    for i in 2..5 {
        common::live::append(&feed, &line(i));
    }
    let server = Server::parse(&url).expect("url");
    let events =
        || consume::all(&server, "PROCFLOW", Some("procflow.events.>")).unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(20);
    while events().len() < 5 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = nix::unistd::Pid::from_raw(relay.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = relay.0.wait().expect("relay ends");
    let err = reader.join().expect("stderr");
    assert!(status.success(), "{err}");
    assert!(
        err.contains("5 lines, 5 socket events, 0 bad lines"),
        "{err}"
    );
    let got = events();
    assert_eq!(got.len(), 5, "{err}");
    let ports: Vec<u64> = got
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("event");
            v["src_port"].as_u64().unwrap_or(0)
        })
        .collect();
    assert_eq!(ports, [40_000, 40_001, 40_002, 40_003, 40_004]);
}
