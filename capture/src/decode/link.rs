//! Link layers: find where the IP packet starts in a frame.

use super::tunnel::Inner;
use super::DecodeError;

/// The link types procflow decodes, from the capture's DLT/LINKTYPE number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_EN10MB (1): Ethernet II, with 802.1Q / 802.1ad (QinQ) tags.
    Ethernet,
    /// DLT_NULL (0) and DLT_LOOP (108): 4-byte address family.
    Null,
    /// DLT_LOOP (108): like NULL but the family is in network byte order.
    Loop,
    /// DLT_RAW (101, and 12/14 on some systems), LINKTYPE_IPV4/IPV6 (228/229).
    Raw,
    /// LINKTYPE_LINUX_SLL (113): Linux cooked capture v1.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2.
    LinuxSll2,
    /// DLT_C_HDLC (104): Cisco HDLC, an EtherType after 2 bytes.
    CiscoHdlc,
    /// DLT_FDDI (10): frame control and two addresses (13 bytes), then
    /// 802.2 LLC with SNAP.
    Fddi,
    /// DLT_PPP (9) and DLT_PPP_SERIAL (50): a PPP frame, with or without
    /// its HDLC address and control bytes.
    Ppp,
    /// DLT_IEEE802_11 (105): 802.11 frames.
    Ieee80211,
    /// DLT_IEEE802_11_RADIO (127): a radiotap header, then an 802.11 frame.
    Radiotap,
    /// DLT_NFLOG (239): Linux netfilter's log of packets.
    Nflog,
    /// Anything else: every frame counts as `unsupported_link`.
    Unsupported(i32),
}

impl LinkType {
    /// Maps a pcap link-type number.
    pub fn from_dlt(dlt: i32) -> Self {
        match dlt {
            1 => LinkType::Ethernet,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            12 | 14 | 101 | 228 | 229 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            104 => LinkType::CiscoHdlc,
            10 => LinkType::Fddi,
            9 | 50 => LinkType::Ppp,
            105 => LinkType::Ieee80211,
            127 => LinkType::Radiotap,
            239 => LinkType::Nflog,
            other => LinkType::Unsupported(other),
        }
    }

