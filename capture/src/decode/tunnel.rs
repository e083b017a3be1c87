//! Tunnels: the encapsulations a TAP port, a cloud mirror or a remote SPAN
//! session delivers (VXLAN, GENEVE, GRE with ERSPAN, IP in IP, Teredo,
//! GTP-U). Each function reads one tunnel header and says where the inner
//! frame starts and what it is; [`super::decode_with`] walks them in a loop
//! to the configured depth, so nesting costs no recursion.

use super::link::{self, be16};
use super::DecodeError;

/// UDP port of VXLAN (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;
/// UDP port of GENEVE (RFC 8926).
pub const GENEVE_PORT: u16 = 6081;
/// UDP port of GTP-U (3GPP TS 29.281).
pub const GTPU_PORT: u16 = 2152;
/// UDP port of Teredo (RFC 4380).
pub const TEREDO_PORT: u16 = 3544;
/// UDP port of AYIYA (SixXS's "Anything In Anything").
pub const AYIYA_PORT: u16 = 5072;
/// UDP port of GRE in UDP (RFC 8086).
pub const GRE_UDP_PORT: u16 = 4754;

/// Which tunnels are followed, and how deep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnels {
    /// UDP ports read as VXLAN (0: unused slot); 4789 by default.
    pub vxlan_ports: [u16; 4],
    /// Tunnels followed inside one another; a packet nested deeper is
    /// counted (`tunnel_too_deep`), not read. 0 reads no tunnel.
    pub max_depth: u8,
}

impl Default for Tunnels {
    fn default() -> Self {
        Tunnels {
            vxlan_ports: [VXLAN_PORT, 0, 0, 0],
            max_depth: 3,
        }
    }
}

impl Tunnels {
    /// Whether a datagram between these ports may carry a tunnel this
    /// decoder reads (the shard hint leaves such datagrams to the full
    /// decode, which looks inside).
    pub fn may_carry(&self, sport: u16, dport: u16, payload: &[u8]) -> bool {
        matches!(sport, TEREDO_PORT | AYIYA_PORT)
            || (dport != 0
                && (matches!(
                    dport,
                    GENEVE_PORT | GTPU_PORT | TEREDO_PORT | AYIYA_PORT | GRE_UDP_PORT
                ) || self.vxlan_ports.contains(&dport)))
            || teredo_anywhere(payload).is_some()
    }
}

/// The kinds of tunnel read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    /// VXLAN.
    Vxlan,
    /// GENEVE.
    Geneve,
    /// GRE (IP, Ethernet or MPLS inside).
    Gre,
    /// ERSPAN (type I, II or III, over GRE).
    Erspan,
    /// IPv4 or IPv6 directly inside IPv4 or IPv6 (protocols 4 and 41).
    IpInIp,
    /// Teredo: IPv6 in UDP.
    Teredo,
    /// GTP-U: user-plane IP in UDP.
    GtpU,
    /// AYIYA: IPv6 (or IPv4) in UDP, through NAT.
    Ayiya,
}

impl TunnelKind {
    /// Name as records give it in `tunnel.type`.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::IpInIp => "ipip",
            TunnelKind::Teredo => "teredo",
            TunnelKind::GtpU => "gtpu",
            TunnelKind::Ayiya => "ayiya",
        }
    }
}

/// What a tunnel header leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inner {
    /// An Ethernet frame.
    Ethernet,
    /// An IP packet.
    Ip,
    /// An MPLS label stack.
    Mpls,
    /// A PPP frame.
    Ppp,
    /// An IEEE 802.11 frame.
    Wlan,
}

/// One tunnel header read: its kind, its identifier (VNI, GRE key, TEID,
/// ERSPAN session), where the inner frame starts and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hop {
    pub kind: TunnelKind,
    pub id: Option<u32>,
    pub at: usize,
    pub inner: Inner,
}

