//! Link layers: find where the IP packet starts in a frame.

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
/// Tags stacked deeper than this are treated as malformed.
const MAX_VLAN_TAGS: usize = 4;

fn be16(b: &[u8], at: usize) -> Result<u16, DecodeError> {
    match b.get(at..at + 2) {
        Some(&[x, y]) => Ok(u16::from_be_bytes([x, y])),
        _ => Err(DecodeError::LinkTruncated),
    }
}

fn rest(frame: &[u8], at: usize) -> Result<&[u8], DecodeError> {
    frame.get(at..).ok_or(DecodeError::LinkTruncated)
}

/// ARP's EtherType.
const ETHERTYPE_ARP: u16 = 0x0806;

/// After an EtherType at `at`, follow VLAN tags to the IP packet.
fn by_ethertype(frame: &[u8], mut at: usize) -> Result<&[u8], DecodeError> {
    let mut ethertype = be16(frame, at)?;
    at += 2;
    let mut tags = 0;
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        tags += 1;
        if tags > MAX_VLAN_TAGS {
            return Err(DecodeError::NotIp);
        }
        // 2 bytes of tag control information, then the next EtherType.
        ethertype = be16(frame, at + 2)?;
        at += 4;
    }
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => rest(frame, at),
        ETHERTYPE_ARP => Err(DecodeError::Arp),
        _ => Err(DecodeError::NotIp),
    }
}

/// Returns the IP packet inside a frame.
pub(super) fn strip(link: LinkType, frame: &[u8]) -> Result<&[u8], DecodeError> {
    match link {
        LinkType::Ethernet => by_ethertype(frame, 12),
        LinkType::LinuxSll => by_ethertype(frame, 14),
        LinkType::LinuxSll2 => {
            let ethertype = be16(frame, 0)?;
            match ethertype {
                ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => rest(frame, 20),
                ETHERTYPE_ARP => Err(DecodeError::Arp),
                _ => Err(DecodeError::NotIp),
            }
        }
        LinkType::CiscoHdlc => by_ethertype(frame, 2),
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
                rest(frame, 4)
            } else {
                Err(DecodeError::NotIp)
            }
        }
        LinkType::Raw => Ok(frame),
        LinkType::Unsupported(_) => Err(DecodeError::UnsupportedLink),
    }
}
