//! Frame building by hand: link layers, IPv4/IPv6 (optionally with IPv6
//! extension headers), TCP and UDP with correct checksums, IPv4 fragments.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Ethertype of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Ethertype of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Ethertype of an 802.1Q VLAN tag (customer tag).
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// Ethertype of an 802.1ad service tag (outer tag of QinQ).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;

/// pcap link type: Ethernet (also used for VLAN and QinQ frames).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// pcap link type: BSD loopback / null.
pub const LINKTYPE_NULL: u32 = 0;
/// pcap link type: raw IP.
pub const LINKTYPE_RAW: u32 = 101;
/// pcap link type: PPP (its HDLC address and control bytes, then the
/// protocol number).
pub const LINKTYPE_PPP: u32 = 9;
/// pcap link type: Linux cooked capture v1.
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// pcap link type: Linux cooked capture v2.
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// TCP FIN flag.
pub const TCP_FIN: u8 = 0x01;
/// TCP SYN flag.
pub const TCP_SYN: u8 = 0x02;
/// TCP RST flag.
pub const TCP_RST: u8 = 0x04;
/// TCP PSH flag.
pub const TCP_PSH: u8 = 0x08;
/// TCP ACK flag.
pub const TCP_ACK: u8 = 0x10;

/// MAC address of the client host in generated frames.
pub const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// MAC address of the gateway (next hop towards every server).
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0xfe];

/// The link layer of generated frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II (linktype 1).
    Ethernet,
    /// Ethernet II with one 802.1Q tag carrying this VLAN id (linktype 1).
    Vlan(u16),
    /// Ethernet II with an 802.1ad outer tag (0x88a8) and an 802.1Q inner
    /// tag (0x8100) (linktype 1).
    QinQ {
        /// Outer (service) VLAN id.
        outer: u16,
        /// Inner (customer) VLAN id.
        inner: u16,
    },
    /// Linux cooked capture v1 (linktype 113), 16-byte header.
    Sll,
    /// Linux cooked capture v2 (linktype 276), 20-byte header.
    Sll2 {
        /// Interface index written in the header.
        ifindex: u32,
    },
    /// Raw IP, no link header (linktype 101).
    Raw,
    /// BSD loopback (linktype 0): 4-byte address family in little-endian.
    Null,
    /// PPP (linktype 9): address and control bytes `FF 03`, then the
    /// 2-byte protocol number (0x0021 IPv4, 0x0057 IPv6).
    Ppp,
}

impl Link {
    /// The pcap link type of frames with this link layer.
    pub fn linktype(self) -> u32 {
        match self {
            Link::Ethernet | Link::Vlan(_) | Link::QinQ { .. } => LINKTYPE_ETHERNET,
            Link::Sll => LINKTYPE_LINUX_SLL,
            Link::Sll2 { .. } => LINKTYPE_LINUX_SLL2,
            Link::Raw => LINKTYPE_RAW,
            Link::Null => LINKTYPE_NULL,
            Link::Ppp => LINKTYPE_PPP,
        }
    }

    /// The outermost VLAN id its frames carry.
    pub fn vlan(self) -> Option<u16> {
        match self {
            Link::Vlan(v) | Link::QinQ { outer: v, .. } => Some(v & 0x0fff),
            _ => None,
        }
    }

    /// Length of the link header.
    pub fn header_len(self) -> usize {
        match self {
            Link::Ethernet => 14,
            Link::Vlan(_) => 18,
            Link::QinQ { .. } => 22,
            Link::Sll => 16,
            Link::Sll2 { .. } => 20,
            Link::Raw => 0,
            Link::Null | Link::Ppp => 4,
        }
    }
}

/// A link layer plus the two MAC addresses used in its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCtx {
    /// The link layer.
    pub link: Link,
    /// MAC of the client host.
    pub client_mac: [u8; 6],
    /// MAC of the gateway on the client's segment.
    pub gateway_mac: [u8; 6],
}

impl LinkCtx {
    /// The link with the default MACs ([`CLIENT_MAC`], [`GATEWAY_MAC`]).
    pub fn new(link: Link) -> Self {
        Self {
            link,
            client_mac: CLIENT_MAC,
            gateway_mac: GATEWAY_MAC,
        }
    }