impl Hop {
    /// IPv4 or IPv6 straight inside IP.
    pub(super) fn ip_in_ip() -> Hop {
        Hop {
            kind: TunnelKind::IpInIp,
            id: None,
            at: 0,
            inner: Inner::Ip,
        }
    }
}

fn byte(b: &[u8], at: usize) -> Result<u8, DecodeError> {
    b.get(at).copied().ok_or(DecodeError::TunnelMalformed)
}

fn be32(b: &[u8], at: usize) -> Result<u32, DecodeError> {
    match b.get(at..at + 4) {
        Some(&[w, x, y, z]) => Ok(u32::from_be_bytes([w, x, y, z])),
        _ => Err(DecodeError::TunnelMalformed),
    }
}

fn be24(b: &[u8], at: usize) -> Result<u32, DecodeError> {
    match b.get(at..at + 3) {
        Some(&[x, y, z]) => Ok(u32::from_be_bytes([0, x, y, z])),
        _ => Err(DecodeError::TunnelMalformed),
    }
}

fn word(b: &[u8], at: usize) -> Result<u16, DecodeError> {
    be16(b, at).map_err(|_| DecodeError::TunnelMalformed)
}

/// PPP's protocol type in GRE.
const PROTO_PPP: u16 = 0x880b;

/// What EtherType-style protocol number a tunnel carries.
fn by_protocol(proto: u16) -> Result<Inner, DecodeError> {
    match proto {
        0x0800 | 0x86dd => Ok(Inner::Ip),
        0x6558 => Ok(Inner::Ethernet),
        0x8847 | 0x8848 => Ok(Inner::Mpls),
        PROTO_PPP => Ok(Inner::Ppp),
        _ => Err(DecodeError::TunnelUnsupported),
    }
}

/// A GRE header (RFC 2784, keys and sequence numbers RFC 2890), and the
/// ERSPAN header inside it when GRE carries ERSPAN.
pub(super) fn gre(p: &[u8]) -> Result<Hop, DecodeError> {
    let flags = word(p, 0)?;
    match flags & 0x0007 {
        0 => {}
        1 => return pptp(p, flags),
        _ => return Err(DecodeError::TunnelMalformed),
    }
    let proto = word(p, 2)?;
    let mut at = 4;
    if flags & 0x8000 != 0 {
        at += 4; // checksum and reserved
    }
    let key = if flags & 0x2000 != 0 {
        let k = be32(p, at)?;
        at += 4;
        Some(k)
    } else {
        None
    };
    let sequenced = flags & 0x1000 != 0;
    if sequenced {
        at += 4;
    }
    match proto {
        // ERSPAN type II carries a sequence number; type I has neither it
        // nor a header of its own.
        0x88be if sequenced => {
            if byte(p, at)? >> 4 != 1 {
                return Err(DecodeError::TunnelMalformed);
            }
            let session = u32::from(word(p, at + 2)? & 0x03ff);
            erspan(p, at + 8, session)
        }
        0x88be => erspan(p, at, 0).map(|h| Hop { id: None, ..h }),
        0x22eb => {
            if byte(p, at)? >> 4 != 2 {
                return Err(DecodeError::TunnelMalformed);
            }
            let session = u32::from(word(p, at + 2)? & 0x03ff);
            // An optional 8-byte platform subheader follows when O is set.
            let sub = if byte(p, at + 11)? & 1 != 0 { 8 } else { 0 };
            erspan(p, at + 12 + sub, session)
        }
        // A keepalive (protocol 0) and NHRP (DMVPN's address resolution)
        // are the tunnel's own control.
        0x0000 | 0x2001 => Err(DecodeError::LinkControl),
        // Cisco MetaData (a TrustSec tag, as on Ethernet), then the
        // carried packet's own protocol type.
        link::ETHERTYPE_CISCO_METADATA => Ok(Hop {
            kind: TunnelKind::Gre,
            id: key,
            at: at + link::CISCO_METADATA_TAG + 2,
            inner: by_protocol(word(p, at + link::CISCO_METADATA_TAG)?)?,
        }),
        _ => Ok(Hop {
            kind: TunnelKind::Gre,
            id: key,
            at,
            inner: match proto {
                // Aruba's controllers tunnel their access points' 802.11
                // frames in GRE (no EtherType of its own).
                0x8200..=0x82ff => Inner::Wlan,
                _ => by_protocol(proto)?,
            },
        }),
    }
}

