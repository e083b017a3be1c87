//! Looking a few packets ahead: on a table of many flows, a packet's index
//! bucket and its flow's slot are each a cache miss, and tracking waits on
//! both. An engine that holds the next packets decoded asks for them
//! early: the bucket [`BUCKET_AHEAD`] packets before the packet is
//! tracked, then the slot [`SLOT_AHEAD`] packets before (the bucket in
//! cache by then says which slot). Both are hints: a packet tracked
//! without them is tracked the same. Where a packet's flow is filed (its
//! [`Hint`]) is worked out where the frame is decoded ahead, on the
//! reading thread ([`Placement`]).

use crate::decode::Packet;
use crate::flow::table::key_hash;
use crate::flow::{FlowKey, Shard};
use foldhash::quality::RandomState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Flows an engine's shards track together before the engine has its
/// packets placed ahead and their flows asked for: about 2 MiB of slots,
/// a core's own cache. Below that the table stays in cache, and placing
/// and asking only cost (on the reference capture, 3,200 flows at most,
/// 7 % of the run on two cores).
pub const PLACE_FROM: usize = 8192;

/// Shards an engine has at most: a packet's [`Hint`] names its shard in
/// 16 bits.
pub const MAX_SHARDS: usize = u16::MAX as usize;

/// How many packets ahead of the one tracked its flow's index bucket is
/// asked for.
pub const BUCKET_AHEAD: usize = 16;
/// How many packets ahead its flow's slot is asked for.
pub const SLOT_AHEAD: usize = 8;

/// How an engine places a flow: the shard it belongs to and the hash that
/// shard's table files it under. Every shard of an engine hashes with the
/// same seeded hasher, so the place can be worked out on another thread
/// (the one decoding frames ahead), and tracking need not hash again.
#[derive(Debug, Clone)]
pub struct Placement {
    hasher: RandomState,
    shards: usize,
    /// Set by the engine while its table is large enough to gain from
    /// placing ([`PLACE_FROM`]); the thread decoding ahead reads it once
    /// a block.
    wanted: Arc<AtomicBool>,
    /// Flows from which placing is wanted.
    from: usize,
}

impl Default for Placement {
    /// One shard's placement, with a fresh seed.
    fn default() -> Self {
        Placement::new(1)
    }
}

impl Placement {
    /// Places flows among `shards` shards (1 to [`MAX_SHARDS`]), with a
    /// fresh seed.
    pub fn new(shards: usize) -> Self {
        Placement {
            hasher: RandomState::default(),
            shards: shards.clamp(1, MAX_SHARDS),
            wanted: Arc::default(),
            from: PLACE_FROM,
        }
    }

    /// Places packets from `flows` tracked flows on instead of
    /// [`PLACE_FROM`] (0: always).
    pub fn placing_from(mut self, flows: usize) -> Self {
        self.from = flows;
        self
    }

    /// Whether the engine wants its packets placed now.
    pub fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed)
    }

    /// Says whether the engine, tracking `flows` flows, wants its packets
    /// placed: from [`PLACE_FROM`] flows on, and until it tracks half as
    /// many (so that a table about that size does not switch at every
    /// block).
    pub fn track(&self, flows: usize) {
        let wanted = self.wanted();
        if !wanted && flows >= self.from {
            self.wanted.store(true, Ordering::Relaxed);
        } else if wanted && flows < self.from / 2 {
            self.wanted.store(false, Ordering::Relaxed);
        }
    }

    /// The hasher every shard's table files its flows with.
    pub fn hasher(&self) -> &RandomState {
        &self.hasher
    }

    /// Where the flow of `pkt` is filed.
    pub fn of(&self, pkt: &Packet<'_>) -> Hint {
        let (key, _) = FlowKey::of(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.transport);
        Hint {
            // At most MAX_SHARDS shards: the number fits.
            shard: key.shard(self.shards) as u16,
            hash: key_hash(&self.hasher, &key),
            some: true,
        }
    }
}

/// Where a packet's flow is filed: its shard and the hash its table files
/// it under; none for a frame that is no flow's packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hint {
    shard: u16,
    hash: u32,
    some: bool,
}

impl Hint {
    /// The shard and the hash, if this names a flow.
    pub fn get(self) -> Option<(usize, u32)> {
        self.some.then_some((self.shard as usize, self.hash))
    }

    /// Asks the flow's shard of `shards` for its index bucket.
    pub fn bucket(self, shards: &[Shard]) {
        self.ask(shards, false);
    }

    /// Asks the flow's shard of `shards` for its slot.
    pub fn slot(self, shards: &[Shard]) {
        self.ask(shards, true);
    }

    fn ask(self, shards: &[Shard], slot: bool) {
        if let Some(s) = self.get().and_then(|(i, _)| shards.get(i)) {
            s.prefetch(self.hash, slot);
        }
    }
}
