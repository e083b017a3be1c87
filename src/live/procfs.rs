//! Sidecar attribution: this host's own sockets, read from /proc every few
//! milliseconds and at once when the capture sees a connection open. A
//! socket that closed stays in the socket index (its interval ends), so a
//! connection that lived 50 ms is still attributed when its flow ends.

use super::metrics::Metrics;
use super::Msg;
use anyhow::Result;
use correlate::procfs::{host_name, user_names, Poller};
use correlate::SocketEvent;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The /proc poller and how often it runs.
pub struct Sidecar {
    poller: Poller,
    interval: Duration,
}

impl Sidecar {
    /// A poller of `root` (normally /proc), every `interval_ms`.
    pub fn new(root: &Path, interval_ms: u64) -> Result<Self> {
        if !root.join("net/tcp").is_file() {
            anyhow::bail!(
                "--procfs: {}: no net/tcp here: not a Linux proc file system",
                root.display()
            );
        }
        let host = host_name(root);
        Ok(Sidecar {
            poller: Poller::new(root, &host, user_names("/etc/passwd".as_ref()), 1_000_000),
            interval: Duration::from_millis(interval_ms.max(1)),
        })
    }

    /// Polls until `stop`, sending what appears and disappears as feed `feed`.
    pub fn run(
        mut self,
        tx: Sender<Msg>,
        feed: u16,
        poke: Receiver<()>,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) {
        while !stop.load(Relaxed) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            let mut batch: Vec<SocketEvent> = Vec::new();
            self.poller.poll(now, &mut |e| batch.push(e.clone()));
            if !batch.is_empty() {
                let n = batch.len() as u64;
                if tx.try_send(Msg::Events(batch, feed)).is_err() {
                    metrics.feed_events_dropped.fetch_add(n, Relaxed);
                }
            }
            match poke.recv_timeout(self.interval) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(self.interval),
            }
        }
    }
}
