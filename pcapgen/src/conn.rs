//! Connection models that emit frames into a [`Capture`] and count, by
//! construction, what they emitted.
//!
//! # TCP model ([`TcpConn`])
//!
//! * Sequence numbers are kept relative to each side's ISN: relative 0 is
//!   the SYN, payload starts at relative 1. ISNs are derived from the
//!   addresses unless set with [`TcpConn::with_isns`] (wrap-around is fine).
//! * [`TcpConn::handshake`] emits SYN, SYN-ACK, ACK (SYN and SYN-ACK carry
//!   MSS, SACK-permitted and window-scale options). Not calling it gives a
//!   connection captured midstream: the first packet is whatever is sent
//!   first, with sequence numbers continuing from ISN + 1.
//! * Data writes ([`TcpConn::send`] and friends) are split into segments of
//!   at most the MSS (1460 for IPv4, 1440 for IPv6 unless changed); every
//!   data segment carries ACK, the last one of a write also PSH.
//! * ACK policy of plain writes: the receiver sends one pure ACK after every
//!   second data segment of the write and after its last segment (so a
//!   one-segment write is followed by exactly one pure ACK).
//! * [`TcpConn::send_planned`] emits a write according to a list of
//!   [`SegOp`]s (reorder, drop, retransmit, overlapping retransmit) and
//!   then the receiver sends a single pure ACK acknowledging the whole write
//!   (past any dropped segment).
//! * [`TcpConn::close`]: client FIN+ACK, server FIN+ACK, client ACK.
//!   [`TcpConn::server_close`]: the same with the roles swapped.
//! * Time: the [`Capture`] clock advances 1 ms per packet.
//!
//! Counting: packets and captured frame bytes per direction; unique payload
//! bytes per direction (the union of sequence ranges seen in the capture,
//! so a retransmission adds only what was not seen before; with a snaplen
//! cut, only the captured part of a payload counts); payload of dropped
//! segments counted as missed.

use crate::expected::{ExpectedFlow, ExpectedHttp, ExpectedTls};
use crate::pcap::Capture;
use crate::rng::mix64;
use crate::wire::{
    syn_options, syn_options_fast_open, tcp_frame, udp_frame, IpOpts, Link, LinkCtx, TcpSeg,
    TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN,
};
use std::net::{IpAddr, SocketAddr};

/// Direction of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client → server.
    ToServer,
    /// Server → client.
    ToClient,
}

impl Dir {
    /// The opposite direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }
}

/// One step of [`TcpConn::send_planned`]. Segment indexes refer to the MSS
/// split of the planned write; byte offsets are relative to its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegOp {
    /// Emit segment `i`.
    Emit(usize),
    /// Never emit segment `i`: its bytes are counted as missed, and the
    /// receiver's final ACK acknowledges past it.
    Drop(usize),
    /// Emit segment `i` again (an exact retransmission).
    Retransmit(usize),
    /// Emit `len` bytes starting at byte `start` of the write as one segment
    /// (a retransmission overlapping earlier segments in part).
    Range {
        /// First byte, relative to the start of the write.
        start: usize,
        /// Number of bytes.
        len: usize,
    },
}

/// Packet and byte counts of a flow, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Frames client → server.
    pub client_packets: u64,
    /// Frame bytes on the wire client → server.
    pub client_bytes: u64,
    /// Frames server → client.
    pub server_packets: u64,
    /// Frame bytes on the wire server → client.
    pub server_bytes: u64,
}

impl FlowStats {
    fn count(&mut self, dir: Dir, wire: usize) {
        match dir {
            Dir::ToServer => {
                self.client_packets += 1;
                self.client_bytes += wire as u64;
            }
            Dir::ToClient => {
                self.server_packets += 1;
                self.server_bytes += wire as u64;
            }
        }
    }
}

/// Union of half-open ranges, kept sorted and merged.
#[derive(Debug, Clone, Default)]
struct RangeSet {
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let mut s = start;
        let mut e = end;
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut placed = false;
        for &(a, b) in &self.ranges {
            if b < s {
                out.push((a, b));
            } else if a > e {
                if !placed {
                    out.push((s, e));
                    placed = true;
                }
                out.push((a, b));
            } else {
                s = s.min(a);
                e = e.max(b);
            }
        }
        if !placed {
            out.push((s, e));
        }
        self.ranges = out;
    }

    fn total(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| b - a).sum()
    }
}

