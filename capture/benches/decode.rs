//! Frame decoding per packet: Ethernet, 802.1Q and QinQ tagged, IPv4 and
//! IPv6, TCP pure ACKs and full-size data segments.
//!
//! `cargo bench -p capture --bench decode`. Frames are built by pcapgen
//! with correct checksums; each iteration decodes one frame, so the time
//! printed is the time per packet.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use capture::decode::{decode, LinkType};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcapgen::wire::{tcp_frame, IpOpts, Link, LinkCtx, TcpSeg, TCP_ACK, TCP_PSH};
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

fn frame(link: Link, v6: bool, payload: usize) -> Vec<u8> {
    let (src, dst): (SocketAddr, SocketAddr) = if v6 {
        (
            "[fd00:1::a]:51234".parse().unwrap(),
            "[2001:db8:1::1]:443".parse().unwrap(),
        )
    } else {
        (
            "10.1.0.10:51234".parse().unwrap(),
            "198.18.0.1:443".parse().unwrap(),
        )
    };
    let data = vec![0x5a; payload];
    let flags = if payload > 0 {
        TCP_ACK | TCP_PSH
    } else {
        TCP_ACK
    };
    let seg = TcpSeg {
        src,
        dst,
        seq: 0x1234_5678,
        ack: 0x9abc_def0,
        flags,
        window: 64240,
        options: &[],
        payload: &data,
    };
    let mut buf = Vec::new();
    tcp_frame(
        &mut buf,
        &LinkCtx::new(link),
        true,
        &IpOpts::default(),
        &seg,
    );
    buf
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("ethernet_ipv4_ack", Link::Ethernet, false, 0),
        ("ethernet_ipv4_1460", Link::Ethernet, false, 1460),
        ("vlan_ipv4_1460", Link::Vlan(100), false, 1460),
        (
            "qinq_ipv4_1460",
            Link::QinQ {
                outer: 10,
                inner: 20,
            },
            false,
            1460,
        ),
        ("ethernet_ipv6_1440", Link::Ethernet, true, 1440),
        ("vlan_ipv6_ack", Link::Vlan(100), true, 0),
    ];
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for (name, link, v6, payload) in cases {
        let f = frame(link, v6, payload);
        let pkt = decode(LinkType::Ethernet, &f).unwrap();
        assert_eq!(pkt.payload.len(), payload, "{name}");
        g.bench_function(name, |b| {
            b.iter(|| decode(LinkType::Ethernet, black_box(&f)).map(|p| p.payload.len()))
        });
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
