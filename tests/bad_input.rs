//! Unusable input is a one-line error and a non-zero exit; damaged input is
//! counted, reported and read as far as it goes. Never a panic.
// Test code: serde_json indexing yields Null, never panics; slices are of known files.
#![allow(clippy::indexing_slicing)]

mod common;

use common::{pcap, procflow};
use serde_json::json;
use std::io::Write;

fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("procflow-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write");
    path
}

fn assert_clean_error(args: &[&str], expect: &str) {
    let run = procflow(args);
    assert!(!run.status.success(), "{args:?} should fail");
    assert_eq!(run.status.code(), Some(1));
    // `read` without a baseline warns first that it keeps nothing.
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !(args.first() == Some(&"read") && l.contains("warning: no --baseline")))
        .collect();
    assert_eq!(lines.len(), 1, "one line of error, got {:?}", run.stderr);
    assert!(lines[0].starts_with("procflow: error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(expect),
        "{:?} should mention {expect:?}",
        lines[0]
    );
    assert!(run.stdout.is_empty(), "nothing written on failure");
}

#[test]
fn not_a_capture() {
    let p = temp("notes.txt", b"this is a text file, not a packet capture\n");
    assert_clean_error(
        &["flows", p.to_str().expect("path")],
        "not a pcap or pcapng capture",
    );
}

#[test]
fn empty_file() {
    let p = temp("empty.pcap", b"");
    assert_clean_error(&["flows", p.to_str().expect("path")], "empty file");
}

#[test]
fn missing_file_and_directory() {
    assert_clean_error(&["flows", "/nonexistent/x.pcap"], "No such file");
    let dir = std::env::temp_dir();
    assert_clean_error(&["flows", dir.to_str().expect("path")], "is a directory");
}

#[test]
fn header_only_capture_has_no_flows() {
    let whole = std::fs::read(pcap("loopback-http-tls.pcap")).expect("pcap");
    let p = temp("header-only.pcap", &whole[..24]);
    let run = procflow(&["flows", p.to_str().expect("path")]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("0 packets"), "{}", run.stderr);
}

#[test]
fn truncated_capture_keeps_flows_before_the_cut() {
    let whole = std::fs::read(pcap("loopback-http-tls.pcap")).expect("pcap");
    // Cut 10 bytes into packet 40's data.
    let (at, _, _) = common::pcap_records(&whole)[39];
    let cut_offset = at;
    let p = temp("cut.pcap", &whole[..at + 16 + 10]);
    let run = procflow(&["flows", "--no-progress", p.to_str().expect("path")]);
    assert!(run.status.success(), "{}", run.stderr);
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains("cut off"))
        .expect("says where it was cut");
    assert!(warning.contains("after packet 39"), "{warning}");
    assert!(
        warning.contains(&format!("byte offset {cut_offset}")),
        "{warning}"
    );
    let mut records = run.records();
    // Workers write in their own order: by start time.
    records.sort_by_key(|r| r["event"]["start"].as_str().unwrap_or("").to_string());
    // The first three connections (16 + 12 + 16 packets) hold packets 1..44;
    // the first two are whole before the cut, the third is cut short.
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["event"]["reason"], "fin");
    assert_eq!(records[0]["flow"]["payload_in"], 100_150);
    assert_eq!(records[1]["http"][0]["request_body_bytes"], 5000);
    assert_eq!(records[2]["event"]["reason"], "end_of_input");
}

#[test]
fn generated_damage_is_counted_not_fatal() {
    let run = procflow(&[
        "flows",
        "--no-progress",
        pcap("bad-ip.pcap").to_str().expect("path"),
    ]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stderr.contains("decode errors by reason"),
        "{}",
        run.stderr
    );
    let records = run.records();
    let good: Vec<_> = records
        .iter()
        .filter(|r| r["http"][0]["status"] == 200)
        .collect();
    assert_eq!(
        good.len(),
        1,
        "the good exchange is still read: {records:?}"
    );
}

#[test]
fn snaplen_cut_packets_are_counted() {
    let path = pcap("snaplen.pcap");
    // Frames the writer cut (captured length < length on the wire), counted
    // straight from the record headers.
    let records = common::pcap_records(&std::fs::read(&path).expect("pcap"));
    let cut = records
        .iter()
        .filter(|(_, caplen, len)| caplen < len)
        .count();
    assert!(cut > 0);
    let (run, stats) = common::flows_with_stats(&[path.to_str().expect("path")]);
    assert_eq!(stats["stats"]["packets"], records.len());
    assert_eq!(stats["stats"]["truncated_packets"], cut);
    assert_eq!(stats["files"][0]["packets"], records.len());
    assert!(!run.records().is_empty());
}

/// A capture of packet headers alone (snap length 60): the handshake's segments are
/// cut inside their TCP options and every data segment inside its
/// payload. The connection is read whole from the fixed headers, nothing
/// is a decode error, and the payload cut is missed.
#[test]
fn a_capture_of_headers_alone_is_read() {
    let path = pcap("snaplen-headers.pcap");
    let (run, stats) = common::flows_with_stats(&[path.to_str().expect("path")]);
    assert_eq!(stats["stats"]["packets"], 11);
    assert_eq!(stats["stats"]["truncated_packets"], 5);
    assert_eq!(stats["stats"]["decoded"], 11);
    assert_eq!(stats["stats"]["decode_errors"], json!({}));
    let records = run.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["flow"]["history"], "ShADadFf");
    assert_eq!(r["flow"]["midstream"], false);
    assert_eq!(
        (&r["source"]["packets"], &r["destination"]["packets"]),
        (&json!(6), &json!(5))
    );
    assert_eq!(
        (&r["source"]["bytes"], &r["destination"]["bytes"]),
        (&json!(447), &json!(2371))
    );
    assert_eq!(
        (&r["flow"]["payload_out"], &r["flow"]["payload_in"]),
        (&json!(6), &json!(12))
    );
    assert_eq!(r["flow"]["missed_bytes"], 2182);
}