    /// Appends the link header of a frame. `to_server` tells the direction
    /// (client → server frames are "outgoing" in cooked captures, whose
    /// capture point is the client host); `ethertype` is the payload type.
    ///
    /// For [`Link::Null`] only IPv4 and IPv6 ethertypes are meaningful (they
    /// become address families 2 and 30); [`Link::Raw`] writes nothing.
    pub fn push_header(&self, buf: &mut Vec<u8>, to_server: bool, ethertype: u16) {
        let (src, dst) = if to_server {
            (self.client_mac, self.gateway_mac)
        } else {
            (self.gateway_mac, self.client_mac)
        };
        match self.link {
            Link::Ethernet => {
                buf.extend_from_slice(&dst);
                buf.extend_from_slice(&src);
                buf.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Vlan(vid) => {
                buf.extend_from_slice(&dst);
                buf.extend_from_slice(&src);
                buf.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
                buf.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
                buf.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::QinQ { outer, inner } => {
                buf.extend_from_slice(&dst);
                buf.extend_from_slice(&src);
                buf.extend_from_slice(&ETHERTYPE_QINQ.to_be_bytes());
                buf.extend_from_slice(&(outer & 0x0fff).to_be_bytes());
                buf.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
                buf.extend_from_slice(&(inner & 0x0fff).to_be_bytes());
                buf.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll => {
                let pkttype: u16 = if to_server { 4 } else { 0 };
                buf.extend_from_slice(&pkttype.to_be_bytes());
                buf.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                buf.extend_from_slice(&6u16.to_be_bytes());
                buf.extend_from_slice(&src);
                buf.extend_from_slice(&[0, 0]);
                buf.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll2 { ifindex } => {
                let pkttype: u8 = if to_server { 4 } else { 0 };
                buf.extend_from_slice(&ethertype.to_be_bytes());
                buf.extend_from_slice(&[0, 0]);
                buf.extend_from_slice(&ifindex.to_be_bytes());
                buf.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                buf.push(pkttype);
                buf.push(6);
                buf.extend_from_slice(&src);
                buf.extend_from_slice(&[0, 0]);
            }
            Link::Raw => {}
            Link::Null => {
                let family: u32 = if ethertype == ETHERTYPE_IPV6 { 30 } else { 2 };
                buf.extend_from_slice(&family.to_le_bytes());
            }
            Link::Ppp => {
                let protocol: u16 = if ethertype == ETHERTYPE_IPV6 {
                    0x0057
                } else {
                    0x0021
                };
                buf.extend_from_slice(&[0xff, 0x03]);
                buf.extend_from_slice(&protocol.to_be_bytes());
            }
        }
    }
}

/// Adds `data` to a running one's-complement sum (the data must start at an
/// even offset of the checksummed region; an odd tail is padded with zero).
pub fn ones_sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (v >> 32) + (v & 0xffff_ffff);
    }
    let rem = chunks.remainder();
    let mut tail = [0u8; 8];
    tail[..rem.len()].copy_from_slice(rem);
    let v = u64::from_be_bytes(tail);
    acc + (v >> 32) + (v & 0xffff_ffff)
}

/// Folds a one's-complement sum and returns the checksum (its complement).
pub fn fold_checksum(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The Internet checksum of `data`.
pub fn internet_checksum(data: &[u8]) -> u16 {
    fold_checksum(ones_sum(data, 0))
}

fn pseudo_header_sum(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u64 {
    let mut acc = 0u64;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = ones_sum(&s.octets(), acc);
            acc = ones_sum(&d.octets(), acc);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            acc = ones_sum(&s.octets(), acc);
            acc = ones_sum(&d.octets(), acc);
        }
        _ => panic!("source and destination of different address families"),
    }
    acc + u64::from(proto) + len as u64
}

/// The TCP or UDP checksum of `segment` (header with a zero checksum field,
/// plus payload) sent from `src` to `dst`.
pub fn transport_checksum(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    let c = fold_checksum(ones_sum(
        segment,
        pseudo_header_sum(src, dst, proto, segment.len()),
    ));
    if proto == IPPROTO_UDP && c == 0 {
        0xffff
    } else {
        c
    }
}

/// IP-level parameters of a generated packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpOpts {
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (ignored for IPv6).
    pub ident: u16,
    /// IPv4 don't-fragment bit.
    pub dont_fragment: bool,
    /// IPv6 only: insert a hop-by-hop options header and a destination
    /// options header (8 bytes each, PadN only) before the transport header.
    pub ipv6_ext_headers: bool,
}

impl Default for IpOpts {
    fn default() -> Self {
        Self {
            ttl: 64,
            ident: 1,
            dont_fragment: true,
            ipv6_ext_headers: false,
        }
    }
}

/// Length of the IP header(s) that [`push_ip_header`] writes.
pub fn ip_header_len(addr: IpAddr, ip: &IpOpts) -> usize {
    match addr {
        IpAddr::V4(_) => 20,
        IpAddr::V6(_) if ip.ipv6_ext_headers => 56,
        IpAddr::V6(_) => 40,
    }
}

/// Appends a 20-byte IPv4 header with a correct header checksum.
/// `frag` is the flags + fragment offset field (offset in 8-byte units).
#[allow(clippy::too_many_arguments)]
pub fn push_ipv4_header(
    buf: &mut Vec<u8>,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    payload_len: usize,
    ttl: u8,
    ident: u16,
    frag: u16,
) {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&ident.to_be_bytes());
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h[8] = ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = internet_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    buf.extend_from_slice(&h);
}

