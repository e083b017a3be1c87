//! Sidecar attribution: this host's own sockets, read from /proc every few
//! milliseconds and at once when capture sees a connection open. A socket
//! that closed stays in the socket index (its interval ends), so a
//! connection that lived 50 ms is still attributed when its flow ends.

use super::local::LocalMode;
use super::{Source, SourceEnd, SourceSpec, Start};
use crate::cli::LiveArgs;
use crate::live::metrics::Metrics;
use anyhow::{Context, Result};
use clap::Args;
use correlate::procfs::{host_name, user_names, Poller};
use correlate::SocketEvent;
use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The flags of the /proc source.
#[derive(Args, Debug)]
pub struct ProcfsArgs {
    /// The proc file system for --procfs.
    #[arg(long, default_value = "/proc", value_name = "DIR")]
    pub proc_root: PathBuf,
    /// Milliseconds between two /proc polls (a new connection also
    /// triggers one).
    #[arg(long, default_value_t = 20, value_name = "MS")]
    pub procfs_interval_ms: u64,
}

/// The /proc source.
pub struct Procfs;

/// Its registration.
pub const PROCFS: Procfs = Procfs;

/// Sockets the poller tracks at once.
const MAX_SOCKETS: usize = 1_000_000;

impl SourceSpec for Procfs {
    fn name(&self) -> &'static str {
        "procfs"
    }

    fn start(&self, args: &LiveArgs, start: &mut Start) -> Result<Option<Box<dyn Source>>> {
        let a = &args.procfs;
        match args.local.mode()? {
            LocalMode::Procfs => {
                eprintln!("procflow: local sockets from /proc polling (--procfs)");
            }
            LocalMode::Auto if start.local().is_none() => {
                let why = start
                    .local_failure()
                    .unwrap_or("this build has no eBPF (built without the ebpf feature)");
                eprintln!("procflow: local sockets from /proc polling: eBPF unavailable: {why}");
            }
            _ => return Ok(None),
        }
        if !a.proc_root.join("net/tcp").is_file() {
            anyhow::bail!(
                "--procfs: {}: no net/tcp here: not a Linux proc file system",
                a.proc_root.display()
            );
        }
        let host = host_name(&a.proc_root);
        let poller = Poller::new(
            &a.proc_root,
            &host,
            user_names("/etc/passwd".as_ref()),
            MAX_SOCKETS,
        );
        start.claim_local("/proc");
        let (_, tx) = start.queue();
        let poll = Poll {
            poller,
            interval: Duration::from_millis(a.procfs_interval_ms.max(1)),
            tx,
            nudge: start.nudge(),
            stop: Arc::new(AtomicBool::new(false)),
            metrics: start.metrics().clone(),
        };
        let stop = poll.stop.clone();
        let thread = std::thread::Builder::new()
            .name("procflow-procfs".into())
            .spawn(move || poll.run())
            .context("cannot start the procfs thread")?;
        Ok(Some(Box::new(Running { thread, stop })))
    }
}

/// The poller's thread, and how to stop it.
struct Running {
    thread: JoinHandle<PollEnd>,
    stop: Arc<AtomicBool>,
}

/// What the poller did.
struct PollEnd {
    polls: u64,
    events: u64,
    dropped: u64,
    untracked: u64,
}

impl Source for Running {
    fn banner(&self) -> Option<String> {
        Some("sockets from /proc".into())
    }

    fn stop(self: Box<Self>) -> SourceEnd {
        self.stop.store(true, Relaxed);
        let Ok(end) = self.thread.join() else {
            return SourceEnd {
                lines: vec!["/proc poller: the thread failed".into()],
                stats: None,
            };
        };
        SourceEnd {
            lines: vec![format!(
                "/proc poller: {} polls, {} socket events, {} dropped at a full queue, {} sockets not tracked (table full)",
                end.polls, end.events, end.dropped, end.untracked
            )],
            stats: Some((
                "procfs",
                serde_json::json!({
                    "polls": end.polls,
                    "events": end.events,
                    "dropped": end.dropped,
                    "untracked": end.untracked,
                }),
            )),
        }
    }
}

/// The poller, how often it runs, and where its events go.
struct Poll {
    poller: Poller,
    interval: Duration,
    tx: Sender<SocketEvent>,
    nudge: Receiver<()>,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

impl Poll {
    /// Polls until stopped. A full queue holds the poller back (the main
    /// thread drains it quickly) until the run stops; what is left then
    /// is counted as dropped.
    fn run(mut self) -> PollEnd {
        let (mut polls, mut events, mut dropped) = (0u64, 0u64, 0u64);
        let mut batch: Vec<SocketEvent> = Vec::new();
        while !self.stop.load(Relaxed) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            self.poller.poll(now, &mut |e| batch.push(e.clone()));
            polls += 1;
            events += batch.len() as u64;
            dropped += self.send(&mut batch);
            match self.nudge.recv_timeout(self.interval) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(self.interval),
            }
        }
        PollEnd {
            polls,
            events,
            dropped,
            untracked: self.poller.dropped,
        }
    }

    /// Sends `batch` (emptying it), waiting on a full queue while the run
    /// goes on; how many it dropped.
    fn send(&self, batch: &mut Vec<SocketEvent>) -> u64 {
        let mut left = batch.drain(..);
        while let Some(mut e) = left.next() {
            loop {
                match self.tx.send_timeout(e, Duration::from_millis(100)) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Timeout(back)) if !self.stop.load(Relaxed) => e = back,
                    Err(_) => {
                        let n = 1 + left.len() as u64;
                        self.metrics.feed_events_dropped.fetch_add(n, Relaxed);
                        return n;
                    }
                }
            }
        }
        0
    }
}
