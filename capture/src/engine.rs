//! The packet path without threads: decode, pick the shard by the flow's
//! symmetric hash, hand the packet to it. The threaded pipeline runs the
//! same shards, one per worker.

use crate::config::FlowConfig;
use crate::decode::{
    carrier, decode_with, frame_carrier, icmp, reassembled, Ahead, DecodeAhead, DecodeError, Encap,
    LinkType, Packet, TunnelKind, Tunnels,
};
use crate::defrag::{Defrag, Whole};
use crate::file::{FileBlock, PacketRef};
use crate::flow::{FlowKey, Shard};
use crate::lookahead::{Hint, Placement, BUCKET_AHEAD, SLOT_AHEAD};
use crate::packets::PacketEngine;
use crate::record::FlowRecord;
use crate::stats::Stats;
use crate::time::{Micros, Watermark, SECOND};
use std::sync::Arc;

/// Decoder plus shards.
pub struct Engine {
    shards: Vec<Shard>,
    /// Frame-level counters (read, decode failures, truncation).
    frames: Stats,
    /// Latest packet time.
    now: Watermark,
    /// When every shard's clock is next brought up to `now`.
    next_sync: Micros,
    /// The tunnels followed.
    tunnels: Tunnels,
    /// Where each flow is filed (every shard hashes alike).
    placement: Placement,
    /// IP fragments in flight.
    defrag: Defrag,
}

impl Engine {
    /// An engine with `shards` shards (at least one, at most
    /// [`crate::lookahead::MAX_SHARDS`]), owning `cfg.max_flows` flows at
    /// most together (each its share).
    pub fn new(cfg: FlowConfig, shards: usize) -> Self {
        let n = shards.clamp(1, crate::lookahead::MAX_SHARDS);
        let placement = Placement::new(n);
        let shards = (0..n)
            .map(|i| Shard::with_hasher(cfg.share(i, n), placement.hasher().clone()))
            .collect();
        Engine {
            shards,
            frames: Stats::default(),
            now: Watermark::default(),
            next_sync: 0,
            tunnels: cfg.tunnels,
            placement,
            defrag: Defrag::new(cfg.defrag),
        }
    }

    /// Has the frames decoded ahead placed (`lookahead`) from `flows`
    /// tracked flows on, not from [`crate::lookahead::PLACE_FROM`]: 0
    /// places them always, which tests use on small captures.
    pub fn place_from(mut self, flows: usize) -> Self {
        self.placement = self.placement.placing_from(flows);
        self
    }

    /// Heap bytes the flow tables hold now (slots and index), all shards
    /// together.
    pub fn table_bytes(&self) -> usize {
        self.shards.iter().map(Shard::table_bytes).sum()
    }

    /// Flows tracked now, all shards together.
    pub fn flows(&self) -> usize {
        self.shards.iter().map(Shard::flows).sum()
    }
}

/// The shard a packet's flow belongs to.
fn shard_of<'s>(shards: &'s mut [Shard], pkt: &Packet<'_>) -> Option<&'s mut Shard> {
    if shards.len() <= 1 {
        return shards.first_mut();
    }
    let (key, _) = FlowKey::of(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.transport);
    shard_for(shards, &key)
}

/// The shard the flow of `key` belongs to.
fn shard_for<'s>(shards: &'s mut [Shard], key: &FlowKey) -> Option<&'s mut Shard> {
    let idx = key.shard(shards.len());
    shards.get_mut(idx)
}

/// Hands a packet to the shard its flow belongs to (named by `hint`
/// when the packet was placed ahead).
fn dispatch(
    shards: &mut [Shard],
    pkt: &Packet<'_>,
    hint: Hint,
    ts: Micros,
    frame_len: u32,
    out: &mut dyn FnMut(FlowRecord),
) {
    match hint.get() {
        Some((idx, hash)) => {
            if let Some(shard) = shards.get_mut(idx) {
                shard.process(pkt, Some(hash), ts, frame_len, out);
            }
        }
        None => {
            if let Some(shard) = shard_of(shards, pkt) {
                shard.process(pkt, None, ts, frame_len, out);
            }
        }
    }
}