#[test]
fn unusable_feed_stops_the_read() {
    let cap = pcap("attribution.pcap");
    let cap = cap.to_str().expect("path");
    // Missing or a directory: refused before anything is read.
    assert_clean_error(
        &["read", "--feed", "/nonexistent/feed.jsonl", cap],
        "No such file",
    );
    let dir = std::env::temp_dir();
    assert_clean_error(
        &["read", "--feed", dir.to_str().expect("path"), cap],
        "is a directory",
    );
    // Unreadable as a feed: found while the capture is read (the feeds are
    // read beside it), and still one line, no records written.
    let utf16: Vec<u8> = "{\"ts\":1}\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let bom = [&[0xff, 0xfe][..], &utf16].concat();
    let feed = temp("utf16.jsonl", &bom);
    assert_clean_error(
        &["read", "--feed", feed.to_str().expect("path"), cap],
        "UTF-16",
    );
    // Outputs are created only once the feeds are read: those of an
    // earlier run stay as they were.
    let earlier = temp("earlier-flows.jsonl", b"{\"earlier\":true}\n");
    let feed = feed.to_str().expect("path");
    let out = earlier.to_str().expect("path");
    assert_clean_error(&["read", "--feed", feed, "--flows", out, cap], "UTF-16");
    assert_eq!(
        std::fs::read(&earlier).expect("still there"),
        b"{\"earlier\":true}\n"
    );
}

/// A pcapng block: type, length, body padded to 4, length again.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    b.resize(body.len().div_ceil(4) * 4, 0);
    let len = (12 + b.len()) as u32;
    [
        &kind.to_le_bytes()[..],
        &len.to_le_bytes(),
        &b,
        &len.to_le_bytes(),
    ]
    .concat()
}

#[test]
fn packet_times_past_year_9999_are_held_there() {
    // A pcapng capture whose 64-bit timestamps are at the very top of the
    // range, then back at 1970: one TCP SYN three times.
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut idb = vec![1, 0, 0, 0];
    idb.extend_from_slice(&65535u32.to_le_bytes());
    let mut frame = vec![0u8; 6];
    frame.extend_from_slice(&[0x11; 6]);
    frame.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0]);
    frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    frame.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]);
    frame.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    let mut bytes = [block(0x0A0D_0D0A, &shb), block(1, &idb)].concat();
    for ts in [u64::MAX, u64::MAX - 1, 5] {
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        epb.extend_from_slice(&frame);
        bytes.extend_from_slice(&block(6, &epb));
    }
    let p = temp("far-future.pcapng", &bytes);
    let p = p.to_str().expect("path");
    let feed = temp(
        "far-future.jsonl",
        b"{\"ts\":\"9999-12-31T23:59:59Z\",\"host\":\"h\",\"proto\":\"tcp\",\"src_ip\":\"10.0.0.1\",\"src_port\":40000,\"dst_ip\":\"10.0.0.2\",\"dst_port\":80,\"pid\":3}\n",
    );
    for threads in ["1", "2"] {
        let run = procflow(&["flows", "--threads", threads, p]);
        assert!(run.status.success(), "{}", run.stderr);
        let records: Vec<serde_json::Value> = run
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("record"))
            .collect();
        assert_eq!(records.len(), 1, "{}", run.stdout);
        assert_eq!(records[0]["event"]["start"], "9999-12-31T23:59:59.999999Z");
        assert_eq!(records[0]["source"]["packets"], 3);
        let run = procflow(&[
            "read",
            "--threads",
            threads,
            "--feed",
            feed.to_str().expect("path"),
            "--no-learn",
            p,
        ]);
        assert!(run.status.success(), "{}", run.stderr);
        assert!(run.stdout.contains("\"pid\":3"), "{}", run.stdout);
    }
}

#[test]
fn unknown_output_profile_is_refused_with_the_known_ones() {
    let cap = pcap("http-keepalive.pcap");
    let run = procflow(&[
        "flows",
        "--output-profile",
        "nope",
        cap.to_str().expect("path"),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("unknown output profile (known: native, ecs, eve)"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    let named = procflow(&[
        "flows",
        "--output-profile",
        "native",
        cap.to_str().expect("path"),
    ]);
    let default = procflow(&["flows", cap.to_str().expect("path")]);
    assert!(named.status.success());
    assert!(!named.stdout.is_empty());
    assert_eq!(named.stdout, default.stdout);
}

/// A feed read as the wrong format (every line bad, none usable) stops
/// the run with the first bad line's reason, unless the user asks to go
/// on; lines skipped as valid but of no use are no such failure.
#[test]
fn a_feed_read_as_the_wrong_format_is_an_error() {
    let cap = pcap("attribution.pcap");
    let cap = cap.to_str().expect("path");
    let feed = pcap("attribution.feed.jsonl");
    let feed = feed.to_str().expect("path");
    assert_clean_error(
        &["read", "--feed", feed, "--feed-format", "sysmon", cap],
        "none of its 21 lines gave a socket event read as sysmon, 21 were bad (line 1: not a Sysmon record)",
    );
    let run = procflow(&[
        "read",
        "--no-progress",
        "--feed",
        feed,
        "--feed-format",
        "sysmon",
        "--accept-bad-feeds",
        "--flows",
        "/dev/null",
        cap,
    ]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stderr.contains("21 bad lines"), "{}", run.stderr);
}
