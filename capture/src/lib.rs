//! procflow capture: packets in, flow records out.
//!
//! The crate turns captured frames into [`FlowRecord`]s: it decodes the link,
//! IP and transport layers ([`decode`]), tracks flows in bounded tables owned
//! by one shard each, reassembles TCP per direction and parses HTTP/1.x
//! and TLS on the reassembled streams with the parsers registered in
//! [`app`]. Decoding is
//! pure (bytes and a timestamp in); libpcap sits at the edge in [`source`].
//!
//! ```
//! use capture::{decode::LinkType, Engine, FlowConfig, PacketEngine};
//!
//! let mut engine = Engine::new(FlowConfig::default(), 1);
//! let mut records = Vec::new();
//! // An Ethernet frame too short to hold anything is counted, not fatal.
//! engine.process_frame(LinkType::Ethernet, 1_000_000, &[0u8; 6], 6, &mut |r| records.push(r));
//! engine.finish(&mut |r| records.push(r));
//! assert!(records.is_empty());
//! assert_eq!(engine.stats().decode_errors.total(), 1);
//! ```

pub mod app;
pub mod community_id;
pub mod config;
pub mod decode;
pub mod defrag;
pub mod engine;
pub mod file;
pub(crate) mod flow;
#[doc(hidden)]
pub mod internals;
pub mod lookahead;
pub mod packets;
pub mod parallel;
pub(crate) mod prefetch;
pub mod prescan;
pub mod record;
pub mod source;
pub mod stats;
pub(crate) mod tcp;

#[cfg(test)]
mod test_captures;

pub use model::{json, time};

pub use config::FlowConfig;
pub use engine::Engine;
pub use packets::PacketEngine;
pub use record::FlowRecord;
pub use stats::Stats;