/// Counts an ICMP error in the flow it quotes, on the shard of that
/// flow's key, when the shard tracks it.
#[cold]
#[inline(never)]
pub(crate) fn quote(shards: &mut [Shard], pkt: &Packet<'_>) {
    let Some(q) = icmp::quoted(pkt.transport, pkt.payload) else {
        return;
    };
    let (Some(&kind), Some(&code)) = (pkt.payload.first(), pkt.payload.get(1)) else {
        return;
    };
    let (key, _) = FlowKey::of(q.src, q.sport, q.dst, q.dport, q.transport);
    if let Some(shard) = shard_for(shards, &key) {
        shard.icmp_error(&q, kind, code, pkt.src);
    }
}

/// Counts a frame's UDP tunnel datagrams (`carrier` gives the one of
/// each number, from 0; `known`, how many the frame holds if its decoding
/// said, else each is tried until there is none) in each tunnel's own
/// flow, on the shard of that flow.
#[cold]
#[inline(never)]
fn carry<'a>(
    shards: &mut [Shard],
    known: Option<u8>,
    carrier: impl Fn(u8) -> Result<(Packet<'a>, TunnelKind), DecodeError>,
    ts: Micros,
    frame_len: u32,
    out: &mut dyn FnMut(FlowRecord),
) {
    for nth in 0..known.unwrap_or(u8::MAX) {
        let Ok((pkt, kind)) = carrier(nth) else {
            return;
        };
        if let Some(shard) = shard_of(shards, &pkt) {
            shard.process_carrier(&pkt, kind, ts, frame_len, out);
        }
    }
}

/// Sends a reassembled datagram on as one packet; gives it back (a copy)
/// when what its tunnels carried is a fragment in turn.
fn deliver(
    shards: &mut [Shard],
    frames: &mut Stats,
    tunnels: &Tunnels,
    whole: &Whole<'_>,
    ts: Micros,
    out: &mut dyn FnMut(FlowRecord),
) -> Option<(Vec<u8>, Encap)> {
    match reassembled(whole.ip, whole.encap, tunnels) {
        Ok(pkt) => {
            dispatch(shards, &pkt, Hint::default(), ts, whole.frame_bytes, out);
            // An ICMP error long enough to be cut into fragments.
            if pkt.transport.is_icmp() {
                quote(shards, &pkt);
            }
        }
        Err(DecodeError::IpFragment) => return Some((whole.ip.to_vec(), whole.encap)),
        Err(e) => frames.undecoded(e),
    }
    None
}

impl Engine {
    /// Offers an IP fragment to reassembly; a datagram it completes goes
    /// on as one packet. Out of line: the common path stays lean.
    #[cold]
    #[inline(never)]
    fn fragment(
        &mut self,
        link: LinkType,
        frame: &[u8],
        wire_len: u32,
        ts: Micros,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        // A fragment inside a UDP tunnel is a whole datagram of the tunnel.
        let wire = wire_len.max(frame.len() as u32);
        let tunnels = &self.tunnels;
        carry(
            &mut self.shards,
            None,
            |nth| frame_carrier(link, frame, tunnels, nth),
            ts,
            wire,
            out,
        );
        let mut inner = match self
            .defrag
            .offer_frame(link, frame, wire_len, ts, &self.tunnels)
        {
            Ok(None) => None,
            Ok(Some(whole)) => {
                // A tunnel datagram that was itself fragmented.
                let tunnels = &self.tunnels;
                let c = |nth| carrier(whole.ip, whole.encap.vlan, tunnels, nth);
                carry(&mut self.shards, None, c, ts, whole.frame_bytes, out);
                deliver(
                    &mut self.shards,
                    &mut self.frames,
                    &self.tunnels,
                    &whole,
                    ts,
                    out,
                )
            }
            Err(e) => {
                self.frames.undecoded(e);
                None
            }
        };
        // A fragment inside a reassembled tunnel datagram: reassembled in
        // turn, as deep as tunnels are followed (a loop, bounded).
        for _ in 0..self.tunnels.max_depth {
            let Some((ip, encap)) = inner.take() else {
                return;
            };
            inner = match self.defrag.offer_inner(&ip, encap, ts, &self.tunnels) {
                Ok(Some(whole)) => deliver(
                    &mut self.shards,
                    &mut self.frames,
                    &self.tunnels,
                    &whole,
                    ts,
                    out,
                ),
                Ok(None) => None,
                Err(e) => {
                    self.frames.undecoded(e);
                    None
                }
            };
        }
        if inner.is_some() {
            self.frames.undecoded(DecodeError::TunnelTooDeep);
        }
    }

