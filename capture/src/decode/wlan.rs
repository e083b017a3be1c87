//! IEEE 802.11 data frames (link type 105, behind a radiotap header with
//! 127, or inside Aruba's GRE): the MAC header, then LLC/SNAP and an
//! EtherType, as a monitor-mode capture or a controller's tunnel holds
//! them.

use super::link::{by_ethertype, Stripped};
use super::DecodeError;

/// Frame types in the frame control field.
const TYPE_MANAGEMENT: u8 = 0;
const TYPE_CONTROL: u8 = 1;
const TYPE_DATA: u8 = 2;
/// Data subtypes with this bit carry no data (Null, QoS Null...).
const SUBTYPE_NO_DATA: u8 = 0x4;
/// Data subtypes with this bit have a QoS control field.
const SUBTYPE_QOS: u8 = 0x8;
/// Flags: to and from the distribution system (both: a fourth address),
/// protected (encrypted), and order (an HT control field after QoS).
const FLAGS_DS_BOTH: u8 = 0x03;
const FLAG_PROTECTED: u8 = 0x40;
const FLAG_ORDER: u8 = 0x80;
/// The QoS control bit saying the body is an A-MSDU.
const QOS_AMSDU: u8 = 0x80;

/// The IP packet of the 802.11 frame starting at `at`. Management and
/// control frames and data frames without data are link control; an
/// encrypted body, an A-MSDU and LLC without SNAP are not read.
pub(super) fn ieee80211(frame: &[u8], at: usize) -> Result<Stripped<'_>, DecodeError> {
    let fc = *frame.get(at).ok_or(DecodeError::LinkTruncated)?;
    let flags = *frame.get(at + 1).ok_or(DecodeError::LinkTruncated)?;
    let (kind, subtype) = ((fc >> 2) & 3, fc >> 4);
    match kind {
        TYPE_MANAGEMENT | TYPE_CONTROL => return Err(DecodeError::LinkControl),
        TYPE_DATA if subtype & SUBTYPE_NO_DATA != 0 => return Err(DecodeError::LinkControl),
        TYPE_DATA => {}
        _ => return Err(DecodeError::NotIp),
    }
    // Frame control, duration, three addresses, sequence control.
    let mut len = 24;
    if flags & FLAGS_DS_BOTH == FLAGS_DS_BOTH {
        len += 6;
    }
    if subtype & SUBTYPE_QOS != 0 {
        let qos = *frame.get(at + len).ok_or(DecodeError::LinkTruncated)?;
        if qos & QOS_AMSDU != 0 {
            return Err(DecodeError::NotIp);
        }
        len += 2;
        if flags & FLAG_ORDER != 0 {
            len += 4;
        }
    }
    if flags & FLAG_PROTECTED != 0 {
        return Err(DecodeError::NotIp);
    }
    let llc = at + len;
    match frame.get(llc..llc + 3) {
        Some([0xaa, 0xaa, 0x03]) => by_ethertype(frame, llc + 6),
        Some(_) => Err(DecodeError::NotIp),
        None => Err(DecodeError::LinkTruncated),
    }
}

/// The 802.11 frame after a radiotap header (its length at bytes 2 and 3,
/// little-endian).
pub(super) fn radiotap(frame: &[u8]) -> Result<Stripped<'_>, DecodeError> {
    let len = match frame.get(..4) {
        Some(&[0, _, lo, hi]) => usize::from(u16::from_le_bytes([lo, hi])),
        Some(_) => return Err(DecodeError::NotIp),
        None => return Err(DecodeError::LinkTruncated),
    };
    ieee80211(frame, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 packet's first bytes: enough for the stripping to hand on.
    const IP: [u8; 4] = [0x45, 0, 0, 20];

    fn data_frame(fc: u8, flags: u8, extra: &[u8]) -> Vec<u8> {
        let mut f = vec![fc, flags, 0, 0];
        f.extend_from_slice(&[0x11; 18]);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(extra);
        f.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        f.extend_from_slice(&IP);
        f
    }

    #[test]
    fn data_frames_in_every_header_form() {
        // Data; QoS data; QoS data with HT control; four addresses.
        let cases = [
            data_frame(0x08, 0x01, &[]),
            data_frame(0x88, 0x02, &[0x00, 0x00]),
            data_frame(0x88, 0x82, &[0x00, 0x00, 1, 2, 3, 4]),
            data_frame(0x08, 0x03, &[0x22; 6]),
        ];
        for f in &cases {
            let s = ieee80211(f, 0).expect("an IP packet");
            assert_eq!(s.ip, &IP[..], "{f:02x?}");
        }
        let mut rt = vec![0, 0, 8, 0, 0, 0, 0, 0];
        rt.extend_from_slice(&cases[1]);
        assert_eq!(radiotap(&rt).expect("an IP packet").ip, &IP[..]);
    }

    #[test]
    fn frames_without_ip_are_told_apart() {
        let beacon = [0x80, 0, 0, 0];
        assert_eq!(ieee80211(&beacon, 0).err(), Some(DecodeError::LinkControl));
        let ack = [0xd4, 0, 0, 0];
        assert_eq!(ieee80211(&ack, 0).err(), Some(DecodeError::LinkControl));
        let null = data_frame(0x48, 0x01, &[]);
        assert_eq!(ieee80211(&null, 0).err(), Some(DecodeError::LinkControl));
        let protected = data_frame(0x08, 0x41, &[]);
        assert_eq!(ieee80211(&protected, 0).err(), Some(DecodeError::NotIp));
        let amsdu = data_frame(0x88, 0x02, &[0x80, 0x00]);
        assert_eq!(ieee80211(&amsdu, 0).err(), Some(DecodeError::NotIp));
        assert_eq!(
            ieee80211(&[0x08], 0).err(),
            Some(DecodeError::LinkTruncated)
        );
        let cut = data_frame(0x08, 0x01, &[]);
        assert_eq!(
            ieee80211(&cut[..25], 0).err(),
            Some(DecodeError::LinkTruncated)
        );
        assert_eq!(radiotap(&[1, 0, 8, 0]).err(), Some(DecodeError::NotIp));
        assert_eq!(
            radiotap(&[0, 0, 200, 0]).err(),
            Some(DecodeError::LinkTruncated)
        );
    }
}
