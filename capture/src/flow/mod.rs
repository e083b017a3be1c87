//! Flow tracking: keys, per-flow state, the bounded table and the shard that
//! owns it.

pub mod history;
pub mod index;
pub mod key;
pub mod server_ports;
pub mod shard;
pub mod state;
pub mod table;

pub use key::{Addr, FlowKey, Transport};
pub use shard::Shard;
