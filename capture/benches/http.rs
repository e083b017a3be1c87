//! HTTP/1.x parsing on reassembled streams, one new connection per
//! iteration, fed in MSS-sized (1460-byte) pieces as reassembly hands them
//! over.
//!
//! `cargo bench -p capture --bench http`:
//!
//! * `small_get`: one GET and a 512-byte response;
//! * `keepalive_10`: ten GETs and ten 2 KiB responses on one connection;
//! * `chunked_64k`: one GET and a 64 KiB response in 16 chunks;
//! * `body_1m`: one GET and a 1 MiB Content-Length body (body counting).
//!
//! Throughput is in stream bytes (both directions).
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use capture::internals::http::{Http, HttpLimits};
use capture::FlowConfig;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcapgen::http::{text_body, HttpRequest, HttpResponse};
use std::hint::black_box;
use std::time::Duration;

const MSS: usize = 1460;

/// One direction's bytes of a connection, in the order they are fed.
struct Stream {
    pieces: Vec<(bool, Vec<u8>)>,
    bytes: u64,
    transactions: usize,
}

impl Stream {
    fn new(exchanges: &[(HttpRequest, HttpResponse)]) -> Self {
        let mut pieces = Vec::new();
        let mut bytes = 0;
        for (req, resp) in exchanges {
            for (to_server, msg) in [(true, req.bytes()), (false, resp.bytes())] {
                bytes += msg.len() as u64;
                for p in msg.chunks(MSS) {
                    pieces.push((to_server, p.to_vec()));
                }
            }
        }
        Stream {
            pieces,
            bytes,
            transactions: exchanges.len(),
        }
    }
}

fn limits() -> HttpLimits {
    let cfg = FlowConfig::default();
    HttpLimits {
        max_transactions: cfg.max_http_transactions,
        max_header_bytes: cfg.max_http_header_bytes,
        max_field_len: cfg.max_field_len,
    }
}

/// Parses one connection; returns its transactions and their message bytes.
fn run(s: &Stream) -> (usize, u64) {
    let mut h = Http::new(limits());
    for (to_server, piece) in &s.pieces {
        h.data(*to_server, black_box(piece));
    }
    h.finish();
    let bytes = h
        .txs()
        .iter()
        .map(|t| t.request_bytes + t.response_bytes)
        .sum();
    (h.txs().len(), bytes)
}

fn bench(c: &mut Criterion) {
    let get = |uri: &str| HttpRequest::get("www.example.com", uri);
    let cases = [
        (
            "small_get",
            Stream::new(&[(get("/"), HttpResponse::ok("text/html", 512, 1))]),
        ),
        (
            "keepalive_10",
            Stream::new(
                &(0..10)
                    .map(|i| {
                        (
                            get(&format!("/api/v1/items/{i}?fields=all")),
                            HttpResponse::ok("application/json", 2048, i),
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
        ),
        ("chunked_64k", {
            let body = text_body(64 << 10, 7);
            let chunks: Vec<&[u8]> = body.chunks(4096).collect();
            let resp = HttpResponse::chunked(
                200,
                "OK",
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Transfer-Encoding", "chunked"),
                ],
                &chunks,
                &[],
            );
            Stream::new(&[(get("/download"), resp)])
        }),
        (
            "body_1m",
            Stream::new(&[(
                get("/big.bin"),
                HttpResponse::ok("application/octet-stream", 1 << 20, 3),
            )]),
        ),
    ];
    let mut g = c.benchmark_group("http");
    for (name, stream) in &cases {
        assert_eq!(run(stream), (stream.transactions, stream.bytes), "{name}");
        g.throughput(Throughput::Bytes(stream.bytes));
        g.bench_function(*name, |b| b.iter(|| run(stream)));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
