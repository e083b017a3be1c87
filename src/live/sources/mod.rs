//! Where `live` takes socket events from: one interface for every source
//! (the kernel, /proc, followed feed files, the agent listener, the
//! fleet's bus), and the registry that lists them.
//!
//! A source is a [`SourceSpec`] in [`SOURCES`]. At start each spec reads
//! its own flags and, when asked for, starts a [`Source`]: threads that
//! send events through the queues [`Start`] hands out. The main thread
//! drains those queues; at the end each source is stopped (within the
//! run's grace time) and says what it did.

mod follow;
#[cfg(feature = "ebpf")]
mod kernel;
mod listen;
mod local;
mod nats;
mod procfs;

use super::metrics::Metrics;
use crate::cli::LiveArgs;
use anyhow::Result;
use correlate::SocketEvent;
use crossbeam_channel::{bounded, Receiver, Sender};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

pub use follow::FollowArgs;
#[cfg(feature = "ebpf")]
pub use kernel::KernelArgs;
pub use listen::ListenArgs;
pub use local::LocalArgs;
pub use nats::NatsFeedArgs;
pub use procfs::ProcfsArgs;

/// Every socket-event source, in the order they start and their feed ids
/// are given (the kernel before /proc, which `--local-sockets auto` falls
/// back to).
pub const SOURCES: &[&dyn SourceSpec] = &[
    #[cfg(feature = "ebpf")]
    &kernel::KERNEL,
    &procfs::PROCFS,
    &follow::FOLLOW,
    &listen::LISTEN,
    &nats::NATS,
];

/// Events a source's queue holds before the source waits or drops (its
/// own choice: a file can wait, an agent's stream cannot).
pub const PER_SOURCE: usize = 16_384;

/// A kind of socket-event source.
pub trait SourceSpec: Sync {
    /// Its name in messages ("procfs", "follow", "listen").
    fn name(&self) -> &'static str;
    /// Starts it when the flags ask for it (`None` when they do not);
    /// an unusable setting is an error that names its flag.
    fn start(&self, args: &LiveArgs, start: &mut Start) -> Result<Option<Box<dyn Source>>>;
}

/// A running source.
pub trait Source: Send {
    /// What the run's opening line says of it, if anything.
    fn banner(&self) -> Option<String> {
        None
    }
    /// A renderer of its Prometheus metrics, for the metrics thread.
    fn metrics(&self) -> Option<MetricsRenderer> {
        None
    }
    /// Stops its threads and says what it did.
    fn stop(self: Box<Self>) -> SourceEnd;
}

/// Renders a source's metrics (Prometheus text) onto a string.
pub type MetricsRenderer = Box<dyn Fn(&mut String) + Send + Sync>;

/// What a source did, once stopped.
#[derive(Debug, Default)]
pub struct SourceEnd {
    /// Summary lines for stderr (without the `procflow: ` prefix).
    pub lines: Vec<String>,
    /// Its key and figures in the `--stats` document.
    pub stats: Option<(&'static str, serde_json::Value)>,
}

/// What a source is given at start: queues to the main thread, a nudge
/// when capture sees a connection open, the run's counters.
pub struct Start {
    listener: rules::config::ListenerConfig,
    local: Option<&'static str>,
    local_failure: Option<String>,
    next_id: u16,
    queues: Vec<(u16, Receiver<SocketEvent>)>,
    nudges: Vec<Sender<()>>,
    metrics: Arc<Metrics>,
}

impl Start {
    /// A queue of [`PER_SOURCE`] events to the main thread, and the feed
    /// id its events are indexed under (one id per clock: a source gives
    /// each file or stream its own).
    pub fn queue(&mut self) -> (u16, Sender<SocketEvent>) {
        let (tx, rx) = bounded(PER_SOURCE);
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        self.queues.push((id, rx));
        (id, tx)
    }

