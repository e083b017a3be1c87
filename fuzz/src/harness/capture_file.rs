//! A capture file through procflow's own reader and the flow engine to
//! flow records.
//!
//! Oracles: an unusable file is a one-line reason; every flow the engine
//! creates is written out (none lost); payload and frame byte counts
//! never exceed what the file holds; every record is valid JSON; one shard and
//! two shards give the same records, and so does the file read whole
//! with its frames decoded ahead of the engine.

use super::scratch;
use capture::decode::LinkType;
use capture::file::FileSource;
use capture::time::Micros;
use capture::PacketEngine;
use capture::{Engine, FlowConfig, FlowRecord};

/// One packet as the reader gave it.
struct Frame {
    link: LinkType,
    ts: Micros,
    data: Vec<u8>,
    wire: u32,
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some(frames) = read(data) else { return };
    let captured: u64 = frames.iter().map(|f| f.data.len() as u64).sum();
    let one = engine(&frames, FlowConfig::default(), 1, captured);
    let two = engine(&frames, FlowConfig::default(), 2, captured);
    assert_eq!(one, two, "one shard and two shards disagree");
    assert_eq!(
        decoded_ahead(data),
        one,
        "frames decoded ahead and one by one disagree"
    );
    let tight = FlowConfig {
        max_flows: 3,
        max_ooo_bytes_per_stream: 64,
        max_ooo_segments_per_stream: 2,
        max_ooo_bytes: 128,
        max_http_transactions: 2,
        max_http_header_bytes: 64,
        max_tls_hello_bytes: 64,
        max_field_len: 8,
        ..FlowConfig::default()
    };
    engine(&frames, tight, 1, captured);
}

/// Reads the input as a capture file; `None` when it is not one (after
/// checking the reason is one line).
fn read(data: &[u8]) -> Option<Vec<Frame>> {
    scratch::with_file("pcap", data, |path| {
        let mut src = match FileSource::open(path) {
            Ok(s) => s,
            Err(e) => {
                assert!(!e.reason.is_empty(), "empty reason");
                assert!(!e.reason.contains('\n'), "reason of several lines: {e}");
                return None;
            }
        };
        let mut frames = Vec::new();
        let outcome = src.for_each(|link, ts, frame, wire| {
            frames.push(Frame {
                link,
                ts,
                data: frame.to_vec(),
                wire,
            })
        });
        assert_eq!(outcome.packets, frames.len() as u64, "packets miscounted");
        assert!(
            outcome.offset <= data.len() as u64,
            "read past the end: {} of {}",
            outcome.offset,
            data.len()
        );
        if let Some(why) = &outcome.truncated {
            assert!(!why.contains('\n'), "reason of several lines: {why}");
        }
        Some(frames)
    })
}

/// The records of the file read whole by its reader, which decodes its
/// frames ahead of the engine (sorted, as [`engine`] gives them).
fn decoded_ahead(data: &[u8]) -> Vec<String> {
    use capture::packets::{PacketSource, Reading};
    scratch::with_file("pcap", data, |path| {
        let Ok(mut src) = FileSource::open(path) else {
            return Vec::new();
        };
        let mut engine = Engine::new(FlowConfig::default(), 1);
        let mut lines = Vec::new();
        src.read_into(&mut engine, &mut |r| {
            if let Reading::Record(r) = r {
                lines.push(r.to_json());
            }
            true
        });
        engine.finish(&mut |r| lines.push(r.to_json()));
        lines.sort();
        lines
    })
}

/// A UDP tunnel's own flow (its protocol names the tunnel).
fn is_tunnel_flow(r: &FlowRecord) -> bool {
    r.network.transport == capture::record::Transport::Udp
        && r.network
            .protocol
            .is_some_and(|p| matches!(p.name(), "vxlan" | "geneve" | "teredo" | "gtpu"))
}

/// Runs the frames through an engine of `shards` shards; the records as
/// JSON lines, sorted.
fn engine(frames: &[Frame], cfg: FlowConfig, shards: usize, captured: u64) -> Vec<String> {
    // The UDP tunnels a frame can hold: one more than the depth followed
    // (the last one found at the depth is not read through).
    let carriers = u64::from(cfg.tunnels.max_depth) + 1;
    let mut engine = Engine::new(cfg, shards);
    let mut records: Vec<FlowRecord> = Vec::new();
    for f in frames {
        engine.process_frame(f.link, f.ts, &f.data, f.wire, &mut |r| records.push(r));
    }
    engine.finish(&mut |r| records.push(r));
    let stats = engine.stats();
    assert_eq!(stats.packets, frames.len() as u64);
    assert_eq!(stats.flows_created, stats.flows_emitted, "flows lost");
    assert_eq!(stats.flows_emitted, records.len() as u64, "records lost");
    assert_eq!(engine.flows(), 0, "flows left in the table");
    // A frame counts once in its flow, and once more in the own flow of
    // each UDP tunnel it holds (VXLAN inside VXLAN: two): at most
    // `1 + carriers` times, and once when the capture holds no tunnel
    // flow. (A tunnel may carry a packet of the same addresses and ports
    // as a tunnel flow: the two roles then meet in one record, so the
    // bound is on the whole.)
    let tunnels = records.iter().any(is_tunnel_flow);
    let times: u64 = if tunnels { 1 + carriers } else { 1 };
    let payload: u64 = records
        .iter()
        .map(|r| r.flow.payload_out + r.flow.payload_in)
        .sum();
    assert!(
        payload <= times * captured,
        "payload {payload} > {times} x captured {captured}"
    );
    // `bytes` are frame lengths on the wire (README): each frame's wire
    // length, or its captured length where a damaged record gives less.
    let wire: u64 = frames
        .iter()
        .map(|f| u64::from(f.wire).max(f.data.len() as u64))
        .sum();
    let bytes: u64 = records
        .iter()
        .map(|r| r.source.bytes + r.destination.bytes)
        .sum();
    assert!(
        bytes <= times * wire,
        "frame bytes {bytes} > {times} x on the wire {wire}"
    );
    let packets: u64 = records
        .iter()
        .map(|r| r.source.packets + r.destination.packets)
        .sum();
    let tunnel_packets: u64 = if tunnels { stats.packets * carriers } else { 0 };
    assert!(
        packets <= stats.decoded + tunnel_packets,
        "packets {packets} > decoded {} (+ {tunnel_packets} tunnel datagrams)",
        stats.decoded
    );
    let mut lines: Vec<String> = records.iter().map(FlowRecord::to_json).collect();
    for l in &lines {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(l) {
            panic!("record is not JSON ({e}): {l}");
        }
    }
    lines.sort();
    lines
}
