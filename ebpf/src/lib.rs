//! procflow's kernel socket events: eBPF programs on stable tracepoints
//! (syscalls, `sock:inet_sock_set_state`, `sched`) report which process
//! opened each TCP connection and sent each UDP socket's first datagram,
//! with the full 5-tuple, at the moment it happens; exec and fork records
//! keep each process's program known after it ends.
//!
//! The programs (bpf/sockets.bpf.c) are compiled by build.rs with clang
//! into a CO-RE object, embedded here and loaded with aya. Records come
//! through one ring buffer of a configured size; records the kernel could
//! not queue are counted there and reported by [`Probes::lost`]. Dropping
//! [`Probes`] detaches every program.

mod event;
mod processes;

pub use event::{parse, ExecRecord, Protocol, Record, RecordError, SocketKind, SocketRecord};
pub use processes::{ProcessInfo, Processes, TableStats};

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::TracePoint;
use aya::{Ebpf, EbpfLoader};
use lru::LruCache;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::time::{clock_gettime, ClockId};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The compiled programs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sockets.bpf.o"));

/// Every program and the tracepoint it attaches to.
const PROGRAMS: &[(&str, &str, &str)] = &[
    ("enter_connect", "syscalls", "sys_enter_connect"),
    ("exit_connect", "syscalls", "sys_exit_connect"),
    ("exit_accept4", "syscalls", "sys_exit_accept4"),
    ("exit_accept", "syscalls", "sys_exit_accept"),
    ("enter_sendto", "syscalls", "sys_enter_sendto"),
    ("exit_sendto", "syscalls", "sys_exit_sendto"),
    ("enter_sendmsg", "syscalls", "sys_enter_sendmsg"),
    ("exit_sendmsg", "syscalls", "sys_exit_sendmsg"),
    ("set_state", "sock", "inet_sock_set_state"),
    ("process_exec", "sched", "sched_process_exec"),
    ("process_fork", "sched", "sched_process_fork"),
];

/// Sizes of the kernel side and of the process table.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bytes of the ring buffer (rounded up to a power of two, at least a
    /// page).
    pub ring_bytes: u32,
    /// Sockets whose close the kernel watches for, and UDP sockets whose
    /// first datagram it remembers (each map; least recently used go).
    pub max_sockets: u32,
    /// Syscalls in flight at once (connect and send calls between entry
    /// and exit).
    pub max_inflight: u32,
    /// Processes whose program is remembered.
    pub max_processes: usize,
    /// The proc file system (processes that started before the programs).
    pub proc_root: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ring_bytes: 4 << 20,
            max_sockets: 65_536,
            max_inflight: 16_384,
            max_processes: 65_536,
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// Why the programs could not be loaded, in one line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The kernel has no BTF, which CO-RE needs.
    #[error("the kernel has no BTF ({0} is missing)")]
    NoBtf(String),
    /// Tracefs is not mounted and could not be.
    #[error("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: {0}")]
    Tracefs(String),
    /// Not allowed: root or CAP_BPF with CAP_PERFMON is needed.
    #[error(
        "not permitted to load eBPF programs (root, or CAP_BPF and CAP_PERFMON, is needed): {0}"
    )]
    NotPermitted(String),
    /// The kernel refused the object or a program.
    #[error("{0}")]
    Kernel(String),
}

/// What the kernel side did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeStats {
    /// Records read from the ring buffer.
    pub records: u64,
    /// Socket records among them.
    pub sockets: u64,
    /// Records that could not be read.
    pub bad_records: u64,
    /// Records the kernel could not queue (full ring buffer).
    pub lost: u64,
    /// Open sockets forgotten to stay under the cap (their close is then
    /// reported without a process).
    pub open_evicted: u64,
}

/// A socket record with its process and wall-clock time.
#[derive(Debug, Clone)]
pub struct KernelSocket {
    /// The record.
    pub record: SocketRecord,
    /// Its time, microseconds since the epoch.
    pub wall_us: u64,
    /// Its process, when known (never for a close).
    pub process: Option<Arc<ProcessInfo>>,
}

/// The loaded, attached programs and their ring buffer.
pub struct Probes {
    // Held so the programs stay attached; dropping it detaches them.
    _bpf: Ebpf,
    ring: RingBuf<MapData>,
    lost: PerCpuArray<MapData, u64>,
    /// Every process's program.
    pub processes: Processes,
    /// Open TCP sockets by (local, remote): a close, which may run in any
    /// context, is told whose socket it ends.
    open: Open,
    stats: ProbeStats,
}

/// Open TCP sockets: the record that opened each, and its process.
type Open = LruCache<(SocketAddr, SocketAddr), (SocketRecord, Option<Arc<ProcessInfo>>)>;

