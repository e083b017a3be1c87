//! Classic pcap: a 24-byte file header, then per packet a 16-byte record
//! header (seconds, fraction, captured length, wire length) and the frame.

use super::{PacketRef, Record};
use crate::decode::LinkType;

/// Reads the records of one classic pcap file.
pub(crate) struct PcapParser {
    big_endian: bool,
    nanos: bool,
    link: LinkType,
    snaplen: u32,
}

/// True when `head` starts with a classic pcap magic number.
pub(crate) fn is_magic(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some(
            [0xd4, 0xc3, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0xc3, 0xd4]
                | [0x4d, 0x3c, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0x3c, 0x4d]
        )
    )
}

fn u32_at(b: &[u8], at: usize, big: bool) -> Option<u32> {
    let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    })
}

impl PcapParser {
    /// Reads the file header: the parser and the link-type number.
    pub(crate) fn open(head: &[u8]) -> Result<(Self, i32), String> {
        if head.len() < 24 {
            return Err("truncated dump file; the 24-byte file header is cut".into());
        }
        let (big_endian, nanos) = match head.get(..4) {
            Some([0xd4, 0xc3, 0xb2, 0xa1]) => (false, false),
            Some([0xa1, 0xb2, 0xc3, 0xd4]) => (true, false),
            Some([0x4d, 0x3c, 0xb2, 0xa1]) => (false, true),
            _ => (true, true),
        };
        let snaplen = u32_at(head, 16, big_endian).unwrap_or(0);
        // The upper bits of the link-type field carry FCS information.
        let dlt = (u32_at(head, 20, big_endian).unwrap_or(0) & 0x0fff_ffff) as i32;
        Ok((
            PcapParser {
                big_endian,
                nanos,
                link: LinkType::from_dlt(dlt),
                snaplen,
            },
            dlt,
        ))
    }

    pub(crate) fn next(&mut self, buf: &[u8], base: usize) -> Record {
        let big = self.big_endian;
        let (Some(secs), Some(frac), Some(caplen), Some(wire)) = (
            u32_at(buf, 0, big),
            u32_at(buf, 4, big),
            u32_at(buf, 8, big),
            u32_at(buf, 12, big),
        ) else {
            return Record::Partial(None);
        };
        // libpcap refuses records longer than the larger of the snapshot
        // length and its own 256 KiB ceiling: such a length is garbage.
        let ceiling = self.snaplen.max(262_144);
        if caplen > ceiling {
            return Record::Corrupt(format!(
                "bad record: captured length {caplen} is larger than the snapshot length {}",
                self.snaplen
            ));
        }
        // No link layer has a frame of no bytes: a record of zero lengths
        // is zeros (a preallocated or damaged file), not a packet, and so
        // is everything after it.
        if caplen == 0 && wire == 0 {
            return Record::Corrupt(
                "bad record: zero length (what follows is not packet records)".into(),
            );
        }
        let total = 16 + caplen as usize;
        if buf.len() < total {
            return Record::Partial(Some(total));
        }
        let micros = if self.nanos {
            u64::from(frac) / 1000
        } else {
            u64::from(frac)
        };
        let ts = crate::time::from_parts(u64::from(secs), micros);
        Record::Packet(
            PacketRef {
                link: self.link,
                ts,
                start: (base + 16) as u32,
                len: caplen,
                wire_len: wire,
            },
            total,
        )
    }
}
