//! The hot path allocates nothing per packet.
//!
//! An `Engine` (one shard, this thread) reads a capture of 500 long-lived
//! connections: HTTP downloads with a Content-Length body and with a
//! chunked body, HTTP uploads, TLS downloads and TLS uploads, over
//! Ethernet, 802.1Q and IPv6. Their handshakes, requests, response heads
//! and first body bytes are the warm-up; then every heap allocation of
//! this thread is counted, packet by packet, while the same connections
//! carry on with in-order body and application-data bytes (and the pure
//! ACKs of them). No flow starts or ends, and no HTTP message starts, in
//! that window, so nothing there has a reason to allocate: the count must
//! be zero.
//!
//! A second test reports the allocations per packet over a whole capture
//! of mixed traffic (new flows, HTTP messages, TLS hellos and flow records
//! included), for the record.
//!
//! Counting uses the `allocation-counter` crate (its own global allocator,
//! counting per thread), since the workspace forbids `unsafe` here.
//! `cargo test -p capture --test alloc -- --nocapture` prints the figures.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use allocation_counter::measure;
use capture::decode::LinkType;
use capture::PacketEngine;
use capture::{Engine, FlowConfig, FlowRecord};
use pcapgen::http::{chunked, HttpRequest, HttpResponse};
use pcapgen::pcap::records;
use pcapgen::tls::{
    app_data, change_cipher_spec, client_hello, record, server_hello, ClientHelloSpec,
    CT_HANDSHAKE, GREASE, TLS12, TLS13,
};
use pcapgen::{Capture, Dir, Link, TcpConn};
use std::net::SocketAddr;

/// Connections of each kind.
const PER_KIND: usize = 100;
/// Body rounds before counting starts, counted, and after.
const WARM_ROUNDS: usize = 2;
const COUNTED_ROUNDS: usize = 6;
const TAIL_ROUNDS: usize = 1;
/// Bytes each connection sends per round: four full segments.
const PIECE: usize = 4 * 1460;

#[derive(Clone, Copy)]
enum Kind {
    HttpDownload,
    HttpChunked,
    HttpUpload,
    TlsDownload,
    TlsUpload,
}

struct Conn {
    kind: Kind,
    tcp: TcpConn,
}

fn endpoints(n: usize) -> (Link, SocketAddr, SocketAddr) {
    let link = if n % 5 == 1 {
        Link::Vlan(42)
    } else {
        Link::Ethernet
    };
    let port = 20_000 + n as u16;
    if n % 4 == 3 {
        (
            link,
            format!("[fd00:2::{:x}]:{port}", n + 1).parse().unwrap(),
            format!("[2001:db8:2::{:x}]:443", n % 50 + 1)
                .parse()
                .unwrap(),
        )
    } else {
        (
            link,
            format!("10.2.{}.{}:{port}", n / 200, n % 200 + 10)
                .parse()
                .unwrap(),
            format!("198.18.2.{}:80", n % 50 + 1).parse().unwrap(),
        )
    }
}

fn body_len() -> usize {
    PIECE * (WARM_ROUNDS + COUNTED_ROUNDS + TAIL_ROUNDS)
}

