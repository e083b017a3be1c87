//! Frame decoding: link layer, IPv4/IPv6, TCP/UDP, into a borrowed [`Packet`].
//!
//! Decoding is pure: bytes in, a view of offsets and header fields out, no
//! allocation and no capture-library types. Every way a frame can be unusable
//! is a [`DecodeError`] variant so it can be counted by reason.

mod ahead;
mod error;
mod fragment;
pub mod icmp;
mod link;
mod nflog;
mod tunnel;
mod wlan;

pub use ahead::{Ahead, DecodeAhead};
pub use error::{DecodeError, DECODE_ERROR_KINDS};
pub(crate) use fragment::whole_header;
pub use fragment::{FragKey, Fragment};
pub use link::LinkType;
pub use tunnel::{TunnelKind, Tunnels};

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
    /// TCP, UDP, ICMP or ICMPv6.
    pub transport: Transport,
    /// TCP fields; `None` for the others.
    pub tcp: Option<TcpInfo>,
    /// Transport payload as captured (may be shorter than on the wire);
    /// for ICMP, the whole message, its header included.
    pub payload: &'a [u8],
    /// Payload bytes the IP header says were sent but the capture cut off.
    pub payload_cut: u32,
    /// IP packet length from its header (what was on the wire).
    pub ip_len: u32,
    /// The VLAN and tunnels the packet came in.
    pub encap: Encap,
}

/// How a packet was carried: its outermost VLAN id and the outermost
/// tunnel it came out of. Kept small: every packet carries one, and a
/// [`Packet`] of more than 128 bytes is moved by a call to `memcpy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Encap {
    /// Outermost 802.1Q VLAN id; 0 when untagged.
    pub vlan: u16,
    /// Where the innermost frame (the Ethernet frame or IP packet the
    /// last tunnel carried) starts in the captured frame; 0 untunnelled.
    /// Tunnel headers are bounded in number and length, so this fits.
    pub inner_at: u16,
    /// The outermost tunnel, when the packet was inside one.
    pub tunnel: Option<Tunnel>,
}

/// A tunnel a packet came out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    /// Its outer source address.
    pub src: Addr,
    /// Its outer destination address.
    pub dst: Addr,
    /// Its VNI, GRE key, GTP TEID or ERSPAN session, with `has_id`.
    id: u32,
    has_id: bool,
    /// Kind of the outermost tunnel.
    pub kind: TunnelKind,
    /// Tunnels nested, counting this one.
    pub depth: u8,
    /// How many of them are UDP tunnels (VXLAN, GENEVE, Teredo, AYIYA, GRE
    /// in UDP, GTP-U),
    /// at any depth: the datagrams of each are a flow of their own
    /// ([`carrier`]).
    pub udp_tunnels: u8,
}

impl Tunnel {
    /// Its VNI, GRE key, GTP TEID or ERSPAN session, if it has one.
    pub fn id(&self) -> Option<u32> {
        self.has_id.then_some(self.id)
    }
}

impl Packet<'_> {
    /// True when the snap length cut part of this packet.
    pub fn truncated(&self) -> bool {
        self.payload_cut > 0
    }
}

/// Decodes one frame of the given link type, through the default tunnels
/// ([`Tunnels::default`]).
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    decode_with(link, frame, &Tunnels::default())
}

/// Decodes one frame of the given link type, following the tunnels
/// `tunnels` names (a loop to its depth, no recursion) to the innermost
/// TCP or UDP packet.
pub fn decode_with<'a>(
    link: LinkType,
    frame: &'a [u8],
    tunnels: &Tunnels,
) -> Result<Packet<'a>, DecodeError> {
    let stripped = link::strip(link, frame)?;
    let encap = Encap {
        vlan: stripped.vlan,
        ..Encap::default()
    };
    // The common case first, kept lean: TCP, and UDP on no tunnel port.
    let layer = ip_layer(stripped.ip)?;
    match layer.proto {
        ip_number::TCP => tcp_packet(&layer, encap),
        ip_number::UDP => {
            let pkt = udp_packet(&layer, encap)?;
            if tunnels.max_depth == 0 || !tunnels.may_carry(pkt.sport, pkt.dport, pkt.payload) {
                return Ok(pkt);
            }
            through_tunnels::<false>(frame, stripped.ip, encap, tunnels, 0)?.packet()
        }
        _ => through_tunnels::<false>(frame, stripped.ip, encap, tunnels, 0)?.packet(),
    }
}

