//! Batches waiting for the shared baseline. A batch keeps its number once
//! it has been sent, so that sending it again after a lost answer is
//! recognised; windows that arrive while the server is away join the last
//! batch not yet sent. The queue holds at most a configured number of
//! windows: past it the newest are dropped and counted.

use crate::baseline::{Baseline, Observation};
use crate::config::BaselineConfig;
use std::collections::VecDeque;

/// One batch: windows folded in one transaction.
#[derive(Debug)]
pub struct Batch {
    /// Its number in this run (unique with the writer's name).
    pub number: u64,
    /// Sent at least once: frozen.
    pub sent: bool,
    /// Batches of the detector it holds.
    pub batches: u64,
    observations: Vec<Observation>,
}

impl Batch {
    /// What the batch adds, as a baseline of its windows alone (no cap:
    /// every window counts).
    pub fn delta(&self, caps: &BaselineConfig, window_secs: u64) -> Baseline {
        let mut d = Baseline::new(BaselineConfig {
            max_images: usize::MAX,
            max_hosts: usize::MAX,
            max_hosts_per_image: usize::MAX,
            ..caps.clone()
        });
        for o in &self.observations {
            d.fold(o);
        }
        d.meta.batches = self.batches;
        d.meta.window_secs = window_secs;
        d
    }
}

/// The batches not yet folded in, oldest first.
#[derive(Debug)]
pub struct Queue {
    batches: VecDeque<Batch>,
    next: u64,
    windows: usize,
    max_windows: usize,
    dropped: u64,
}

impl Queue {
    /// An empty queue holding at most `max_windows`.
    pub fn new(max_windows: usize) -> Queue {
        Queue {
            batches: VecDeque::new(),
            next: 1,
            windows: 0,
            max_windows,
            dropped: 0,
        }
    }

    /// Queues one batch of the detector.
    pub fn push(&mut self, folded: &[Observation]) {
        let room = self.max_windows.saturating_sub(self.windows);
        let (kept, lost) = folded.split_at(folded.len().min(room));
        self.dropped += lost.len() as u64;
        if kept.is_empty() {
            return;
        }
        self.windows += kept.len();
        match self.batches.back_mut() {
            Some(b) if !b.sent => {
                b.observations.extend_from_slice(kept);
                b.batches += 1;
            }
            _ => {
                self.batches.push_back(Batch {
                    number: self.next,
                    sent: false,
                    batches: 1,
                    observations: kept.to_vec(),
                });
                self.next += 1;
            }
        }
    }

    /// The oldest batch.
    pub fn front_mut(&mut self) -> Option<&mut Batch> {
        self.batches.front_mut()
    }

    /// Drops the oldest batch (folded in).
    pub fn pop(&mut self) {
        if let Some(b) = self.batches.pop_front() {
            self.windows -= b.observations.len();
        }
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Windows waiting.
    pub fn windows(&self) -> u64 {
        self.windows as u64
    }

    /// Windows dropped at the cap.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(n: u64) -> Observation {
        Observation {
            host: format!("h{n}"),
            host_name: format!("H{n}"),
            image: "/bin/x".into(),
            executable: "/bin/x".into(),
            os: None,
            role: "default".into(),
            start: n,
            end: n + 10,
            first_flow: n + 1,
            dest_bytes_out: vec![5],
            bytes_out: 5,
            bytes_in: 1,
            http_connections: 1,
        }
    }

    #[test]
    fn a_sent_batch_is_frozen_and_the_cap_drops_the_newest() {
        let mut q = Queue::new(3);
        q.push(&[obs(1)]);
        q.push(&[obs(2)]);
        assert_eq!((q.batches.len(), q.windows()), (1, 2), "unsent: joined");
        if let Some(b) = q.front_mut() {
            b.sent = true;
        }
        q.push(&[obs(3), obs(4)]);
        assert_eq!((q.batches.len(), q.windows(), q.dropped()), (2, 3, 1));
        let numbers: Vec<u64> = q.batches.iter().map(|b| b.number).collect();
        assert_eq!(numbers, [1, 2]);
        let d = q
            .front_mut()
            .map(|b| b.delta(&BaselineConfig::default(), 600));
        let d = d.expect("a batch");
        assert_eq!((d.meta.windows_folded, d.meta.batches), (2, 2));
        assert_eq!(d.images["/bin/x"].hosts.len(), 2);
        q.pop();
        q.pop();
        assert!(q.is_empty());
        assert_eq!(q.windows(), 0);
    }
}
