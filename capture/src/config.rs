//! Limits and timeouts of flow tracking. Every table and buffer is capped
//! here; what a cap turns away is counted in [`crate::Stats`].

use crate::app::parser::ParserSpec;
use crate::app::registry::BUILTIN;
use crate::decode::Tunnels;
use crate::time::{Micros, SECOND};

/// Flow tracking configuration.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// Flows tracked at once by the whole engine, whatever its number of
    /// shards or workers: each shard holds its share ([`FlowConfig::share`]),
    /// and beyond it its least recently active flow is evicted (and
    /// emitted with reason `evicted`) to make room.
    pub max_flows: usize,
    /// A TCP flow with no packet for this long (packet time) is closed.
    pub tcp_idle_timeout: Micros,
    /// A UDP flow with no packet for this long is closed.
    pub udp_idle_timeout: Micros,
    /// After FIN both ways or a RST, the flow is emitted once it has been
    /// quiet this long, so trailing ACKs and retransmitted FINs (which back
    /// off up to about a minute) still count. Suricata's default is the same.
    pub closed_timeout: Micros,
    /// Out-of-order bytes held per TCP direction.
    pub max_ooo_bytes_per_stream: usize,
    /// Out-of-order segments held per TCP direction.
    pub max_ooo_segments_per_stream: usize,
    /// Out-of-order bytes held by all flows together (each shard holds its
    /// share).
    pub max_ooo_bytes: usize,
    /// HTTP transactions recorded per flow (bytes keep counting past it).
    pub max_http_transactions: usize,
    /// Bytes of one HTTP header block buffered while incomplete.
    pub max_http_header_bytes: usize,
    /// Bytes of a TLS hello buffered while incomplete.
    pub max_tls_hello_bytes: usize,
    /// Longest string kept from a header (URI, Host, User-Agent...).
    pub max_field_len: usize,
    /// Content-Encoded HTTP bodies decoded at once by the whole process,
    /// to count their decoded length (about 43 KiB each while one is read;
    /// 0 decodes none). Not split among shards: the decoders are drawn
    /// from one count, so when more bodies than this are encoded at once,
    /// which ones wait (counted, `http_bodies_not_decoded`) can depend on
    /// how the threads run.
    pub max_body_decoders: usize,
    /// Community ID seed (0 unless the deployment uses another).
    pub community_id_seed: u16,
    /// Application-protocol parsers, in probing order
    /// ([`crate::app::registry::BUILTIN`] unless a caller adds its own).
    pub parsers: &'static [ParserSpec],
    /// The tunnels packets are followed into, and how deep.
    pub tunnels: Tunnels,
    /// IP fragment reassembly: what the whole engine may hold (one
    /// reassembler, on the reading thread).
    pub defrag: crate::defrag::DefragConfig,
}

/// The HTTP limits a default configuration gives (packed HTTP connections
/// with these limits leave them out of their packing).
pub const DEFAULT_HTTP_LIMITS: crate::app::http::HttpLimits = crate::app::http::HttpLimits {
    max_transactions: 512,
    max_header_bytes: 32 << 10,
    max_field_len: 2048,
};

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 1_000_000,
            tcp_idle_timeout: 300 * SECOND,
            udp_idle_timeout: 60 * SECOND,
            closed_timeout: 60 * SECOND,
            max_ooo_bytes_per_stream: 1 << 20,
            max_ooo_segments_per_stream: 256,
            max_ooo_bytes: 256 << 20,
            max_http_transactions: DEFAULT_HTTP_LIMITS.max_transactions,
            max_http_header_bytes: DEFAULT_HTTP_LIMITS.max_header_bytes,
            max_tls_hello_bytes: 64 << 10,
            max_field_len: DEFAULT_HTTP_LIMITS.max_field_len,
            max_body_decoders: crate::app::http::DEFAULT_MAX_DECODERS,
            community_id_seed: 0,
            parsers: BUILTIN,
            tunnels: Tunnels::default(),
            defrag: crate::defrag::DefragConfig::default(),
        }
    }
}

impl FlowConfig {
    /// The configuration of shard `i` of `shards`: the engine-wide caps
    /// (`max_flows`, `max_ooo_bytes`) split as evenly as integers allow, so
    /// the shards together hold no more than the caps say. Each shard is
    /// split a fixed share rather than drawing on one shared count so that
    /// the hot path stays free of shared state and which flow is evicted
    /// does not depend on how the threads happen to run. A shard holds at
    /// least one flow, so a cap below the number of shards is raised to it.
    pub fn share(&self, i: usize, shards: usize) -> FlowConfig {
        let split = |total: usize| {
            let n = shards.max(1);
            total / n + usize::from(i < total % n)
        };
        FlowConfig {
            max_flows: split(self.max_flows).max(1),
            max_ooo_bytes: split(self.max_ooo_bytes),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FlowConfig;

    #[test]
    fn shares_add_up_to_the_caps() {
        let cfg = FlowConfig {
            max_flows: 1_000_001,
            max_ooo_bytes: 7,
            ..FlowConfig::default()
        };
        let shares: Vec<_> = (0..3).map(|i| cfg.share(i, 3)).collect();
        let flows: Vec<_> = shares.iter().map(|c| c.max_flows).collect();
        let ooo: Vec<_> = shares.iter().map(|c| c.max_ooo_bytes).collect();
        assert_eq!(flows, [333_334, 333_334, 333_333]);
        assert_eq!(ooo, [3, 2, 2]);
        assert_eq!(cfg.share(0, 1).max_flows, 1_000_001);
        assert_eq!(cfg.share(0, 0).max_flows, 1_000_001);
        let tiny = FlowConfig {
            max_flows: 1,
            ..FlowConfig::default()
        };
        assert_eq!(tiny.share(1, 2).max_flows, 1);
        assert_eq!(tiny.share(0, 2).tcp_idle_timeout, tiny.tcp_idle_timeout);
    }
}
