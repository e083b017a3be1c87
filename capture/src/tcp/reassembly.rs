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

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    /// Offset of the next byte expected.
    next: u64,
    /// Segments ahead of `next`, sorted by offset.
    held: Vec<(u64, Vec<u8>)>,
    held_bytes: usize,
    /// Highest offset the peer acknowledged.
    acked: u64,
    /// Offset of this side's FIN.
    fin_at: Option<u64>,
    /// Counters.
    pub counters: StreamCounters,
}

impl Stream {
    /// A SYN from this side: data starts one past its sequence number.
    pub fn syn(&mut self, isn: u32) {
        if self.base.is_none() || (self.next == 0 && self.held.is_empty()) {
            self.base = Some(isn.wrapping_add(1));
        }
    }

    /// True once the stream knows where it starts.
    pub fn started(&self) -> bool {
        self.base.is_some()
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
        let base = *self.base.get_or_insert(seq);
        let start = unwrap(seq, base, self.next);
        let len = data.len() as i64;
        if fin {
            let at = (start + len + i64::from(cut)).max(0) as u64;
            self.fin_at = Some(self.fin_at.map_or(at, |f| f.min(at)));
        }
        if data.is_empty() {
            return;
        }
        if cut > 0 && start <= self.next as i64 && start + len > self.next as i64 {
            // In order: deliver what was captured, then the cut is a gap.
            let skip = (self.next as i64 - start) as usize;
            self.counters.retransmitted += skip as u64;
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
            self.counters.retransmitted += data.len() as u64;
            return;
        }
        if start <= next {
            let skip = (next - start) as usize;
            self.counters.retransmitted += skip as u64;
            if let Some(fresh) = data.get(skip..) {
                self.deliver(fresh, sink);
            }
            self.drain(budget, sink);
            return;
        }
        // Ahead of a hole: hold a copy, unless a cap says declare the gap.
        self.counters.out_of_order += 1;
        let offset = start as u64;
        let over_cap = self.held_bytes + data.len() > limits.max_ooo_bytes
            || self.held.len() >= limits.max_ooo_segments
            || budget.used + data.len() > budget.max;
        if over_cap {
            self.counters.overflows += 1;
            // Give up on every hole before this segment: hand out what is
            // held before it, declare the holes, then deliver it at once.
            while let Some(first) = self.held.first().map(|(o, _)| *o) {
                if first > offset {
                    break;
                }
                self.gap_to(first, sink);
                self.drain(budget, sink);
            }
            self.gap_to(offset, sink);
            let skip = self.next.saturating_sub(offset) as usize;
            if let Some(fresh) = data.get(skip..) {
                self.counters.retransmitted += skip as u64;
                self.deliver(fresh, sink);
            }
            self.drain(budget, sink);
            return;
        }
        self.hold(offset, data, budget);
    }

    fn hold(&mut self, offset: u64, data: &[u8], budget: &mut Budget) {
        let at = self.held.partition_point(|(o, _)| *o < offset);
        if let Some((o, d)) = self.held.get(at) {
            if *o == offset && d.len() >= data.len() {
                self.counters.retransmitted += data.len() as u64;
                return;
            }
        }
        self.held.insert(at, (offset, data.to_vec()));
        self.held_bytes += data.len();
        budget.used += data.len();
    }

    fn deliver(&mut self, data: &[u8], sink: &mut dyn FnMut(Chunk<'_>)) {
        if data.is_empty() {
            return;
        }
        self.next += data.len() as u64;
        self.counters.delivered += data.len() as u64;
        sink(Chunk::Data(data));
    }

    fn gap_to(&mut self, offset: u64, sink: &mut dyn FnMut(Chunk<'_>)) {
        if offset > self.next {
            let len = offset - self.next;
            self.counters.missed += len;
            self.counters.gaps += 1;
            self.next = offset;
            sink(Chunk::Gap(len));
        }
    }

    /// Hands out held segments that the stream has caught up with.
    fn drain(&mut self, budget: &mut Budget, sink: &mut dyn FnMut(Chunk<'_>)) {
        while self.held.first().is_some_and(|(o, _)| *o <= self.next) {
            let (offset, data) = self.held.remove(0);
            self.held_bytes -= data.len();
            budget.used = budget.used.saturating_sub(data.len());
            let end = offset + data.len() as u64;
            if end <= self.next {
                self.counters.retransmitted += data.len() as u64;
                continue;
            }
            let skip = (self.next - offset) as usize;
            self.counters.retransmitted += skip as u64;
            if let Some(fresh) = data.get(skip..) {
                self.deliver(fresh, sink);
            }
        }
    }

    /// The peer acknowledged up to `ack`. Data it acknowledged that we hold
    /// no segment for will never be seen: declare the gap at once.
    pub fn peer_ack(&mut self, ack: u32, budget: &mut Budget, sink: &mut dyn FnMut(Chunk<'_>)) {
        let Some(base) = self.base else { return };
        let at = unwrap(ack, base, self.next);
        if at <= 0 {
            return;
        }
        let at = at as u64;
        // Ignore acknowledgements more than 1 GiB ahead: a broken or
        // foreign ACK field, not a real acknowledgement.
        if at > self.next + (1 << 30) {
            return;
        }
        self.acked = self.acked.max(at);
        while let Some(first) = self.held.first().map(|(o, _)| *o) {
            if self.acked < first || first <= self.next {
                break;
            }
            self.gap_to(first, sink);
            self.drain(budget, sink);
        }
    }

    /// End of the flow: hand out everything held, gaps included, and count
    /// acknowledged bytes that never appeared as missed.
    pub fn finish(&mut self, budget: &mut Budget, sink: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(first) = self.held.first().map(|(o, _)| *o) {
            self.gap_to(first, sink);
            self.drain(budget, sink);
        }
        let fin_seq = u64::from(self.fin_at == Some(self.next));
        let end = self.next + fin_seq;
        if self.acked > end {
            let len = self.acked - end;
            self.counters.missed += len;
            self.counters.gaps += 1;
            self.next += len;
            sink(Chunk::Gap(len));
        }
    }

    /// Bytes held ahead of holes right now.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }
}

#[cfg(test)]
mod tests;
