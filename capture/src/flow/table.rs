//! The bounded flow table of one shard.
//!
//! Flows live in pages of slots, found through a hash index of slot
//! numbers (`index.rs`), and are threaded on intrusive recency lists by
//! slot number: one for open TCP flows, one for UDP, one for flows that
//! closed (FIN both ways or RST). The first page grows as a `Vec` does
//! up to its fixed size (a small capture keeps a small table); every
//! later one is taken whole; no page moves once full. Each list's timeout is fixed, so the head of each list is
//! always its next flow to expire. A tracked flow costs its slot (the
//! `Flow` and two 32-bit links) and its share of the index (8 bytes a
//! bucket): no allocation of its own. The index keeps 32 bits of each
//! key's hash beside its slot number, so that growing the index rehashes
//! without reading a single slot: on a busy link each slot read is a
//! cache miss, and growing to 500,000 flows read every slot about twice
//! (4 % of that flood's samples under perf, gone with the hash).

use super::index::Index;
use super::key::{FlowKey, Transport};
use super::state::{CloseReason, Flow};
use crate::prefetch::prefetch;
use crate::time::Micros;
use foldhash::quality::RandomState;
use std::hash::BuildHasher;

/// A slot number; stable while the flow is tracked.
pub type FlowId = u32;

/// No slot: the end of a list.
const NIL: u32 = u32::MAX;
/// Slots per page, as a power of two.
const PAGE_BITS: u32 = 10;
/// Slots per page: the table grows a page at a time (a page itself grows
/// as a `Vec` does until full).
pub const PAGE_SLOTS: usize = 1 << PAGE_BITS;
/// Bytes of one slot: a flow and its two list links.
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// Which recency list a flow is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// Open TCP flows.
    Tcp = 0,
    /// UDP and ICMP flows.
    Udp = 1,
    /// TCP flows that closed and wait to go quiet.
    Closing = 2,
}

impl List {
    fn of(flow: &Flow) -> List {
        match (flow.closing(), flow.key.transport) {
            (Some(_), _) => List::Closing,
            (None, Transport::Tcp) => List::Tcp,
            // ICMP flows are datagrams too, and time out as UDP's do.
            (None, Transport::Udp | Transport::Icmp | Transport::Icmpv6) => List::Udp,
        }
    }
}

#[derive(Debug)]
struct Slot {
    /// The flow, or `None` for a free slot.
    flow: Option<Flow>,
    /// Neighbours on the flow's list (the free list uses `next`).
    prev: u32,
    next: u32,
}

#[derive(Debug, Clone, Copy)]
struct Ends {
    head: u32,
    tail: u32,
}

const EMPTY: Ends = Ends {
    head: NIL,
    tail: NIL,
};

/// Flows of one shard.
pub struct FlowTable {
    pages: Vec<Vec<Slot>>,
    /// Head of the free-slot list.
    free: u32,
    index: Index,
    hasher: RandomState,
    lists: [Ends; 3],
    len: usize,
    max: usize,
}

/// The 32 bits of `key`'s hash by `hasher` that a table's index keeps.
pub fn key_hash(hasher: &RandomState, key: &FlowKey) -> u32 {
    (hasher.hash_one(key) >> 32) as u32
}

fn page_of(id: FlowId) -> (usize, usize) {
    ((id >> PAGE_BITS) as usize, id as usize & (PAGE_SLOTS - 1))
}

fn slot(pages: &[Vec<Slot>], id: FlowId) -> Option<&Slot> {
    let (p, o) = page_of(id);
    pages.get(p)?.get(o)
}

fn slot_mut(pages: &mut [Vec<Slot>], id: FlowId) -> Option<&mut Slot> {
    let (p, o) = page_of(id);
    pages.get_mut(p)?.get_mut(o)
}

/// The key of the flow in slot `id` (free slots never sit in the index).
fn key_of(pages: &[Vec<Slot>], id: FlowId) -> Option<&FlowKey> {
    slot(pages, id)?.flow.as_ref().map(|f| &f.key)
}