    /// True for link types this crate decodes.
    pub fn is_supported(self) -> bool {
        !matches!(self, LinkType::Unsupported(_))
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Network Service Header (RFC 8300), of service function chaining.
const ETHERTYPE_NSH: u16 = 0x894f;
/// Cisco's VN-Tag: 4 bytes of tag, then the EtherType.
const ETHERTYPE_VNTAG: u16 = 0x8926;
/// IEEE 802.1BR's E-Tag: 6 bytes of tag, then the EtherType.
const ETHERTYPE_ETAG: u16 = 0x893f;
/// Cisco FabricPath: 2 bytes of tag, then the inner frame's addresses and
/// EtherType.
const ETHERTYPE_FABRICPATH: u16 = 0x8903;
/// IEEE 802.1ah provider backbone bridging: a 4-byte I-TAG, then the
/// customer frame's addresses and EtherType.
const ETHERTYPE_PBB: u16 = 0x88e7;
/// Cisco MetaData (TrustSec inline tagging): version, length, an option
/// with the security group tag ([`CISCO_METADATA_TAG`] bytes), then the
/// EtherType; on Ethernet and in GRE alike.
pub(super) const ETHERTYPE_CISCO_METADATA: u16 = 0x8909;
/// Bytes of Cisco MetaData's tag, between its EtherType and the next.
pub(super) const CISCO_METADATA_TAG: usize = 6;
/// Link-layer control protocols: sound frames that carry no flow. MAC
/// control (pause), slow protocols (LACP, OAM), PPPoE discovery, 802.1X,
/// LLDP, PTP, connectivity fault management, loopback.
const LINK_CONTROL: [u16; 8] = [
    0x8808, 0x8809, 0x8863, 0x888e, 0x88cc, 0x88f7, 0x8902, 0x9000,
];
/// LLC's service access points of spanning tree and of OSI's routing
/// (IS-IS, ES-IS).
const LLC_STP: u8 = 0x42;
const LLC_OSI: u8 = 0xfe;
/// The SNAP OUI of Cisco's link protocols (CDP, VTP, DTP, PVST+).
const OUI_CISCO: [u8; 3] = [0x00, 0x00, 0x0c];
/// ARP's EtherType.
const ETHERTYPE_ARP: u16 = 0x0806;
/// Largest value of the 802.3 length field (above it, an EtherType).
const MAX_8023_LENGTH: u16 = 1500;
/// PPP protocol numbers of IPv4 and IPv6.
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// PPP protocol numbers from here up are control protocols (LCP, IPCP,
/// IPV6CP, CCP, PAP, CHAP...).
const PPP_CONTROL: u16 = 0x8000;
/// Shim headers (VLAN tags, LLC/SNAP, PPPoE, MPLS label stacks, a
/// pseudowire's Ethernet) followed before the IP header; deeper stacks are
/// treated as malformed.
const MAX_SHIMS: usize = 8;
/// MPLS labels followed in one stack.
const MAX_LABELS: usize = 16;

pub(super) fn be16(b: &[u8], at: usize) -> Result<u16, DecodeError> {
    match b.get(at..at + 2) {
        Some(&[x, y]) => Ok(u16::from_be_bytes([x, y])),
        _ => Err(DecodeError::LinkTruncated),
    }
}

fn rest(frame: &[u8], at: usize) -> Result<&[u8], DecodeError> {
    frame.get(at..).ok_or(DecodeError::LinkTruncated)
}

/// The IP packet a frame carries, and the outermost VLAN id on the way
/// (0: untagged, as 802.1Q reserves 0 for "no VLAN").
pub(super) struct Stripped<'a> {
    pub ip: &'a [u8],
    pub vlan: u16,
}

/// After an EtherType (or 802.3 length) at `at`, follow VLAN tags, LLC/SNAP,
/// PPPoE sessions, MPLS label stacks and Network Service Headers to the IP
/// packet. A loop, bounded
/// by [`MAX_SHIMS`]: the frame's contents never choose a recursion depth.
pub(super) fn by_ethertype(frame: &[u8], mut at: usize) -> Result<Stripped<'_>, DecodeError> {
    let mut vlan = 0;
    for _ in 0..MAX_SHIMS {
        let ethertype = be16(frame, at)?;
        at += 2;
        match ethertype {
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                if vlan == 0 {
                    vlan = be16(frame, at)? & 0x0fff;
                }
                at += 2;
            }
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => {
                return Ok(Stripped {
                    ip: rest(frame, at)?,
                    vlan,
                })
            }
            ETHERTYPE_ARP => return Err(DecodeError::Arp),
            ETHERTYPE_PPPOE_SESSION => {
                // Version/type, code, session id and length, then PPP.
                return Ok(Stripped {
                    ip: rest(frame, ppp(frame, at + 6)?)?,
                    vlan,
                });
            }
            ETHERTYPE_VNTAG => at += 4,
            ETHERTYPE_ETAG => at += 6,
            ETHERTYPE_FABRICPATH => at += 2 + 12,
            ETHERTYPE_PBB => at += 4 + 12,
            ETHERTYPE_CISCO_METADATA => at += CISCO_METADATA_TAG,
            t if LINK_CONTROL.contains(&t) => return Err(DecodeError::LinkControl),
            ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => {
                let (next, inner) = mpls(frame, at)?;
                match inner {
                    Inner::Ip => {
                        return Ok(Stripped {
                            ip: rest(frame, next)?,
                            vlan,
                        })
                    }
                    // A pseudowire's Ethernet: its EtherType after the MACs.
                    _ => at = next + 12,
                }
            }
            ETHERTYPE_NSH => {
                let (inner, next) = nsh(frame, at)?;
                match next {
                    NshNext::Ip => {
                        return Ok(Stripped {
                            ip: rest(frame, inner)?,
                            vlan,
                        })
                    }
                    // Ethernet: its EtherType after the MACs.
                    NshNext::Ethernet => at = inner + 12,
                    // An MPLS stack: on as if its EtherType came here.
                    NshNext::Mpls => {
                        let (next, carried) = mpls(frame, inner)?;
                        match carried {
                            Inner::Ip => {
                                return Ok(Stripped {
                                    ip: rest(frame, next)?,
                                    vlan,
                                })
                            }
                            _ => at = next + 12,
                        }
                    }
                }
            }
            len if len <= MAX_8023_LENGTH => {
                // 802.3 with LLC: only SNAP (AA AA 03, an OUI, an EtherType)
                // carries IP. Spanning tree, IS-IS and Cisco's link
                // protocols are link control; the rest is not IP.
                let llc = frame.get(at..at + 3);
                if matches!(llc.and_then(<[u8]>::first), Some(&(LLC_STP | LLC_OSI)))
                    || (llc == Some(&[0xaa, 0xaa, 0x03])
                        && frame.get(at + 3..at + 6) == Some(&OUI_CISCO))
                {
                    return Err(DecodeError::LinkControl);
                }
                if llc != Some(&[0xaa, 0xaa, 0x03]) {
                    return Err(DecodeError::NotIp);
                }
                at += 6;
            }
            _ => return Err(DecodeError::NotIp),
        }
    }
    Err(DecodeError::NotIp)
}

