//! What a full flow table gives up for a new connection: a closed
//! connection before any open flow (it only waits out stray packets, and
//! keeps the reason it closed with), then the open flow quiet the longest
//! for its kind, in units of its idle timeout.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use capture::decode::LinkType;
use capture::PacketEngine;
use capture::{Engine, FlowConfig, FlowRecord};
use pcapgen::pcap::records;
use pcapgen::{Capture, Dir, Link, TcpConn, UdpFlow};

const SECOND: u64 = 1_000_000;

fn run(pcap: &[u8], cap: usize) -> (Vec<FlowRecord>, capture::Stats) {
    let cfg = FlowConfig {
        max_flows: cap,
        ..FlowConfig::default()
    };
    let mut engine = Engine::new(cfg, 1);
    let mut out = Vec::new();
    for r in records(pcap) {
        engine.process_frame(LinkType::Ethernet, r.ts_us, r.data, r.orig_len, &mut |f| {
            out.push(f)
        });
    }
    engine.finish(&mut |f| out.push(f));
    (out, engine.stats())
}

fn reasons(records: &[FlowRecord]) -> Vec<(u16, &'static str)> {
    let mut v: Vec<_> = records
        .iter()
        .map(|r| (r.source.port, r.event.reason))
        .collect();
    v.sort();
    v
}

fn tcp(port: u16) -> TcpConn {
    let c = format!("10.0.0.1:{port}").parse().unwrap();
    TcpConn::new(Link::Ethernet, c, "192.0.2.1:80".parse().unwrap())
}

#[test]
fn a_closed_connection_goes_before_an_older_open_one() {
    let mut cap = Capture::new(1);
    // The oldest: open, quiet.
    let mut open = tcp(1001);
    open.handshake(&mut cap);
    open.client_send(&mut cap, b"hello");
    cap.advance_us(SECOND);
    // Closed a second later: it waits out its quiet time in the table.
    let mut closed = tcp(1002);
    closed.handshake(&mut cap);
    closed.client_send(&mut cap, b"bye");
    closed.close(&mut cap);
    cap.advance_us(SECOND);
    // A new connection finds the table full.
    let mut new = tcp(1003);
    new.handshake(&mut cap);
    let (records, stats) = run(&cap.into_bytes(), 2);
    assert_eq!(
        reasons(&records),
        [
            (1001, "end_of_input"),
            (1002, "fin"),
            (1003, "end_of_input")
        ]
    );
    assert_eq!((stats.closed_flushed, stats.flows_evicted), (1, 0));
}

#[test]
fn open_flows_go_by_quiet_time_over_their_timeout() {
    let mut cap = Capture::new(1);
    // A TCP connection quiet for 100 s of its 300, a UDP flow for 40 s
    // of its 60: the UDP flow goes first, though the TCP one is older.
    let mut old_tcp = tcp(2001);
    old_tcp.handshake(&mut cap);
    cap.advance_us(60 * SECOND);
    let mut udp = UdpFlow::new(
        Link::Ethernet,
        "10.0.0.1:2002".parse().unwrap(),
        "192.0.2.53:53".parse().unwrap(),
    );
    udp.send(&mut cap, Dir::ToServer, b"query");
    cap.advance_us(40 * SECOND);
    let mut new = tcp(2003);
    new.handshake(&mut cap);
    let (records, stats) = run(&cap.into_bytes(), 2);
    assert_eq!(
        reasons(&records),
        [
            (2001, "end_of_input"),
            (2002, "evicted"),
            (2003, "end_of_input")
        ]
    );
    assert_eq!((stats.closed_flushed, stats.flows_evicted), (0, 1));
}
