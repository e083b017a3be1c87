//! IP fragments read: which datagram a fragment belongs to, where its
//! bytes go, and the header a reassembled datagram takes. Reassembly
//! itself keeps state and lives in [`crate::defrag`].

use super::{link::be16, DecodeError, Encap};
use crate::flow::key::Addr;

/// IPv6 extension headers that may come before a Fragment header (hop by
/// hop, routing, destination options) are skipped; at most this many.
const MAX_V6_EXTENSIONS: usize = 8;
/// IPv6 next-header numbers.
const V6_HOP_BY_HOP: u8 = 0;
const V6_ROUTING: u8 = 43;
const V6_FRAGMENT: u8 = 44;
const V6_DEST_OPTIONS: u8 = 60;

/// What names a datagram among the fragments in flight: its addresses,
/// identification and protocol (RFC 791 / RFC 8200), and how it was
/// carried, so that two VLANs or tunnels reusing addresses stay apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// IPv4 identification (16 bits) or IPv6 fragment identification.
    pub id: u32,
    /// Protocol (IPv4) or the Fragment header's next header (IPv6).
    pub proto: u8,
    /// Outermost VLAN id.
    pub vlan: u16,
    /// The outermost tunnel's ends and id, when tunnelled.
    pub tunnel: Option<(Addr, Addr, Option<u32>)>,
}

/// One fragment, borrowed from its frame.
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    /// The datagram it belongs to.
    pub key: FragKey,
    /// Offset of its data in the datagram, in bytes.
    pub offset: u32,
    /// More fragments follow (MF).
    pub more: bool,
    /// The IP header to give the reassembled datagram: IPv4's own header
    /// (with options), IPv6's fixed 40 bytes.
    pub header: &'a [u8],
    /// Its data as captured.
    pub data: &'a [u8],
    /// True when the capture cut part of its data (snap length).
    pub cut: bool,
    /// How it was carried.
    pub encap: Encap,
}

/// Reads the fragment that `ip`, an IP packet the decoder found to be
/// one, is.
pub(super) fn read(ip: &[u8], encap: Encap) -> Result<Fragment<'_>, DecodeError> {
    match ip.first().map(|b| b >> 4) {
        Some(4) => v4(ip, encap),
        Some(6) => v6(ip, encap),
        _ => Err(DecodeError::IpFragment),
    }
}

fn key(src: Addr, dst: Addr, id: u32, proto: u8, encap: &Encap) -> FragKey {
    FragKey {
        src,
        dst,
        id,
        proto,
        vlan: encap.vlan,
        tunnel: encap.tunnel.map(|t| (t.src, t.dst, t.id())),
    }
}

fn v4(ip: &[u8], encap: Encap) -> Result<Fragment<'_>, DecodeError> {
    let bad = DecodeError::IpFragment;
    let ihl = usize::from(ip.first().ok_or(bad)? & 0x0f) * 4;
    let total = usize::from(be16(ip, 2).map_err(|_| bad)?);
    let frag = be16(ip, 6).map_err(|_| bad)?;
    let id = be16(ip, 4).map_err(|_| bad)?;
    let proto = *ip.get(9).ok_or(bad)?;
    let src: [u8; 4] = ip.get(12..16).and_then(|s| s.try_into().ok()).ok_or(bad)?;
    let dst: [u8; 4] = ip.get(16..20).and_then(|s| s.try_into().ok()).ok_or(bad)?;
    if ihl < 20 || total < ihl {
        return Err(bad);
    }
    let header = ip.get(..ihl).ok_or(bad)?;
    let data = ip.get(ihl..total.min(ip.len())).unwrap_or(&[]);
    Ok(Fragment {
        key: key(Addr::V4(src), Addr::V4(dst), u32::from(id), proto, &encap),
        offset: u32::from(frag & 0x1fff) * 8,
        more: frag & 0x2000 != 0,
        header,
        data,
        cut: total > ip.len(),
        encap,
    })
}

fn v6(ip: &[u8], encap: Encap) -> Result<Fragment<'_>, DecodeError> {
    let bad = DecodeError::IpFragment;
    let header = ip.get(..40).ok_or(bad)?;
    let end = 40 + usize::from(be16(ip, 4).map_err(|_| bad)?);
    let src: [u8; 16] = ip.get(8..24).and_then(|s| s.try_into().ok()).ok_or(bad)?;
    let dst: [u8; 16] = ip.get(24..40).and_then(|s| s.try_into().ok()).ok_or(bad)?;
    let mut next = *ip.get(6).ok_or(bad)?;
    let mut at = 40;
    for _ in 0..MAX_V6_EXTENSIONS {
        match next {
            V6_HOP_BY_HOP | V6_ROUTING | V6_DEST_OPTIONS => {
                next = *ip.get(at).ok_or(bad)?;
                at += (usize::from(*ip.get(at + 1).ok_or(bad)?) + 1) * 8;
            }
            V6_FRAGMENT => {
                let proto = *ip.get(at).ok_or(bad)?;
                let off = be16(ip, at + 2).map_err(|_| bad)?;
                let id: [u8; 4] = ip
                    .get(at + 4..at + 8)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(bad)?;
                let start = at + 8;
                if end < start {
                    return Err(bad);
                }
                return Ok(Fragment {
                    key: key(
                        Addr::V6(src),
                        Addr::V6(dst),
                        u32::from_be_bytes(id),
                        proto,
                        &encap,
                    ),
                    offset: u32::from(off & 0xfff8),
                    more: off & 1 != 0,
                    header,
                    data: ip.get(start..end.min(ip.len())).unwrap_or(&[]),
                    cut: end > ip.len(),
                    encap,
                });
            }
            _ => return Err(bad),
        }
    }
    Err(bad)
}

/// Writes into `out` the header of a datagram reassembled from fragments
/// whose first had `header`, carrying `next` (IPv6: the upper protocol)
/// and `len` data bytes: no fragment fields, the lengths of the whole.
/// IPv6 extension headers before the Fragment header are left out. False
/// when the datagram would exceed an IP packet's length.
pub(crate) fn whole_header(header: &[u8], next: u8, len: usize, out: &mut Vec<u8>) -> bool {
    out.clear();
    out.extend_from_slice(header);
    match header.first().map(|b| b >> 4) {
        Some(4) => {
            let Ok(total) = u16::try_from(header.len() + len) else {
                return false;
            };
            if let Some(t) = out.get_mut(2..4) {
                t.copy_from_slice(&total.to_be_bytes());
            }
            // Flags and offset cleared (DF kept); the checksum is not
            // read by the decoder and is left as it was.
            if let Some(f) = out.get_mut(6) {
                *f &= 0x40;
            }
            if let Some(f) = out.get_mut(7) {
                *f = 0;
            }
            true
        }
        Some(6) => {
            let Ok(payload) = u16::try_from(len) else {
                return false;
            };
            if let Some(p) = out.get_mut(4..6) {
                p.copy_from_slice(&payload.to_be_bytes());
            }
            if let Some(n) = out.get_mut(6) {
                *n = next;
            }
            true
        }
        _ => false,
    }
}
