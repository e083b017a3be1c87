//! IP datagrams put back together from their fragments (IPv4 and IPv6),
//! before the flow table sees them.
//!
//! Overlaps are judged as Linux (4.19 and later) and RFC 5722 do: a
//! fragment lying wholly inside bytes already received is a duplicate,
//! dropped, the datagram kept; any other overlap drops the whole datagram.
//! Every datagram is held at most `timeout` of packet time, and all
//! together at most `max_bytes`: the oldest is dropped first. Each drop is
//! counted by reason in [`DefragStats`].

use crate::decode::{
    fragment, whole_header, DecodeError, Encap, FragKey, Fragment, LinkType, Tunnels,
};
use crate::time::{Micros, SECOND};
use lru::LruCache;

/// An IP packet's largest length (16-bit length fields).
const MAX_DATAGRAM: u32 = 65_535;
/// Ranges of a datagram received apart (merged when they touch); more
/// means a flood of tiny fragments, and the datagram is dropped.
const MAX_RANGES: usize = 256;
/// Heap and table bytes counted for a datagram besides its data.
const DATAGRAM_OVERHEAD: usize = 256;

/// How much reassembly may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragConfig {
    /// Bytes all incomplete datagrams may hold together; 0 reassembles
    /// nothing (fragments are then counted as `ip_fragment` errors).
    pub max_bytes: usize,
    /// Packet time a datagram waits for its missing fragments.
    pub timeout: Micros,
}

impl Default for DefragConfig {
    fn default() -> Self {
        // Linux's ipfrag_time is 30 s; 32 MiB holds about 500 datagrams
        // of 64 KiB, or 20,000 of a 1,500-byte link's two fragments.
        DefragConfig {
            max_bytes: 32 << 20,
            timeout: 30 * SECOND,
        }
    }
}

/// What reassembly did, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DefragStats {
    /// Fragments taken.
    pub fragments: u64,
    /// Datagrams made whole.
    pub reassembled: u64,
    /// Fragments dropped as duplicates of bytes already held.
    pub duplicates: u64,
    /// Datagrams dropped for overlapping fragments.
    pub overlaps: u64,
    /// Datagrams dropped whose fragments disagree (ends, lengths over
    /// 64 KiB, too many pieces) or fragments unusable alone (a length not
    /// a multiple of 8 before the last).
    pub invalid: u64,
    /// Datagrams dropped because the capture cut one of their fragments.
    pub cut: u64,
    /// Datagrams still incomplete after the timeout.
    pub timed_out: u64,
    /// Datagrams dropped, oldest first, to stay within `max_bytes`.
    pub evicted: u64,
    /// Datagrams incomplete at the end of input.
    pub incomplete_at_end: u64,
}

impl DefragStats {
    /// Adds another's counts.
    pub fn merge(&mut self, o: &DefragStats) {
        self.fragments += o.fragments;
        self.reassembled += o.reassembled;
        self.duplicates += o.duplicates;
        self.overlaps += o.overlaps;
        self.invalid += o.invalid;
        self.cut += o.cut;
        self.timed_out += o.timed_out;
        self.evicted += o.evicted;
        self.incomplete_at_end += o.incomplete_at_end;
    }
}

/// A datagram being put together.
#[derive(Default)]
struct Datagram {
    first_seen: Micros,
    /// The first fragment's IP header, once it came.
    header: Vec<u8>,
    data: Vec<u8>,
    /// Byte ranges received, sorted, apart from one another.
    have: Vec<(u32, u32)>,
    /// Its length, once the last fragment came.
    end: Option<u32>,
    /// Frame bytes of its fragments (from the inner frame when tunnelled).
    frame_bytes: u64,
    encap: Encap,
}

impl Datagram {
    fn held(&self) -> usize {
        self.data.capacity() + self.header.capacity() + DATAGRAM_OVERHEAD
    }
}

/// A datagram made whole: its IP packet (header and data), ready to
/// decode with [`crate::decode::reassembled`].
pub struct Whole<'a> {
    /// The IP packet.
    pub ip: &'a [u8],
    /// How its first fragment was carried.
    pub encap: Encap,
    /// Frame bytes of all its fragments.
    pub frame_bytes: u32,
}