    /// A receiver nudged (at most one pending) whenever capture sees a
    /// connection open; capture then also delivers packets at once.
    pub fn nudge(&mut self) -> Receiver<()> {
        let (tx, rx) = bounded(1);
        self.nudges.push(tx);
        rx
    }

    /// The configuration's `[listener]` (flags win over it).
    pub fn listener(&self) -> &rules::config::ListenerConfig {
        &self.listener
    }

    /// The run's counters (`feed_events_dropped` for what a source drops).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Says why a source of this host's own sockets could not start, for
    /// the one that falls back.
    #[cfg_attr(not(feature = "ebpf"), allow(dead_code))]
    pub fn local_failed(&mut self, why: String) {
        self.local_failure = Some(why);
    }

    /// Why the preferred source of this host's sockets did not start.
    pub fn local_failure(&self) -> Option<&str> {
        self.local_failure.as_deref()
    }

    /// Says that this host's own sockets now come from `what`.
    pub fn claim_local(&mut self, what: &'static str) {
        self.local = Some(what);
    }

    /// Where this host's own sockets come from, once a source claimed them.
    pub fn local(&self) -> Option<&'static str> {
        self.local
    }
}

/// The running sources and their queues.
pub struct Sources {
    running: Vec<(&'static str, Box<dyn Source>)>,
    queues: Vec<(u16, Receiver<SocketEvent>)>,
    /// Nudges for capture to send on every connection opening.
    pub nudges: Vec<Sender<()>>,
}

/// What the sources did, once stopped: each one's name and end.
pub type SourcesEnd = Vec<(&'static str, SourceEnd)>;

impl Sources {
    /// Starts every source of [`SOURCES`] that `args` asks for; their
    /// metrics join `metrics`.
    pub fn start(
        args: &LiveArgs,
        metrics: &Arc<Metrics>,
        listener: rules::config::ListenerConfig,
    ) -> Result<Sources> {
        let mut start = Start {
            listener,
            local: None,
            local_failure: None,
            next_id: 0,
            queues: Vec::new(),
            nudges: Vec::new(),
            metrics: metrics.clone(),
        };
        let mut running = Vec::new();
        for spec in SOURCES {
            match spec.start(args, &mut start) {
                Ok(Some(s)) => running.push((spec.name(), s)),
                Ok(None) => {}
                Err(e) => {
                    // Those already started stop before the error is told.
                    for (_, s) in running {
                        s.stop();
                    }
                    return Err(e);
                }
            }
        }
        let renderers = running.iter().filter_map(|(_, s)| s.metrics()).collect();
        metrics.set_source_metrics(renderers);
        Ok(Sources {
            running,
            queues: start.queues,
            nudges: start.nudges,
        })
    }

    /// What the run's opening line says of the sources.
    pub fn banner(&self) -> String {
        self.running
            .iter()
            .filter_map(|(_, s)| s.banner())
            .map(|b| format!(", {b}"))
            .collect()
    }

    /// The queues the main thread drains, each with its feed id.
    pub fn queues(&self) -> Vec<(u16, Receiver<SocketEvent>)> {
        self.queues.clone()
    }

    /// Stops every source, in order, and says what each did.
    pub fn stop(self) -> SourcesEnd {
        self.running
            .into_iter()
            .map(|(name, s)| (name, s.stop()))
            .collect()
    }
}

/// Takes what the queues hold (a bounded amount per queue and call) into
/// `insert`; counts it in `metrics`.
pub fn drain(
    queues: &[(u16, Receiver<SocketEvent>)],
    metrics: &Metrics,
    insert: &mut dyn FnMut(SocketEvent, u16),
) {
    for (id, rx) in queues {
        for e in rx.try_iter().take(65_536) {
            metrics.feed_events.fetch_add(1, Relaxed);
            insert(e, *id);
        }
    }
}

/// A number of seconds given on the command line.
fn secs(flag: &str, v: f64) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(v)
        .map_err(|_| anyhow::anyhow!("{flag} {v}: not a number of seconds"))
}