/// Handshakes, requests and response heads: everything that sets state up.
fn open(cap: &mut Capture, c: &mut Conn, n: usize) {
    c.tcp.handshake(cap);
    let total = body_len().to_string();
    match c.kind {
        Kind::HttpDownload => {
            c.tcp
                .client_send(cap, &HttpRequest::get("dl.example", "/file.bin").bytes());
            let head = HttpResponse::new(
                "HTTP/1.1",
                200,
                "OK",
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Length", &total),
                ],
                Vec::new(),
            );
            c.tcp.server_send(cap, &head.head);
        }
        Kind::HttpChunked => {
            c.tcp
                .client_send(cap, &HttpRequest::get("dl.example", "/stream").bytes());
            let head = HttpResponse::new(
                "HTTP/1.1",
                200,
                "OK",
                &[
                    ("Content-Type", "text/plain"),
                    ("Transfer-Encoding", "chunked"),
                ],
                Vec::new(),
            );
            c.tcp.server_send(cap, &head.head);
        }
        Kind::HttpUpload => {
            let req = HttpRequest::new(
                "POST",
                "/upload",
                "HTTP/1.1",
                &[("Host", "up.example"), ("Content-Length", &total)],
                Vec::new(),
            );
            c.tcp.client_send(cap, &req.head);
        }
        Kind::TlsDownload | Kind::TlsUpload => {
            let hello = client_hello(&ClientHelloSpec {
                legacy_version: TLS12,
                sni: Some(format!("s{n}.example.net")),
                alpn: vec!["h2".into()],
                supported_versions: vec![GREASE, TLS13, TLS12],
                seed: n as u64,
            });
            c.tcp.client_send(cap, &hello);
            let flight = [
                record(
                    CT_HANDSHAKE,
                    TLS12,
                    &server_hello(0x1301, Some(TLS13), &[1; 32], n as u64),
                ),
                change_cipher_spec(),
                app_data(3000, n as u64),
            ]
            .concat();
            c.tcp.server_send(cap, &flight);
            c.tcp
                .client_send(cap, &[change_cipher_spec(), app_data(53, 1)].concat());
        }
    }
}

/// One round of body bytes: `PIECE` bytes from the sending side.
fn round(cap: &mut Capture, c: &mut Conn, r: usize) {
    match c.kind {
        Kind::HttpDownload => c.tcp.server_send(cap, &vec![b'd'; PIECE]),
        Kind::HttpUpload => c.tcp.client_send(cap, &vec![b'u'; PIECE]),
        Kind::HttpChunked => {
            // One chunk per round (its size line and CRLF included).
            let data = vec![b'c'; PIECE - 8];
            let mut piece = format!("{:x}\r\n", data.len()).into_bytes();
            piece.extend_from_slice(&data);
            piece.extend_from_slice(b"\r\n");
            c.tcp.server_send(cap, &piece);
        }
        Kind::TlsDownload | Kind::TlsUpload => {
            // Two 4 KiB records per round, sent as two writes split inside
            // the second record: headers fall inside segments, and records
            // span writes.
            let dir = if matches!(c.kind, Kind::TlsDownload) {
                Dir::ToClient
            } else {
                Dir::ToServer
            };
            let stream: Vec<u8> = (0..2)
                .map(|k| app_data(4096, (r * 2 + k) as u64))
                .collect::<Vec<_>>()
                .concat();
            c.tcp.send(cap, dir, &stream[..PIECE.min(stream.len())]);
            c.tcp.send(cap, dir, &stream[PIECE.min(stream.len())..]);
        }
    }
}

fn close(cap: &mut Capture, c: &mut Conn) {
    if matches!(c.kind, Kind::HttpChunked) {
        c.tcp.server_send(cap, &chunked(&[], &[]));
    }
    c.tcp.close(cap);
}

/// The capture and the packet range to count.
fn steady_capture() -> (Vec<u8>, u64, u64) {
    let kinds = [
        Kind::HttpDownload,
        Kind::HttpChunked,
        Kind::HttpUpload,
        Kind::TlsDownload,
        Kind::TlsUpload,
    ];
    let mut cap = Capture::new(1);
    let mut conns: Vec<Conn> = (0..PER_KIND * kinds.len())
        .map(|n| {
            let (link, c, s) = endpoints(n);
            Conn {
                kind: kinds[n % kinds.len()],
                tcp: TcpConn::new(link, c, s),
            }
        })
        .collect();
    for (n, c) in conns.iter_mut().enumerate() {
        open(&mut cap, c, n);
    }
    let mut r = 0;
    for _ in 0..WARM_ROUNDS {
        for c in conns.iter_mut() {
            round(&mut cap, c, r);
        }
        r += 1;
    }
    let start = cap.packets();
    for _ in 0..COUNTED_ROUNDS {
        for c in conns.iter_mut() {
            round(&mut cap, c, r);
        }
        r += 1;
    }
    let end = cap.packets();
    for _ in 0..TAIL_ROUNDS {
        for c in conns.iter_mut() {
            round(&mut cap, c, r);
        }
        r += 1;
    }
    for c in conns.iter_mut() {
        close(&mut cap, c);
    }
    (cap.into_bytes(), start, end)
}

