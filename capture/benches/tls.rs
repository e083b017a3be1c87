//! TLS parsing on reassembled streams, one new connection per iteration,
//! fed in MSS-sized (1460-byte) pieces.
//!
//! `cargo bench -p capture --bench tls`:
//!
//! * `client_hello`: a TLS 1.3 ClientHello (SNI, ALPN, GREASE);
//! * `handshake_13`: ClientHello, ServerHello, change_cipher_spec and the
//!   server's encrypted flight (4 KiB of application_data records);
//! * `app_data_1m`: the handshake, then 1 MiB of application_data records
//!   (16 KiB each) from the server and 64 KiB from the client.
//!
//! Throughput is in stream bytes (both directions).
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use capture::internals::tls::Tls;
use capture::FlowConfig;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcapgen::tls::{
    app_data, change_cipher_spec, client_hello, record, server_hello, ClientHelloSpec,
    CT_HANDSHAKE, GREASE, TLS12, TLS13,
};
use std::hint::black_box;
use std::time::Duration;

const MSS: usize = 1460;

struct Conn {
    pieces: Vec<(bool, Vec<u8>)>,
    bytes: u64,
}

impl Conn {
    fn new(writes: &[(bool, Vec<u8>)]) -> Self {
        let mut pieces = Vec::new();
        let mut bytes = 0;
        for (to_server, w) in writes {
            bytes += w.len() as u64;
            for p in w.chunks(MSS) {
                pieces.push((*to_server, p.to_vec()));
            }
        }
        Conn { pieces, bytes }
    }
}

fn run(c: &Conn) -> u64 {
    let mut t = Tls::new(FlowConfig::default().max_tls_hello_bytes);
    for (to_server, piece) in &c.pieces {
        t.data(*to_server, black_box(piece));
    }
    assert!(t.info.sni.is_some());
    t.info.app_bytes_in + t.info.app_bytes_out
}

fn records(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut left = len;
    let mut k = 0;
    while left > 0 {
        let n = left.min(16 << 10);
        out.extend_from_slice(&app_data(n, seed + k));
        left -= n;
        k += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let hello = client_hello(&ClientHelloSpec {
        legacy_version: TLS12,
        sni: Some("api.example.com".into()),
        alpn: vec!["h2".into(), "http/1.1".into()],
        supported_versions: vec![GREASE, TLS13, TLS12],
        seed: 1,
    });
    let server_flight = [
        record(
            CT_HANDSHAKE,
            TLS12,
            &server_hello(0x1301, Some(TLS13), &[7; 32], 2),
        ),
        change_cipher_spec(),
        records(4096, 3),
    ]
    .concat();
    let handshake = vec![
        (true, hello.clone()),
        (false, server_flight),
        (true, [change_cipher_spec(), app_data(64, 4)].concat()),
    ];
    let mut bulk = handshake.clone();
    bulk.push((true, records(64 << 10, 5)));
    bulk.push((false, records(1 << 20, 6)));
    let cases = [
        ("client_hello", Conn::new(&[(true, hello)])),
        ("handshake_13", Conn::new(&handshake)),
        ("app_data_1m", Conn::new(&bulk)),
    ];
    let mut g = c.benchmark_group("tls");
    for (name, conn) in &cases {
        run(conn);
        g.throughput(Throughput::Bytes(conn.bytes));
        g.bench_function(*name, |b| b.iter(|| run(conn)));
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