/// Appends an IPv6 header (plus, if `ext_headers`, a hop-by-hop and a
/// destination options header). `upper_len` is the transport length.
pub fn push_ipv6_header(
    buf: &mut Vec<u8>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    proto: u8,
    upper_len: usize,
    hop_limit: u8,
    ext_headers: bool,
) {
    let ext_len = if ext_headers { 16 } else { 0 };
    buf.extend_from_slice(&0x6000_0000u32.to_be_bytes());
    buf.extend_from_slice(&((upper_len + ext_len) as u16).to_be_bytes());
    buf.push(if ext_headers { 0 } else { proto });
    buf.push(hop_limit);
    buf.extend_from_slice(&src.octets());
    buf.extend_from_slice(&dst.octets());
    if ext_headers {
        // Hop-by-hop options: next = destination options (60), length 0
        // (8 bytes), one PadN option of 4 data bytes.
        buf.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        // Destination options: next = the transport protocol.
        buf.extend_from_slice(&[proto, 0, 1, 4, 0, 0, 0, 0]);
    }
}

/// Appends the IP header(s) for a packet of the family of `src`/`dst`.
pub fn push_ip_header(
    buf: &mut Vec<u8>,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    upper_len: usize,
    ip: &IpOpts,
) {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let frag = if ip.dont_fragment { 0x4000 } else { 0 };
            push_ipv4_header(buf, s, d, proto, upper_len, ip.ttl, ip.ident, frag);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            push_ipv6_header(buf, s, d, proto, upper_len, ip.ttl, ip.ipv6_ext_headers)
        }
        _ => panic!("source and destination of different address families"),
    }
}

/// The ethertype for packets of the family of `addr`.
pub fn ethertype_of(addr: IpAddr) -> u16 {
    if addr.is_ipv4() {
        ETHERTYPE_IPV4
    } else {
        ETHERTYPE_IPV6
    }
}

/// A TCP segment to put in a frame.
#[derive(Debug, Clone, Copy)]
pub struct TcpSeg<'a> {
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (written as is, meaningful with [`TCP_ACK`]).
    pub ack: u32,
    /// Flags ([`TCP_SYN`], [`TCP_ACK`], ...).
    pub flags: u8,
    /// Receive window.
    pub window: u16,
    /// Options, already padded to a multiple of 4 bytes.
    pub options: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

/// Offsets inside a built frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// Where the IP header starts.
    pub ip_offset: usize,
    /// Where the transport header starts.
    pub transport_offset: usize,
    /// Where the transport payload starts.
    pub payload_offset: usize,
}

/// Builds a whole frame (link + IP + TCP + payload) into `buf` (cleared
/// first), with correct IPv4 header and TCP checksums.
pub fn tcp_frame(
    buf: &mut Vec<u8>,
    l2: &LinkCtx,
    to_server: bool,
    ip: &IpOpts,
    seg: &TcpSeg<'_>,
) -> FrameLayout {
    debug_assert!(seg.options.len().is_multiple_of(4) && seg.options.len() <= 40);
    let src = seg.src.ip();
    let dst = seg.dst.ip();
    let tcp_len = 20 + seg.options.len() + seg.payload.len();
    buf.clear();
    l2.push_header(buf, to_server, ethertype_of(src));
    let ip_offset = buf.len();
    push_ip_header(buf, src, dst, IPPROTO_TCP, tcp_len, ip);
    let transport_offset = buf.len();
    buf.extend_from_slice(&seg.src.port().to_be_bytes());
    buf.extend_from_slice(&seg.dst.port().to_be_bytes());
    buf.extend_from_slice(&seg.seq.to_be_bytes());
    buf.extend_from_slice(&seg.ack.to_be_bytes());
    let data_offset = ((20 + seg.options.len()) / 4) as u8;
    buf.push(data_offset << 4);
    buf.push(seg.flags);
    buf.extend_from_slice(&seg.window.to_be_bytes());
    buf.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    buf.extend_from_slice(seg.options);
    let payload_offset = buf.len();
    buf.extend_from_slice(seg.payload);
    let sum = ones_sum(
        &buf[transport_offset..],
        pseudo_header_sum(src, dst, IPPROTO_TCP, tcp_len),
    );
    let c = fold_checksum(sum);
    buf[transport_offset + 16..transport_offset + 18].copy_from_slice(&c.to_be_bytes());
    FrameLayout {
        ip_offset,
        transport_offset,
        payload_offset,
    }
}

