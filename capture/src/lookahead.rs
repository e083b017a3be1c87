//! Looking a few packets ahead: on a table of many flows, a packet's index
//! bucket and its flow's slot are each a cache miss, and tracking waits on
//! both. An engine that holds the next packets decoded asks for them
//! early: the bucket [`BUCKET_AHEAD`] packets before the packet is
//! tracked, then the slot [`SLOT_AHEAD`] packets before (the bucket in
//! cache by then says which slot). Both are hints: a packet tracked
//! without them is tracked the same.

use crate::decode::Packet;
use crate::flow::{FlowKey, Shard};

/// How many packets ahead of the one tracked its flow's index bucket is
/// asked for.
pub const BUCKET_AHEAD: usize = 16;
/// How many packets ahead its flow's slot is asked for.
pub const SLOT_AHEAD: usize = 8;
/// Packets whose flow's place is being asked for, as a ring: more than
/// `BUCKET_AHEAD`, a power of two.
pub const RING: usize = 32;

/// Where a packet will be looked up: its shard and the hash its table
/// files it under.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hint {
    shard: u32,
    hash: u32,
    some: bool,
}

impl Hint {
    /// The shard (of `shards`, picked as the engine picks it) and hash of
    /// `pkt`'s flow; it asks that shard for the flow's index bucket.
    pub fn bucket(shards: &[Shard], pkt: &Packet<'_>) -> Hint {
        let (key, _) = FlowKey::of(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.transport);
        let idx = match shards.len() {
            0 | 1 => 0,
            n => (key.shard_hash() % n as u64) as usize,
        };
        let Some(shard) = shards.get(idx) else {
            return Hint::default();
        };
        let hash = shard.hash(&key);
        shard.prefetch(hash, false);
        Hint {
            shard: idx as u32,
            hash,
            some: true,
        }
    }

    /// Asks the shard for the flow's slot.
    pub fn slot(self, shards: &[Shard]) {
        if let Some(s) = shards.get(self.shard as usize).filter(|_| self.some) {
            s.prefetch(self.hash, true);
        }
    }
}
