//! The fuzz targets' harness on stable: every input the fuzzer found
//! (`fuzz/regressions/<target>/`) replayed through the same code the
//! target runs, and each target's oracles checked on the project's own
//! inputs (the captures of `pcaps/`, small feeds, configurations and
//! baselines), so a harness that could never pass or fail is noticed here
//! and not only under the fuzzer.

#[path = "../fuzz/src/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file());
    out.sort();
    out
}

/// Every found input, through its target. A directory per target name.
#[test]
fn found_inputs_replay() {
    let mut replayed = 0;
    for (name, run) in harness::TARGETS {
        for f in files(&root().join("fuzz/regressions").join(name)) {
            let data = std::fs::read(&f).expect("read a found input");
            run(&data);
            replayed += 1;
        }
    }
    // Directories of unknown targets would never be replayed.
    for d in std::fs::read_dir(root().join("fuzz/regressions")).expect("regressions") {
        let d = d.expect("entry");
        if !d.path().is_dir() {
            continue;
        }
        let name = d.file_name();
        let name = name.to_string_lossy();
        assert!(
            harness::TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz/regressions/{name} is no target"
        );
    }
    eprintln!("{replayed} found inputs replayed");
}

/// Every capture of `pcaps/` through the capture-file target: the engine's
/// oracles (no flow lost, byte counts within the file, one shard equal to
/// two) hold on real traffic.
#[test]
fn captures_pass_the_capture_file_oracles() {
    let pcaps = files(&root().join("pcaps"));
    let pcaps: Vec<_> = pcaps
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    assert!(pcaps.len() >= 20, "{} captures", pcaps.len());
    for p in pcaps {
        harness::capture_file::run(&std::fs::read(p).expect("capture"));
    }
}

/// The HTTP and TLS targets on well-formed streams, cut at every control
/// value of the first cut.
#[test]
fn stream_targets_on_real_messages() {
    let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 204 No Content\r\n\r\n";
    let tls = [
        0x17, 0x03, 0x03, 0x00, 0x04, 1, 2, 3, 4, 0x17, 0x03, 0x03, 0x00, 0x01, 9,
    ];
    for cut in 0..=255u8 {
        let mut input = vec![
            (req.len() * 256 / (req.len() + resp.len())) as u8,
            cut,
            cut / 2,
            0,
            cut,
            0,
            0,
            cut,
        ];
        input.extend_from_slice(req);
        input.extend_from_slice(resp);
        harness::http::run(&input);
        let mut input = vec![128, cut, 0, 0, cut, 0, 0, cut];
        input.extend_from_slice(&tls);
        input.extend_from_slice(&tls);
        harness::tls::run(&input);
    }
}

/// The DTLS target with every control value: hellos cut and shuffled
/// every way it allows, then the generated DTLS capture's bytes as
/// datagrams.
#[test]
fn dtls_target_on_every_control_value() {
    let capture = std::fs::read(root().join("pcaps/dtls.pcap")).expect("dtls capture");
    for v in 0..=255u8 {
        let mut input = vec![v; 24];
        input.extend_from_slice(&capture[..capture.len().min(600)]);
        harness::dtls::run(&input);
    }
}

/// The HTTP/2 target on a well-formed exchange (settings, a GET with a
/// table insertion, a 200 with a 2-byte body), cut, interleaved and with a
/// gap at every control value.
#[test]
fn h2_target_on_real_frames() {
    let client: &[u8] = &[
        0, 0, 0, 4, 0, 0, 0, 0, 0, // SETTINGS
        0, 0, 8, 1, 5, 0, 0, 0, 1, 0x82, 0x86, 0x84, 0x41, 3, b'a', b'.', b't',
    ];
    let server: &[u8] = &[
        0, 0, 0, 4, 0, 0, 0, 0, 0, // SETTINGS
        0, 0, 1, 1, 4, 0, 0, 0, 1, 0x88, // :status 200
        0, 0, 2, 0, 1, 0, 0, 0, 1, b'h', b'i',
    ];
    for cut in 0..=255u8 {
        let split = (client.len() * 256 / (client.len() + server.len())) as u8;
        let mut input = vec![split, cut, cut / 2, 0, cut, cut / 3, 0, cut, cut % 7];
        input.extend_from_slice(client);
        input.extend_from_slice(server);
        harness::h2::run(&input);
    }
}

/// A feed in every format through both readers, cut at many places.
#[test]
fn feed_target_on_a_native_feed() {
    let feed = b"{\"ts\":1700000000,\"host\":\"h\",\"proto\":\"tcp\",\"src_ip\":\"10.0.0.1\",\"src_port\":40000,\"dst_ip\":\"1.2.3.4\",\"dst_port\":443,\"pid\":7,\"process\":\"/usr/bin/curl\"}\nnot json\n\n";
    for format in 0..6u8 {
        for cut in (0..=255u8).step_by(17) {
            let mut input = vec![format, cut, cut / 3, 0, 200, cut];
            input.extend_from_slice(feed);
            harness::feed::run(&input);
        }
    }
}

/// The listener target: a right token and a feed line delivers its event;
/// a wrong token delivers nothing.
#[test]
fn listen_target_delivers_after_the_token_only() {
    let line = b"{\"ts\":1700000000,\"host\":\"h\",\"proto\":\"tcp\",\"src_ip\":\"10.0.0.1\",\"src_port\":40000,\"dst_ip\":\"1.2.3.4\",\"dst_port\":443,\"pid\":7}\n";
    let mut good = vec![0, 100, 0];
    good.extend_from_slice(format!("token {}\n", harness::listen::TOKEN).as_bytes());
    good.extend_from_slice(line);
    let chunks = [good.get(3..).expect("body")];
    assert_eq!(harness::listen::reference(&chunks).len(), 1);
    harness::listen::run(&good);
    let mut bad = vec![0, 0, 0];
    bad.extend_from_slice(b"token nope\n");
    bad.extend_from_slice(line);
    assert!(harness::listen::reference(&[bad.get(3..).expect("body")]).is_empty());
    harness::listen::run(&bad);
}

/// Configuration and baseline targets: the documented example loads and
/// round-trips; a baseline with rows of every table opens within its caps.
#[test]
fn config_and_baseline_targets() {
    let good = "window_secs = 60\nhome_net = [\"10.0.0.0/8\"]\n";
    let cfg = rules::config::parse(good, "t.toml").expect("the example loads");
    assert_eq!(cfg.window_secs, 60);
    harness::config::run(good.as_bytes());
    harness::config::run(rules::config::DEFAULT_TOML.as_bytes());
    harness::config::run(b"window_secs = \"x\"\n");
    harness::config::run(b"\xff\xfe");
    let rows: &[u8] = b"\x00img1|/bin/a|linux|1|2|3|0\n\x00img2|/bin/b|linux|1|2|3|0\n\x01img1|h1|1|2\n\x02h1|h1|linux|default|1|2\n\x03img1|default|x|y|z|w\n\x04windows_folded|9\n";
    let mut input = vec![1];
    input.extend_from_slice(rows);
    harness::baseline::run(&input);
    harness::baseline::run(b"\x00not a database at all");
}
