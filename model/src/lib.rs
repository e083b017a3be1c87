//! procflow's data model: the types every stage shares, with no I/O and no
//! heavy dependencies.
//!
//! - [`flow`]: the flow record the capture engine writes (with its HTTP
//!   transactions and TLS facts);
//! - [`window`]: a process's traffic in one window of packet time, what the
//!   rules judge;
//! - [`traffic`]: the counters destinations, windows and rules sum, and a
//!   flow's request and response volume;
//! - [`time`]: packet time and its RFC 3339 form;
//! - [`json`]: the allocation-light JSON object writer records use;
//! - [`image`]: the executable key prevalence is counted by.

pub mod beacon;
pub mod flow;
pub mod image;
pub mod json;
pub mod time;
pub mod traffic;
pub mod window;

pub use flow::FlowRecord;
pub use traffic::Traffic;
pub use window::{Destination, ProcessWindow};
