//! Endpoint socket feeds in, flows attributed to host and process out.
//!
//! Feeds (native JSON lines, Sysmon Event ID 3 as XML or JSON, Windows
//! Security 5156, auditd, osquery) are read into one [`SocketEvent`] model;
//! sockets are indexed by 5-tuple and time; each flow record from `capture`
//! is matched to the process on either end; per-process windows aggregate
//! what each (host, image) sent and received. Nothing here knows of rules.
//!
//! Live feeds: [`listen::FeedListener`] takes events streamed by endpoint
//! agents over TCP (TLS, client certificates or a token), and
//! [`follow::FileFollower`] follows a file an agent appends to; both send
//! to a bounded channel and count what they read, drop and refuse.

pub mod event;
pub mod feed;
pub mod timestamp;

pub use event::{EventKind, Os, Process, SocketEvent, Transport};
pub mod attribute;
pub mod attributed;
pub mod attributor;
pub mod config;
pub mod follow;
pub mod hosts;
pub mod index;
pub mod listen;
pub mod live;
pub mod names;
pub mod procfs;
pub mod window;

pub use attribute::{Attribution, Quality, Side};
pub use attributed::AttributedFlow;
pub use attributor::Attributor;
pub use config::AttributionConfig;
pub use index::SocketIndex;
pub use window::{ProcessWindow, ProcessWindows};