    /// Processes one captured frame, decoded (or not) as `decoded` says
    /// (and its flow placed, if `hint` says).
    #[allow(clippy::too_many_arguments)]
    fn decoded_frame(
        &mut self,
        link: LinkType,
        ts: Micros,
        frame: &[u8],
        wire_len: u32,
        decoded: Result<Packet<'_>, DecodeError>,
        hint: Hint,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        let ts = self.frames.frame(self.now, ts, frame.len(), wire_len);
        if self.now.advance(ts) && ts >= self.next_sync {
            // Once a second of packet time, shards that saw no packet
            // lately end their idle flows too; so does a lone shard
            // when the frame is one it will not see (undecodable), so
            // that one shard closes flows as several do.
            for shard in &mut self.shards {
                shard.advance(ts, out);
            }
            self.next_sync = ts.saturating_add(SECOND);
        }
        // Matched by reference: the packet is not moved out of the result.
        match &decoded {
            Ok(pkt) => {
                let wire = wire_len.max(frame.len() as u32);
                dispatch(&mut self.shards, pkt, hint, ts, wire, out);
                if pkt.transport.is_icmp() {
                    quote(&mut self.shards, pkt);
                }
                if let Some(n) = pkt.encap.tunnel.map(|t| t.udp_tunnels).filter(|&n| n > 0) {
                    let tunnels = &self.tunnels;
                    carry(
                        &mut self.shards,
                        Some(n),
                        |nth| frame_carrier(link, frame, tunnels, nth),
                        ts,
                        wire,
                        out,
                    );
                }
            }
            Err(DecodeError::IpFragment) => self.fragment(link, frame, wire_len, ts, out),
            Err(e) => {
                self.frames.undecoded(*e);
                // What a tunnel carried may be no flow (ARP) or damaged:
                // the tunnel's datagram is one all the same.
                let wire = wire_len.max(frame.len() as u32);
                let tunnels = &self.tunnels;
                let c = |nth| frame_carrier(link, frame, tunnels, nth);
                carry(&mut self.shards, None, c, ts, wire, out);
            }
        }
    }
}

impl PacketEngine for Engine {
    /// Processes one captured frame; `wire_len` is its length on the wire.
    fn process_frame(
        &mut self,
        link: LinkType,
        ts: Micros,
        frame: &[u8],
        wire_len: u32,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        let decoded = decode_with(link, frame, &self.tunnels);
        self.decoded_frame(link, ts, frame, wire_len, decoded, Hint::default(), out);
    }
    fn process_block(
        &mut self,
        block: &Arc<FileBlock>,
        packets: &[PacketRef],
        ahead: &[Ahead],
        out: &mut dyn FnMut(FlowRecord),
    ) {
        if ahead.len() == packets.len() {
            self.placement.track(self.flows());
            // Each packet's flow is asked for ahead (`lookahead`).
            for (i, (p, a)) in packets.iter().zip(ahead).enumerate() {
                if let Some(b) = ahead.get(i + BUCKET_AHEAD) {
                    b.hint().bucket(&self.shards);
                }
                if let Some(s) = ahead.get(i + SLOT_AHEAD) {
                    s.hint().slot(&self.shards);
                }
                let frame = block.frame(p);
                let decoded = a.packet(frame);
                self.decoded_frame(p.link, p.ts, frame, p.wire_len, decoded, a.hint(), out);
            }
        } else {
            for p in packets {
                self.process_frame(p.link, p.ts, block.frame(p), p.wire_len, out);
            }
        }
    }

