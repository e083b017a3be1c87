//! The fleet's event transport on NATS JetStream. A sensor publishes its
//! flow records, process windows and alerts through a disk spool
//! ([`spool`], [`publish`]): at least once, each message named so that a
//! resend is stored once, and a server that is slow or away costs spool
//! space, capped and counted, never a silent loss. [`consume`] reads a
//! stream back. The async client runs on a thread of its own; the rest of
//! procflow stays synchronous.

pub mod connect;
pub mod consume;
pub mod publish;
pub mod spool;

pub use connect::Server;
pub use publish::{Kind, PublishConfig, PublishEnd, Publisher};