/// One side's sending state.
#[derive(Debug, Clone)]
struct Half {
    isn: u32,
    /// Relative sequence number of the next new byte (1 after the SYN).
    next: u64,
    /// Every payload byte reserved so far; `stream[i]` has relative seq `1 + i`.
    stream: Vec<u8>,
    seen: RangeSet,
    missed: u64,
    ident: u16,
    ttl: u8,
    window: u16,
}

impl Half {
    fn new(isn: u32, ident: u16, ttl: u8, window: u16) -> Self {
        Self {
            isn,
            next: 1,
            stream: Vec::new(),
            seen: RangeSet::default(),
            missed: 0,
            ident,
            ttl,
            window,
        }
    }

    /// Reserves sequence space for `data`; returns its first relative seq.
    fn reserve(&mut self, data: &[u8]) -> u64 {
        let start = self.next;
        debug_assert_eq!(start, 1 + self.stream.len() as u64, "data after FIN");
        self.stream.extend_from_slice(data);
        self.next += data.len() as u64;
        start
    }
}

fn addr_hash(a: SocketAddr) -> u64 {
    let ip = match a.ip() {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    };
    mix64((ip as u64) ^ ((ip >> 64) as u64).rotate_left(17) ^ u64::from(a.port()) << 48)
}

/// A TCP connection between a client and a server; see the module docs for
/// the model.
#[derive(Debug, Clone)]
pub struct TcpConn {
    l2: LinkCtx,
    client: SocketAddr,
    server: SocketAddr,
    mss: usize,
    ipv6_ext_headers: bool,
    c: Half,
    s: Half,
    stats: FlowStats,
    buf: Vec<u8>,
}

impl TcpConn {
    /// A connection on `link` from `client` to `server` (same address
    /// family). Nothing is emitted yet.
    pub fn new(link: Link, client: SocketAddr, server: SocketAddr) -> Self {
        assert_eq!(
            client.is_ipv4(),
            server.is_ipv4(),
            "address families differ"
        );
        let h = mix64(addr_hash(client) ^ addr_hash(server).rotate_left(1));
        let mss = if client.is_ipv4() { 1460 } else { 1440 };
        let ident_seed = (h >> 16) as u16;
        Self {
            l2: LinkCtx::new(link),
            client,
            server,
            mss,
            ipv6_ext_headers: false,
            c: Half::new(h as u32, ident_seed, 64, 64240),
            s: Half::new((h >> 32) as u32, ident_seed.wrapping_mul(7), 56, 65160),
            stats: FlowStats::default(),
            buf: Vec::with_capacity(2048),
        }
    }

    /// Sets both initial sequence numbers.
    pub fn with_isns(mut self, client_isn: u32, server_isn: u32) -> Self {
        self.c.isn = client_isn;
        self.s.isn = server_isn;
        self
    }

    /// Sets the maximum segment size used to split writes.
    pub fn with_mss(mut self, mss: usize) -> Self {
        assert!(mss > 0);
        self.mss = mss;
        self
    }

    /// IPv6 only: put a hop-by-hop and a destination options header in every
    /// packet.
    pub fn with_ipv6_ext_headers(mut self, on: bool) -> Self {
        self.ipv6_ext_headers = on;
        self
    }

    /// Replaces the link context (e.g. to use other MAC addresses).
    pub fn with_link_ctx(mut self, l2: LinkCtx) -> Self {
        self.l2 = l2;
        self
    }

    /// Client address.
    pub fn client(&self) -> SocketAddr {
        self.client
    }

    /// Server address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Maximum segment size.
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// Packet and byte counts so far.
    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    fn half(&self, dir: Dir) -> &Half {
        match dir {
            Dir::ToServer => &self.c,
            Dir::ToClient => &self.s,
        }
    }

    fn half_mut(&mut self, dir: Dir) -> &mut Half {
        match dir {
            Dir::ToServer => &mut self.c,
            Dir::ToClient => &mut self.s,
        }
    }