#[test]
fn steady_state_allocates_nothing_per_packet() {
    // The counter is live in this binary (so a zero below means zero).
    assert_eq!(
        measure(|| drop(std::hint::black_box(Box::new(1u64)))).count_total,
        1
    );
    let (pcap, start, end) = steady_capture();
    let mut engine = Engine::new(FlowConfig::default(), 1);
    let mut records_out: Vec<FlowRecord> = Vec::new();
    let mut counted = 0u64;
    let mut allocations = 0u64;
    let mut bytes = 0u64;
    let mut offenders = Vec::new();
    let mut flows_at_start = 0;
    let mut records_at_start = 0;
    for (i, rec) in records(&pcap).enumerate() {
        let i = i as u64;
        if i == start {
            flows_at_start = engine.flows();
            records_at_start = records_out.len();
        }
        if (start..end).contains(&i) {
            let mut out = |r: FlowRecord| records_out.push(r);
            let info = measure(|| {
                engine.process_frame(
                    LinkType::Ethernet,
                    rec.ts_us,
                    rec.data,
                    rec.orig_len,
                    &mut out,
                )
            });
            counted += 1;
            allocations += info.count_total;
            bytes += info.bytes_total;
            if info.count_total > 0 && offenders.len() < 10 {
                offenders.push((i, info.count_total, info.bytes_total));
            }
        } else {
            engine.process_frame(
                LinkType::Ethernet,
                rec.ts_us,
                rec.data,
                rec.orig_len,
                &mut |r| records_out.push(r),
            );
        }
    }
    assert_eq!(
        engine.flows(),
        flows_at_start,
        "no flow may end in the counted window"
    );
    assert_eq!(records_out.len(), records_at_start);
    engine.finish(&mut |r| records_out.push(r));
    let stats = engine.stats();

    // The traffic is what it was meant to be: every connection one flow,
    // nothing missed, every body byte parsed.
    assert_eq!(flows_at_start, 5 * PER_KIND);
    assert_eq!(records_out.len(), 5 * PER_KIND);
    assert_eq!(stats.decode_errors.total(), 0);
    assert_eq!(stats.missed_bytes, 0);
    assert_eq!(stats.http_parse_errors + stats.tls_parse_errors, 0);
    let body = body_len() as u64;
    let rounds = (WARM_ROUNDS + COUNTED_ROUNDS + TAIL_ROUNDS) as u64;
    for r in &records_out {
        assert_eq!(r.event.reason, "fin");
        match (r.http.first(), &r.tls) {
            (Some(tx), None) => match tx.uri.as_deref() {
                Some("/file.bin") => assert_eq!(tx.response_body_bytes, body),
                Some("/stream") => assert_eq!(tx.response_body_bytes, body - 8 * rounds),
                Some("/upload") => assert_eq!(tx.request_body_bytes, body),
                other => panic!("unexpected transaction {other:?}"),
            },
            (None, Some(tls)) => {
                assert!(tls.app_bytes_in + tls.app_bytes_out > body);
            }
            other => panic!("unexpected record {other:?}"),
        }
    }

    println!(
        "steady state: {} flows, {counted} packets counted ({} warm-up), {allocations} allocations, {bytes} bytes",
        flows_at_start, start
    );
    println!(
        "allocations per packet: {}",
        allocations as f64 / counted as f64
    );
    assert!(
        counted > 10_000,
        "the counted window is too small: {counted}"
    );
    assert_eq!(
        allocations, 0,
        "packets (index, allocations, bytes) that allocated: {offenders:?}"
    );
}