/// PPTP's enhanced GRE (RFC 2637, version 1): PPP inside, the call id for
/// its key, a sequence number when S is set, an acknowledgement when A is.
/// A packet with no payload only acknowledges.
fn pptp(p: &[u8], flags: u16) -> Result<Hop, DecodeError> {
    if word(p, 2)? != PROTO_PPP || flags & 0x2000 == 0 {
        return Err(DecodeError::TunnelMalformed);
    }
    let call = u32::from(word(p, 6)?);
    let mut at = 8;
    if flags & 0x1000 != 0 {
        at += 4;
    }
    if flags & 0x0080 != 0 {
        at += 4;
    }
    if word(p, 4)? == 0 {
        return Err(DecodeError::LinkControl);
    }
    Ok(Hop {
        kind: TunnelKind::Gre,
        id: Some(call),
        at,
        inner: Inner::Ppp,
    })
}

fn erspan(p: &[u8], at: usize, session: u32) -> Result<Hop, DecodeError> {
    if p.len() < at {
        return Err(DecodeError::TunnelMalformed);
    }
    Ok(Hop {
        kind: TunnelKind::Erspan,
        id: Some(session),
        at,
        inner: Inner::Ethernet,
    })
}

/// The tunnel a UDP datagram between `sport` and `dport` carries, if its
/// ports and header say it is one; `None` leaves it a plain UDP flow. The
/// datagrams that carry a tunnel are a flow of their own too.
pub(super) fn udp(t: &Tunnels, sport: u16, dport: u16, p: &[u8]) -> Option<Hop> {
    if t.vxlan_ports.contains(&dport) && dport != 0 {
        return vxlan(p);
    }
    match dport {
        GENEVE_PORT => geneve(p),
        GTPU_PORT => gtpu(p),
        GRE_UDP_PORT => gre(p).ok(),
        _ if dport == TEREDO_PORT || sport == TEREDO_PORT => teredo(p),
        _ if dport == AYIYA_PORT || sport == AYIYA_PORT => ayiya(p),
        _ => teredo_anywhere(p),
    }
}

/// Teredo on another port than its own: once qualified, a client talks to
/// relays and peers on theirs. Taken, as Zeek takes it, from the datagram
/// alone: an IPv6 packet that fills it, to or from a Teredo address
/// (2001:0::/32), which is what Teredo's packets are and little else is.
fn teredo_anywhere(p: &[u8]) -> Option<Hop> {
    let hop = teredo(p)?;
    let ip = p.get(hop.at..)?;
    let teredo_addr = |at: usize| ip.get(at..at + 4) == Some(&[0x20, 0x01, 0x00, 0x00]);
    (teredo_addr(8) || teredo_addr(24)).then_some(hop)
}

/// AYIYA: an 8-byte header whose first bytes give the identity's length
/// (2^n bytes) and the signature's (4n), then the packet its next header
/// names (IPv4 or IPv6) when the operation is a forward (1); its other
/// operations (echo, heartbeat) are the tunnel's own.
fn ayiya(p: &[u8]) -> Option<Hop> {
    let identity = 1usize << (p.first()? >> 4);
    let signature = usize::from(p.get(1)? >> 4) * 4;
    let forward = p.get(2)? & 0x0f == 1;
    let version = match *p.get(3)? {
        4 => 4,
        41 => 6,
        _ => return None,
    };
    let at = 8 + identity + signature;
    if !forward || p.get(at)? >> 4 != version {
        return None;
    }
    Some(Hop {
        kind: TunnelKind::Ayiya,
        id: None,
        at,
        inner: Inner::Ip,
    })
}

