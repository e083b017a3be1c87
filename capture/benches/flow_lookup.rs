//! Packets hitting existing flows of a table holding 100,000 live TCP
//! flows (one shard, single thread).
//!
//! `cargo bench -p capture --bench flow_lookup`. The flows are a pcapgen
//! flood (handshake plus a 15-byte opaque write each, all left open).
//! Unless said otherwise every packet goes to another flow, in random
//! order, so the flow's state is cold in the cache (the table is far
//! larger than it). Measured per packet:
//!
//! * `engine_ack`: a pure ACK of a random flow through
//!   `Engine::process_frame` (decode, lookup, recency, history, ACK);
//! * `engine_ack_hot`: the same, cycling over 4,096 of the flows only, so
//!   their state stays in the cache;
//! * `shard_ack`: as `engine_ack`, already decoded, through
//!   `Shard::process` (the flow table alone);
//! * `engine_data`: a fresh in-order 100-byte segment of a random flow
//!   (decode, lookup, reassembly, delivery to the application layer).
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use capture::decode::{decode, LinkType, Packet};
use capture::internals::flow::Shard;
use capture::PacketEngine;
use capture::{Engine, FlowConfig, FlowRecord};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcapgen::flood::{conn_frame, flood_isns, for_each_frame, Flood, FloodPayload};
use pcapgen::rng::mix64;
use pcapgen::wire::{TCP_ACK, TCP_PSH};
use std::hint::black_box;
use std::time::{Duration, Instant};

const FLOWS: u64 = 100_000;
const BATCH: usize = 4096;

fn spec() -> Flood {
    Flood {
        flows: FLOWS,
        payload: FloodPayload::Opaque,
        spacing_us: 1,
        close: false,
    }
}

fn no_record(_: FlowRecord) {
    panic!("no flow may end during the benchmark");
}

/// A pure ACK from the client of flow `i`, acknowledging all the server sent.
fn ack_frame(i: u64) -> Vec<u8> {
    let (c, s) = flood_isns(i);
    let seq = c.wrapping_add(1 + FloodPayload::Opaque.len() as u32);
    let mut f = Vec::new();
    conn_frame(&mut f, i, true, seq, s.wrapping_add(1), TCP_ACK, &[], &[]);
    f
}

fn random_flow(k: u64) -> u64 {
    mix64(k) % FLOWS
}

fn bench(c: &mut Criterion) {
    let cfg = FlowConfig::default();
    let mut engine = Engine::new(cfg.clone(), 1);
    let mut shard = Shard::new(cfg);
    let mut now = 0;
    let t = Instant::now();
    for_each_frame(&spec(), |ts, frame| {
        now = ts;
        engine.process_frame(
            LinkType::Ethernet,
            ts,
            frame,
            frame.len() as u32,
            &mut no_record,
        );
        let pkt = decode(LinkType::Ethernet, frame).unwrap();
        shard.process(&pkt, None, ts, frame.len() as u32, &mut no_record);
        Ok(())
    })
    .unwrap();
    assert_eq!(engine.flows() as u64, FLOWS);
    assert_eq!(shard.flows() as u64, FLOWS);
    eprintln!(
        "flow_lookup: loaded 100,000 flows twice in {:?}",
        t.elapsed()
    );

    // One ACK per flow, in a shuffled order: every packet finds its flow
    // cold in the cache, as it would in a table this size.
    let mut order: Vec<u64> = (0..FLOWS).collect();
    order.sort_by_key(|&i| mix64(i ^ 0xacc));
    let acks: Vec<Vec<u8>> = order.iter().map(|&i| ack_frame(i)).collect();
    let decoded: Vec<Packet<'_>> = acks
        .iter()
        .map(|f| decode(LinkType::Ethernet, f).unwrap())
        .collect();

    let mut g = c.benchmark_group("flow_lookup_100k");
    g.throughput(Throughput::Elements(1));
    let mut k = 0usize;
    g.bench_function("engine_ack", |b| {
        b.iter(|| {
            let f = &acks[k % acks.len()];
            k += 1;
            engine.process_frame(
                LinkType::Ethernet,
                now,
                black_box(f),
                f.len() as u32,
                &mut no_record,
            );
        })
    });
    // The same with only 4,096 of the flows active: their state stays in
    // the cache, which shows what the misses above cost.
    let mut k = 0usize;
    g.bench_function("engine_ack_hot", |b| {
        b.iter(|| {
            let f = &acks[k % BATCH];
            k += 1;
            engine.process_frame(
                LinkType::Ethernet,
                now,
                black_box(f),
                f.len() as u32,
                &mut no_record,
            );
        })
    });
    let mut k = 0usize;
    g.bench_function("shard_ack", |b| {
        b.iter(|| {
            let p = &decoded[k % decoded.len()];
            k += 1;
            shard.process(black_box(p), None, now, 66, &mut no_record);
        })
    });

    // Fresh data: each flow's client carries on where it stopped. Frames
    // are built outside the timing, a batch at a time.
    let mut next_seq: Vec<u32> = (0..FLOWS)
        .map(|i| {
            flood_isns(i)
                .0
                .wrapping_add(1 + FloodPayload::Opaque.len() as u32)
        })
        .collect();
    let payload = [b'x'; 100];
    let mut batch: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    let mut k = 0u64;
    g.bench_function("engine_data", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH as u64) as usize;
                for f in batch.iter_mut().take(n) {
                    let i = random_flow(k ^ 0x5555_5555);
                    k += 1;
                    let seq = next_seq[i as usize];
                    next_seq[i as usize] = seq.wrapping_add(payload.len() as u32);
                    let ack = flood_isns(i).1.wrapping_add(1);
                    conn_frame(f, i, true, seq, ack, TCP_ACK | TCP_PSH, &[], &payload);
                }
                let start = Instant::now();
                for f in batch.iter().take(n) {
                    engine.process_frame(
                        LinkType::Ethernet,
                        now,
                        black_box(f),
                        f.len() as u32,
                        &mut no_record,
                    );
                }
                total += start.elapsed();
                left -= n as u64;
            }
            total
        })
    });
    g.finish();
    let s = engine.stats();
    assert_eq!(s.flows_created, FLOWS);
    assert_eq!(s.decode_errors.total(), 0);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
