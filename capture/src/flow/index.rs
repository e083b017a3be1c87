//! The flow table's index: slot numbers filed under 32 bits of their
//! key's hash, in one array searched by linear probing.
//!
//! A hash map would do, but on a busy link the index is where a packet's
//! first cache miss happens, and a map does not say where it will look.
//! This one does ([`Index::prefetch`]): the engine asks for a packet's
//! bucket a few packets ahead, and by the time the packet is tracked its
//! bucket is in cache. The array is at most 7/8 full, the memory of a
//! hash map's index (at 3/4 a search for a new flow is shorter: 5 % faster
//! on a flood whose table sits between the two, for 9 more bytes a flow
//! there); a removal shifts the entries after it back (no tombstones), and
//! growing refiles entries by the hash they keep, without reading a slot.

use crate::prefetch::prefetch;

/// An empty bucket's slot number.
const EMPTY: u32 = u32::MAX;
/// Buckets of the first array.
const FIRST: usize = 16;

/// One bucket: a slot number and the hash its key was filed under.
#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u32,
    hash: u32,
}

const VACANT: Entry = Entry { id: EMPTY, hash: 0 };

/// Slot numbers by hash.
#[derive(Debug, Default)]
pub struct Index {
    /// A power of two of buckets, or none before the first insert.
    buckets: Vec<Entry>,
    len: usize,
}

impl Index {
    /// Entries filed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes of the array.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Entry>()
    }

    /// Heap bytes of an index holding `n` entries, grown one at a time.
    pub fn bytes_for(n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let mut buckets = FIRST;
        while n * 8 > buckets * 7 {
            buckets *= 2;
        }
        buckets * std::mem::size_of::<Entry>()
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// Asks the processor to bring in the bucket where a search for `hash`
    /// starts.
    pub fn prefetch(&self, hash: u32) {
        if let Some(e) = self.buckets.get(hash as usize & self.mask()) {
            prefetch(e);
        }
    }

    /// The first slot filed under `hash` that `is` accepts.
    pub fn find(&self, hash: u32, mut is: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.mask();
        let mut at = hash as usize & mask;
        // The array always has an empty bucket; the bound is for safety.
        for _ in 0..self.buckets.len() {
            let e = *self.buckets.get(at)?;
            if e.id == EMPTY {
                return None;
            }
            if e.hash == hash && is(e.id) {
                return Some(e.id);
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// The first slot filed under `hash`, whatever its key: where a
    /// search would look first.
    pub fn first(&self, hash: u32) -> Option<u32> {
        self.find(hash, |_| true)
    }

    /// Files `id` under `hash` (the caller knows it is not filed).
    pub fn insert(&mut self, hash: u32, id: u32) {
        if (self.len + 1) * 8 > self.buckets.len() * 7 {
            self.grow();
        }
        let mask = self.mask();
        let mut at = hash as usize & mask;
        while let Some(e) = self.buckets.get_mut(at) {
            if e.id == EMPTY {
                *e = Entry { id, hash };
                self.len += 1;
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Takes `id`, filed under `hash`, out; true if it was there.
    pub fn remove(&mut self, hash: u32, id: u32) -> bool {
        let mask = self.mask();
        let mut at = hash as usize & mask;
        loop {
            match self.buckets.get(at) {
                Some(e) if e.id == id => break,
                Some(e) if e.id != EMPTY => at = (at + 1) & mask,
                _ => return false,
            }
        }
        self.len -= 1;
        // Close the hole: each entry after it that may sit in the hole
        // (its home bucket is not between the hole and it) moves back.
        let mut hole = at;
        let mut next = (at + 1) & mask;
        while let Some(&e) = self.buckets.get(next) {
            if e.id == EMPTY {
                break;
            }
            let home = e.hash as usize & mask;
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                if let Some(h) = self.buckets.get_mut(hole) {
                    *h = e;
                }
                hole = next;
            }
            next = (next + 1) & mask;
        }
        if let Some(h) = self.buckets.get_mut(hole) {
            *h = VACANT;
        }
        true
    }

    /// Doubles the array, refiling every entry by its hash.
    fn grow(&mut self) {
        let size = (self.buckets.len() * 2).max(FIRST);
        let old = std::mem::replace(&mut self.buckets, vec![VACANT; size]);
        self.len = 0;
        for e in old.into_iter().filter(|e| e.id != EMPTY) {
            self.insert(e.hash, e.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A small generator, so that the test needs no crate.
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Inserts and removes, with hashes crowded into few buckets, agree
    /// with a map at every step, and every entry stays findable.
    #[test]
    fn agrees_with_a_map_through_inserts_and_removes() {
        let mut index = Index::default();
        let mut model: HashMap<u32, u32> = HashMap::new();
        let mut x = 0x9e37_79b9_7f4a_7c15;
        for step in 0..200_000u32 {
            let r = next(&mut x);
            // Few distinct hashes, so that runs collide and wrap.
            let hash = (r >> 40) as u32 % 512 * 0x0101;
            if r.is_multiple_of(3) && !model.is_empty() {
                let victim = *model.keys().nth((r >> 8) as usize % model.len()).unwrap();
                let h = model.remove(&victim).unwrap();
                assert!(index.remove(h, victim), "step {step}");
                assert!(!index.remove(h, victim));
            } else {
                index.insert(hash, step);
                model.insert(step, hash);
            }
            assert_eq!(index.len(), model.len());
            if step.is_multiple_of(4096) {
                for (&id, &h) in &model {
                    assert_eq!(index.find(h, |i| i == id), Some(id), "step {step}");
                }
            }
        }
        for (&id, &h) in &model {
            assert_eq!(index.find(h, |i| i == id), Some(id));
        }
        assert_eq!(index.find(7, |_| true), None);
    }

    /// The array is a power of two at most 7/8 full, as
    /// `bytes_for` says.
    #[test]
    fn grows_as_bytes_for_says() {
        let mut index = Index::default();
        assert_eq!(index.heap_bytes(), Index::bytes_for(0));
        for n in 1..5000u32 {
            index.insert(n.wrapping_mul(0x9e37_79b9), n);
            assert_eq!(index.heap_bytes(), Index::bytes_for(n as usize), "{n}");
        }
        assert_eq!(Index::bytes_for(14), 16 * 8);
        assert_eq!(Index::bytes_for(15), 32 * 8);
    }
}