/// Fragments in flight, bounded.
pub struct Defrag {
    cfg: DefragConfig,
    /// In order of arrival of each datagram's first fragment (never
    /// promoted), so the oldest is the least recent.
    table: LruCache<FragKey, Datagram, foldhash::fast::RandomState>,
    held: usize,
    whole: Vec<u8>,
    /// Counters.
    pub stats: DefragStats,
}

/// Why a datagram is dropped.
enum Drop {
    Overlap,
    Invalid,
    Cut,
}

impl Defrag {
    /// Empty, within `cfg`.
    pub fn new(cfg: DefragConfig) -> Self {
        Defrag {
            cfg,
            table: LruCache::unbounded_with_hasher(foldhash::fast::RandomState::default()),
            held: 0,
            whole: Vec::new(),
            stats: DefragStats::default(),
        }
    }

    /// True when fragments are put together at all.
    pub fn enabled(&self) -> bool {
        self.cfg.max_bytes > 0
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Takes one fragment seen at `ts` in a frame of `frame_bytes`;
    /// gives the datagram when this fragment completes it.
    pub fn offer(&mut self, f: &Fragment<'_>, ts: Micros, frame_bytes: u32) -> Option<Whole<'_>> {
        self.stats.fragments += 1;
        self.expire(ts);
        let len = f.data.len() as u32;
        let end = f.offset.saturating_add(len);
        if f.more && (len == 0 || !len.is_multiple_of(8)) {
            self.stats.invalid += 1;
            return None;
        }
        let verdict = if f.cut {
            Err(Drop::Cut)
        } else if end.saturating_add(f.header.len() as u32) > MAX_DATAGRAM {
            Err(Drop::Invalid)
        } else {
            self.place(f, ts, end, frame_bytes)
        };
        match verdict {
            Ok(true) => self.take_whole(&f.key),
            Ok(false) => None,
            Err(why) => {
                self.drop_datagram(&f.key, why);
                None
            }
        }
    }

    /// Puts the fragment's bytes in its datagram; `Ok(true)` when it is
    /// complete.
    fn place(
        &mut self,
        f: &Fragment<'_>,
        ts: Micros,
        end: u32,
        frame_bytes: u32,
    ) -> Result<bool, Drop> {
        if !self.table.contains(&f.key) {
            self.make_room(DATAGRAM_OVERHEAD + end as usize);
            let d = Datagram {
                first_seen: ts,
                encap: f.encap,
                ..Datagram::default()
            };
            self.held += d.held();
            self.table.put(f.key, d);
        }
        let Some(d) = self.table.peek_mut(&f.key) else {
            return Ok(false);
        };
        if let Some(e) = d.end {
            if end > e || (!f.more && end != e) {
                return Err(Drop::Invalid);
            }
        } else if !f.more && d.have.last().is_some_and(|&(_, last)| last > end) {
            return Err(Drop::Invalid);
        }
        match overlap(&d.have, f.offset, end) {
            Overlap::None => {}
            Overlap::Duplicate => {
                self.stats.duplicates += 1;
                return Ok(false);
            }
            Overlap::Partial => return Err(Drop::Overlap),
        }
        if !insert(&mut d.have, f.offset, end) {
            return Err(Drop::Invalid);
        }
        let before = d.held();
        if d.data.len() < end as usize {
            d.data.resize(end as usize, 0);
        }
        if let Some(dst) = d.data.get_mut(f.offset as usize..end as usize) {
            dst.copy_from_slice(f.data);
        }
        if f.offset == 0 {
            d.header.clear();
            d.header.extend_from_slice(f.header);
        }
        if !f.more {
            d.end = Some(end);
        }
        d.frame_bytes += u64::from(frame_bytes);
        let complete = !d.header.is_empty() && d.end.is_some_and(|e| d.have.as_slice() == [(0, e)]);
        let after = d.held();
        self.held = self.held + after - before.min(after);
        Ok(complete)
    }

    /// Removes a complete datagram and gives it whole.
    fn take_whole(&mut self, key: &FragKey) -> Option<Whole<'_>> {
        let d = self.table.pop(key)?;
        self.held = self.held.saturating_sub(d.held());
        if !whole_header(&d.header, key.proto, d.data.len(), &mut self.whole) {
            self.stats.invalid += 1;
            return None;
        }
        self.whole.extend_from_slice(&d.data);
        self.stats.reassembled += 1;
        Some(Whole {
            ip: &self.whole,
            encap: d.encap,
            frame_bytes: u32::try_from(d.frame_bytes).unwrap_or(u32::MAX),
        })
    }

    fn drop_datagram(&mut self, key: &FragKey, why: Drop) {
        if let Some(d) = self.table.pop(key) {
            self.held = self.held.saturating_sub(d.held());
        }
        match why {
            Drop::Overlap => self.stats.overlaps += 1,
            Drop::Invalid => self.stats.invalid += 1,
            Drop::Cut => self.stats.cut += 1,
        }
    }

    /// Drops datagrams older than the timeout.
    fn expire(&mut self, now: Micros) {
        while let Some((_, d)) = self.table.peek_lru() {
            if d.first_seen.saturating_add(self.cfg.timeout) > now {
                break;
            }
            if let Some((_, d)) = self.table.pop_lru() {
                self.held = self.held.saturating_sub(d.held());
                self.stats.timed_out += 1;
            }
        }
    }

    /// Drops the oldest datagrams until `need` more bytes fit.
    fn make_room(&mut self, need: usize) {
        while self.held + need > self.cfg.max_bytes {
            let Some((_, d)) = self.table.pop_lru() else {
                break;
            };
            self.held = self.held.saturating_sub(d.held());
            self.stats.evicted += 1;
        }
    }

    /// Takes a frame the decoder called an IP fragment, seen at `ts`:
    /// the datagram when it is now complete. An error is the frame's to
    /// count (reassembly off, or a fragment that cannot be read).
    pub fn offer_frame(
        &mut self,
        link: LinkType,
        frame: &[u8],
        wire_len: u32,
        ts: Micros,
        tunnels: &Tunnels,
    ) -> Result<Option<Whole<'_>>, DecodeError> {
        if !self.enabled() {
            return Err(DecodeError::IpFragment);
        }
        let f = fragment(link, frame, tunnels)?;
        let bytes = wire_len
            .max(frame.len() as u32)
            .saturating_sub(u32::from(f.encap.inner_at));
        Ok(self.offer(&f, ts, bytes))
    }