#[test]
fn mixed_capture_allocations_per_packet() {
    let mut pcap = Vec::new();
    let summary = pcapgen::write_bench(&mut pcap, 24 << 20, 1);
    let mut engine = Engine::new(FlowConfig::default(), 1);
    let mut n_records = 0u64;
    let mut packets = 0u64;
    let info = measure(|| {
        let mut out = |r: FlowRecord| {
            n_records += 1;
            drop(r);
        };
        for rec in records(&pcap) {
            packets += 1;
            engine.process_frame(
                LinkType::Ethernet,
                rec.ts_us,
                rec.data,
                rec.orig_len,
                &mut out,
            );
        }
        engine.finish(&mut out);
    });
    let stats = engine.stats();
    assert_eq!(packets, summary.packets);
    assert_eq!(n_records, stats.flows_created);
    println!(
        "mixed capture: {packets} packets, {} flows ({} tcp, {} udp), {} HTTP transactions, {} TLS hellos",
        stats.flows_created,
        summary.tcp_flows,
        summary.udp_flows,
        stats.http_transactions,
        stats.tls_client_hellos
    );
    println!(
        "mixed capture: {} allocations, {} bytes; {:.1} allocations per flow",
        info.count_total,
        info.bytes_total,
        info.count_total as f64 / stats.flows_created as f64
    );
    println!(
        "allocations per packet: {:.4}",
        info.count_total as f64 / packets as f64
    );
}

/// An encoded body holds one decoder while it is read, and no more: the
/// first body packet allocates it (about 43 KiB: miniz_oxide's state and
/// window), no packet after allocates anything, and the body's last one
/// gives it back.
#[test]
fn a_decoder_lives_while_its_body_is_read() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let plain: Vec<u8> = (0..20_000u32)
        .flat_map(|i| format!("{i} ").into_bytes())
        .collect();
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&plain).unwrap();
    let gz = e.finish().unwrap();
    let mut cap = Capture::new(pcapgen::wire::LINKTYPE_ETHERNET);
    let mut tcp = TcpConn::new(
        Link::Ethernet,
        "10.2.9.1:40000".parse().unwrap(),
        "198.18.9.1:80".parse().unwrap(),
    );
    tcp.handshake(&mut cap);
    tcp.client_send(&mut cap, &HttpRequest::get("gz.example", "/page").bytes());
    let length = gz.len().to_string();
    let head = HttpResponse::new(
        "HTTP/1.1",
        200,
        "OK",
        &[("Content-Encoding", "gzip"), ("Content-Length", &length)],
        Vec::new(),
    );
    tcp.server_send(&mut cap, &head.head);
    let before_body = cap.packets() as usize;
    tcp.server_send(&mut cap, &gz);
    let pcap = cap.into_bytes();
    let mut engine = Engine::new(FlowConfig::default(), 1);
    let mut held = Vec::new();
    for rec in records(&pcap) {
        let info = measure(|| {
            engine.process_frame(
                LinkType::Ethernet,
                rec.ts_us,
                rec.data,
                rec.orig_len,
                &mut |_| {},
            )
        });
        held.push((info.bytes_current, info.count_total));
    }
    let body = &held[before_body..];
    let (first, _) = body[0];
    println!("decoder: {first} bytes, taken with the first body packet");
    assert!((32 << 10..64 << 10).contains(&first), "{held:?}");
    // The body's last byte gives it back (and a little more: the
    // transaction's text is moved into the record).
    let freed = body.iter().map(|(b, _)| *b).min().unwrap();
    assert!(freed <= -first, "{held:?}");
    // Nothing else is allocated (the output is dropped on the stack).
    assert!(body[1..].iter().all(|(_, n)| *n == 0), "{held:?}");
}
