//! The bounded flow table of one shard: least-recently-active order per
//! transport, so idle expiry only ever looks at flows that are due.

use super::key::{FlowKey, Transport};
use super::state::Flow;
use crate::time::Micros;
use lru::LruCache;

type Map = LruCache<FlowKey, Flow, foldhash::quality::RandomState>;

/// Flows of one shard. TCP and UDP sit in separate recency lists because
/// their idle timeouts differ: the oldest flow of each list is always the
/// next to expire.
pub struct FlowTable {
    tcp: Map,
    udp: Map,
    max: usize,
}

impl FlowTable {
    /// A table holding at most `max` flows.
    pub fn new(max: usize) -> Self {
        FlowTable {
            tcp: LruCache::unbounded_with_hasher(foldhash::quality::RandomState::default()),
            udp: LruCache::unbounded_with_hasher(foldhash::quality::RandomState::default()),
            max: max.max(1),
        }
    }

    fn map(&mut self, t: Transport) -> &mut Map {
        match t {
            Transport::Tcp => &mut self.tcp,
            Transport::Udp => &mut self.udp,
        }
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.tcp.len() + self.udp.len()
    }

    /// True when no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when inserting would exceed the cap.
    pub fn full(&self) -> bool {
        self.len() >= self.max
    }

    /// Looks a flow up and marks it most recently active.
    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Flow> {
        self.map(key.transport).get_mut(key)
    }

    /// Looks a flow up without touching its recency.
    pub fn peek(&self, key: &FlowKey) -> Option<&Flow> {
        match key.transport {
            Transport::Tcp => self.tcp.peek(key),
            Transport::Udp => self.udp.peek(key),
        }
    }

    /// Adds a flow (the caller made room).
    pub fn insert(&mut self, flow: Flow) {
        let key = flow.key;
        self.map(key.transport).put(key, flow);
    }

    /// Removes a flow.
    pub fn remove(&mut self, key: &FlowKey) -> Option<Flow> {
        self.map(key.transport).pop(key)
    }

    /// Removes the least recently active flow of either list.
    pub fn pop_oldest(&mut self) -> Option<Flow> {
        let t = self.tcp.peek_lru().map(|(_, f)| f.last);
        let u = self.udp.peek_lru().map(|(_, f)| f.last);
        let from_tcp = match (t, u) {
            (Some(t), Some(u)) => t <= u,
            (Some(_), None) => true,
            _ => false,
        };
        let map = if from_tcp {
            &mut self.tcp
        } else {
            &mut self.udp
        };
        map.pop_lru().map(|(_, f)| f)
    }

    /// Removes the oldest flow of a transport if it was last active at or
    /// before `cutoff`.
    pub fn pop_idle(&mut self, t: Transport, cutoff: Micros) -> Option<Flow> {
        let map = self.map(t);
        match map.peek_lru() {
            Some((_, f)) if f.last <= cutoff => map.pop_lru().map(|(_, f)| f),
            _ => None,
        }
    }

    /// Removes every flow.
    pub fn drain(&mut self) -> Vec<Flow> {
        let mut all = Vec::with_capacity(self.len());
        while let Some((_, f)) = self.tcp.pop_lru() {
            all.push(f);
        }
        while let Some((_, f)) = self.udp.pop_lru() {
            all.push(f);
        }
        all
    }
}
