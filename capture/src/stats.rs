//! Run statistics: plain counters owned by one shard, merged at the end.

use crate::decode::{DecodeError, DECODE_ERROR_KINDS};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Decode failures by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeErrors([u64; DECODE_ERROR_KINDS.len()]);

impl DecodeErrors {
    /// Counts one failure.
    pub fn add(&mut self, e: DecodeError) {
        if let Some(c) = self.0.get_mut(e.index()) {
            *c += 1;
        }
    }

    /// Failures of one reason.
    pub fn get(&self, e: DecodeError) -> u64 {
        self.0.get(e.index()).copied().unwrap_or(0)
    }

    /// All failures (ARP and ICMP frames are no failure).
    pub fn total(&self) -> u64 {
        DECODE_ERROR_KINDS
            .iter()
            .filter(|k| k.is_error())
            .map(|k| self.get(*k))
            .sum()
    }

    fn merge(&mut self, other: &DecodeErrors) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }
}

impl Stats {
    /// Counts a frame taken by an engine whose packet time is `now`, and
    /// gives the time it is taken at: packet time never runs back (the
    /// shards' idle lists are in time order, and a flow stamped in the past
    /// behind newer ones would end on one shard count and not another), so
    /// an earlier stamp is taken at `now` and counted.
    pub(crate) fn frame(
        &mut self,
        now: crate::time::Watermark,
        ts: crate::time::Micros,
        captured: usize,
        wire_len: u32,
    ) -> crate::time::Micros {
        self.packets += 1;
        self.bytes += captured as u64;
        if (captured as u64) < u64::from(wire_len) {
            self.truncated_packets += 1;
        }
        if ts < now.at() {
            self.time_backwards += 1;
        }
        now.clamp(ts)
    }

    /// Counts a frame that gave no flow packet: as what it is (ARP)
    /// or as a decode error by reason.
    pub fn undecoded(&mut self, e: DecodeError) {
        match e {
            DecodeError::Arp => self.not_flows.arp += 1,
            DecodeError::LinkControl => self.not_flows.link_control += 1,
            DecodeError::OtherTransport => self.not_flows.other_ip_protocols += 1,
            e => self.decode_errors.add(e),
        }
    }
}

impl Serialize for DecodeErrors {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for kind in DECODE_ERROR_KINDS.into_iter().filter(|k| k.is_error()) {
            let n = self.get(kind);
            if n > 0 {
                m.serialize_entry(kind.name(), &n)?;
            }
        }
        m.end()
    }
}

/// Frames that are sound but carry no flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct NotFlows {
    /// ARP frames.
    pub arp: u64,
    /// Link-layer control frames: spanning tree, IS-IS, LLDP, CDP, LACP,
    /// PPPoE discovery, PPP's control protocols, GRE keepalives and NHRP,
    /// 802.11 management, control and null frames.
    pub link_control: u64,
    /// IP packets of protocols tracked as no flow (IGMP, OSPF, ESP, AH,
    /// PIM, VRRP, SCTP...), and tunnels left unread at tunnel depth 0.
    pub other_ip_protocols: u64,
}

/// Everything a run counts. All counters are u64 and add up across shards.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Frames read.
    pub packets: u64,
    /// Frames dropped because a worker's queue was full (live capture only:
    /// reading a file waits instead).
    pub queue_drops: u64,
    /// Captured bytes read (frame lengths as captured).
    pub bytes: u64,
    /// Frames decoded into a TCP or UDP packet.
    pub decoded: u64,
    /// Frames not decoded, by reason.
    pub decode_errors: DecodeErrors,
    /// Frames not decoded because they carry no flow, though sound.
    pub not_flows: NotFlows,
    /// IP fragments and the datagrams put back together from them.
    pub fragments: crate::defrag::DefragStats,
    /// Packets the capture cut short of their IP length (snaplen).
    pub truncated_packets: u64,
    /// Frames stamped earlier than a frame read before them: they are taken
    /// as arriving at the latest time seen, so that flows end alike
    /// whatever the thread count.
    pub time_backwards: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flow records emitted.
    pub flows_emitted: u64,
    /// Open flows evicted because the table was full.
    pub flows_evicted: u64,
    /// Closed connections written out before their quiet wait ended,
    /// because the table was full (given up before any open flow).
    pub closed_flushed: u64,
    /// Most flows tracked at once (each shard's peak, summed).
    pub flows_peak: u64,
    /// Heap the flow tables hold: their slots and hash index, without the
    /// parser state some flows box (`flows_peak` divides it into bytes per
    /// tracked flow).
    pub flow_table_bytes: u64,
    /// TCP flows picked up without a SYN.
    pub flows_midstream: u64,
    /// Payload bytes delivered in order by reassembly.
    pub reassembled_bytes: u64,
    /// Gaps in TCP streams.
    pub reassembly_gaps: u64,
    /// Payload bytes missing in those gaps.
    pub missed_bytes: u64,
    /// Payload bytes seen twice (retransmissions, overlaps).
    pub retransmitted_bytes: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order_segments: u64,
    /// Times an out-of-order cap forced a gap.
    pub reassembly_overflows: u64,
    /// HTTP transactions parsed.
    pub http_transactions: u64,
    /// HTTP messages that failed to parse.
    pub http_parse_errors: u64,
    /// HTTP transactions not recorded: the per-flow cap was reached.
    pub http_transactions_dropped: u64,
    /// Content-Encoded HTTP bodies whose decoded length was not counted:
    /// every decoder of the process was busy (`--max-body-decoders`).
    pub http_bodies_not_decoded: u64,
    /// TLS sessions whose ClientHello was parsed.
    pub tls_client_hellos: u64,
    /// TLS records or hellos that failed to parse.
    pub tls_parse_errors: u64,
    /// QUIC Initial packets seen.
    pub quic_initials: u64,
    /// QUIC Initial packets whose protection did not open (keys derived
    /// from a client packet the capture missed, or damage).
    pub quic_undecrypted: u64,
    /// TCP packets of connections not tracked, picked up without their SYN,
    /// that a full table did not take (no flow was evicted for them).
    pub midstream_refused: u64,
    /// ICMP errors quoting a tracked TCP or UDP flow (counted in its
    /// record's `icmp_errors`).
    pub icmp_errors_matched: u64,
    /// ICMP errors quoting a flow not tracked (never seen, or ended).
    pub icmp_errors_unmatched: u64,
}