impl FlowTable {
    /// A table holding at most `max` flows, filed by `hasher`'s hash.
    pub fn new(max: usize, hasher: RandomState) -> Self {
        FlowTable {
            pages: Vec::new(),
            free: NIL,
            index: Index::default(),
            hasher,
            lists: [EMPTY; 3],
            len: 0,
            max: max.clamp(1, NIL as usize),
        }
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes the table holds: its pages of slots and its index.
    pub fn heap_bytes(&self) -> usize {
        self.pages.iter().map(Vec::capacity).sum::<usize>() * SLOT_BYTES
            + self.pages.capacity() * std::mem::size_of::<Vec<Slot>>()
            + self.index.heap_bytes()
    }

    /// True when inserting would exceed the cap.
    pub fn full(&self) -> bool {
        self.len >= self.max
    }

    /// The slot of the flow of `key`.
    pub fn find(&self, key: &FlowKey) -> Option<FlowId> {
        self.find_hashed(key, self.hash(key))
    }

    /// The slot of the flow of `key`, whose hash ([`Self::hash`]) is known.
    pub fn find_hashed(&self, key: &FlowKey, hash: u32) -> Option<FlowId> {
        let pages = &self.pages;
        self.index.find(hash, |id| key_of(pages, id) == Some(key))
    }

    /// Asks the processor for the index bucket where a search for a key
    /// of this hash ([`Self::hash`]) starts: the first of a packet's two
    /// cache misses on a table of many flows, asked for a few packets
    /// ahead.
    pub fn prefetch_bucket(&self, hash: u32) {
        self.index.prefetch(hash);
    }

    /// Asks the processor for the slot of the first flow filed under
    /// `hash` (its bucket asked for earlier with [`Self::prefetch_bucket`]):
    /// the second miss. The key is not compared, which would wait for the
    /// slot. The slot's first bytes and its last (its links) are asked
    /// for; the processor's own prefetcher brings in what lies between.
    pub fn prefetch_slot(&self, hash: u32) {
        if let Some(s) = self.index.first(hash).and_then(|id| slot(&self.pages, id)) {
            prefetch(s);
            prefetch(&s.next);
        }
    }

    /// The 32 bits of `key`'s hash the index keeps.
    pub fn hash(&self, key: &FlowKey) -> u32 {
        key_hash(&self.hasher, key)
    }

    /// The hasher this table files flows with.
    pub fn hasher(&self) -> &RandomState {
        &self.hasher
    }

    /// The flow in slot `id`.
    pub fn get(&self, id: FlowId) -> Option<&Flow> {
        slot(&self.pages, id)?.flow.as_ref()
    }

    /// The flow in slot `id`, for update.
    pub fn get_mut(&mut self, id: FlowId) -> Option<&mut Flow> {
        slot_mut(&mut self.pages, id)?.flow.as_mut()
    }

    /// Marks the flow in slot `id` the most recently active of its list.
    pub fn touch(&mut self, id: FlowId) {
        let Some(list) = self.get(id).map(List::of) else {
            return;
        };
        if self.lists.get(list as usize).is_some_and(|e| e.tail != id) {
            self.unlink(list, id);
            self.link_back(list, id);
        }
    }

    /// Marks the flow in slot `id` closed for `reason`: it moves to the
    /// closing list, where it waits to go quiet.
    pub fn close(&mut self, id: FlowId, reason: CloseReason) {
        let Some(list) = self.get(id).map(List::of) else {
            return;
        };
        self.unlink(list, id);
        if let Some(f) = self.get_mut(id) {
            f.set_closing(reason);
        }
        self.link_back(List::Closing, id);
    }

    /// Adds a flow whose key is not tracked (the caller made room).
    #[cfg(test)]
    pub fn insert(&mut self, flow: Flow) -> FlowId {
        let hash = self.hash(&flow.key);
        self.insert_hashed(flow, hash)
    }

    /// Adds a flow whose key is not tracked and hashes to `hash`.
    pub fn insert_hashed(&mut self, flow: Flow, hash: u32) -> FlowId {
        let list = List::of(&flow);
        let id = self.take_slot(flow);
        self.index.insert(hash, id);
        self.len += 1;
        self.link_back(list, id);
        id
    }

    fn take_slot(&mut self, flow: Flow) -> FlowId {
        if let Some(s) = slot_mut(&mut self.pages, self.free) {
            let id = self.free;
            self.free = s.next;
            s.flow = Some(flow);
            return id;
        }
        if self.pages.last().is_none_or(|p| p.len() >= PAGE_SLOTS) {
            // The first page grows as a Vec does (no pointer into it is
            // kept), so a small capture holds a small table; a table past
            // it is large, and its next pages are taken whole: growing
            // them would copy every slot and touch its memory twice (the
            // pages not yet used are not resident).
            let page = if self.pages.is_empty() {
                Vec::new()
            } else {
                Vec::with_capacity(PAGE_SLOTS)
            };
            self.pages.push(page);
        }
        let page_no = self.pages.len().saturating_sub(1);
        let Some(page) = self.pages.last_mut() else {
            return NIL;
        };
        let id = ((page_no << PAGE_BITS) | page.len()) as FlowId;
        page.push(Slot {
            flow: Some(flow),
            prev: NIL,
            next: NIL,
        });
        id
    }

    /// Removes the flow in slot `id`.
    pub fn remove(&mut self, id: FlowId) -> Option<Flow> {
        let list = List::of(self.get(id)?);
        let hash = self.hash(&self.get(id)?.key);
        self.index.remove(hash, id);
        self.unlink(list, id);
        let free = self.free;
        let s = slot_mut(&mut self.pages, id)?;
        let flow = s.flow.take();
        s.next = free;
        self.free = id;
        self.len -= 1;
        flow
    }

    /// Removes the flow a full table gives up for a new one: a closed
    /// connection first (it only waits out stray packets), else the open
    /// flow quiet the longest for its kind, measured in its list's idle
    /// timeout (a UDP flow quiet for 30 s of its 60 goes before a TCP
    /// connection quiet for 100 s of its 300).
    pub fn pop_victim(
        &mut self,
        now: Micros,
        tcp_timeout: Micros,
        udp_timeout: Micros,
    ) -> Option<Flow> {
        let head = |list: List| {
            let id = self.lists.get(list as usize)?.head;
            Some((self.get(id)?.last, id))
        };
        if let Some((_, id)) = head(List::Closing) {
            return self.remove(id);
        }
        let quiet = |(last, id): (Micros, FlowId), timeout: Micros| {
            (
                u128::from(now.saturating_sub(last)),
                u128::from(timeout.max(1)),
                id,
            )
        };
        let tcp = head(List::Tcp).map(|h| quiet(h, tcp_timeout));
        let udp = head(List::Udp).map(|h| quiet(h, udp_timeout));
        let victim = match (tcp, udp) {
            // Quiet time over timeout, compared without dividing.
            (Some((a, at, ai)), Some((b, bt, bi))) => {
                if a * bt >= b * at {
                    ai
                } else {
                    bi
                }
            }
            (Some((_, _, id)), None) | (None, Some((_, _, id))) => id,
            (None, None) => return None,
        };
        self.remove(victim)
    }

    /// Removes the oldest flow of a list if it was last active at or before
    /// `cutoff`.
    pub fn pop_idle(&mut self, list: List, cutoff: Micros) -> Option<Flow> {
        let head = self.lists.get(list as usize)?.head;
        if self.get(head)?.last <= cutoff {
            self.remove(head)
        } else {
            None
        }
    }

    /// Every flow of the table, by start time (ties by key): the order
    /// flows are written at the end of input. No flow is copied: the order
    /// is sorted as start times and slot numbers (16 bytes a flow, less
    /// than the index this drops first), and each page of slots is freed
    /// as its last flow is taken, so ending a run does not double memory.
    pub fn into_start_order(self) -> StartOrder {
        let FlowTable { pages, .. } = self;
        let mut order = Vec::new();
        let mut live = Vec::with_capacity(pages.len());
        for (p, page) in pages.iter().enumerate() {
            let before = order.len();
            order.extend(page.iter().enumerate().filter_map(|(o, s)| {
                let id = ((p << PAGE_BITS) | o) as FlowId;
                s.flow.as_ref().map(|f| (f.start, id))
            }));
            live.push(order.len() - before);
        }
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| key_of(&pages, a.1).cmp(&key_of(&pages, b.1)))
        });
        StartOrder {
            pages,
            live,
            order: order.into_iter(),
        }
    }

    fn link_back(&mut self, list: List, id: FlowId) {
        let Some(ends) = self.lists.get_mut(list as usize) else {
            return;
        };
        let tail = ends.tail;
        ends.tail = id;
        if tail == NIL {
            ends.head = id;
        }
        if let Some(t) = slot_mut(&mut self.pages, tail) {
            t.next = id;
        }
        if let Some(s) = slot_mut(&mut self.pages, id) {
            s.prev = tail;
            s.next = NIL;
        }
    }

    fn unlink(&mut self, list: List, id: FlowId) {
        let Some((prev, next)) = slot(&self.pages, id).map(|s| (s.prev, s.next)) else {
            return;
        };
        let Some(ends) = self.lists.get_mut(list as usize) else {
            return;
        };
        if ends.head == id {
            ends.head = next;
        }
        if ends.tail == id {
            ends.tail = prev;
        }
        if let Some(p) = slot_mut(&mut self.pages, prev) {
            p.next = next;
        }
        if let Some(n) = slot_mut(&mut self.pages, next) {
            n.prev = prev;
        }
    }
}