    /// Emits one segment in direction `dir` at relative seq `rel_seq`. With
    /// [`TCP_ACK`] in `flags`, the ack field is the peer's ISN + `ack_rel`.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        cap: &mut Capture,
        dir: Dir,
        rel_seq: u64,
        ack_rel: u64,
        flags: u8,
        options: &[u8],
        payload: &[u8],
    ) {
        let (src, dst) = match dir {
            Dir::ToServer => (self.client, self.server),
            Dir::ToClient => (self.server, self.client),
        };
        let peer_isn = self.half(dir.reverse()).isn;
        let ipv6_ext_headers = self.ipv6_ext_headers;
        let me = self.half_mut(dir);
        let seq = me.isn.wrapping_add(rel_seq as u32);
        let ack = if flags & TCP_ACK != 0 {
            peer_isn.wrapping_add(ack_rel as u32)
        } else {
            0
        };
        let ip = IpOpts {
            ttl: me.ttl,
            ident: me.ident,
            dont_fragment: true,
            ipv6_ext_headers,
        };
        me.ident = me.ident.wrapping_add(1);
        let window = me.window;
        let seg = TcpSeg {
            src,
            dst,
            seq,
            ack,
            flags,
            window,
            options,
            payload,
        };
        let mut buf = std::mem::take(&mut self.buf);
        let layout = tcp_frame(&mut buf, &self.l2, dir == Dir::ToServer, &ip, &seg);
        let captured = cap.emit(&buf);
        // Frame bytes are the frame's length on the wire, whatever the
        // snap length kept.
        self.stats.count(dir, buf.len());
        self.buf = buf;
        if !payload.is_empty() {
            let data_start = rel_seq + u64::from(flags & TCP_SYN != 0);
            let got = payload
                .len()
                .min(captured.saturating_sub(layout.payload_offset)) as u64;
            self.half_mut(dir).seen.insert(data_start, data_start + got);
        }
    }

    /// Pure ACK sent in direction `dir`, acknowledging up to the peer's
    /// relative seq `ack_rel`.
    fn pure_ack(&mut self, cap: &mut Capture, dir: Dir, ack_rel: u64) {
        let seq = self.half(dir).next;
        self.emit(cap, dir, seq, ack_rel, TCP_ACK, &[], &[]);
    }

    /// Sends a pure ACK in direction `dir` acknowledging everything the peer
    /// has sent (or skipped) so far.
    pub fn ack(&mut self, cap: &mut Capture, dir: Dir) {
        let upto = self.half(dir.reverse()).next;
        self.pure_ack(cap, dir, upto);
    }

    /// Three-way handshake: SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self, cap: &mut Capture) {
        let opts_c = syn_options(self.mss as u16);
        self.emit(cap, Dir::ToServer, 0, 0, TCP_SYN, &opts_c, &[]);
        let opts_s = syn_options(self.mss as u16);
        self.emit(cap, Dir::ToClient, 0, 1, TCP_SYN | TCP_ACK, &opts_s, &[]);
        self.emit(cap, Dir::ToServer, 1, 1, TCP_ACK, &[], &[]);
    }

    /// Handshake with TCP Fast Open: the SYN carries a Fast Open cookie and
    /// `data` (at most one MSS); the SYN-ACK acknowledges the data; then the
    /// client's ACK.
    pub fn handshake_fast_open(&mut self, cap: &mut Capture, data: &[u8]) {
        assert!(data.len() <= self.mss, "SYN data larger than the MSS");
        let cookie = mix64(u64::from(self.c.isn)).to_be_bytes();
        let opts_c = syn_options_fast_open(self.mss as u16, cookie);
        self.c.reserve(data);
        self.emit(cap, Dir::ToServer, 0, 0, TCP_SYN, &opts_c, data);
        let opts_s = syn_options(self.mss as u16);
        let acked = self.c.next;
        self.emit(
            cap,
            Dir::ToClient,
            0,
            acked,
            TCP_SYN | TCP_ACK,
            &opts_s,
            &[],
        );
        self.emit(cap, Dir::ToServer, acked, 1, TCP_ACK, &[], &[]);
    }

    /// `send(cap, Dir::ToServer, data)`.
    pub fn client_send(&mut self, cap: &mut Capture, data: &[u8]) {
        self.send(cap, Dir::ToServer, data);
    }

    /// `send(cap, Dir::ToClient, data)`.
    pub fn server_send(&mut self, cap: &mut Capture, data: &[u8]) {
        self.send(cap, Dir::ToClient, data);
    }

    /// Sends `data` in MSS-sized segments, with the receiver's ACKs (see the
    /// module docs). An empty write emits nothing.
    pub fn send(&mut self, cap: &mut Capture, dir: Dir, data: &[u8]) {
        self.send_chunks(cap, dir, &[data]);
    }

    /// Sends one write whose segment boundaries are given: each chunk becomes
    /// one segment (a chunk larger than the MSS is split further). Used to
    /// place record or message boundaries across segments.
    pub fn send_chunks(&mut self, cap: &mut Capture, dir: Dir, chunks: &[&[u8]]) {
        let mut pieces: Vec<&[u8]> = Vec::new();
        for chunk in chunks {
            pieces.extend(chunk.chunks(self.mss));
        }
        let n = pieces.len();
        for (i, piece) in pieces.into_iter().enumerate() {
            let rel = self.half_mut(dir).reserve(piece);
            let flags = if i + 1 == n {
                TCP_ACK | TCP_PSH
            } else {
                TCP_ACK
            };
            let ack_rel = self.half(dir.reverse()).next;
            self.emit(cap, dir, rel, ack_rel, flags, &[], piece);
            if (i + 1) % 2 == 0 || i + 1 == n {
                let end = self.half(dir).next;
                self.pure_ack(cap, dir.reverse(), end);
            }
        }
    }

    /// The MSS split of a write of `len` bytes: (start, end) byte offsets.
    pub fn segment_bounds(&self, len: usize) -> Vec<(usize, usize)> {
        (0..len)
            .step_by(self.mss)
            .map(|s| (s, (s + self.mss).min(len)))
            .collect()
    }

    /// Sends `data` following `plan` (see [`SegOp`]), then the receiver
    /// ACKs the whole write with one pure ACK. Segment indexes refer to
    /// [`TcpConn::segment_bounds`] of `data.len()`.
    pub fn send_planned(&mut self, cap: &mut Capture, dir: Dir, data: &[u8], plan: &[SegOp]) {
        let bounds = self.segment_bounds(data.len());
        let base = self.half_mut(dir).reserve(data);
        let ack_rel = self.half(dir.reverse()).next;
        for op in plan {
            let (start, end) = match *op {
                SegOp::Emit(i) | SegOp::Retransmit(i) => bounds[i],
                SegOp::Drop(i) => {
                    let (s, e) = bounds[i];
                    self.half_mut(dir).missed += (e - s) as u64;
                    continue;
                }
                SegOp::Range { start, len } => (start, start + len),
            };
            let flags = if end == data.len() {
                TCP_ACK | TCP_PSH
            } else {
                TCP_ACK
            };
            self.emit(
                cap,
                dir,
                base + start as u64,
                ack_rel,
                flags,
                &[],
                &data[start..end],
            );
        }
        self.ack(cap, dir.reverse());
    }

    /// Sends a FIN (with ACK) in direction `dir`.
    pub fn fin(&mut self, cap: &mut Capture, dir: Dir) {
        let seq = self.half(dir).next;
        let ack_rel = self.half(dir.reverse()).next;
        self.emit(cap, dir, seq, ack_rel, TCP_FIN | TCP_ACK, &[], &[]);
        self.half_mut(dir).next += 1;
    }

    /// Client-initiated close: client FIN, server FIN, client ACK.
    pub fn close(&mut self, cap: &mut Capture) {
        self.fin(cap, Dir::ToServer);
        self.fin(cap, Dir::ToClient);
        self.ack(cap, Dir::ToServer);
    }

    /// Server-initiated close: server FIN, client FIN, server ACK.
    pub fn server_close(&mut self, cap: &mut Capture) {
        self.fin(cap, Dir::ToClient);
        self.fin(cap, Dir::ToServer);
        self.ack(cap, Dir::ToClient);
    }

    /// Unique payload bytes seen in the capture in direction `dir`.
    pub fn payload_bytes(&self, dir: Dir) -> u64 {
        self.half(dir).seen.total()
    }

    /// Payload bytes dropped from the capture, both directions.
    pub fn missed_bytes(&self) -> u64 {
        self.c.missed + self.s.missed
    }

    /// The expected flow for what was emitted so far.
    pub fn expected(&self, http: Vec<ExpectedHttp>, tls: Option<ExpectedTls>) -> ExpectedFlow {
        ExpectedFlow {
            transport: "tcp",
            client: self.client,
            server: self.server,
            client_packets: self.stats.client_packets,
            client_bytes: self.stats.client_bytes,
            server_packets: self.stats.server_packets,
            server_bytes: self.stats.server_bytes,
            payload_out: self.payload_bytes(Dir::ToServer),
            payload_in: self.payload_bytes(Dir::ToClient),
            missed_bytes: self.missed_bytes(),
            http,
            tls,
            vlan: self.l2.link.vlan(),
            tunnel: None,
            icmp: None,
            icmp_errors: None,
        }
    }
}