/// Builds a whole frame (link + IP + UDP + payload) into `buf` (cleared
/// first), with correct checksums.
pub fn udp_frame(
    buf: &mut Vec<u8>,
    l2: &LinkCtx,
    to_server: bool,
    ip: &IpOpts,
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
) -> FrameLayout {
    let udp_len = 8 + payload.len();
    buf.clear();
    l2.push_header(buf, to_server, ethertype_of(src.ip()));
    let ip_offset = buf.len();
    push_ip_header(buf, src.ip(), dst.ip(), IPPROTO_UDP, udp_len, ip);
    let transport_offset = buf.len();
    buf.extend_from_slice(&src.port().to_be_bytes());
    buf.extend_from_slice(&dst.port().to_be_bytes());
    buf.extend_from_slice(&(udp_len as u16).to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    let payload_offset = buf.len();
    buf.extend_from_slice(payload);
    let sum = ones_sum(
        &buf[transport_offset..],
        pseudo_header_sum(src.ip(), dst.ip(), IPPROTO_UDP, udp_len),
    );
    let mut c = fold_checksum(sum);
    if c == 0 {
        c = 0xffff;
    }
    buf[transport_offset + 6..transport_offset + 8].copy_from_slice(&c.to_be_bytes());
    FrameLayout {
        ip_offset,
        transport_offset,
        payload_offset,
    }
}

/// Builds a frame carrying one IPv4 fragment: `data` is the slice of the
/// original IP payload starting at byte `offset` (a multiple of 8 unless it
/// is the last fragment); `more` sets the more-fragments flag.
#[allow(clippy::too_many_arguments)]
pub fn ipv4_fragment_frame(
    buf: &mut Vec<u8>,
    l2: &LinkCtx,
    to_server: bool,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ident: u16,
    offset: usize,
    more: bool,
    data: &[u8],
) {
    debug_assert!(offset.is_multiple_of(8));
    buf.clear();
    l2.push_header(buf, to_server, ETHERTYPE_IPV4);
    let frag = ((offset / 8) as u16) | if more { 0x2000 } else { 0 };
    push_ipv4_header(buf, src, dst, proto, data.len(), 64, ident, frag);
    buf.extend_from_slice(data);
}

/// TCP options of a SYN / SYN-ACK: MSS, NOP, NOP, SACK permitted, NOP,
/// window scale 7 (12 bytes).
pub fn syn_options(mss: u16) -> Vec<u8> {
    let m = mss.to_be_bytes();
    vec![2, 4, m[0], m[1], 1, 1, 4, 2, 1, 3, 3, 7]
}

/// SYN options plus a TCP Fast Open cookie option (kind 34) carrying
/// `cookie`, padded with NOPs (24 bytes).
pub fn syn_options_fast_open(mss: u16, cookie: [u8; 8]) -> Vec<u8> {
    let mut o = syn_options(mss);
    o.extend_from_slice(&[34, 10]);
    o.extend_from_slice(&cookie);
    o.extend_from_slice(&[1, 1]);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_known_ipv4_header() {
        // Example header from RFC 1071 style walkthroughs.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(internet_checksum(&h), 0xb861);
    }

    #[test]
    fn odd_length_checksum_pads_with_zero() {
        assert_eq!(internet_checksum(&[0x01]), !0x0100);
        assert_eq!(
            internet_checksum(&[0x01, 0x02, 0x03]),
            !(0x0102u16 + 0x0300)
        );
    }

    #[test]
    fn link_header_lengths_match() {
        let links = [
            Link::Ethernet,
            Link::Vlan(5),
            Link::QinQ { outer: 1, inner: 2 },
            Link::Sll,
            Link::Sll2 { ifindex: 3 },
            Link::Raw,
            Link::Null,
            Link::Ppp,
        ];
        for link in links {
            let mut b = Vec::new();
            LinkCtx::new(link).push_header(&mut b, true, ETHERTYPE_IPV4);
            assert_eq!(b.len(), link.header_len(), "{link:?}");
        }
    }
}
