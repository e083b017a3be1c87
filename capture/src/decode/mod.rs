//! Frame decoding: link layer, IPv4/IPv6, TCP/UDP, into a borrowed [`Packet`].
//!
//! Decoding is pure: bytes in, a view of offsets and header fields out, no
//! allocation and no capture-library types. Every way a frame can be unusable
//! is a [`DecodeError`] variant so it can be counted by reason.

mod error;
mod link;

pub use error::{DecodeError, DECODE_ERROR_KINDS};
pub use link::LinkType;

use crate::flow::key::{Addr, Transport};
use etherparse::{ip_number, LaxIpSlice, LenSource, TcpHeaderSlice, UdpHeaderSlice};

/// TCP header fields the flow table uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when `flags` has ACK).
    pub ack: u32,
    /// Flag bits as on the wire (FIN 0x01 .. CWR 0x80).
    pub flags: u8,
}

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN
    pub const FIN: u8 = 0x01;
    /// SYN
    pub const SYN: u8 = 0x02;
    /// RST
    pub const RST: u8 = 0x04;
    /// PSH
    pub const PSH: u8 = 0x08;
    /// ACK
    pub const ACK: u8 = 0x10;
}

/// A decoded packet: addresses, ports, transport header and payload, all
/// borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// TCP or UDP.
    pub transport: Transport,
    /// TCP fields; `None` for UDP.
    pub tcp: Option<TcpInfo>,
    /// Transport payload as captured (may be shorter than on the wire).
    pub payload: &'a [u8],
    /// Payload bytes the IP header says were sent but the capture cut off.
    pub payload_cut: u32,
    /// IP packet length from its header (what was on the wire).
    pub ip_len: u32,
}

impl Packet<'_> {
    /// True when the snap length cut part of this packet.
    pub fn truncated(&self) -> bool {
        self.payload_cut > 0
    }
}

/// Decodes one frame of the given link type.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let ip = link::strip(link, frame)?;
    decode_ip(ip)
}

/// The shard hash of a frame's flow ([`crate::flow::FlowKey::shard_hash`])
/// read from the few header fields it needs, without decoding the rest:
/// for plain IPv4 and IPv6 TCP/UDP. `None` for anything else (fragments,
/// IPv6 extension headers, damage): the caller then decodes the frame in
/// full, which gives the same key or the error to count.
pub fn shard_hint(link: LinkType, frame: &[u8]) -> Option<u64> {
    let ip = link::strip(link, frame).ok()?;
    let first = *ip.first()?;
    let (proto, src, dst, l4) = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            // More fragments, or an offset: a fragment.
            if ihl < 20 || frag & 0x3fff != 0 {
                return None;
            }
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (*ip.get(9)?, Addr::V4(s), Addr::V4(d), ihl)
        }
        6 => {
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (*ip.get(6)?, Addr::V6(s), Addr::V6(d), 40)
        }
        _ => return None,
    };
    let transport = match proto {
        6 => Transport::Tcp,
        17 => Transport::Udp,
        _ => return None,
    };
    let sport = u16::from_be_bytes([*ip.get(l4)?, *ip.get(l4 + 1)?]);
    let dport = u16::from_be_bytes([*ip.get(l4 + 2)?, *ip.get(l4 + 3)?]);
    Some(crate::flow::key::symmetric_hash(
        src, sport, dst, dport, transport,
    ))
}

/// True for a TCP segment with SYN set, read from the headers without a
/// full decode (plain IPv4/IPv6 only): a connection is opening.
pub fn syn_hint(link: LinkType, frame: &[u8]) -> bool {
    let Ok(ip) = link::strip(link, frame) else {
        return false;
    };
    let (proto, l4) = match ip.first().map(|b| b >> 4) {
        Some(4) => (
            ip.get(9).copied(),
            usize::from(ip.first().map_or(0, |b| b & 0x0f)) * 4,
        ),
        Some(6) => (ip.get(6).copied(), 40),
        _ => return false,
    };
    proto == Some(6) && ip.get(l4 + 13).is_some_and(|f| f & tcp_flags::SYN != 0)
}

/// Decodes an IP packet (no link header).
pub fn decode_ip(ip: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let (slice, ext_err) = LaxIpSlice::from_slice(ip).map_err(DecodeError::from_ip)?;
    if ext_err.is_some() {
        return Err(DecodeError::Ipv6ExtensionHeader);
    }
    let (src, dst) = match &slice {
        LaxIpSlice::Ipv4(v4) => (
            Addr::V4(v4.header().source()),
            Addr::V4(v4.header().destination()),
        ),
        LaxIpSlice::Ipv6(v6) => (
            Addr::V6(v6.header().source()),
            Addr::V6(v6.header().destination()),
        ),
    };
    let ip_len = match &slice {
        LaxIpSlice::Ipv4(v4) => u32::from(v4.header().total_len()),
        LaxIpSlice::Ipv6(v6) => 40 + u32::from(v6.header().payload_length()),
    };
    let payload = slice.payload();
    if payload.fragmented {
        return Err(DecodeError::IpFragment);
    }
    // When the IP length claims more than the frame holds, the capture cut
    // the packet (snaplen) or the length is garbage; either way only the
    // captured bytes exist. `incomplete` is etherparse's word for that.
    let cut = if payload.len_source == LenSource::Slice && payload.incomplete {
        ip_len.saturating_sub(ip.len() as u32)
    } else {
        0
    };
    match payload.ip_number {
        ip_number::TCP => {
            let tcp = TcpHeaderSlice::from_slice(payload.payload).map_err(|e| match e {
                etherparse::err::tcp::HeaderSliceError::Len(_) => DecodeError::TcpTruncated,
                etherparse::err::tcp::HeaderSliceError::Content(_) => DecodeError::TcpBadOffset,
            })?;
            let hlen = tcp.slice().len();
            let data = payload.payload.get(hlen..).unwrap_or(&[]);
            let flags = tcp.slice().get(13).copied().unwrap_or(0);
            Ok(Packet {
                src,
                dst,
                sport: tcp.source_port(),
                dport: tcp.destination_port(),
                transport: Transport::Tcp,
                tcp: Some(TcpInfo {
                    seq: tcp.sequence_number(),
                    ack: tcp.acknowledgment_number(),
                    flags,
                }),
                payload: data,
                payload_cut: cut,
                ip_len,
            })
        }
        ip_number::UDP => {
            let udp = UdpHeaderSlice::from_slice(payload.payload)
                .map_err(|_| DecodeError::UdpTruncated)?;
            // The UDP length bounds the payload (Ethernet padding follows).
            let claimed = usize::from(udp.length()).saturating_sub(8);
            let rest = payload.payload.get(8..).unwrap_or(&[]);
            let data = rest.get(..claimed).unwrap_or(rest);
            Ok(Packet {
                src,
                dst,
                sport: udp.source_port(),
                dport: udp.destination_port(),
                transport: Transport::Udp,
                tcp: None,
                payload: data,
                payload_cut: cut,
                ip_len,
            })
        }
        ip_number::ICMP | ip_number::IPV6_ICMP => Err(DecodeError::Icmp),
        _ => Err(DecodeError::OtherTransport),
    }
}

#[cfg(test)]
mod tests;