/// Where following a frame's layers ended: a packet of a flow, or an IP
/// fragment (at any depth) that reassembly must take first.
enum Walked<'a> {
    Packet(Packet<'a>),
    /// The fragmented IP packet and how it was carried.
    Fragment(&'a [u8], Encap),
    /// The first UDP tunnel's datagram, when that is what was asked for.
    Carrier(Packet<'a>, TunnelKind),
}

impl<'a> Walked<'a> {
    fn packet(self) -> Result<Packet<'a>, DecodeError> {
        match self {
            Walked::Packet(p) => Ok(p),
            Walked::Fragment(..) => Err(DecodeError::IpFragment),
            Walked::Carrier(..) => Err(DecodeError::OtherTransport),
        }
    }
}

/// The IP fragment a frame is (through its tunnels), for a frame
/// [`decode_with`] called an [`DecodeError::IpFragment`].
pub fn fragment<'a>(
    link: LinkType,
    frame: &'a [u8],
    tunnels: &Tunnels,
) -> Result<Fragment<'a>, DecodeError> {
    let stripped = link::strip(link, frame)?;
    let encap = Encap {
        vlan: stripped.vlan,
        ..Encap::default()
    };
    match through_tunnels::<false>(frame, stripped.ip, encap, tunnels, 0)? {
        Walked::Fragment(ip, encap) => fragment::read(ip, encap),
        Walked::Packet(_) | Walked::Carrier(..) => Err(DecodeError::IpFragment),
    }
}

/// The IP fragment a reassembled datagram `ip` carries inside its
/// tunnels (the tunnel's datagram and the packet in it were both cut),
/// for a datagram [`reassembled`] called an [`DecodeError::IpFragment`].
pub fn fragment_inside<'a>(
    ip: &'a [u8],
    encap: Encap,
    tunnels: &Tunnels,
) -> Result<Fragment<'a>, DecodeError> {
    let encap = Encap {
        inner_at: 0,
        ..encap
    };
    match through_tunnels::<false>(ip, ip, encap, tunnels, 0)? {
        Walked::Fragment(inner, encap) => fragment::read(inner, encap),
        Walked::Packet(_) | Walked::Carrier(..) => Err(DecodeError::IpFragment),
    }
}

/// Decodes a datagram reassembled from fragments that came as `encap`
/// says: the IP packet `ip`, and the tunnels inside it. A fragment inside
/// it is an [`DecodeError::IpFragment`], for [`fragment_inside`].
pub fn reassembled<'a>(
    ip: &'a [u8],
    encap: Encap,
    tunnels: &Tunnels,
) -> Result<Packet<'a>, DecodeError> {
    let encap = Encap {
        inner_at: 0,
        ..encap
    };
    through_tunnels::<false>(ip, ip, encap, tunnels, 0)?.packet()
}

/// The UDP datagram that carried a tunnelled packet, as a packet of the
/// tunnel's own flow (a mirror source's VXLAN to the sensor...), with the
/// tunnel it carries: for an IP packet `ip` (a frame's, or one
/// reassembled), the UDP tunnel number `nth` (from 0, outermost first)
/// found in it, directly or inside other tunnels (VXLAN seen through an
/// ERSPAN session, or inside another VXLAN: the datagram's record then
/// names the outer tunnels). Past the last one, an error.
pub fn carrier<'a>(
    ip: &'a [u8],
    vlan: u16,
    tunnels: &Tunnels,
    nth: u8,
) -> Result<(Packet<'a>, TunnelKind), DecodeError> {
    let encap = Encap {
        vlan,
        ..Encap::default()
    };
    match through_tunnels::<true>(ip, ip, encap, tunnels, nth)? {
        Walked::Carrier(pkt, kind) => Ok((pkt, kind)),
        Walked::Packet(_) => Err(DecodeError::OtherTransport),
        Walked::Fragment(..) => Err(DecodeError::IpFragment),
    }
}

/// [`carrier`] for a captured frame of link type `link`.
pub fn frame_carrier<'a>(
    link: LinkType,
    frame: &'a [u8],
    tunnels: &Tunnels,
    nth: u8,
) -> Result<(Packet<'a>, TunnelKind), DecodeError> {
    let stripped = link::strip(link, frame)?;
    carrier(stripped.ip, stripped.vlan, tunnels, nth)
}