/// A UDP flow: datagrams between a client and a server.
#[derive(Debug, Clone)]
pub struct UdpFlow {
    l2: LinkCtx,
    client: SocketAddr,
    server: SocketAddr,
    stats: FlowStats,
    ident: [u16; 2],
    payload: [u64; 2],
    /// Payload the snap length cut, both ways.
    missed: u64,
    buf: Vec<u8>,
}

impl UdpFlow {
    /// A flow on `link` from `client` to `server`.
    pub fn new(link: Link, client: SocketAddr, server: SocketAddr) -> Self {
        assert_eq!(
            client.is_ipv4(),
            server.is_ipv4(),
            "address families differ"
        );
        let h = mix64(addr_hash(client) ^ addr_hash(server).rotate_left(3));
        Self {
            l2: LinkCtx::new(link),
            client,
            server,
            stats: FlowStats::default(),
            ident: [h as u16, (h >> 16) as u16],
            payload: [0, 0],
            missed: 0,
            buf: Vec::with_capacity(2048),
        }
    }

    /// Sends one datagram in direction `dir`.
    pub fn send(&mut self, cap: &mut Capture, dir: Dir, payload: &[u8]) {
        let (src, dst, i, ttl) = match dir {
            Dir::ToServer => (self.client, self.server, 0, 64),
            Dir::ToClient => (self.server, self.client, 1, 56),
        };
        let ip = IpOpts {
            ttl,
            ident: self.ident[i],
            dont_fragment: false,
            ipv6_ext_headers: false,
        };
        self.ident[i] = self.ident[i].wrapping_add(1);
        let layout = udp_frame(
            &mut self.buf,
            &self.l2,
            dir == Dir::ToServer,
            &ip,
            src,
            dst,
            payload,
        );
        let captured = cap.emit(&self.buf);
        self.stats.count(dir, self.buf.len());
        let seen = payload
            .len()
            .min(captured.saturating_sub(layout.payload_offset));
        self.payload[i] += seen as u64;
        self.missed += (payload.len() - seen) as u64;
    }

