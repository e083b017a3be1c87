//! pcapng: a sequence of blocks (type, total length, body, total length).
//! Section headers set the byte order; interface descriptions give each
//! interface's link type, snapshot length and timestamp resolution and
//! offset; enhanced, simple and (obsolete) packet blocks carry frames.
//! Every other block is skipped.

use super::{PacketRef, Record};
use crate::decode::LinkType;

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Interfaces described per section before the file counts as corrupt.
const MAX_INTERFACES: usize = 65_536;

/// How one interface's timestamps read.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    dlt: i32,
    snaplen: u32,
    /// Units per second: 10^n or 2^n.
    units: Units,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_secs: i64,
}

#[derive(Debug, Clone, Copy)]
enum Units {
    Pow10(u32),
    Pow2(u32),
}

impl Interface {
    fn micros(&self, raw: u64) -> u64 {
        let us = match self.units {
            Units::Pow10(6) => raw,
            Units::Pow10(n) if n > 6 => raw / 10u64.saturating_pow(n - 6),
            Units::Pow10(n) => raw.saturating_mul(10u64.saturating_pow(6 - n)),
            Units::Pow2(n) => {
                let v = (u128::from(raw) * 1_000_000) >> n.min(127);
                u64::try_from(v).unwrap_or(u64::MAX)
            }
        };
        let off = self.offset_secs.saturating_mul(1_000_000);
        let ts = if off >= 0 {
            us.saturating_add(off.unsigned_abs())
        } else {
            us.saturating_sub(off.unsigned_abs())
        };
        ts.min(crate::time::LATEST)
    }
}

/// Reads the blocks of one pcapng file.
pub(crate) struct PcapngParser {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Timestamp given to simple packet blocks (they carry none): the last
    /// packet's.
    last_ts: u64,
}

fn u16_at(b: &[u8], at: usize, big: bool) -> Option<u16> {
    let w: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(w)
    } else {
        u16::from_le_bytes(w)
    })
}

fn u32_at(b: &[u8], at: usize, big: bool) -> Option<u32> {
    let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    })
}

/// The byte order a section header declares.
fn section_order(block: &[u8]) -> Option<bool> {
    match block.get(8..12)? {
        [0x1a, 0x2b, 0x3c, 0x4d] => Some(true),
        [0x4d, 0x3c, 0x2b, 0x1a] => Some(false),
        _ => None,
    }
}

impl PcapngParser {
    /// Reads the first section header: the parser, and the first
    /// interface's link-type number (from the first interface block when it
    /// is in `head`, else Ethernet).
    pub(crate) fn open(head: &[u8]) -> Result<(Self, i32), String> {
        let big_endian = section_order(head)
            .ok_or("not a pcapng capture: bad byte-order magic in the section header")?;
        let mut probe = PcapngParser {
            big_endian,
            interfaces: Vec::new(),
            last_ts: 0,
        };
        // Peek at the first interface for the file's link type.
        let mut at = 0usize;
        while probe.interfaces.is_empty() {
            match probe.next(head.get(at..).unwrap_or(&[]), at) {
                Record::Other(len) => at += len,
                // A first section header that cannot be right makes the
                // whole file unusable: an error, not a warning.
                Record::Corrupt(why) if at == 0 => {
                    return Err(format!("not a usable pcapng capture: {why}"))
                }
                Record::Partial(Some(total)) if at == 0 && total > super::MAX_RECORD => {
                    return Err(format!(
                        "not a usable pcapng capture: section header of {total} bytes"
                    ))
                }
                _ => break,
            }
        }
        let dlt = probe.interfaces.first().map_or(1, |i| i.dlt);
        let p = PcapngParser {
            big_endian,
            interfaces: Vec::new(),
            last_ts: 0,
        };
        Ok((p, dlt))
    }

