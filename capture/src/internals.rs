//! The engine's inner parts, reachable for the crate's own benches,
//! property tests, memory measurements and the fuzz harnesses. Not an
//! interface: anything here may change with the engine. Everything else
//! meets the engine through [`crate::Engine`], [`crate::parallel`],
//! [`crate::app::parser`] and the records.

/// Flow keys, tables and state.
pub mod flow {
    pub use crate::flow::history::History;
    pub use crate::flow::index::Index;
    pub use crate::flow::key::symmetric_hash;
    pub use crate::flow::state::{Flow, TcpState, TransportState};
    pub use crate::flow::table::{PAGE_SLOTS, SLOT_BYTES};
    pub use crate::flow::{Addr, FlowKey, Shard, Transport};
}

/// TCP reassembly.
pub mod tcp {
    pub use crate::tcp::reassembly::{Budget, Chunk, StreamCounters, StreamLimits};
    pub use crate::tcp::Stream;
}

/// The HTTP/1.x parser.
pub mod http {
    pub use crate::app::http::{
        read_back, starts_message, Http, HttpLimits, HttpTransaction, WaitingTransaction,
    };
}

/// The HTTP/2 parser.
pub mod h2 {
    pub use crate::app::h2::{H2, PREFACE};
}

/// The QUIC parser.
pub mod quic {
    pub use crate::app::quic::Quic;
}

/// The DTLS parser.
pub mod dtls {
    pub use crate::app::dtls::Dtls;
}

/// The TLS parser.
pub mod tls {
    pub use crate::app::tls::{starts_record, version_name, Tls};
}

/// Decoding's inner parts.
pub mod decode {
    /// Whether the hand-read IPv4 header of `ip`, when it takes it, reads
    /// as etherparse's lax reader reads it (the fuzz harness's oracle).
    pub fn plain_ipv4_agrees(ip: &[u8]) -> bool {
        crate::decode::plain_ipv4_agrees(ip)
    }
}
