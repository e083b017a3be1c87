//! A flood of concurrent TCP connections, for flow-table caps, eviction
//! counts and memory per tracked flow.
//!
//! Model, for `n` connections numbered `0..n`:
//!
//! * **Open phase**, connection after connection: SYN, SYN-ACK, ACK, then
//!   (unless [`FloodPayload::None`]) one small client write and the
//!   server's pure ACK of it. No connection is closed before every one is
//!   open, so after this phase all `n` are concurrent.
//! * **Close phase** (when [`Flood::close`]), in the order they were
//!   opened: client FIN+ACK, server FIN+ACK, client ACK.
//!
//! Connection `i` runs from client `10.128.0.0 + (i mod 65536)`, port
//! `1024 + i / 65536`, to server `198.18.0.1 + (i mod 1000)` port 80 (see
//! [`flood_conn`]), so every 5-tuple is distinct for up to 4.2 billion
//! connections. Initial sequence numbers come from `i`. Packets are
//! [`Flood::spacing_us`] apart (1 µs by default: a million connections
//! open within seconds of packet time, far inside any idle timeout).
//!
//! The generator holds no per-connection state: every frame is built into
//! one reused buffer and handed on, so any `n` runs in constant memory.

use crate::pcap::{PcapWriter, DEFAULT_SNAPLEN, START_TIME_US};
use crate::rng::mix64;
use crate::wire::{
    syn_options, tcp_frame, IpOpts, Link, LinkCtx, TcpSeg, LINKTYPE_ETHERNET, TCP_ACK, TCP_FIN,
    TCP_PSH, TCP_SYN,
};
use serde::Serialize;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What each connection sends after its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FloodPayload {
    /// Nothing: handshake only (3 packets to open).
    None,
    /// `ping XXXXXXXX\r\n` (15 bytes): neither HTTP nor TLS, so a reader
    /// keeps no parser state for it.
    Opaque,
    /// `GET /XXXXXXXX HTTP/1.1\r\nHost: flood.example\r\n\r\n` (47 bytes),
    /// never answered.
    Http,
}

impl FloodPayload {
    /// The client's write of connection `i` (empty for [`FloodPayload::None`]).
    pub fn bytes(self, i: u64) -> Vec<u8> {
        match self {
            FloodPayload::None => Vec::new(),
            FloodPayload::Opaque => format!("ping {:08x}\r\n", i as u32).into_bytes(),
            FloodPayload::Http => format!(
                "GET /{:08x} HTTP/1.1\r\nHost: flood.example\r\n\r\n",
                i as u32
            )
            .into_bytes(),
        }
    }

    /// Length of [`FloodPayload::bytes`].
    pub fn len(self) -> usize {
        match self {
            FloodPayload::None => 0,
            FloodPayload::Opaque => 15,
            FloodPayload::Http => 47,
        }
    }

    /// True for [`FloodPayload::None`].
    pub fn is_empty(self) -> bool {
        self == FloodPayload::None
    }

    /// Packets of one connection's open phase.
    pub fn open_packets(self) -> u64 {
        match self {
            FloodPayload::None => 3,
            FloodPayload::Opaque | FloodPayload::Http => 5,
        }
    }
}

/// What to generate; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flood {
    /// Connections.
    pub flows: u64,
    /// The client's write after each handshake.
    pub payload: FloodPayload,
    /// Microseconds between two packets.
    pub spacing_us: u64,
    /// Close every connection once all are open.
    pub close: bool,
}

impl Flood {
    /// `flows` connections with an HTTP request each, 1 µs apart, closed at
    /// the end.
    pub fn new(flows: u64) -> Self {
        Flood {
            flows,
            payload: FloodPayload::Http,
            spacing_us: 1,
            close: true,
        }
    }
}

/// Packets of a close: client FIN, server FIN, client ACK.
pub const CLOSE_PACKETS: u64 = 3;

/// What a flood wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FloodSummary {
    /// Connections.
    pub flows: u64,
    /// Packets, both phases.
    pub packets: u64,
    /// Packets of the open phase (the first ones of the capture).
    pub open_packets: u64,
    /// Frame bytes, both phases (pcap record headers excluded).
    pub bytes: u64,
    /// Frame bytes of the open phase.
    pub open_bytes: u64,
    /// Timestamp of the first packet, µs.
    pub first_ts_us: u64,
    /// Timestamp of the last packet, µs.
    pub last_ts_us: u64,
}

/// Client and server of connection `i`.
pub fn flood_conn(i: u64) -> (SocketAddr, SocketAddr) {
    let client = Ipv4Addr::from(0x0a80_0000u32 | (i % 65_536) as u32);
    let cport = 1024 + (i / 65_536) as u16;
    let server = Ipv4Addr::from(0xc612_0001u32 + (i % 1000) as u32);
    (
        SocketAddr::new(IpAddr::V4(client), cport),
        SocketAddr::new(IpAddr::V4(server), 80),
    )
}

/// Initial sequence numbers (client, server) of connection `i`.
pub fn flood_isns(i: u64) -> (u32, u32) {
    let h = mix64(i ^ 0x0066_6c6f_6f64);
    (h as u32, (h >> 32) as u32)
}

struct Emitter<F> {
    buf: Vec<u8>,
    clock: u64,
    spacing: u64,
    sink: F,
    summary: FloodSummary,
}