impl Stats {
    /// Adds another shard's counters into these.
    pub fn merge(&mut self, o: &Stats) {
        self.packets += o.packets;
        self.queue_drops += o.queue_drops;
        self.bytes += o.bytes;
        self.decoded += o.decoded;
        self.decode_errors.merge(&o.decode_errors);
        self.not_flows.arp += o.not_flows.arp;
        self.not_flows.link_control += o.not_flows.link_control;
        self.not_flows.other_ip_protocols += o.not_flows.other_ip_protocols;
        self.fragments.merge(&o.fragments);
        self.truncated_packets += o.truncated_packets;
        self.time_backwards += o.time_backwards;
        self.flows_created += o.flows_created;
        self.flows_emitted += o.flows_emitted;
        self.flows_evicted += o.flows_evicted;
        self.closed_flushed += o.closed_flushed;
        self.flows_peak += o.flows_peak;
        self.flow_table_bytes += o.flow_table_bytes;
        self.flows_midstream += o.flows_midstream;
        self.reassembled_bytes += o.reassembled_bytes;
        self.reassembly_gaps += o.reassembly_gaps;
        self.missed_bytes += o.missed_bytes;
        self.retransmitted_bytes += o.retransmitted_bytes;
        self.out_of_order_segments += o.out_of_order_segments;
        self.reassembly_overflows += o.reassembly_overflows;
        self.http_transactions += o.http_transactions;
        self.http_parse_errors += o.http_parse_errors;
        self.http_transactions_dropped += o.http_transactions_dropped;
        self.http_bodies_not_decoded += o.http_bodies_not_decoded;
        self.tls_client_hellos += o.tls_client_hellos;
        self.tls_parse_errors += o.tls_parse_errors;
        self.quic_initials += o.quic_initials;
        self.quic_undecrypted += o.quic_undecrypted;
        self.midstream_refused += o.midstream_refused;
        self.icmp_errors_matched += o.icmp_errors_matched;
        self.icmp_errors_unmatched += o.icmp_errors_unmatched;
    }
}

#[cfg(test)]
mod not_flow_tests {
    use super::*;

    #[test]
    fn frames_without_flows_are_counted_apart_from_errors() {
        let mut s = Stats::default();
        for e in [
            DecodeError::Arp,
            DecodeError::Arp,
            DecodeError::LinkControl,
            DecodeError::OtherTransport,
            DecodeError::OtherTransport,
            DecodeError::OtherTransport,
            DecodeError::IcmpTruncated,
            DecodeError::NotIp,
        ] {
            s.undecoded(e);
        }
        assert_eq!(
            s.not_flows,
            NotFlows {
                arp: 2,
                link_control: 1,
                other_ip_protocols: 3
            }
        );
        assert_eq!(s.decode_errors.total(), 2);
        let json = serde_json::to_value(&s).unwrap_or_default();
        assert_eq!(
            json["decode_errors"],
            serde_json::json!({"not_ip": 1, "icmp_truncated": 1})
        );
        assert_eq!(
            json["not_flows"],
            serde_json::json!({"arp": 2, "link_control": 1, "other_ip_protocols": 3})
        );
    }
}
