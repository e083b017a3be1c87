//! Where this host's own sockets come from: the kernel (eBPF), /proc
//! polling, or nowhere (a sensor on a SPAN port sees other hosts).
//! `--local-sockets auto` takes the kernel and falls back to /proc where
//! eBPF cannot load, saying which and why in one line.

use anyhow::Result;
use clap::{Args, ValueEnum};

/// How this host's sockets are learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LocalMode {
    /// The kernel's events where eBPF loads, else /proc polling.
    Auto,
    /// The kernel's events at connect and accept time (eBPF); the run
    /// fails if they cannot be had.
    Ebpf,
    /// /proc polled every few milliseconds (misses short connections).
    Procfs,
    /// None: only feeds attribute flows.
    Off,
}

/// The flags that choose it.
#[derive(Args, Debug)]
pub struct LocalArgs {
    /// Attribute this host's own connections: auto (eBPF, else /proc),
    /// ebpf, procfs or off.
    #[arg(long, value_enum, value_name = "MODE")]
    pub local_sockets: Option<LocalMode>,
    /// Attribute this host's own connections from the kernel (eBPF): the
    /// same as --local-sockets ebpf.
    #[arg(long, conflicts_with_all = ["procfs", "local_sockets"])]
    pub ebpf: bool,
    /// Attribute this host's own connections from /proc (sidecar mode):
    /// the same as --local-sockets procfs.
    #[arg(long, conflicts_with = "local_sockets")]
    pub procfs: bool,
}

impl LocalArgs {
    /// The mode the flags ask for.
    pub fn mode(&self) -> Result<LocalMode> {
        Ok(match (self.local_sockets, self.ebpf, self.procfs) {
            (Some(m), false, false) => m,
            (None, true, false) => LocalMode::Ebpf,
            (None, false, true) => LocalMode::Procfs,
            (None, false, false) => LocalMode::Off,
            _ => anyhow::bail!("--local-sockets, --ebpf and --procfs choose one source: give one"),
        })
    }
}
