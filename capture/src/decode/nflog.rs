//! Linux NFLOG (link type 239): what an iptables or nftables `log group`
//! rule hands to `tcpdump -i nflog:N`, as an egress gateway logs its
//! traffic. A 4-byte header (address family, version, resource id), then
//! type-length-value attributes, 4-byte aligned, in the capturing host's
//! byte order; the packet is the payload attribute.

use super::DecodeError;

/// The attribute that holds the packet (NFULA_PAYLOAD).
const PAYLOAD: u16 = 9;
/// Attributes followed before giving up (a packet has about a dozen).
const MAX_ATTRIBUTES: usize = 64;

/// The IP packet of an NFLOG frame.
pub(super) fn packet(frame: &[u8]) -> Result<&[u8], DecodeError> {
    let family = *frame.first().ok_or(DecodeError::LinkTruncated)?;
    // AF_INET and AF_INET6 (and AF_UNSPEC, which logs either).
    if !matches!(family, 0 | 2 | 10) {
        return Err(DecodeError::NotIp);
    }
    // Little-endian hosts first: they wrote nearly every capture there is.
    attribute(frame, u16::from_le_bytes).or_else(|_| attribute(frame, u16::from_be_bytes))
}

/// Walks the attributes with lengths and types in one byte order.
fn attribute(frame: &[u8], order: fn([u8; 2]) -> u16) -> Result<&[u8], DecodeError> {
    let mut at = 4;
    for _ in 0..MAX_ATTRIBUTES {
        let (len, kind) = match frame.get(at..at + 4) {
            Some(&[a, b, c, d]) => (usize::from(order([a, b])), order([c, d]) & 0x7fff),
            _ => return Err(DecodeError::LinkTruncated),
        };
        if len < 4 {
            return Err(DecodeError::NotIp);
        }
        if kind == PAYLOAD {
            return frame
                .get(at + 4..at + len)
                .ok_or(DecodeError::LinkTruncated);
        }
        at += len.div_ceil(4) * 4;
    }
    Err(DecodeError::NotIp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(kind: u16, value: &[u8], le: bool) -> Vec<u8> {
        let len = (4 + value.len()) as u16;
        let mut v = Vec::new();
        let to = |x: u16| if le { x.to_le_bytes() } else { x.to_be_bytes() };
        v.extend_from_slice(&to(len));
        v.extend_from_slice(&to(kind));
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn the_payload_attribute_is_the_packet_in_either_byte_order() {
        let ip = [0x45, 0, 0, 20, 1, 2, 3];
        for le in [true, false] {
            let mut f = vec![2, 0, 0, 42];
            f.extend(tlv(1, &[0, 0, 8, 0], le));
            f.extend(tlv(10, b"out", le));
            f.extend(tlv(PAYLOAD, &ip, le));
            assert_eq!(packet(&f), Ok(&ip[..]), "little-endian: {le}");
        }
    }

    #[test]
    fn damaged_frames_are_errors() {
        assert_eq!(packet(&[]), Err(DecodeError::LinkTruncated));
        assert_eq!(packet(&[7, 0, 0, 1]), Err(DecodeError::NotIp));
        assert_eq!(packet(&[2, 0, 0, 1]), Err(DecodeError::LinkTruncated));
        // A zero length in both orders.
        assert_eq!(packet(&[2, 0, 0, 1, 0, 0, 9, 0]), Err(DecodeError::NotIp));
        // A payload longer than the frame.
        assert_eq!(
            packet(&[2, 0, 0, 1, 0x20, 0, 9, 0, 0x45]),
            Err(DecodeError::LinkTruncated)
        );
    }
}
