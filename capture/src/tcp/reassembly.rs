//! One direction of a TCP connection put back in order.
//!
//! In-order data is handed to the consumer straight from the packet buffer
//! (no copy). Only segments that arrive ahead of a hole are copied, up to a
//! per-stream cap and a budget shared by the whole shard; past either, the
//! hole is declared a gap, counted as missed bytes, and reading resumes at
//! the next buffered segment. A hole is also declared as soon as the peer
//! acknowledges data beyond it: the receiver got those bytes, so the capture
//! missed them and no retransmission will come.

use super::seq::unwrap;

/// What the stream hands its consumer, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Contiguous payload bytes.
    Data(&'a [u8]),
    /// This many bytes are missing from the capture.
    Gap(u64),
}

/// Caps on the out-of-order data one stream may hold.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Bytes held ahead of a hole per stream.
    pub max_ooo_bytes: usize,
    /// Segments held ahead of a hole per stream.
    pub max_ooo_segments: usize,
}

/// Out-of-order bytes held by every stream of one shard, against a cap.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Bytes held now.
    pub used: usize,
    /// Bytes that may be held at most.
    pub max: usize,
}

/// Counters a stream keeps about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// Payload bytes delivered, each once.
    pub delivered: u64,
    /// Payload bytes never seen (gaps).
    pub missed: u64,
    /// Payload bytes seen again (retransmissions and overlaps).
    pub retransmitted: u64,
    /// Gaps declared.
    pub gaps: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Times a cap or the budget forced a gap.
    pub overflows: u64,
}

/// One direction of a TCP connection, in 32 bytes while nothing unusual
/// happened: stream positions other than `next` are kept as their low 32
/// bits and read back as the offset nearest `next` (they never lie 2 GiB
/// away from it: acknowledgements and FINs more than 1 GiB from it are
/// ignored, and an acknowledgement that `next` passes is dropped). Held segments and the rarer
/// counters live in a box made at the first retransmission, hole or gap.
#[derive(Debug, Default)]
pub struct Stream {
    /// Offset of the next byte expected.
    next: u64,
    /// Sequence number of stream offset 0, with [`STARTED`].
    base: u32,
    /// Low bits of the highest offset the peer acknowledged, with
    /// [`ACKED`], while that offset is ahead of `next`.
    acked: u32,
    /// Low bits of the offset of this side's FIN, with [`FIN`].
    fin_at: u32,
    flags: u8,
    extra: Option<Box<Extra>>,
}

const STARTED: u8 = 1;
/// How far from `next` an acknowledgement or a FIN may be and still count.
const FAR: u64 = 1 << 30;
const ACKED: u8 = 2;
const FIN: u8 = 4;

/// What a stream keeps only once something unusual happened.
#[derive(Debug, Default)]
struct Extra {
    /// Segments ahead of `next`, sorted by offset.
    held: Vec<(u64, Vec<u8>)>,
    held_bytes: usize,
    missed: u64,
    retransmitted: u64,
    gaps: u64,
    out_of_order: u64,
    overflows: u64,
}

/// The offset whose low 32 bits are `low`, nearest to `next`.
fn near(low: u32, next: u64) -> i64 {
    unwrap(low, 0, next)
}

impl Stream {
    /// A SYN from this side: data starts one past its sequence number.
    pub fn syn(&mut self, isn: u32) {
        if self.flags & STARTED == 0 || (self.next == 0 && self.held_bytes() == 0) {
            self.base = isn.wrapping_add(1);
            self.flags |= STARTED;
        }
    }

    /// True once the stream knows where it starts.
    pub fn started(&self) -> bool {
        self.flags & STARTED != 0
    }