/// The IP packet `ip` of `frame` and the tunnels inside it, followed in a
/// loop to the configured depth; with `CARRIER`, only to the UDP tunnel
/// number `nth` (from 0), whose datagram it gives.
#[inline(never)]
fn through_tunnels<'a, const CARRIER: bool>(
    frame: &'a [u8],
    mut ip: &'a [u8],
    mut encap: Encap,
    tunnels: &Tunnels,
    nth: u8,
) -> Result<Walked<'a>, DecodeError> {
    let mut depth = 0u8;
    // UDP tunnels passed through so far.
    let mut udp_seen = 0u8;
    loop {
        let layer = match ip_layer(ip) {
            Err(DecodeError::IpFragment) => return Ok(Walked::Fragment(ip, encap)),
            layer => layer?,
        };
        let mut via_udp = false;
        let (hop, carrier) = match layer.proto {
            ip_number::TCP => return tcp_packet(&layer, encap).map(Walked::Packet),
            ip_number::UDP if tunnels.max_depth == 0 => {
                return udp_packet(&layer, encap).map(Walked::Packet)
            }
            ip_number::UDP => {
                let pkt = udp_packet(&layer, encap)?;
                match tunnel::udp(tunnels, pkt.sport, pkt.dport, pkt.payload) {
                    Some(hop) if CARRIER && udp_seen == nth => {
                        return Ok(Walked::Carrier(pkt, hop.kind))
                    }
                    Some(hop) => {
                        via_udp = true;
                        (hop, pkt.payload)
                    }
                    None => return Ok(Walked::Packet(pkt)),
                }
            }
            ip_number::IPV4 | ip_number::IPV6 | ip_number::GRE if tunnels.max_depth == 0 => {
                return Err(DecodeError::OtherTransport)
            }
            ip_number::IPV4 | ip_number::IPV6 => (tunnel::Hop::ip_in_ip(), layer.payload),
            ip_number::GRE => (tunnel::gre(layer.payload)?, layer.payload),
            ip_number::ICMP => {
                return icmp::packet(&layer, encap, Transport::Icmp).map(Walked::Packet)
            }
            ip_number::IPV6_ICMP => {
                return icmp::packet(&layer, encap, Transport::Icmpv6).map(Walked::Packet)
            }
            _ => return Err(DecodeError::OtherTransport),
        };
        depth += 1;
        if depth > tunnels.max_depth {
            return Err(DecodeError::TunnelTooDeep);
        }
        let inner = carrier.get(hop.at..).ok_or(DecodeError::TunnelMalformed)?;
        let outermost = encap.tunnel.get_or_insert(Tunnel {
            src: layer.src,
            dst: layer.dst,
            id: hop.id.unwrap_or(0),
            has_id: hop.id.is_some(),
            kind: hop.kind,
            depth,
            udp_tunnels: 0,
        });
        outermost.depth = depth;
        if via_udp {
            udp_seen = udp_seen.saturating_add(1);
            outermost.udp_tunnels = udp_seen;
        }
        encap.inner_at = offset_in(frame, inner);
        ip = match hop.inner {
            tunnel::Inner::Ip => inner,
            tunnel::Inner::Ethernet => link::by_ethertype(inner, 12)?.ip,
            tunnel::Inner::Ppp => inner
                .get(link::ppp(inner, 0)?..)
                .ok_or(DecodeError::TunnelMalformed)?,
            tunnel::Inner::Wlan => wlan::ieee80211(inner, 0)?.ip,
            tunnel::Inner::Mpls => match tunnel::mpls(inner)? {
                (rest, tunnel::Inner::Ethernet) => link::by_ethertype(rest, 12)?.ip,
                (rest, _) => rest,
            },
        };
    }
}

/// Where `inner`, a slice of `frame`, starts in it.
fn offset_in(frame: &[u8], inner: &[u8]) -> u16 {
    let at = (inner.as_ptr() as usize).saturating_sub(frame.as_ptr() as usize);
    u16::try_from(at.min(frame.len())).unwrap_or(u16::MAX)
}

/// The shard hash of a frame's flow ([`crate::flow::FlowKey::shard_hash`])
/// read from the few header fields it needs, without decoding the rest:
/// for plain IPv4 and IPv6 TCP/UDP. `None` for anything else (fragments,
/// IPv6 extension headers, damage): the caller then decodes the frame in
/// full, which gives the same key or the error to count.
pub fn shard_hint(link: LinkType, frame: &[u8], tunnels: &Tunnels) -> Option<u64> {
    let ip = link::strip(link, frame).ok()?.ip;
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
    // A datagram that may carry a tunnel is keyed by what is inside.
    if transport == Transport::Udp && tunnels.max_depth > 0 {
        // The datagram's own bytes (no link padding), as the full decode
        // sees them.
        let len = usize::from(u16::from_be_bytes([*ip.get(l4 + 4)?, *ip.get(l4 + 5)?]));
        let payload = ip.get(l4 + 8..l4 + len).unwrap_or(&[]);
        if tunnels.may_carry(sport, dport, payload) {
            return None;
        }
    }
    Some(crate::flow::key::symmetric_hash(
        src, sport, dst, dport, transport,
    ))
}