    /// Takes the fragment a reassembled datagram `ip` carried inside its
    /// tunnels ([`crate::decode::fragment_inside`]): the inner datagram
    /// when this completes it. The fragment counts the bytes of the IP
    /// packet its tunnel carried.
    pub fn offer_inner(
        &mut self,
        ip: &[u8],
        encap: Encap,
        ts: Micros,
        tunnels: &Tunnels,
    ) -> Result<Option<Whole<'_>>, DecodeError> {
        let f = crate::decode::fragment_inside(ip, encap, tunnels)?;
        let bytes = ip.len().saturating_sub(usize::from(f.encap.inner_at)) as u32;
        Ok(self.offer(&f, ts, bytes))
    }

    /// Counts what is still incomplete at the end of input, and forgets it.
    pub fn finish(&mut self) {
        self.stats.incomplete_at_end += self.table.len() as u64;
        self.table.clear();
        self.held = 0;
    }
}

enum Overlap {
    None,
    /// Wholly inside one range already received.
    Duplicate,
    Partial,
}

fn overlap(have: &[(u32, u32)], start: u32, end: u32) -> Overlap {
    for &(s, e) in have {
        if start < e && end > s {
            return if start >= s && end <= e {
                Overlap::Duplicate
            } else {
                Overlap::Partial
            };
        }
    }
    Overlap::None
}

/// Adds `[start, end)`, known apart from every range, merging the ones it
/// touches; false when the datagram has too many pieces.
fn insert(have: &mut Vec<(u32, u32)>, start: u32, end: u32) -> bool {
    let at = have.partition_point(|&(s, _)| s < start);
    let mut range = (start, end);
    let mut from = at;
    if at > 0 && have.get(at - 1).is_some_and(|&(_, e)| e == start) {
        from = at - 1;
        range.0 = have.get(from).map_or(start, |r| r.0);
    }
    let mut to = at;
    if have.get(at).is_some_and(|&(s, _)| s == end) {
        range.1 = have.get(at).map_or(end, |r| r.1);
        to = at + 1;
    }
    have.splice(from..to, [range]);
    have.len() <= MAX_RANGES
}

#[cfg(test)]
mod tests;