    /// Counters of this stream so far.
    pub fn counters(&self) -> StreamCounters {
        let mut c = StreamCounters::default();
        if let Some(x) = &self.extra {
            c.missed = x.missed;
            c.retransmitted = x.retransmitted;
            c.gaps = x.gaps;
            c.out_of_order = x.out_of_order;
            c.overflows = x.overflows;
        }
        // Every offset below `next` was either delivered or declared missed.
        c.delivered = self.next.saturating_sub(c.missed);
        c
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    fn retransmitted(&mut self, n: u64) {
        if n > 0 {
            self.extra().retransmitted += n;
        }
    }

    /// The peer's highest acknowledged offset, if ahead of `next`.
    fn acked(&self) -> Option<u64> {
        (self.flags & ACKED != 0)
            .then(|| near(self.acked, self.next))
            .filter(|&a| a > self.next as i64)
            .map(|a| a as u64)
    }

    /// Moves `next` forward, forgetting an acknowledgement it passed.
    fn advance(&mut self, to: u64) {
        self.next = to;
        if self.flags & ACKED != 0 && self.acked().is_none() {
            self.flags &= !ACKED;
        }
    }

    /// Feeds one segment's payload; hands out whatever became contiguous.
    /// `cut` is how many payload bytes past `data` the capture's snap
    /// length cut off: they are a gap, and a FIN sits after them.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        seq: u32,
        data: &[u8],
        cut: u32,
        fin: bool,
        limits: StreamLimits,
        budget: &mut Budget,
        sink: &mut dyn FnMut(Chunk<'_>),
    ) {
        if self.flags & STARTED == 0 {
            self.base = seq;
            self.flags |= STARTED;
        }
        let start = unwrap(seq, self.base, self.next);
        let len = data.len() as i64;
        // A FIN more than 1 GiB from where the stream is: a broken or
        // foreign sequence number, not this side's end.
        let fin = fin && (start + len + i64::from(cut)).abs_diff(self.next as i64) <= FAR;
        if fin {
            let at = (start + len + i64::from(cut)).max(0);
            if self.flags & FIN == 0 || at < near(self.fin_at, self.next) {
                self.fin_at = at as u32;
                self.flags |= FIN;
            }
        }
        if data.is_empty() {
            return;
        }
        if cut > 0 && start <= self.next as i64 && start + len > self.next as i64 {
            // In order: deliver what was captured, then the cut is a gap.
            let skip = (self.next as i64 - start) as usize;
            self.retransmitted(skip as u64);
            if let Some(fresh) = data.get(skip..) {
                self.deliver(fresh, sink);
            }
            let end = self.next + u64::from(cut);
            self.gap_to(end, sink);
            self.drain(budget, sink);
            return;
        }
        let end = start + len;
        let next = self.next as i64;
        if end <= next {
            self.retransmitted(data.len() as u64);
            return;
        }
        if start <= next {
            let skip = (next - start) as usize;
            self.retransmitted(skip as u64);
            if let Some(fresh) = data.get(skip..) {
                self.deliver(fresh, sink);
            }
            self.drain(budget, sink);
            return;
        }
        // Ahead of a hole: hold a copy, unless a cap says declare the gap.
        let offset = start as u64;
        let x = self.extra();
        x.out_of_order += 1;
        let over_cap = x.held_bytes + data.len() > limits.max_ooo_bytes
            || x.held.len() >= limits.max_ooo_segments
            || budget.used + data.len() > budget.max;
        if over_cap {
            x.overflows += 1;
            // Give up on every hole before this segment: hand out what is
            // held before it, declare the holes, then deliver it at once.
            while let Some(first) = self.first_held() {
                if first > offset {
                    break;
                }
                self.gap_to(first, sink);
                self.drain(budget, sink);
            }
            self.gap_to(offset, sink);
            // What the drain delivered may cover all of this segment.
            let skip = self.next.saturating_sub(offset).min(data.len() as u64);
            self.retransmitted(skip);
            if let Some(fresh) = data.get(skip as usize..) {
                self.deliver(fresh, sink);
            }
            self.drain(budget, sink);
            return;
        }
        self.hold(offset, data, budget);
        // Acknowledged already (the ACK came first): its hole is a gap.
        self.fill_acked_holes(budget, sink);
    }

    fn first_held(&self) -> Option<u64> {
        self.extra.as_ref()?.held.first().map(|(o, _)| *o)
    }

    fn hold(&mut self, offset: u64, data: &[u8], budget: &mut Budget) {
        let x = self.extra();
        let at = x.held.partition_point(|(o, _)| *o < offset);
        if let Some((o, d)) = x.held.get(at) {
            if *o == offset && d.len() >= data.len() {
                x.retransmitted += data.len() as u64;
                return;
            }
        }
        x.held.insert(at, (offset, data.to_vec()));
        x.held_bytes += data.len();
        budget.used += data.len();
    }

    fn deliver(&mut self, data: &[u8], sink: &mut dyn FnMut(Chunk<'_>)) {
        if data.is_empty() {
            return;
        }
        self.advance(self.next + data.len() as u64);
        sink(Chunk::Data(data));
    }

    fn gap_to(&mut self, offset: u64, sink: &mut dyn FnMut(Chunk<'_>)) {
        if offset > self.next {
            let len = offset - self.next;
            let x = self.extra();
            x.missed += len;
            x.gaps += 1;
            self.advance(offset);
            sink(Chunk::Gap(len));
        }
    }

    /// Hands out held segments that the stream has caught up with.
    fn drain(&mut self, budget: &mut Budget, sink: &mut dyn FnMut(Chunk<'_>)) {
        while self.first_held().is_some_and(|o| o <= self.next) {
            let Some(x) = self.extra.as_mut() else { return };
            let (offset, data) = x.held.remove(0);
            x.held_bytes -= data.len();
            budget.used = budget.used.saturating_sub(data.len());
            let end = offset + data.len() as u64;
            if end <= self.next {
                x.retransmitted += data.len() as u64;
                continue;
            }
            let skip = (self.next - offset) as usize;
            x.retransmitted += skip as u64;
            if let Some(fresh) = data.get(skip..) {
                self.deliver(fresh, sink);
            }
        }
    }

    /// The peer acknowledged up to `ack` (in a reset when `reset`). Data it
    /// acknowledged that we hold no segment for will never be seen: declare
    /// the gap at once.
    pub fn peer_ack(
        &mut self,
        ack: u32,
        reset: bool,
        budget: &mut Budget,
        sink: &mut dyn FnMut(Chunk<'_>),
    ) {
        if self.flags & STARTED == 0 {
            return;
        }
        let at = unwrap(ack, self.base, self.next);
        // Only an acknowledgement ahead of what was seen moves the mark,
        // however far within the half of sequence space ahead (a capture
        // that kept a few segments of a 5 GB transfer sees its ACKs jump by
        // gigabytes). A reset's ACK field is often left stale or zero, so
        // there more than 1 GiB ahead is no acknowledgement.
        let reach = if reset { FAR } else { 1 << 31 };
        if at > self.next as i64 && at as u64 <= self.next + reach {
            let at = at as u64;
            if self.acked().is_none_or(|a| a < at) {
                self.acked = at as u32;
                self.flags |= ACKED;
            }
        }
        self.fill_acked_holes(budget, sink);
    }

    /// Holes before held segments that the peer has acknowledged will
    /// never fill: declare them and deliver what follows.
    fn fill_acked_holes(&mut self, budget: &mut Budget, sink: &mut dyn FnMut(Chunk<'_>)) {
        while let (Some(first), Some(acked)) = (self.first_held(), self.acked()) {
            if acked < first || first <= self.next {
                break;
            }
            self.gap_to(first, sink);
            self.drain(budget, sink);
        }
    }

    /// End of the flow: hand out everything held, gaps included, and count
    /// acknowledged bytes that never appeared as missed.
    pub fn finish(&mut self, budget: &mut Budget, sink: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(first) = self.first_held() {
            self.gap_to(first, sink);
            self.drain(budget, sink);
        }
        // Data ends where the FIN sits: an acknowledgement of the FIN
        // covers its sequence number, which is no byte.
        let fin = (self.flags & FIN != 0)
            .then(|| near(self.fin_at, self.next))
            .and_then(|f| u64::try_from(f).ok())
            .filter(|&f| f >= self.next);
        let acked = self.acked().map(|a| fin.map_or(a, |f| a.min(f)));
        if let Some(acked) = acked.filter(|&a| a > self.next) {
            let len = acked - self.next;
            let x = self.extra();
            x.missed += len;
            x.gaps += 1;
            self.advance(self.next + len);
            sink(Chunk::Gap(len));
        }
    }

    /// Bytes held ahead of holes right now.
    pub fn held_bytes(&self) -> usize {
        self.extra.as_ref().map_or(0, |x| x.held_bytes)
    }
}

#[cfg(test)]
mod tests;
