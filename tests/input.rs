//! Where captures come from besides plain files: gzip- and
//! zstd-compressed files (told by their first bytes), standard input
//! (`-`), and tcpdump writing to a pipe while real traffic runs on
//! loopback.
#![allow(clippy::indexing_slicing)]

mod common;

use common::{is_root, pcap, procflow, which, Killed};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("procflow-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join(name)
}

/// The records of `procflow flows ARGS`, which must succeed.
fn records(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["flows", "--no-progress"];
    all.extend_from_slice(args);
    let run = procflow(&all);
    assert!(run.status.success(), "{args:?}: {}", run.stderr);
    run.records()
}

#[test]
fn compressed_captures_read_as_the_plain_one() {
    let plain_path = pcap("http-keepalive.pcap");
    let plain = std::fs::read(&plain_path).expect("capture");
    let want = records(&[&plain_path.display().to_string()]);
    assert!(!want.is_empty());

    let gz = temp("keepalive.pcap.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&plain).expect("gzip");
    std::fs::write(&gz, e.finish().expect("gzip")).expect("write");
    assert_eq!(records(&[&gz.display().to_string()]), want);

    // zstd, under a name that says nothing.
    let zst = temp("keepalive.bin");
    std::fs::write(&zst, zstd::encode_all(&plain[..], 3).expect("zstd")).expect("write");
    assert_eq!(records(&[&zst.display().to_string()]), want);

    // A compressed file that holds no capture, and one cut short.
    let junk = temp("junk.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b"hello, not a capture").expect("gzip");
    std::fs::write(&junk, e.finish().expect("gzip")).expect("write");
    let run = procflow(&["flows", &junk.display().to_string()]);
    assert!(!run.status.success());
    assert!(
        run.stderr
            .contains("gzip data, but not a pcap or pcapng capture inside"),
        "{}",
        run.stderr
    );
    let whole = std::fs::read(&gz).expect("gz");
    let cut = temp("cut.pcap.gz");
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).expect("write");
    let run = procflow(&["flows", "--no-progress", &cut.display().to_string()]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stderr.contains("capture cut off"), "{}", run.stderr);
}

#[test]
fn standard_input_is_a_capture_once() {
    let path = pcap("http-keepalive.pcap");
    let want = records(&[&path.display().to_string()]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_procflow"))
        .args(["flows", "--no-progress", "-"])
        .stdin(std::fs::File::open(&path).expect("capture"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("procflow");
    let out = child.stdout.take().expect("stdout");
    let got: Vec<Value> = BufReader::new(out)
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
        .collect();
    assert!(child.wait().expect("exit").success());
    assert_eq!(got, want);
    let run = procflow(&["flows", "-", "-"]);
    assert!(!run.status.success());
    assert!(run.stderr.contains("can be read once"), "{}", run.stderr);
}

/// `--out -` is standard output, as every output option reads "-": the
/// records come out there, and no file named "-" is made.
#[test]
fn out_dash_is_standard_output() {
    let path = pcap("http-keepalive.pcap").display().to_string();
    let want = records(&[&path]);
    let dir = temp("out-dash");
    std::fs::create_dir_all(&dir).expect("dir");
    let run = Command::new(env!("CARGO_BIN_EXE_procflow"))
        .args(["flows", "--no-progress", "--out", "-", &path])
        .current_dir(&dir)
        .output()
        .expect("procflow");
    assert!(run.status.success());
    let got: Vec<Value> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(got, want);
    assert!(!dir.join("-").exists(), "a file named - was made");
}

/// `tcpdump -w - | procflow read -` while three real POSTs cross
/// loopback: the records come out of the pipe with the exact sizes.
#[test]
fn tcpdump_on_a_pipe_into_read() {
    let required = std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_some();
    let Some(tcpdump) = which("tcpdump") else {
        assert!(!required, "tcpdump is required");
        eprintln!("input: skipped: tcpdump missing");
        return;
    };
    if !is_root() {
        assert!(!required, "capturing needs root");
        eprintln!("input: skipped: not root");
        return;
    }
    let port = common::live::server("127.0.0.1");
    let mut dump = Killed(
        Command::new(tcpdump)
            // A 16 MiB kernel buffer: under the whole suite's load the
            // default 2 MiB one lost a connection's first packets.
            .args([
                "-i",
                "lo",
                "-U",
                "--immediate-mode",
                "-B",
                "16384",
                "-w",
                "-",
                "-n",
            ])
            .arg(format!("tcp port {port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump"),
    );
    // tcpdump says on stderr when it listens.
    let err = dump.0.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    while !rx
        .recv_timeout(Duration::from_secs(20))
        .expect("tcpdump starts")
        .contains("listening on")
    {}
    let flows = temp("piped-flows.jsonl");
    let mut reader = Command::new(env!("CARGO_BIN_EXE_procflow"))
        .args(["read", "--no-progress", "--no-learn", "--flows"])
        .arg(&flows)
        .args(["--processes", "/dev/null", "--alerts", "/dev/null", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("procflow read");
    // The test passes tcpdump's stream on to procflow, noting the client
    // ports whose server's FIN went by: tcpdump stops at SIGINT with what
    // it has read, and a loaded machine may not have let it read the
    // last packets yet.
    let closed = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u16>::new()));
    let forward = {
        let mut from = dump.0.stdout.take().expect("tcpdump's output");
        let mut to = reader.stdin.take().expect("procflow's input");
        let closed = std::sync::Arc::clone(&closed);
        std::thread::spawn(move || {
            let mut stream = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = std::io::Read::read(&mut from, &mut buf) {
                if n == 0 {
                    break;
                }
                let _ = std::io::Write::write_all(&mut to, &buf[..n]);
                stream.extend_from_slice(&buf[..n]);
                let fins = server_fins(&stream, port);
                *closed.lock().expect("lock") = fins;
            }
        })
    };
    // tcpdump says it listens a moment before it captures (on a loaded
    // machine, a whole connection went missing): warm-up connections
    // until one is seen whole; they are not among the tested ones.
    let started = std::time::Instant::now();
    let deadline = started + Duration::from_secs(60);
    let mut warm_up = Vec::new();
    while !warm_up
        .iter()
        .any(|p| closed.lock().expect("lock").contains(p))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "tcpdump never passed a connection on"
        );
        warm_up.push(common::live::post("127.0.0.1", port, 50, |_| {}));
        std::thread::sleep(Duration::from_millis(200));
    }
    let warm_up_took = started.elapsed();
    let ports: Vec<u16> = (0..3)
        .map(|i| common::live::post("127.0.0.1", port, 100 * (i + 1), |_| {}))
        .collect();
    // Each phase has its own time: on a loaded machine the warm-up alone
    // may take most of one. A small connection now and then pushes along
    // whatever tcpdump or the kernel still holds; like the warm-up ones,
    // these are not among the tested connections.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut nudge = std::time::Instant::now() + Duration::from_secs(1);
    while !ports
        .iter()
        .all(|p| closed.lock().expect("lock").contains(p))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "tcpdump never passed on the closes of {ports:?} (warm-up took {warm_up_took:?}, \
             {} extra connections): {:?}",
            warm_up.len(),
            closed.lock().expect("lock")
        );
        if std::time::Instant::now() > nudge {
            warm_up.push(common::live::post("127.0.0.1", port, 10, |_| {}));
            nudge = std::time::Instant::now() + Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill")
        .args(["-INT", &dump.0.id().to_string()])
        .status()
        .expect("kill")
        .success());
    forward.join().expect("forwarding");
    let out = reader
        .wait_with_output()
        .expect("procflow ends with the pipe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let records: Vec<Value> = std::fs::read_to_string(&flows)
        .expect("flows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let tested = records
        .iter()
        .filter(|r| !warm_up.iter().any(|p| r["source"]["port"] == *p))
        .count();
    assert_eq!(tested, 3, "{stderr}");
    for (i, p) in ports.iter().enumerate() {
        let r = records
            .iter()
            .find(|r| r["source"]["port"] == *p)
            .unwrap_or_else(|| panic!("flow from {p}: {records:?}"));
        let request = common::live::request(100 * (i + 1)).len() as u64;
        assert_eq!(r["http"][0]["request_bytes"], request, "{r}");
        assert_eq!(
            r["http"][0]["response_bytes"],
            common::live::RESPONSE.len() as u64
        );
        // The close may come after tcpdump stopped reading (SIGINT).
        assert!(
            matches!(r["event"]["reason"].as_str(), Some("fin" | "end_of_input")),
            "{r}"
        );
    }
}

/// The client ports to which the server on `port` sent a FIN or RST (all
/// its data went before), read from a pcap stream (Ethernet, IPv4) as far
/// as it goes.
fn server_fins(stream: &[u8], port: u16) -> Vec<u16> {
    let mut out = Vec::new();
    for (at, caplen, _) in common::pcap_records(stream) {
        let Some(frame) = stream.get(at + 16..at + 16 + caplen as usize) else {
            break;
        };
        let ihl = usize::from(frame.get(14).map_or(0, |b| b & 0x0f)) * 4;
        let Some(tcp) = frame.get(14 + ihl..14 + ihl + 14) else {
            continue;
        };
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        if sport == port && tcp[13] & 0x05 != 0 {
            out.push(u16::from_be_bytes([tcp[2], tcp[3]]));
        }
    }
    out
}