/// Reads the PPP header at `at` (RFC 1661): the HDLC address and control
/// bytes when present (FF 03), then the protocol number, one byte when
/// compressed (an odd first byte). Says where the IP packet starts, or
/// what the frame is when it carries none.
pub(super) fn ppp(frame: &[u8], mut at: usize) -> Result<usize, DecodeError> {
    if frame.get(at..at + 2) == Some(&[0xff, 0x03]) {
        at += 2;
    }
    let first = *frame.get(at).ok_or(DecodeError::LinkTruncated)?;
    let (protocol, len) = if first & 1 == 1 {
        (u16::from(first), 1)
    } else {
        (be16(frame, at)?, 2)
    };
    match protocol {
        PPP_IPV4 | PPP_IPV6 => Ok(at + len),
        p if p >= PPP_CONTROL => Err(DecodeError::LinkControl),
        _ => Err(DecodeError::NotIp),
    }
}

/// What a Network Service Header says comes after it.
enum NshNext {
    Ip,
    Ethernet,
    Mpls,
}

/// Reads the Network Service Header (RFC 8300) at `at`: its base header
/// (version 0, its length in 4-byte words, the next protocol), then the
/// service path and context headers that length covers. Says where what
/// it carries starts, and what that is.
fn nsh(frame: &[u8], at: usize) -> Result<(usize, NshNext), DecodeError> {
    let base = be16(frame, at)?;
    let next = be16(frame, at + 2)? & 0x00ff;
    let words = usize::from(base & 0x003f);
    // Version 0 only; the base and service path headers are 2 words.
    if base >> 14 != 0 || words < 2 {
        return Err(DecodeError::NotIp);
    }
    let inner = at + words * 4;
    let next = match next {
        1 | 2 => NshNext::Ip,
        3 => NshNext::Ethernet,
        5 => NshNext::Mpls,
        _ => return Err(DecodeError::NotIp),
    };
    if inner > frame.len() {
        return Err(DecodeError::LinkTruncated);
    }
    Ok((inner, next))
}

/// Walks an MPLS label stack starting at `at` to its bottom; says where
/// what it carries starts, and what that is by its first nibble: IPv4 or
/// IPv6, or (0) a pseudowire control word and an Ethernet frame.
pub(super) fn mpls(frame: &[u8], mut at: usize) -> Result<(usize, Inner), DecodeError> {
    for _ in 0..MAX_LABELS {
        let bottom = frame.get(at + 2).ok_or(DecodeError::LinkTruncated)? & 1 != 0;
        at += 4;
        if bottom {
            return match frame.get(at).map(|b| b >> 4) {
                Some(4 | 6) => Ok((at, Inner::Ip)),
                Some(0) => Ok((at + 4, Inner::Ethernet)),
                Some(_) => Err(DecodeError::NotIp),
                None => Err(DecodeError::LinkTruncated),
            };
        }
    }
    Err(DecodeError::NotIp)
}

/// Returns the IP packet inside a frame.
pub(super) fn strip(link: LinkType, frame: &[u8]) -> Result<Stripped<'_>, DecodeError> {
    let plain = |ip| Stripped { ip, vlan: 0 };
    match link {
        LinkType::Ethernet => by_ethertype(frame, 12),
        LinkType::LinuxSll => by_ethertype(frame, 14),
        LinkType::LinuxSll2 => {
            let ethertype = be16(frame, 0)?;
            match ethertype {
                ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => rest(frame, 20).map(plain),
                ETHERTYPE_ARP => Err(DecodeError::Arp),
                _ => Err(DecodeError::NotIp),
            }
        }
        LinkType::CiscoHdlc => by_ethertype(frame, 2),
        LinkType::Ppp => rest(frame, ppp(frame, 0)?).map(plain),
        LinkType::Ieee80211 => super::wlan::ieee80211(frame, 0),
        LinkType::Radiotap => super::wlan::radiotap(frame),
        LinkType::Nflog => super::nflog::packet(frame).map(plain),
        LinkType::Fddi => {
            // LLC/SNAP: AA AA 03, an OUI, then the EtherType at 19.
            if frame.get(13) == Some(&LLC_STP) {
                return Err(DecodeError::LinkControl);
            }
            if frame.get(13..16) != Some(&[0xaa, 0xaa, 0x03]) {
                return Err(frame
                    .get(15)
                    .map_or(DecodeError::LinkTruncated, |_| DecodeError::NotIp));
            }
            by_ethertype(frame, 19)
        }
        LinkType::Null | LinkType::Loop => {
            let fam: [u8; 4] = frame
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or(DecodeError::LinkTruncated)?;
            let le = u32::from_le_bytes(fam);
            let be = u32::from_be_bytes(fam);
            // AF_INET is 2 everywhere; AF_INET6 is 24, 28 or 30 by OS. The
            // writer's byte order is unknown, so accept either.
            let is_ip = |f: u32| matches!(f, 2 | 24 | 28 | 30);
            if is_ip(le) || is_ip(be) {
                rest(frame, 4).map(plain)
            } else {
                Err(DecodeError::NotIp)
            }
        }
        LinkType::Raw => Ok(plain(frame)),
        LinkType::Unsupported(_) => Err(DecodeError::UnsupportedLink),
    }
}
