//! What the live feed readers (the listener and the file follower) share:
//! where their notices go, and how an event is handed to the bounded
//! channel the pipeline reads.

use crate::event::SocketEvent;
use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a live reader writes its rare notices (a peer refused, a file
/// that is not a feed): one line each, never one per record.
pub type Logger = Arc<dyn Fn(&str) + Send + Sync>;

/// A logger writing `procflow: MESSAGE` to standard error.
pub fn stderr_logger() -> Logger {
    Arc::new(|msg: &str| eprintln!("procflow: {msg}"))
}

/// Longest a live reader sleeps before looking at its stop flag again.
pub(crate) const NAP: Duration = Duration::from_millis(100);

/// What became of an event handed to the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// It is in the channel.
    Yes,
    /// The channel stayed full: the event was dropped (and must be counted).
    Dropped,
    /// Nobody reads the channel any more: the event was dropped.
    Closed,
}

/// The pipeline's bounded channel, and how long a full one is waited for.
#[derive(Debug, Clone)]
pub(crate) struct EventSink {
    tx: Sender<SocketEvent>,
    /// `None`: wait as long as it takes (until stopped).
    wait: Option<Duration>,
}

impl EventSink {
    pub(crate) fn new(tx: Sender<SocketEvent>, wait: Option<Duration>) -> Self {
        Self { tx, wait }
    }

    /// Hands `ev` over, waiting for room at most as long as configured;
    /// once `stop` is set, only room that is there at once is taken.
    pub(crate) fn send(&self, mut ev: SocketEvent, stop: &AtomicBool) -> Sent {
        let deadline = self.wait.map(|w| Instant::now() + w);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if stop.load(Ordering::Relaxed) || left == Some(Duration::ZERO) {
                return match self.tx.try_send(ev) {
                    Ok(()) => Sent::Yes,
                    Err(TrySendError::Full(_)) => Sent::Dropped,
                    Err(TrySendError::Disconnected(_)) => Sent::Closed,
                };
            }
            let slice = left.map_or(NAP, |l| l.min(NAP));
            match self.tx.send_timeout(ev, slice) {
                Ok(()) => return Sent::Yes,
                Err(SendTimeoutError::Timeout(back)) => ev = back,
                Err(SendTimeoutError::Disconnected(_)) => return Sent::Closed,
            }
        }
    }
}

/// The wall clock, microseconds since the epoch (0 before it).
pub(crate) fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Sleeps `d`, in naps so that a stop is seen soon; false when stopped.
pub(crate) fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(NAP));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::event::{EventKind, Process};

    fn ev(port: u16) -> SocketEvent {
        SocketEvent {
            ts: 1,
            host: "h".into(),
            host_ip: None,
            os: None,
            kind: EventKind::Connect,
            proto: None,
            local_ip: None,
            local_port: None,
            remote_ip: "10.0.0.1".parse().unwrap(),
            remote_port: port,
            process: Arc::new(Process::default()),
        }
    }

    #[test]
    fn a_full_channel_is_waited_for_then_the_event_dropped() {
        let stop = AtomicBool::new(false);
        let (tx, rx) = crossbeam_channel::bounded(1);
        let sink = EventSink::new(tx, Some(Duration::from_millis(30)));
        assert_eq!(sink.send(ev(1), &stop), Sent::Yes);
        let t = Instant::now();
        assert_eq!(sink.send(ev(2), &stop), Sent::Dropped);
        assert!(t.elapsed() >= Duration::from_millis(30));
        assert_eq!(rx.recv().unwrap().remote_port, 1);
        // Stopped: no waiting at all.
        stop.store(true, Ordering::Relaxed);
        let forever = EventSink::new(sink.tx.clone(), None);
        assert_eq!(forever.send(ev(3), &stop), Sent::Yes);
        assert_eq!(forever.send(ev(4), &stop), Sent::Dropped);
        drop((rx, sink));
        assert_eq!(forever.send(ev(5), &stop), Sent::Closed);
    }
}