    /// Client → server datagram.
    pub fn client_send(&mut self, cap: &mut Capture, payload: &[u8]) {
        self.send(cap, Dir::ToServer, payload);
    }

    /// Server → client datagram.
    pub fn server_send(&mut self, cap: &mut Capture, payload: &[u8]) {
        self.send(cap, Dir::ToClient, payload);
    }

    /// The expected flow for what was emitted so far.
    pub fn expected(&self) -> ExpectedFlow {
        ExpectedFlow {
            transport: "udp",
            client: self.client,
            server: self.server,
            client_packets: self.stats.client_packets,
            client_bytes: self.stats.client_bytes,
            server_packets: self.stats.server_packets,
            server_bytes: self.stats.server_bytes,
            payload_out: self.payload[0],
            payload_in: self.payload[1],
            missed_bytes: self.missed,
            http: Vec::new(),
            tls: None,
            vlan: self.l2.link.vlan(),
            tunnel: None,
            icmp: None,
            icmp_errors: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_set_merges() {
        let mut r = RangeSet::default();
        r.insert(10, 20);
        r.insert(30, 40);
        assert_eq!(r.total(), 20);
        r.insert(15, 35);
        assert_eq!(r.ranges, vec![(10, 40)]);
        r.insert(0, 5);
        r.insert(40, 41);
        assert_eq!(r.ranges, vec![(0, 5), (10, 41)]);
        assert_eq!(r.total(), 36);
    }

    #[test]
    fn retransmissions_count_once() {
        let c: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let s: SocketAddr = "203.0.113.1:80".parse().unwrap();
        let mut cap = Capture::new(1);
        let mut conn = TcpConn::new(Link::Ethernet, c, s);
        conn.handshake(&mut cap);
        let data = vec![b'x'; 4000];
        conn.send_planned(
            &mut cap,
            Dir::ToClient,
            &data,
            &[
                SegOp::Emit(0),
                SegOp::Emit(1),
                SegOp::Retransmit(1),
                SegOp::Range {
                    start: 2000,
                    len: 1500,
                },
                SegOp::Drop(2),
            ],
        );
        assert_eq!(conn.payload_bytes(Dir::ToClient), 3500);
        assert_eq!(conn.missed_bytes(), 4000 - 2920);
        assert_eq!(cap.packets(), 3 + 4 + 1);
    }
}