    fn interface(&mut self, body: &[u8]) -> Result<(), String> {
        let big = self.big_endian;
        let link = u16_at(body, 0, big).ok_or("interface block too short")?;
        let snaplen = u32_at(body, 4, big).ok_or("interface block too short")?;
        let mut iface = Interface {
            link: LinkType::from_dlt(i32::from(link)),
            dlt: i32::from(link),
            snaplen,
            units: Units::Pow10(6),
            offset_secs: 0,
        };
        let mut at = 8usize;
        while let (Some(code), Some(len)) = (u16_at(body, at, big), u16_at(body, at + 2, big)) {
            let len = usize::from(len);
            let Some(value) = body.get(at + 4..at + 4 + len) else {
                break;
            };
            match code {
                0 => break,
                9 => {
                    if let Some(&v) = value.first() {
                        iface.units = if v & 0x80 == 0 {
                            Units::Pow10(u32::from(v))
                        } else {
                            Units::Pow2(u32::from(v & 0x7f))
                        };
                    }
                }
                14 => {
                    if let Ok(w) = <[u8; 8]>::try_from(value) {
                        iface.offset_secs = if big {
                            i64::from_be_bytes(w)
                        } else {
                            i64::from_le_bytes(w)
                        };
                    }
                }
                _ => {}
            }
            at += 4 + len.next_multiple_of(4);
        }
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err("more than 65,536 interfaces in one section".into());
        }
        self.interfaces.push(iface);
        Ok(())
    }

    pub(crate) fn next(&mut self, buf: &[u8], base: usize) -> Record {
        let Some(kind_raw) = buf.get(..4) else {
            return Record::Partial(None);
        };
        if kind_raw == [0x0a, 0x0d, 0x0d, 0x0a] {
            // A new section may change the byte order; its length field is
            // in that order.
            let Some(order) = section_order(buf) else {
                return if buf.len() < 12 {
                    Record::Partial(None)
                } else {
                    Record::Corrupt("bad section header: unknown byte-order magic".into())
                };
            };
            self.big_endian = order;
        }
        let big = self.big_endian;
        let (Some(kind), Some(total)) = (u32_at(buf, 0, big), u32_at(buf, 4, big)) else {
            return Record::Partial(None);
        };
        let total = total as usize;
        if total < 12 || !total.is_multiple_of(4) {
            return Record::Corrupt(format!("bad block: length {total}"));
        }
        if buf.len() < total {
            return Record::Partial(Some(total));
        }
        let body = buf.get(8..total - 4).unwrap_or(&[]);
        match kind {
            SHB => {
                if u32_at(body, 0, big) != Some(BYTE_ORDER_MAGIC) {
                    return Record::Corrupt("bad section header".into());
                }
                self.interfaces.clear();
                Record::Other(total)
            }
            IDB => match self.interface(body) {
                Ok(()) => Record::Other(total),
                Err(why) => Record::Corrupt(why),
            },
            EPB | OPB => match self.enhanced_packet(kind == EPB, body, base) {
                Ok(packet) => Record::Packet(packet, total),
                Err(why) => Record::Corrupt(why),
            },
            SPB => match self.simple_packet(body, base) {
                Ok(packet) => Record::Packet(packet, total),
                Err(why) => Record::Corrupt(why),
            },
            _ => Record::Other(total),
        }
    }

    /// An enhanced (or obsolete) packet block's body, which starts at
    /// `base + 8` in the file's buffer.
    fn enhanced_packet(
        &mut self,
        enhanced: bool,
        body: &[u8],
        base: usize,
    ) -> Result<PacketRef, String> {
        const TS_AT: usize = 4;
        const CAP_AT: usize = 12;
        const DATA_AT: usize = 20;
        let big = self.big_endian;
        // The obsolete block has a 16-bit interface id and 16 bits of drops.
        let iface_id = if enhanced {
            u32_at(body, 0, big).map(|v| v as usize)
        } else {
            u16_at(body, 0, big).map(usize::from)
        };
        let (Some(id), Some(hi), Some(lo), Some(cap), Some(wire)) = (
            iface_id,
            u32_at(body, TS_AT, big),
            u32_at(body, TS_AT + 4, big),
            u32_at(body, CAP_AT, big),
            u32_at(body, CAP_AT + 4, big),
        ) else {
            return Err("packet block too short".into());
        };
        let Some(iface) = self.interfaces.get(id).copied() else {
            return Err(format!(
                "packet block names interface {id}, which was not described"
            ));
        };
        if DATA_AT + cap as usize > body.len() {
            return Err(format!(
                "packet block: captured length {cap} runs past the block"
            ));
        }
        let ts = iface.micros(u64::from(hi) << 32 | u64::from(lo));
        self.last_ts = ts;
        Ok(PacketRef {
            link: iface.link,
            ts,
            start: (base + 8 + DATA_AT) as u32,
            len: cap,
            wire_len: wire,
        })
    }

    /// A simple packet block's body: the first interface's, with no time
    /// of its own (the last packet's is used).
    fn simple_packet(&self, body: &[u8], base: usize) -> Result<PacketRef, String> {
        let Some(iface) = self.interfaces.first().copied() else {
            return Err("simple packet block before any interface".into());
        };
        let Some(wire) = u32_at(body, 0, self.big_endian) else {
            return Err("simple packet block too short".into());
        };
        let room = body.len().saturating_sub(4) as u32;
        let mut cap = wire.min(room);
        if iface.snaplen > 0 {
            cap = cap.min(iface.snaplen);
        }
        Ok(PacketRef {
            link: iface.link,
            ts: self.last_ts,
            start: (base + 12) as u32,
            len: cap,
            wire_len: wire,
        })
    }
}