impl Probes {
    /// Loads and attaches every program; seeds the process table from
    /// /proc.
    pub fn load(cfg: &Config) -> Result<Probes, LoadError> {
        let btf = "/sys/kernel/btf/vmlinux";
        if !Path::new(btf).exists() {
            return Err(LoadError::NoBtf(btf.into()));
        }
        ensure_tracefs()?;
        let ring = cfg
            .ring_bytes
            .max(4096)
            .checked_next_power_of_two()
            .unwrap_or(1 << 30);
        let mut bpf = EbpfLoader::new()
            .map_max_entries("events", ring)
            .map_max_entries("tracked", cfg.max_sockets.max(1))
            .map_max_entries("udp_seen", cfg.max_sockets.max(1))
            .map_max_entries("inflight", cfg.max_inflight.max(1))
            .load(OBJECT)
            .map_err(|e| refused("loading the programs", &e))?;
        for &(name, category, point) in PROGRAMS {
            let prog: &mut TracePoint = bpf
                .program_mut(name)
                .ok_or_else(|| {
                    LoadError::Kernel(format!("program {name} missing from the object"))
                })?
                .try_into()
                .map_err(|e| refused(name, &e))?;
            prog.load().map_err(|e| refused(name, &e))?;
            prog.attach(category, point)
                .map_err(|e| refused(&format!("attaching {name} to {category}:{point}"), &e))?;
        }
        let ring = bpf
            .take_map("events")
            .ok_or_else(|| LoadError::Kernel("map events missing".into()))
            .and_then(|m| RingBuf::try_from(m).map_err(|e| refused("the ring buffer", &e)))?;
        let lost = bpf
            .take_map("lost")
            .ok_or_else(|| LoadError::Kernel("map lost missing".into()))
            .and_then(|m| PerCpuArray::try_from(m).map_err(|e| refused("the lost counter", &e)))?;
        let mut processes = Processes::new(&cfg.proc_root, cfg.max_processes);
        processes.seed();
        let cap = usize::try_from(cfg.max_sockets).unwrap_or(usize::MAX);
        Ok(Probes {
            _bpf: bpf,
            ring,
            lost,
            processes,
            open: LruCache::new(NonZeroUsize::new(cap).unwrap_or(NonZeroUsize::MIN)),
            stats: ProbeStats::default(),
        })
    }

    /// Waits up to `timeout` for records, then takes every one queued:
    /// exec and fork records update the process table, socket
    /// records go to `f` with their process. Says how many records it took.
    pub fn read(
        &mut self,
        timeout: Duration,
        f: &mut dyn FnMut(KernelSocket),
    ) -> std::io::Result<usize> {
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.ring.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let offset = wall_minus_monotonic_ns();
        let mut n = 0;
        loop {
            // The item borrows the ring: read it, then let it go.
            let parsed = match self.ring.next() {
                Some(item) => parse(&item),
                None => break,
            };
            n += 1;
            self.stats.records += 1;
            match parsed {
                Ok(r) => self.take(r, offset, f),
                Err(_) => self.stats.bad_records += 1,
            }
        }
        Ok(n)
    }

    /// One record into the process table, or out to `f`.
    fn take(&mut self, r: Record, offset: i128, f: &mut dyn FnMut(KernelSocket)) {
        let mut s = match r {
            Record::Exec(e) => return self.processes.exec(&e),
            Record::Fork { child, parent } => return self.processes.fork(child, parent),
            Record::Socket(s) => s,
        };
        self.stats.sockets += 1;
        let key = (s.local, s.remote);
        let process = match s.kind {
            SocketKind::Close => match self.open.pop(&key) {
                Some((opened, process)) => {
                    s = SocketRecord {
                        kind: SocketKind::Close,
                        ts: s.ts,
                        ..opened
                    };
                    process
                }
                None => None,
            },
            _ => {
                let process = self.processes.get(s.pid);
                let opens = s.protocol == Protocol::Tcp && s.local.port() != 0;
                if opens
                    && self
                        .open
                        .push(key, (s.clone(), process.clone()))
                        .is_some_and(|(k, _)| k != key)
                {
                    self.stats.open_evicted += 1;
                }
                process
            }
        };
        let wall_ns = i128::from(s.ts) + offset;
        f(KernelSocket {
            wall_us: u64::try_from(wall_ns / 1000).unwrap_or(0),
            record: s,
            process,
        });
    }

    /// What the kernel side did so far.
    pub fn stats(&self) -> ProbeStats {
        ProbeStats {
            lost: self.lost(),
            ..self.stats
        }
    }

    /// Records the kernel dropped at a full ring buffer, on every CPU.
    pub fn lost(&self) -> u64 {
        self.lost
            .get(&0, 0)
            .map(|per_cpu| per_cpu.iter().sum())
            .unwrap_or(0)
    }
}

/// Wall-clock time less the monotonic clock the kernel stamps with (ns).
fn wall_minus_monotonic_ns() -> i128 {
    let ns = |id| {
        clock_gettime(id)
            .map(|t| i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec()))
            .unwrap_or(0)
    };
    ns(ClockId::CLOCK_REALTIME) - ns(ClockId::CLOCK_MONOTONIC)
}

/// Mounts tracefs at /sys/kernel/tracing when none is mounted yet.
fn ensure_tracefs() -> Result<(), LoadError> {
    let mounted = std::fs::read_to_string("/proc/self/mounts")
        .map(|m| {
            m.lines()
                .any(|l| l.split_whitespace().nth(2) == Some("tracefs"))
        })
        .unwrap_or(false);
    if mounted {
        return Ok(());
    }
    match nix::mount::mount(
        Some("nodev"),
        "/sys/kernel/tracing",
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    ) {
        Ok(()) => Ok(()),
        Err(e @ nix::errno::Errno::EPERM) => Err(LoadError::NotPermitted(format!(
            "mounting tracefs at /sys/kernel/tracing: {e}"
        ))),
        Err(e) => Err(LoadError::Tracefs(e.to_string())),
    }
}

/// A loader error in one line, "not permitted" told apart.
fn refused(what: &str, e: &dyn std::error::Error) -> LoadError {
    let mut line = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        line.push_str(": ");
        line.push_str(&s.to_string());
        src = s.source();
    }
    // The verifier's log spans many lines; its first says enough.
    let line = line.lines().next().unwrap_or_default().to_string();
    if line.contains("Operation not permitted") || line.contains("EPERM") {
        LoadError::NotPermitted(format!("{what}: {line}"))
    } else {
        LoadError::Kernel(format!("{what}: {line}"))
    }
}