    fn decodes_ahead(&self) -> Option<DecodeAhead> {
        Some(DecodeAhead {
            tunnels: self.tunnels,
            placement: self.placement.clone(),
        })
    }
    /// Packet time up to which every flow due to end has been handed out.
    fn watermark(&self) -> Micros {
        self.now.at()
    }
    /// Writes out every flow still open.
    fn finish(&mut self, out: &mut dyn FnMut(FlowRecord)) {
        self.defrag.finish();
        for shard in &mut self.shards {
            shard.finish(out);
        }
    }
    /// Counters of the whole engine.
    fn stats(&self) -> Stats {
        let mut total = self.frames.clone();
        total.fragments.merge(&self.defrag.stats);
        for s in &self.shards {
            total.merge(&s.stats);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 TCP segment with the given flags, as a raw-IP frame.
    fn segment(flags: u8) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 1, 2, 3, 4,
        ];
        p.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags]);
        p.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        p
    }

    /// Time told only by a frame that does not decode still ends idle
    /// flows, with one shard as with two (found by the capture fuzzer:
    /// one shard wrote `end_of_input` where two wrote `idle`).
    #[test]
    fn undecodable_frames_move_every_shard_count_alike() {
        for shards in [1, 2] {
            let mut engine = Engine::new(FlowConfig::default(), shards);
            let mut reasons = Vec::new();
            let mut out = |r: FlowRecord| reasons.push(r.event.reason);
            engine.process_frame(LinkType::Raw, SECOND, &segment(0x02), 40, &mut out);
            // 400 s later: a frame that is no IP packet at all.
            engine.process_frame(LinkType::Raw, 401 * SECOND, &[0xff; 8], 8, &mut out);
            engine.finish(&mut out);
            assert_eq!(reasons, ["idle"], "{shards} shards");
        }
    }

    /// A capture whose clock starts at 0 (crafted captures, devices
    /// without a clock): a flow seen at time 0 is not idle a microsecond
    /// later, on one shard or two.
    #[test]
    fn a_flow_at_time_zero_is_not_idle_at_once() {
        for shards in [1, 2] {
            let mut engine = Engine::new(FlowConfig::default(), shards);
            let mut records = Vec::new();
            let mut out = |r: FlowRecord| records.push((r.event.reason, r.source.packets));
            engine.process_frame(LinkType::Raw, 0, &segment(0x02), 40, &mut out);
            engine.process_frame(LinkType::Raw, 1, &segment(0x10), 40, &mut out);
            engine.process_frame(LinkType::Raw, 2, &segment(0x11), 40, &mut out);
            engine.finish(&mut out);
            assert_eq!(records, [("end_of_input", 3)], "{shards} shards");
        }
    }

    /// A SYN with another initial sequence number on a connection still
    /// open starts a new flow; the old one ends as `reused`, not `idle`.
    #[test]
    fn a_new_connection_on_the_same_ports_ends_the_old_as_reused() {
        let mut engine = Engine::new(FlowConfig::default(), 1);
        let mut reasons = Vec::new();
        let mut out = |r: FlowRecord| reasons.push(r.event.reason);
        engine.process_frame(LinkType::Raw, SECOND, &segment(0x02), 40, &mut out);
        let mut again = segment(0x02);
        again[27] = 9; // the sequence number's last byte
        engine.process_frame(LinkType::Raw, 2 * SECOND, &again, 40, &mut out);
        engine.finish(&mut out);
        assert_eq!(reasons, ["reused", "end_of_input"]);
    }

    /// A VXLAN datagram (VNI 42) from 192.0.2.1:50000 to 192.0.2.2:4789
    /// carrying `inner`, as a raw-IP frame (UDP checksum 0).
    fn vxlan(inner: &[u8], flags: u8) -> Vec<u8> {
        let udp_len = 8 + 8 + inner.len();
        let total = 20 + udp_len;
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
        ];
        p.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
        p.extend_from_slice(&[
            0xc3,
            0x50,
            0x12,
            0xb5,
            (udp_len >> 8) as u8,
            udp_len as u8,
            0,
            0,
        ]);
        p.extend_from_slice(&[flags, 0, 0, 0, 0, 0, 42, 0]);
        p.extend_from_slice(inner);
        p
    }

    /// A tunnel's datagrams are its own flow whatever they carry (here an
    /// Ethernet frame of ARP), and a datagram between the tunnel ends that
    /// is no VXLAN (flags without the VNI bit) counts there too.
    #[test]
    fn a_udp_tunnel_is_one_flow_whatever_it_carries() {
        let mut arp = vec![0xff; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        let frames = [
            vxlan(&arp, 0x00),
            vxlan(&arp, 0x08),
            vxlan(&segment(0x02)[..0], 0x08),
        ];
        for shards in [1, 2] {
            let mut engine = Engine::new(FlowConfig::default(), shards);
            let mut records = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                let ts = SECOND + i as u64;
                engine.process_frame(LinkType::Raw, ts, f, f.len() as u32, &mut |r| {
                    records.push(r)
                });
            }
            engine.finish(&mut |r| records.push(r));
            assert_eq!(records.len(), 1, "{shards} shards");
            let r = &records[0];
            assert_eq!(r.network.protocol.map(|p| p.name()), Some("vxlan"));
            assert_eq!((r.source.port, r.destination.port), (50000, 4789));
            assert_eq!(r.source.packets, 3);
            let bytes: usize = frames.iter().map(Vec::len).sum();
            assert_eq!(r.source.bytes, bytes as u64);
        }
    }
}
