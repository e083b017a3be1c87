//! This host's sockets from the kernel, at the moment each opens: eBPF
//! programs on the connect, accept and send syscalls and the TCP state
//! changes (the `ebpf` crate). Every connection is known with its process
//! however short it lives; /proc polling is the fallback where eBPF cannot
//! load.

use super::local::LocalMode;
use super::{MetricsRenderer, Source, SourceEnd, SourceSpec, Start};
use crate::cli::LiveArgs;
use crate::live::metrics::Metrics;
use anyhow::{Context, Result};
use clap::Args;
use correlate::procfs::{host_name, user_names};
use correlate::{EventKind, Os, Process, SocketEvent, Transport};
use crossbeam_channel::{SendTimeoutError, Sender};
use ebpf::{KernelSocket, ProbeStats, Probes, Protocol, SocketKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The flags of the kernel source.
#[derive(Args, Debug)]
pub struct KernelArgs {
    /// eBPF ring buffer, in KiB (a power of two; records that find it
    /// full are lost and counted).
    #[arg(long, default_value_t = 4096, value_name = "KIB")]
    pub ebpf_ring_kb: u32,
    /// eBPF: sockets whose close the kernel watches, at most.
    #[arg(long, default_value_t = 65_536, value_name = "N")]
    pub ebpf_max_sockets: u32,
    /// eBPF: processes whose program is remembered after they end.
    #[arg(long, default_value_t = 65_536, value_name = "N")]
    pub ebpf_max_processes: usize,
}

/// The kernel source.
pub struct Kernel;

/// Its registration.
pub const KERNEL: Kernel = Kernel;

impl SourceSpec for Kernel {
    fn name(&self) -> &'static str {
        "ebpf"
    }

    fn start(&self, args: &LiveArgs, start: &mut Start) -> Result<Option<Box<dyn Source>>> {
        let mode = args.local.mode()?;
        if !matches!(mode, LocalMode::Ebpf | LocalMode::Auto) {
            return Ok(None);
        }
        let a = &args.kernel;
        let cfg = ebpf::Config {
            ring_bytes: a.ebpf_ring_kb.saturating_mul(1024),
            max_sockets: a.ebpf_max_sockets,
            max_inflight: 16_384,
            max_processes: a.ebpf_max_processes,
            proc_root: args.procfs.proc_root.clone(),
        };
        let probes = match Probes::load(&cfg) {
            Ok(p) => p,
            Err(e) if mode == LocalMode::Auto => {
                start.local_failed(e.to_string());
                return Ok(None);
            }
            Err(e) => anyhow::bail!("--ebpf: {e}"),
        };
        eprintln!(
            "procflow: local sockets from the kernel (eBPF: connect, accept, first datagram, close; {} processes known at start)",
            probes.processes.stats.seeded
        );
        start.claim_local("eBPF");
        let (_, tx) = start.queue();
        let shared = Arc::new(Shared::default());
        let reader = Reader {
            probes,
            tx,
            host: host_name(&args.procfs.proc_root),
            users: user_names("/etc/passwd".as_ref()),
            shared: shared.clone(),
            metrics: start.metrics().clone(),
        };
        let thread = std::thread::Builder::new()
            .name("procflow-ebpf".into())
            .spawn(move || reader.run())
            .context("cannot start the eBPF reader thread")?;
        Ok(Some(Box::new(Running { thread, shared })))
    }
}

/// What the reader thread and the rest of the run share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Socket events sent to the main thread.
    events: AtomicU64,
    /// Dropped at a full queue when the run stopped.
    dropped: AtomicU64,
    /// The kernel side's counters, updated every read.
    probes: Mutex<ProbeStats>,
}

struct Running {
    thread: JoinHandle<ebpf::TableStats>,
    shared: Arc<Shared>,
}

impl Source for Running {
    fn banner(&self) -> Option<String> {
        Some("sockets from the kernel (eBPF)".into())
    }

    fn metrics(&self) -> Option<MetricsRenderer> {
        let shared = self.shared.clone();
        Some(Box::new(move |s| render(&shared, s)))
    }

    fn stop(self: Box<Self>) -> SourceEnd {
        self.shared.stop.store(true, Relaxed);
        let table = self.thread.join().unwrap_or_default();
        let p = self.shared.probes.lock().map(|g| *g).unwrap_or_default();
        let events = self.shared.events.load(Relaxed);
        let dropped = self.shared.dropped.load(Relaxed);
        SourceEnd {
            lines: vec![format!(
                "eBPF: {} kernel records, {} socket events, {} lost in the kernel (full ring buffer), {} unreadable, {dropped} dropped at a full queue; processes: {} seeded, {} execs, {} read late from /proc, {} unknown",
                p.records, events, p.lost, p.bad_records, table.seeded, table.execs, table.from_proc, table.unknown
            )],
            stats: Some((
                "ebpf",
                serde_json::json!({
                    "records": p.records,
                    "socket_events": events,
                    "lost": p.lost,
                    "bad_records": p.bad_records,
                    "dropped": dropped,
                    "open_evicted": p.open_evicted,
                    "processes": {
                        "seeded": table.seeded,
                        "execs": table.execs,
                        "from_proc": table.from_proc,
                        "unknown": table.unknown,
                        "evicted": table.evicted,
                    },
                }),
            )),
        }
    }
}