/// True for a TCP segment with SYN set, read from the headers without a
/// full decode (plain IPv4/IPv6 only): a connection is opening.
pub fn syn_hint(link: LinkType, frame: &[u8]) -> bool {
    let Ok(link::Stripped { ip, .. }) = link::strip(link, frame) else {
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
    decode_with(LinkType::Raw, ip, &Tunnels::default())
}

/// An IP header read: addresses, lengths, the protocol and what it carries.
#[derive(PartialEq)]
#[cfg_attr(test, derive(Debug))]
struct IpLayer<'a> {
    src: Addr,
    dst: Addr,
    ip_len: u32,
    proto: etherparse::IpNumber,
    payload: &'a [u8],
    cut: u32,
}

#[inline(always)]
fn ip_layer(ip: &[u8]) -> Result<IpLayer<'_>, DecodeError> {
    match plain_ipv4(ip) {
        Some(layer) => Ok(layer),
        None => lax_ip_layer(ip),
    }
}

/// The IP number of IPsec's Authentication Header, which etherparse reads
/// past in IPv4 as an extension.
const AUTH_HEADER: u8 = 51;

/// A plain IPv4 header read by hand: whole in the frame, its stated
/// length at least its header and at most what was captured, no fragment,
/// no Authentication Header; `None` for anything else, which
/// [`lax_ip_layer`] reads. What it gives is what the lax reading gives
/// (`plain_ipv4_reads_as_etherparse_does`), without moving that reading's
/// large result about: on the flood of short connections, copying it was
/// two thirds of the decoding thread's time in `decode_with` (a stall on
/// the copy, under perf); `cargo bench -p capture --bench decode`: an
/// Ethernet IPv4 ACK in 16.6 ns instead of 21.3.
#[inline(always)]
fn plain_ipv4(ip: &[u8]) -> Option<IpLayer<'_>> {
    let head: &[u8; 20] = ip.first_chunk()?;
    let ihl = usize::from(head[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let fragment = u16::from_be_bytes([head[6], head[7]]) & 0x3fff;
    if head[0] >> 4 != 4 || ihl < 20 || total < ihl || fragment != 0 || head[9] == AUTH_HEADER {
        return None;
    }
    Some(IpLayer {
        src: Addr::V4([head[12], head[13], head[14], head[15]]),
        dst: Addr::V4([head[16], head[17], head[18], head[19]]),
        ip_len: total as u32,
        proto: etherparse::IpNumber(head[9]),
        payload: ip.get(ihl..total)?,
        cut: 0,
    })
}

/// Whether [`plain_ipv4`], when it takes `ip`, reads it as
/// [`lax_ip_layer`] does.
pub(crate) fn plain_ipv4_agrees(ip: &[u8]) -> bool {
    plain_ipv4(ip).is_none_or(|fast| lax_ip_layer(ip).is_ok_and(|lax| lax == fast))
}

/// Any IP header, read by etherparse's lax reader.
#[inline(never)]
fn lax_ip_layer(ip: &[u8]) -> Result<IpLayer<'_>, DecodeError> {
    let (slice, ext_err) = LaxIpSlice::from_slice(ip).map_err(DecodeError::from_ip)?;
    if ext_err.is_some() {
        return Err(DecodeError::Ipv6ExtensionHeader);
    }
    let (src, dst, ip_len) = match &slice {
        LaxIpSlice::Ipv4(v4) => (
            Addr::V4(v4.header().source()),
            Addr::V4(v4.header().destination()),
            u32::from(v4.header().total_len()),
        ),
        LaxIpSlice::Ipv6(v6) => (
            Addr::V6(v6.header().source()),
            Addr::V6(v6.header().destination()),
            40 + u32::from(v6.header().payload_length()),
        ),
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
    // A length of 0 (a segment captured before the NIC split it: TCP
    // segmentation offload, or an IPv6 jumbogram) says nothing: the packet
    // is what the frame holds.
    // The lax parser then takes the slice's length, and says so.
    let unstated = payload.len_source == LenSource::Slice && !payload.incomplete;
    let ip_len = if unstated { ip.len() as u32 } else { ip_len };
    Ok(IpLayer {
        src,
        dst,
        ip_len,
        proto: payload.ip_number,
        payload: payload.payload,
        cut,
    })
}

#[inline(always)]
fn tcp_packet<'a>(l: &IpLayer<'a>, encap: Encap) -> Result<Packet<'a>, DecodeError> {
    let tcp = match TcpHeaderSlice::from_slice(l.payload) {
        Ok(tcp) => tcp,
        Err(etherparse::err::tcp::HeaderSliceError::Len(_)) => return cut_tcp_header(l, encap),
        Err(etherparse::err::tcp::HeaderSliceError::Content(_)) => {
            return Err(DecodeError::TcpBadOffset)
        }
    };
    let hlen = tcp.slice().len();
    let data = l.payload.get(hlen..).unwrap_or(&[]);
    let flags = tcp.slice().get(13).copied().unwrap_or(0);
    Ok(Packet {
        src: l.src,
        dst: l.dst,
        sport: tcp.source_port(),
        dport: tcp.destination_port(),
        transport: Transport::Tcp,
        tcp: Some(TcpInfo {
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            flags,
        }),
        payload: data,
        payload_cut: l.cut,
        ip_len: l.ip_len,
        encap,
    })
}