/// VXLAN (RFC 7348): 8 bytes, the I flag set, a 24-bit VNI; Ethernet inside.
fn vxlan(p: &[u8]) -> Option<Hop> {
    let flags = *p.first()?;
    if flags & 0x08 == 0 || p.len() < 8 + 14 {
        return None;
    }
    Some(Hop {
        kind: TunnelKind::Vxlan,
        id: be24(p, 4).ok(),
        at: 8,
        inner: Inner::Ethernet,
    })
}

/// GENEVE (RFC 8926): version 0, options in 4-byte words, a protocol type
/// and a 24-bit VNI.
fn geneve(p: &[u8]) -> Option<Hop> {
    let first = *p.first()?;
    if first >> 6 != 0 {
        return None;
    }
    let at = 8 + usize::from(first & 0x3f) * 4;
    let inner = by_protocol(word(p, 2).ok()?).ok()?;
    if p.len() <= at {
        return None;
    }
    Some(Hop {
        kind: TunnelKind::Geneve,
        id: be24(p, 4).ok(),
        at,
        inner,
    })
}

/// Extension headers followed in one GTP-U packet at most.
const MAX_GTP_EXTENSIONS: usize = 8;

/// GTP-U (TS 29.281): version 1, G-PDU messages only; the optional fields
/// and extension headers skipped to the user's IP packet.
fn gtpu(p: &[u8]) -> Option<Hop> {
    let flags = *p.first()?;
    // Version 1, protocol type GTP.
    if flags >> 5 != 1 || flags & 0x10 == 0 || *p.get(1)? != 0xff {
        return None;
    }
    let teid = be32(p, 4).ok()?;
    let mut at = 8;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number and the next extension's type.
        let mut next = *p.get(11)?;
        at = 12;
        let mut hops = 0;
        while flags & 0x04 != 0 && next != 0 {
            hops += 1;
            if hops > MAX_GTP_EXTENSIONS {
                return None;
            }
            let words = usize::from(*p.get(at)?);
            if words == 0 {
                return None;
            }
            at += words * 4;
            next = *p.get(at.checked_sub(1)?)?;
        }
    }
    let version = p.get(at)? >> 4;
    if version != 4 && version != 6 {
        return None;
    }
    Some(Hop {
        kind: TunnelKind::GtpU,
        id: Some(teid),
        at,
        inner: Inner::Ip,
    })
}

/// Teredo (RFC 4380): IPv6 in UDP, after an optional authentication or
/// origin indication. The inner header must be IPv6 whose payload length
/// fills the datagram.
fn teredo(p: &[u8]) -> Option<Hop> {
    let mut at = 0;
    if word(p, 0).ok()? == 0x0001 {
        // Authentication: id and value lengths, then nonce and confirmation.
        let id_len = usize::from(*p.get(2)?);
        let auth_len = usize::from(*p.get(3)?);
        at += 4 + id_len + auth_len + 9;
    }
    if word(p, at).ok()? == 0x0000 {
        at += 8; // origin indication
    }
    let ip = p.get(at..)?;
    let payload_len = usize::from(word(ip, 4).ok()?);
    if ip.first()? >> 4 != 6 || ip.len() != 40 + payload_len {
        return None;
    }
    Some(Hop {
        kind: TunnelKind::Teredo,
        id: None,
        at,
        inner: Inner::Ip,
    })
}

/// The IP packet (or, over a pseudowire, the Ethernet frame) under an MPLS
/// label stack, as [`link::mpls`] reads it.
pub(super) fn mpls(p: &[u8]) -> Result<(&[u8], Inner), DecodeError> {
    link::mpls(p, 0).map(|(at, inner)| (p.get(at..).unwrap_or(&[]), inner))
}
