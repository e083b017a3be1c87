//! Attribution cost per flow with 1,000,000 socket events in the index.
//!
//! `cargo bench -p correlate --bench attribution`. The index holds 1M
//! connect events from 10,000 hosts; flows are looked up that match an
//! event (hit), that no event names (miss), and the offset observation
//! every flow goes through.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use correlate::attribute::FlowKeyTime;
use correlate::{AttributionConfig, EventKind, Os, Process, SocketEvent, SocketIndex, Transport};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

const EVENTS: u32 = 1_000_000;
const HOSTS: u32 = 10_000;
const T0: u64 = 1_700_000_000_000_000;

fn client(i: u32) -> (IpAddr, u16) {
    let h = i % HOSTS;
    (
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | h)),
        1024 + (i / HOSTS % 60_000) as u16,
    )
}

fn server(i: u32) -> (IpAddr, u16) {
    (IpAddr::V4(Ipv4Addr::from(0xcb00_7100 | (i % 251))), 443)
}

fn build() -> SocketIndex {
    let mut ix = SocketIndex::new(AttributionConfig::default());
    let procs: Vec<Arc<Process>> = (0..64)
        .map(|k| {
            Arc::new(Process {
                pid: Some(1000 + k),
                executable: Some(format!("C:\\Program Files\\App{k}\\app{k}.exe")),
                user: Some("CORP\\user".to_string()),
                ..Process::default()
            })
        })
        .collect();
    for i in 0..EVENTS {
        let (cip, cport) = client(i);
        let (sip, sport) = server(i);
        ix.insert(
            SocketEvent {
                ts: T0 + u64::from(i) * 1000,
                host: format!("host{}", i % HOSTS),
                host_ip: None,
                os: Some(Os::Windows),
                kind: EventKind::Connect,
                proto: Some(Transport::Tcp),
                local_ip: Some(cip),
                local_port: Some(cport),
                remote_ip: sip,
                remote_port: sport,
                process: procs[(i % 64) as usize].clone(),
            },
            0,
        );
    }
    assert_eq!(ix.len(), EVENTS as usize);
    ix
}

fn flow(i: u32, hit: bool) -> FlowKeyTime {
    let (cip, cport) = client(i);
    FlowKeyTime {
        proto: Transport::Tcp,
        client: (
            cip,
            if hit {
                cport
            } else {
                cport.wrapping_add(7) | 1
            },
        ),
        server: server(i),
        start: T0 + u64::from(i) * 1000 + 500,
        end: T0 + u64::from(i) * 1000 + 90_000,
        midstream: false,
    }
}

fn bench(c: &mut Criterion) {
    let mut ix = build();
    let mut i = 0u32;
    c.bench_function("attribute hit, 1M sockets", |b| {
        b.iter(|| {
            i = (i + 7919) % EVENTS;
            black_box(ix.attribute(black_box(&flow(i, true))))
        })
    });
    c.bench_function("attribute miss, 1M sockets", |b| {
        b.iter(|| {
            i = (i + 7919) % EVENTS;
            black_box(ix.attribute(black_box(&flow(i, false))))
        })
    });
    c.bench_function("observe (clock sample), 1M sockets", |b| {
        b.iter(|| {
            i = (i + 7919) % EVENTS;
            ix.observe(black_box(&flow(i, true)));
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
