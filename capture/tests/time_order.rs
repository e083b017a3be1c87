//! Packet time that runs back: a frame stamped before frames read earlier
//! is taken at the latest time seen, so every shard and thread count ends
//! the same flows for the same reason (a fuzzer found one shard keeping a
//! backdated UDP flow to the end behind a younger TCP flow, while two
//! shards ended it as idle).
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use capture::decode::LinkType;
use capture::parallel::ParallelEngine;
use capture::PacketEngine;
use capture::{Engine, FlowConfig, FlowRecord, Stats};

const SECOND: u64 = 1_000_000;
/// 2011-01-01T00:00:00Z.
const T1: u64 = 1_293_840_000 * SECOND;
/// A year earlier.
const T0: u64 = T1 - 365 * 86_400 * SECOND;

/// Ethernet + IPv4 + (TCP SYN or UDP with 4 payload bytes), checksums left 0.
fn frame(sport: u16, dport: u16, udp: bool) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x08, 0x00]);
    let l4: Vec<u8> = if udp {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&12u16.to_be_bytes());
        u.extend_from_slice(&[0, 0, b'p', b'i', b'n', b'g']);
        u
    } else {
        let mut t = Vec::new();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&1000u32.to_be_bytes());
        t.extend_from_slice(&0u32.to_be_bytes());
        t.extend_from_slice(&[0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        t
    };
    let total = (20 + l4.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, if udp { 17 } else { 6 }, 0, 0]);
    f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&l4);
    f
}

/// A TCP SYN at `T1`, then a UDP datagram stamped a year earlier, then a
/// third flow 70 s after `T1` (past the UDP timeout, inside the TCP one).
fn frames() -> Vec<(u64, Vec<u8>)> {
    vec![
        (T1, frame(40_000, 80, false)),
        (T0, frame(40_001, 53, true)),
        (T1 + 70 * SECOND, frame(40_002, 443, false)),
    ]
}

fn run(shards: usize, threads: usize) -> (Vec<FlowRecord>, Stats) {
    let mut records = Vec::new();
    let mut out = |r: FlowRecord| records.push(r);
    let cfg = FlowConfig::default();
    let stats = if threads > 1 {
        let mut e = ParallelEngine::new(cfg, threads);
        for (ts, f) in frames() {
            e.process_frame(LinkType::Ethernet, ts, &f, f.len() as u32, &mut out);
        }
        e.finish(&mut out);
        e.stats()
    } else {
        let mut e = Engine::new(cfg, shards);
        for (ts, f) in frames() {
            e.process_frame(LinkType::Ethernet, ts, &f, f.len() as u32, &mut out);
        }
        e.finish(&mut out);
        e.stats()
    };
    records.sort_by_key(|r| r.source.port);
    (records, stats)
}

#[test]
fn a_backdated_packet_ends_alike_on_any_shard_count() {
    for (shards, threads) in [(1, 1), (2, 1), (4, 1), (1, 2), (1, 3)] {
        let (records, stats) = run(shards, threads);
        let what = format!("{shards} shard(s), {threads} thread(s)");
        assert_eq!(stats.packets, 3, "{what}");
        assert_eq!(stats.time_backwards, 1, "{what}");
        let got: Vec<(u16, &str, u64, u64)> = records
            .iter()
            .map(|r| (r.source.port, r.event.reason, r.event.start, r.event.end))
            .collect();
        assert_eq!(
            got,
            vec![
                (40_000, "end_of_input", T1, T1),
                // Taken at the latest time seen, and idle 60 s later.
                (40_001, "idle", T1, T1),
                (40_002, "end_of_input", T1 + 70 * SECOND, T1 + 70 * SECOND),
            ],
            "{what}"
        );
    }
}

#[test]
fn time_that_only_goes_forward_is_not_counted() {
    let mut e = Engine::new(FlowConfig::default(), 1);
    let f = frame(40_000, 80, false);
    for ts in [T0, T0, T1] {
        e.process_frame(LinkType::Ethernet, ts, &f, f.len() as u32, &mut |_| {});
    }
    assert_eq!(e.stats().time_backwards, 0);
}
