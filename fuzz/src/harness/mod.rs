//! What each fuzz target does with its input, and the oracles it checks.
//!
//! The fuzz targets (`fuzz_targets/`, nightly, libFuzzer) and the stable
//! replay test (`tests/fuzz_replay.rs` of the workspace) call the same
//! functions, so an input found by the fuzzer replays through exactly the
//! same path in `cargo test`. A failed oracle panics: that is the finding.

pub mod baseline;
pub mod capture_file;
pub mod config;
pub mod decode;
pub mod dtls;
pub mod feed;
pub mod h2;
pub mod http;
pub mod listen;
pub mod quic;
pub mod scratch;
pub mod split;
pub mod tls;

/// A fuzz target: its name (the file under `fuzz_targets/`) and its entry.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("capture_file", capture_file::run),
    ("decode", decode::run),
    ("http", http::run),
    ("h2", h2::run),
    ("tls", tls::run),
    ("quic", quic::run),
    ("dtls", dtls::run),
    ("feed", feed::run),
    ("config", config::run),
    ("baseline", baseline::run),
    ("listen", listen::run),
];
