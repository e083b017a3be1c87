//! `pcapgen`: a deterministic generator of classic pcap captures for
//! procflow's tests and benchmark.
//!
//! * [`scenarios()`] builds small captures, each with the flows a correct
//!   reader must report ([`ExpectedFlow`]), known by construction.
//! * [`write_bench()`] streams a large capture of mixed traffic.
//! * [`flood::write_flood()`] streams N concurrent TCP connections.
//! * The building blocks are public: [`PcapWriter`], [`Capture`] (in-memory
//!   capture with the scenario clock), [`TcpConn`] / [`UdpFlow`]
//!   (connection models that count what they emit), frame builders in
//!   [`wire`], and message builders in [`http`], [`tls`] and [`dns`].
//!
//! There is no randomness except [`rng::SplitMix64`] with fixed seeds, so
//! every output is byte-identical on every run and machine.
// All inputs of this generator are its own, so indexing and unwrap are
// used freely where a failure would be a bug in the generator itself.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

pub mod attribution;
pub mod bench;
pub mod conn;
pub mod detection;
pub mod dns;
pub mod dtls;
pub mod encap;
pub mod expected;
pub mod flood;
pub mod flood_feed;
pub mod fragments;
pub mod http;
pub mod http_encoded;
pub mod http_lenient;
pub mod http_malformed;
pub mod icmp;
pub mod line_protocols;
pub mod links;
pub mod pcap;
pub mod quic;
pub mod rng;
pub mod scenarios;
pub mod shims;
pub mod split;
pub mod suite;
pub mod tls;
pub mod tls_drafts;
pub mod wire;

pub use bench::{try_write_bench, write_bench, BenchSummary};
pub use conn::{Dir, FlowStats, SegOp, TcpConn, UdpFlow};
pub use expected::{ExpectedFlow, ExpectedHttp, ExpectedIcmp, ExpectedTls, Scenario};
pub use flood::{Flood, FloodPayload, FloodSummary};
pub use pcap::{Capture, PcapWriter, START_TIME_US};
pub use scenarios::scenarios;
pub use wire::{Link, LinkCtx};
