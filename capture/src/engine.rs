//! The packet path without threads: decode, pick the shard by the flow's
//! symmetric hash, hand the packet to it. The threaded pipeline runs the
//! same shards, one per worker.

use crate::config::FlowConfig;
use crate::decode::{decode, LinkType};
use crate::flow::{FlowKey, Shard};
use crate::record::FlowRecord;
use crate::stats::Stats;
use crate::time::{Micros, SECOND};

/// Decoder plus shards.
pub struct Engine {
    shards: Vec<Shard>,
    /// Frame-level counters (read, decode failures, truncation).
    frames: Stats,
    /// Latest packet time.
    now: Micros,
    /// When every shard's clock is next brought up to `now`.
    next_sync: Micros,
}

impl Engine {
    /// An engine with `shards` shards (at least one), owning
    /// `cfg.max_flows` flows at most together (each its share).
    pub fn new(cfg: FlowConfig, shards: usize) -> Self {
        let n = shards.max(1);
        let shards = (0..n).map(|i| Shard::new(cfg.share(i, n))).collect();
        Engine {
            shards,
            frames: Stats::default(),
            now: 0,
            next_sync: 0,
        }
    }

    /// Processes one captured frame; `wire_len` is its length on the wire.
    pub fn process_frame(
        &mut self,
        link: LinkType,
        ts: Micros,
        frame: &[u8],
        wire_len: u32,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        self.frames.packets += 1;
        self.frames.bytes += frame.len() as u64;
        if (frame.len() as u64) < u64::from(wire_len) {
            self.frames.truncated_packets += 1;
        }
        if ts > self.now {
            self.now = ts;
            if ts >= self.next_sync && self.shards.len() > 1 {
                // Once a second of packet time, shards that saw no packet
                // lately end their idle flows too.
                for shard in &mut self.shards {
                    shard.advance(ts, out);
                }
                self.next_sync = ts.saturating_add(SECOND);
            }
        }
        match decode(link, frame) {
            Ok(pkt) => {
                let n = self.shards.len() as u64;
                let idx = if n == 1 {
                    0
                } else {
                    let (key, _) =
                        FlowKey::of(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.transport);
                    (key.shard_hash() % n) as usize
                };
                if let Some(shard) = self.shards.get_mut(idx) {
                    shard.process(&pkt, ts, frame.len() as u32, out);
                }
            }
            Err(e) => self.frames.decode_errors.add(e),
        }
    }

    /// Packet time up to which every flow due to end has been handed out.
    pub fn watermark(&self) -> Micros {
        self.now
    }

    /// Writes out every flow still open.
    pub fn finish(&mut self, out: &mut dyn FnMut(FlowRecord)) {
        for shard in &mut self.shards {
            shard.finish(out);
        }
    }

    /// Counters of the whole engine.
    pub fn stats(&self) -> Stats {
        let mut total = self.frames.clone();
        for s in &self.shards {
            total.merge(&s.stats);
        }
        total
    }

    /// Heap bytes the flow tables hold now (slots and index), all shards
    /// together.
    pub fn table_bytes(&self) -> usize {
        self.shards.iter().map(Shard::table_bytes).sum()
    }

    /// Flows tracked now, all shards together.
    pub fn flows(&self) -> usize {
        self.shards.iter().map(Shard::flows).sum()
    }
}
