//! Writing a flow record as a JSON line: what the output stage does for
//! every flow, a large share of a busy link's time (a flood of short HTTP
//! connections spends a quarter of its instructions here).
//!
//! `cargo bench -p model --bench json`:
//!
//! * `http_record`: a TCP flow with one HTTP transaction (a browser's
//!   user agent, a query string), as `procflow flows` writes it;
//! * `escaped_string`: the same record whose user agent carries quotes
//!   and a tab (the escaping path).
//!
//! Throughput is in bytes written. A scan for bytes to escape eight at a
//! time (has-less and has-zero word tricks) was measured against the plain
//! byte loop: the string writer took 8 % fewer instructions on a flood's
//! records, but the records as a whole took more (callgrind, `procflow
//! flows` on `pcapgen flood --flows 20000`): the strings are short, and the
//! byte loop stays.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use model::flow::{
    AppProtocol, EndpointFields, EventFields, FlowFields, FlowRecord, HttpTransaction,
    NetworkFields, Transport,
};
use std::hint::black_box;

fn record(user_agent: &str) -> FlowRecord {
    let end = |ip: [u8; 4], port, bytes| EndpointFields {
        ip: ip.into(),
        port,
        packets: 8,
        bytes,
    };
    FlowRecord {
        community_id: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into(),
        event: EventFields {
            start: 1_700_000_000_123_456,
            end: 1_700_000_002_654_321,
            reason: "fin",
        },
        network: NetworkFields {
            transport: Transport::Tcp,
            protocol: Some(AppProtocol::HTTP),
            vlan: None,
        },
        source: end([10, 1, 2, 3], 51_234, 1_204),
        destination: end([192, 0, 2, 80], 80, 18_771),
        flow: FlowFields {
            payload_out: 612,
            payload_in: 17_944,
            history: "ShADadFf".into(),
            ..FlowFields::default()
        },
        tunnel: None,
        icmp: None,
        icmp_errors: None,
        http: vec![HttpTransaction {
            method: Some("GET".into()),
            host: Some("updates.example-cdn.net".into()),
            uri: Some("/v2/check?client=desktop&os=win64&build=22631.4037&channel=stable".into()),
            user_agent: Some(user_agent.into()),
            version: Some("HTTP/1.1".into()),
            response_version: Some("HTTP/1.1".into()),
            status: Some(200),
            content_type: Some("application/json; charset=utf-8".into()),
            request_bytes: 612,
            response_bytes: 17_944,
            request_body_bytes: 0,
            response_body_bytes: 17_650,
            request_body_decoded_bytes: None,
            response_body_decoded_bytes: None,
        }],
        tls: None,
        extra: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let plain = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    let mut g = c.benchmark_group("json");
    for (name, ua) in [
        ("http_record", plain.to_string()),
        ("escaped_string", format!("{plain} \"beta\"\tbuild")),
    ] {
        let rec = record(&ua);
        let mut out = Vec::with_capacity(2048);
        rec.write_json(&mut out);
        g.throughput(Throughput::Bytes(out.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                black_box(&rec).write_json(&mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
