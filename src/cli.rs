//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Network packet sensor: which process on which host sent this outbound
/// web traffic, how much, and is that normal here.
#[derive(Parser, Debug)]
#[command(name = "procflow", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read captures and write one JSON line per flow (HTTP and TLS included).
    Flows(FlowsArgs),
}

/// Arguments of `procflow flows`.
#[derive(Args, Debug)]
pub struct FlowsArgs {
    /// pcap or pcapng files, read one after another as one capture.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    /// Write flow records here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write the run statistics here as JSON.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// Flows tracked at once per shard; the least recently active is
    /// evicted (and counted) beyond it.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub max_flows: usize,
    /// Seconds without a packet (packet time) after which a TCP flow ends.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub tcp_timeout: u64,
    /// Seconds without a packet after which a UDP flow ends.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub udp_timeout: u64,
    /// Flow-table shards (the flows are split by a symmetric hash; the
    /// output is the same set of records for any number).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub shards: usize,
    /// Community ID seed.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub community_id_seed: u16,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}