/// A TCP segment the capture cut inside its header: a snap length that
/// keeps the fixed header but not all of the options (`tcpdump -s 64`
/// against timestamps cuts every segment so). Its ports, numbers and
/// flags are in the fixed 20 bytes; the options are passed over, and the
/// payload is all cut. A segment without its fixed header, or one whose
/// own IP length ends inside the header, is truncated.
#[cold]
#[inline(never)]
fn cut_tcp_header<'a>(l: &IpLayer<'a>, encap: Encap) -> Result<Packet<'a>, DecodeError> {
    let fixed: [u8; 20] = l
        .payload
        .get(..20)
        .and_then(|b| b.try_into().ok())
        .ok_or(DecodeError::TcpTruncated)?;
    let [sp0, sp1, dp0, dp1, s0, s1, s2, s3, a0, a1, a2, a3, offset, flags, ..] = fixed;
    let header = usize::from(offset >> 4) * 4;
    if header < 20 {
        return Err(DecodeError::TcpBadOffset);
    }
    // The segment's length on the wire: what was captured and what the
    // capture cut.
    let sent = l.payload.len() + l.cut as usize;
    if l.cut == 0 || sent < header {
        return Err(DecodeError::TcpTruncated);
    }
    Ok(Packet {
        src: l.src,
        dst: l.dst,
        sport: u16::from_be_bytes([sp0, sp1]),
        dport: u16::from_be_bytes([dp0, dp1]),
        transport: Transport::Tcp,
        tcp: Some(TcpInfo {
            seq: u32::from_be_bytes([s0, s1, s2, s3]),
            ack: u32::from_be_bytes([a0, a1, a2, a3]),
            flags,
        }),
        // Empty, where the captured bytes end (still a part of the frame).
        payload: l.payload.get(l.payload.len()..).unwrap_or_default(),
        payload_cut: u32::try_from(sent - header).unwrap_or(u32::MAX),
        ip_len: l.ip_len,
        encap,
    })
}

#[inline(always)]
fn udp_packet<'a>(l: &IpLayer<'a>, encap: Encap) -> Result<Packet<'a>, DecodeError> {
    let udp = UdpHeaderSlice::from_slice(l.payload).map_err(|_| DecodeError::UdpTruncated)?;
    // The UDP length bounds the payload (Ethernet padding follows).
    let claimed = usize::from(udp.length()).saturating_sub(8);
    let rest = l.payload.get(8..).unwrap_or(&[]);
    let data = rest.get(..claimed).unwrap_or(rest);
    // What the snap length cut: the datagram's payload as its length says
    // it was sent, within what the IP header says was sent.
    let sent = claimed.min((l.payload.len() + l.cut as usize).saturating_sub(8));
    let cut = u32::try_from(sent.saturating_sub(data.len())).unwrap_or(u32::MAX);
    Ok(Packet {
        src: l.src,
        dst: l.dst,
        sport: udp.source_port(),
        dport: udp.destination_port(),
        transport: Transport::Udp,
        tcp: None,
        payload: data,
        payload_cut: cut,
        ip_len: l.ip_len,
        encap,
    })
}

#[cfg(test)]
mod tests;