/// Builds into `buf` (cleared first) one Ethernet frame of connection `i`,
/// client to server when `to_server`: for tests and benchmarks that carry
/// a flood's connections on (sequence numbers from [`flood_isns`]).
#[allow(clippy::too_many_arguments)]
pub fn conn_frame(
    buf: &mut Vec<u8>,
    i: u64,
    to_server: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    opts: &[u8],
    payload: &[u8],
) {
    let (client, server) = flood_conn(i);
    let (src, dst) = if to_server {
        (client, server)
    } else {
        (server, client)
    };
    let ip = IpOpts {
        ttl: if to_server { 64 } else { 57 },
        ident: (i as u16)
            .wrapping_mul(7)
            .wrapping_add(u16::from(!to_server)),
        dont_fragment: true,
        ipv6_ext_headers: false,
    };
    let seg = TcpSeg {
        src,
        dst,
        seq,
        ack,
        flags,
        window: if to_server { 64240 } else { 65160 },
        options: opts,
        payload,
    };
    tcp_frame(buf, &LinkCtx::new(Link::Ethernet), to_server, &ip, &seg);
}

impl<F: FnMut(u64, &[u8]) -> io::Result<()>> Emitter<F> {
    #[allow(clippy::too_many_arguments)]
    fn seg(
        &mut self,
        i: u64,
        to_server: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        opts: &[u8],
        payload: &[u8],
    ) -> io::Result<()> {
        conn_frame(&mut self.buf, i, to_server, seq, ack, flags, opts, payload);
        if self.summary.packets == 0 {
            self.summary.first_ts_us = self.clock;
        }
        self.summary.last_ts_us = self.clock;
        (self.sink)(self.clock, &self.buf)?;
        self.clock += self.spacing;
        self.summary.packets += 1;
        self.summary.bytes += self.buf.len() as u64;
        Ok(())
    }
}

/// Builds every frame of `spec` in capture order and hands each to `sink`
/// with its timestamp (µs). Frames are Ethernet (link type 1).
pub fn for_each_frame<F>(spec: &Flood, sink: F) -> io::Result<FloodSummary>
where
    F: FnMut(u64, &[u8]) -> io::Result<()>,
{
    let mut e = Emitter {
        buf: Vec::with_capacity(256),
        clock: START_TIME_US,
        spacing: spec.spacing_us,
        sink,
        summary: FloodSummary {
            flows: spec.flows,
            ..FloodSummary::default()
        },
    };
    let opts = syn_options(1460);
    for i in 0..spec.flows {
        let (c, s) = flood_isns(i);
        e.seg(i, true, c, 0, TCP_SYN, &opts, &[])?;
        e.seg(
            i,
            false,
            s,
            c.wrapping_add(1),
            TCP_SYN | TCP_ACK,
            &opts,
            &[],
        )?;
        let (c1, s1) = (c.wrapping_add(1), s.wrapping_add(1));
        e.seg(i, true, c1, s1, TCP_ACK, &[], &[])?;
        let data = spec.payload.bytes(i);
        if !data.is_empty() {
            let end = c1.wrapping_add(data.len() as u32);
            e.seg(i, true, c1, s1, TCP_ACK | TCP_PSH, &[], &data)?;
            e.seg(i, false, s1, end, TCP_ACK, &[], &[])?;
        }
    }
    e.summary.open_packets = e.summary.packets;
    e.summary.open_bytes = e.summary.bytes;
    if spec.close {
        for i in 0..spec.flows {
            let (c, s) = flood_isns(i);
            let cfin = c.wrapping_add(1).wrapping_add(spec.payload.len() as u32);
            let sfin = s.wrapping_add(1);
            e.seg(i, true, cfin, sfin, TCP_FIN | TCP_ACK, &[], &[])?;
            let cend = cfin.wrapping_add(1);
            e.seg(i, false, sfin, cend, TCP_FIN | TCP_ACK, &[], &[])?;
            e.seg(i, true, cend, sfin.wrapping_add(1), TCP_ACK, &[], &[])?;
        }
    }
    Ok(e.summary)
}

/// Streams `spec` as a classic pcap (Ethernet, microsecond timestamps) to
/// `w`, buffered.
pub fn write_flood<W: Write>(w: W, spec: &Flood) -> io::Result<FloodSummary> {
    let mut pcap = PcapWriter::new(
        BufWriter::with_capacity(1 << 20, w),
        LINKTYPE_ETHERNET,
        DEFAULT_SNAPLEN,
    )?;
    let summary = for_each_frame(spec, |ts, frame| pcap.write_packet(ts, frame).map(|_| ()))?;
    pcap.into_inner()?.flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_distinct_tuples() {
        let spec = Flood {
            flows: 70_000,
            payload: FloodPayload::Opaque,
            spacing_us: 2,
            close: true,
        };
        let mut n = 0u64;
        let s = for_each_frame(&spec, |_, frame| {
            assert!(frame.len() >= 54);
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(s.packets, n);
        assert_eq!(s.open_packets, 70_000 * 5);
        assert_eq!(s.packets, 70_000 * (5 + CLOSE_PACKETS));
        assert_eq!(s.last_ts_us - s.first_ts_us, 2 * (n - 1));
        assert_ne!(flood_conn(0), flood_conn(65_536));
        assert_ne!(flood_conn(1).0, flood_conn(65_537).0);
        for p in [FloodPayload::None, FloodPayload::Opaque, FloodPayload::Http] {
            assert_eq!(p.bytes(0xdead_beef).len(), p.len());
        }
    }

    #[test]
    fn pcap_stream_matches_frames() {
        let spec = Flood {
            close: false,
            ..Flood::new(10)
        };
        let mut out = Vec::new();
        let s = write_flood(&mut out, &spec).unwrap();
        assert_eq!(s.packets, 50);
        assert_eq!(out.len() as u64, 24 + 16 * s.packets + s.bytes);
    }
}