/// The flows of a table being emptied, by start time (see
/// [`FlowTable::into_start_order`]).
pub struct StartOrder {
    pages: Vec<Vec<Slot>>,
    /// Flows left in each page.
    live: Vec<usize>,
    order: std::vec::IntoIter<(Micros, FlowId)>,
}

impl Iterator for StartOrder {
    type Item = Flow;

    fn next(&mut self) -> Option<Flow> {
        loop {
            let (_, id) = self.order.next()?;
            let (p, o) = page_of(id);
            let Some(flow) = self
                .pages
                .get_mut(p)
                .and_then(|page| page.get_mut(o))
                .and_then(|s| s.flow.take())
            else {
                continue;
            };
            if let Some(left) = self.live.get_mut(p) {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    if let Some(page) = self.pages.get_mut(p) {
                        *page = Vec::new();
                    }
                }
            }
            return Some(flow);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.order.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Addr;

    fn key(i: u32, t: Transport) -> FlowKey {
        FlowKey::of(
            Addr::V4(i.to_be_bytes()),
            40000,
            Addr::V4([192, 0, 2, 1]),
            80,
            t,
        )
        .0
    }

    fn flow(i: u32, t: Transport, last: Micros) -> Flow {
        let mut f = Flow::new(key(i, t), last, true, false);
        f.last = last;
        f
    }

    #[test]
    fn lists_keep_recency_and_slots_are_reused() {
        let mut t = FlowTable::new(10, RandomState::default());
        let a = t.insert(flow(1, Transport::Tcp, 10));
        let b = t.insert(flow(2, Transport::Tcp, 20));
        let c = t.insert(flow(3, Transport::Udp, 5));
        assert_eq!(t.len(), 3);
        assert_eq!(t.find(&key(2, Transport::Tcp)), Some(b));
        assert_eq!(t.find(&key(2, Transport::Udp)), None);
        // a becomes the most recent TCP flow: b is now the oldest.
        t.get_mut(a).unwrap().last = 30;
        t.touch(a);
        assert!(t.pop_idle(List::Tcp, 19).is_none());
        assert_eq!(
            t.pop_idle(List::Tcp, 20).unwrap().key,
            key(2, Transport::Tcp)
        );
        assert_eq!(t.find(&key(2, Transport::Tcp)), None);
        // At 60 s, the UDP flow (quiet 59.999995 s of its 60) goes before
        // a (quiet for less than a fifth of its 300).
        assert_eq!(
            t.pop_victim(60_000_000, 300_000_000, 60_000_000)
                .unwrap()
                .key,
            key(3, Transport::Udp)
        );
        // Freed slots are taken again, newest freed first.
        let d = t.insert(flow(4, Transport::Udp, 40));
        assert_eq!(d, c);
        let e = t.insert(flow(5, Transport::Tcp, 50));
        assert_eq!(e, b);
        assert_eq!(t.len(), 3);
        t.close(a, CloseReason::Fin);
        assert!(t.pop_idle(List::Tcp, 100).unwrap().key == key(5, Transport::Tcp));
        assert!(t.pop_idle(List::Tcp, 100).is_none());
        let closed = t.pop_idle(List::Closing, 100).unwrap();
        assert_eq!(closed.closing(), Some(CloseReason::Fin));
        assert_eq!(t.len(), 1);
        let left: Vec<_> = t.into_start_order().map(|f| f.key).collect();
        assert_eq!(left, [key(4, Transport::Udp)]);
    }

    #[test]
    fn many_flows_across_pages() {
        let n = 3 * PAGE_SLOTS as u32 + 7;
        let mut t = FlowTable::new(n as usize, RandomState::default());
        for i in 0..n {
            t.insert(flow(i, Transport::Tcp, u64::from(i)));
        }
        assert!(t.full());
        for i in (0..n).step_by(3) {
            let id = t.find(&key(i, Transport::Tcp)).unwrap();
            assert_eq!(t.remove(id).unwrap().start, u64::from(i));
        }
        for i in 0..n {
            assert_eq!(t.find(&key(i, Transport::Tcp)).is_some(), i % 3 != 0, "{i}");
        }
        // What is left expires in insertion order.
        let mut last = None;
        while let Some(f) = t.pop_idle(List::Tcp, Micros::MAX) {
            assert!(last < Some(f.start));
            assert_ne!(f.start % 3, 0);
            last = Some(f.start);
        }
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn start_order_sorts_by_start_then_key_and_frees_pages() {
        let n = 2 * PAGE_SLOTS as u32 + 100;
        let mut t = FlowTable::new(n as usize, RandomState::default());
        let mut want = Vec::new();
        for i in 0..n {
            // Starts run backwards, with runs of three equal ones whose
            // keys are inserted out of order.
            let start = u64::from((n - i) / 3);
            let k = if i % 2 == 0 { i } else { n + i };
            t.insert(flow(k, Transport::Tcp, start));
            want.push((start, key(k, Transport::Tcp)));
        }
        // A few removed (their slots stay free) and one reused.
        for i in [5u32, 6, PAGE_SLOTS as u32 + 1] {
            let k = if i % 2 == 0 { i } else { n + i };
            let id = t.find(&key(k, Transport::Tcp)).unwrap();
            t.remove(id).unwrap();
            want.retain(|w| w.1 != key(k, Transport::Tcp));
        }
        t.insert(flow(7 * n, Transport::Udp, 3));
        want.push((3, key(7 * n, Transport::Udp)));
        want.sort();
        let mut order = t.into_start_order();
        assert_eq!(order.size_hint(), (want.len(), Some(want.len())));
        let mut got = Vec::new();
        let mut held = Vec::new();
        while let Some(f) = order.next() {
            got.push((f.start, f.key));
            held.push(order.pages.iter().filter(|p| p.capacity() > 0).count());
        }
        assert_eq!(got, want);
        // The last flows (the earliest inserted, in the first page) free
        // the first page last; the third page, inserted last, goes first.
        assert_eq!(held.first(), Some(&3));
        assert_eq!(held.last(), Some(&0));
        assert!(held.windows(2).all(|w| w[1] <= w[0]));
        // The third page's 100 flows start at 0 to 33; two flows of other
        // pages start by then too.
        let third_freed = held.iter().filter(|&&h| h == 3).count() + 1;
        assert!((100..=102).contains(&third_freed), "{third_freed}");
    }
}