fn render(shared: &Shared, s: &mut String) {
    let p = shared.probes.lock().map(|g| *g).unwrap_or_default();
    for (name, help, v) in [
        ("records", "Records read from the kernel.", p.records),
        (
            "lost",
            "Kernel records lost at a full eBPF ring buffer.",
            p.lost,
        ),
        (
            "bad_records",
            "Kernel records that could not be read.",
            p.bad_records,
        ),
        (
            "socket_events",
            "Socket events from the kernel.",
            shared.events.load(Relaxed),
        ),
    ] {
        s.push_str(&format!(
            "# HELP procflow_ebpf_{name}_total {help}\n# TYPE procflow_ebpf_{name}_total counter\nprocflow_ebpf_{name}_total {v}\n"
        ));
    }
}

/// The reader thread: the ring buffer into socket events.
struct Reader {
    probes: Probes,
    tx: Sender<SocketEvent>,
    host: String,
    users: HashMap<u32, String>,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
}

impl Reader {
    fn run(mut self) -> ebpf::TableStats {
        let mut batch = Vec::new();
        while !self.shared.stop.load(Relaxed) {
            let read = self
                .probes
                .read(Duration::from_millis(50), &mut |k| batch.push(k));
            if let Err(e) = read {
                eprintln!("procflow: eBPF: reading the ring buffer failed: {e}; local sockets are no longer seen");
                break;
            }
            for k in batch.drain(..) {
                let e = event(&k, &self.host, &self.users);
                if !self.send(e) {
                    self.shared.dropped.fetch_add(1, Relaxed);
                    self.metrics.feed_events_dropped.fetch_add(1, Relaxed);
                }
            }
            let stats = self.probes.stats();
            self.metrics.source_events_lost.store(stats.lost, Relaxed);
            if let Ok(mut g) = self.shared.probes.lock() {
                *g = stats;
            }
        }
        self.probes.processes.stats
    }

    /// Sends one event, waiting on a full queue while the run goes on (the
    /// ring buffer holds what comes meanwhile).
    fn send(&self, mut e: SocketEvent) -> bool {
        loop {
            match self.tx.send_timeout(e, Duration::from_millis(100)) {
                Ok(()) => {
                    self.shared.events.fetch_add(1, Relaxed);
                    return true;
                }
                Err(SendTimeoutError::Timeout(back)) if !self.shared.stop.load(Relaxed) => e = back,
                Err(_) => return false,
            }
        }
    }
}

/// A kernel socket record as a socket event of this host.
fn event(k: &KernelSocket, host: &str, users: &HashMap<u32, String>) -> SocketEvent {
    let r = &k.record;
    let info = k.process.as_deref();
    let known = r.pid != 0;
    let process = Process {
        pid: known.then_some(r.pid),
        ppid: info
            .and_then(|p| p.ppid)
            .or((r.ppid != 0).then_some(r.ppid)),
        // No executable known: the thread's name is better than nothing.
        executable: info
            .and_then(|p| p.executable.clone())
            .or_else(|| (!r.comm.is_empty()).then(|| r.comm.clone())),
        user: known.then(|| {
            users
                .get(&r.uid)
                .cloned()
                .unwrap_or_else(|| r.uid.to_string())
        }),
        cmdline: info.and_then(|p| p.cmdline.clone()),
        exe_deleted: r.exe_deleted || info.is_some_and(|p| p.deleted),
        netns: (r.netns != 0).then_some(r.netns),
        cgroup_id: (r.cgroup != 0).then_some(r.cgroup),
        ..Process::default()
    };
    SocketEvent {
        ts: k.wall_us,
        host: host.to_string(),
        host_ip: None,
        os: Some(Os::Linux),
        kind: match r.kind {
            SocketKind::Connect | SocketKind::Datagram => EventKind::Connect,
            SocketKind::Accept => EventKind::Accept,
            SocketKind::Close => EventKind::Close,
        },
        proto: Some(match r.protocol {
            Protocol::Tcp => Transport::Tcp,
            Protocol::Udp => Transport::Udp,
        }),
        local_ip: Some(r.local.ip()),
        local_port: (r.local.port() != 0).then_some(r.local.port()),
        remote_ip: r.remote.ip(),
        remote_port: r.remote.port(),
        process: Arc::new(process),
    }
}
