//! Limits and timeouts of flow tracking. Every table and buffer is capped
//! here; what a cap turns away is counted in [`crate::Stats`].

use crate::time::{Micros, SECOND};

/// Flow tracking configuration.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// Flows tracked at once per shard; the least recently active flow is
    /// evicted (and emitted with reason `evicted`) to make room.
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
    /// Out-of-order bytes held by all flows of one shard together.
    pub max_ooo_bytes_per_shard: usize,
    /// HTTP transactions recorded per flow (bytes keep counting past it).
    pub max_http_transactions: usize,
    /// Bytes of one HTTP header block buffered while incomplete.
    pub max_http_header_bytes: usize,
    /// Bytes of a TLS hello buffered while incomplete.
    pub max_tls_hello_bytes: usize,
    /// Longest string kept from a header (URI, Host, User-Agent...).
    pub max_field_len: usize,
    /// Community ID seed (0 unless the deployment uses another).
    pub community_id_seed: u16,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 1_000_000,
            tcp_idle_timeout: 300 * SECOND,
            udp_idle_timeout: 60 * SECOND,
            closed_timeout: 60 * SECOND,
            max_ooo_bytes_per_stream: 1 << 20,
            max_ooo_segments_per_stream: 256,
            max_ooo_bytes_per_shard: 256 << 20,
            max_http_transactions: 512,
            max_http_header_bytes: 32 << 10,
            max_tls_hello_bytes: 64 << 10,
            max_field_len: 2048,
            community_id_seed: 0,
        }
    }
}
