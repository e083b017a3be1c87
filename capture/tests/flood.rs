//! A flood of concurrent connections against a capped flow table: the
//! table never holds more than its cap, and every eviction is counted and
//! written, exactly as the traffic's construction says.
//!
//! The capture is a pcapgen flood of N connections (see
//! `pcapgen::flood`): each opened (SYN, SYN-ACK, ACK, a 47-byte GET, the
//! server's ACK), all before any is closed, then each closed in the order
//! opened (FIN, FIN, ACK); packets 1 µs apart, so no timeout plays a part.
//! One shard with a cap of C flows, C < N. By construction:
//!
//! * open phase: connection `i >= C` pushes out connection `i - C`, so
//!   N - C evictions and the table ends with the last C connections;
//! * close phase: connection `i`'s FIN finds no flow (connections `< N - C`
//!   were evicted, and the last C are pushed out by the first C
//!   closes, before their own FIN comes), so it starts a midstream flow,
//!   which pushes out the oldest: N more evictions;
//! * so 2N flows are created (N of them midstream), 2N - C are evicted,
//!   and the last C midstream flows end at the end of input with reason
//!   `fin` (FIN seen both ways). Every connection gives exactly two
//!   records: its open half (`ShADa`, 3 + 2 packets, evicted) and its close
//!   half (`FfA`, 2 + 1 packets, midstream).
//!
//! The test runs 200,000 connections with a cap of 50,000 (the 1,000,000 /
//! 250,000 of a full run scaled down for debug builds).
//! `FLOOD_FLOWS=1000000 FLOOD_CAP=250000 cargo test --release -p capture
//! --test flood -- --nocapture` runs the full size and prints time and
//! peak memory.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use capture::decode::LinkType;
use capture::{Engine, FlowConfig, FlowRecord};
use pcapgen::flood::{for_each_frame, Flood, FloodPayload, CLOSE_PACKETS};
use std::net::IpAddr;
use std::time::Instant;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().unwrap())
}

/// Connection number of a flood client (see `pcapgen::flood::flood_conn`).
fn conn_index(ip: IpAddr, port: u16) -> usize {
    let IpAddr::V4(v4) = ip else {
        panic!("IPv6 client {ip}")
    };
    (u32::from(v4) - 0x0a80_0000) as usize + usize::from(port - 1024) * 65_536
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    records: u64,
    evicted: u64,
    fin: u64,
    other: u64,
    packets: u64,
    bytes: u64,
}

#[test]
fn capped_table_under_a_flood() {
    let n = env_or("FLOOD_FLOWS", 200_000);
    let cap = env_or("FLOOD_CAP", 50_000);
    assert!(cap < n);
    let spec = Flood::new(n);
    assert_eq!(spec.payload, FloodPayload::Http);
    let cfg = FlowConfig {
        max_flows: cap as usize,
        ..FlowConfig::default()
    };
    let mut engine = Engine::new(cfg, 1);
    // Per connection: bit 0 its open half seen, bit 1 its close half.
    let mut halves = vec![0u8; n as usize];
    let mut tally = Tally::default();
    let mut check = |r: FlowRecord| {
        tally.records += 1;
        match r.event.reason {
            "evicted" => tally.evicted += 1,
            "fin" => tally.fin += 1,
            _ => tally.other += 1,
        }
        tally.packets += r.source.packets + r.destination.packets;
        tally.bytes += r.source.bytes + r.destination.bytes;
        let i = conn_index(r.source.ip, r.source.port);
        assert_eq!(r.destination.port, 80);
        if r.flow.midstream {
            assert_eq!(r.flow.history, "FfA", "connection {i}");
            assert_eq!((r.source.packets, r.destination.packets), (2, 1));
            assert_eq!(r.flow.payload_out + r.flow.payload_in, 0);
            assert_eq!(halves[i] & 2, 0, "connection {i}: two close halves");
            halves[i] |= 2;
        } else {
            assert_eq!(r.event.reason, "evicted", "connection {i}");
            assert_eq!(r.flow.history, "ShADa", "connection {i}");
            assert_eq!((r.source.packets, r.destination.packets), (3, 2));
            assert_eq!((r.flow.payload_out, r.flow.payload_in), (47, 0));
            assert_eq!(r.network.protocol, Some("http"));
            assert_eq!(r.http.len(), 1);
            assert_eq!(halves[i] & 1, 0, "connection {i}: two open halves");
            halves[i] |= 1;
        }
    };

    let t0 = Instant::now();
    let open_packets = n * spec.payload.open_packets();
    let mut seen = 0u64;
    let mut max_flows = 0;
    let mut at_open_end = None;
    let summary = for_each_frame(&spec, |ts, frame| {
        engine.process_frame(
            LinkType::Ethernet,
            ts,
            frame,
            frame.len() as u32,
            &mut check,
        );
        seen += 1;
        let flows = engine.flows();
        assert!(
            flows as u64 <= cap,
            "{flows} flows tracked, the cap is {cap}"
        );
        max_flows = max_flows.max(flows);
        if seen == open_packets {
            at_open_end = Some((flows, engine.stats()));
        }
        Ok(())
    })
    .unwrap();
    engine.finish(&mut check);
    let elapsed = t0.elapsed();
    let stats = engine.stats();

    assert_eq!(
        summary.packets,
        n * (spec.payload.open_packets() + CLOSE_PACKETS)
    );
    let (flows_open, s_open) = at_open_end.unwrap();
    assert_eq!(flows_open as u64, cap);
    assert_eq!(s_open.flows_created, n);
    assert_eq!(s_open.flows_evicted, n - cap);
    assert_eq!(s_open.flows_emitted, n - cap);
    assert_eq!(max_flows as u64, cap);

    assert_eq!(stats.packets, summary.packets);
    assert_eq!(stats.decode_errors.total(), 0);
    assert_eq!(stats.flows_created, 2 * n);
    assert_eq!(stats.flows_midstream, n);
    assert_eq!(stats.flows_evicted, 2 * n - cap);
    assert_eq!(stats.flows_emitted, 2 * n);
    assert_eq!(stats.http_transactions, n);
    assert_eq!(tally.records, 2 * n);
    assert_eq!(tally.evicted, 2 * n - cap);
    assert_eq!(tally.fin, cap);
    assert_eq!(tally.other, 0);
    assert_eq!(tally.packets, summary.packets);
    assert_eq!(tally.bytes, summary.bytes);
    assert!(halves.iter().all(|h| *h == 3), "a connection lacks a half");
    assert_eq!(engine.flows(), 0);

    println!(
        "flood: {n} connections, cap {cap}: {} packets in {elapsed:.2?} ({:.0} packets/s), \
         {} flows created, {} evicted, {} records ({} evicted, {} fin), \
         at most {max_flows} tracked, peak RSS {} MiB",
        summary.packets,
        summary.packets as f64 / elapsed.as_secs_f64(),
        stats.flows_created,
        stats.flows_evicted,
        tally.records,
        tally.evicted,
        tally.fin,
        vm_hwm_kib() / 1024
    );
}
