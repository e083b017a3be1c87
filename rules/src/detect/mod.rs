//! The detector: process windows in, alerts out, the baseline kept up to
//! date.
//!
//! Windows are judged in batches of the same end time, in a fixed order;
//! every window of a batch is judged against the baseline as it stood
//! before the batch, then the batch is folded in and written as one
//! transaction. A run over history and then new traffic therefore judges
//! the new traffic exactly as `learn` on the history followed by `read` on
//! the new traffic does.
//!
//! The rules are those of the policy's [`Registry`]: each window is
//! judged by every rule that is switched on and applies to it, in the
//! registry's order.

pub mod an0144;
pub mod an0145;
pub mod build;
pub mod registry;
pub mod rule;
pub mod severity;
pub mod subject;
#[cfg(test)]
mod tests;

use crate::alert::Alert;
use crate::baseline::{Backend, Baseline, StoreError};
use crate::policy::Policy;
use crate::summary::Summary;
use model::ProcessWindow;
pub use registry::Registry;
pub use rule::{Context, Rule};
use std::collections::{HashSet, VecDeque};
use subject::Subject;

/// Alert keys remembered to drop repeats (a window written twice when a
/// flow comes late).
const RECENT_ALERTS: usize = 65_536;

/// What a run does with the windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Judge windows and write alerts.
    pub detect: bool,
    /// Fold windows into the baseline.
    pub learn: bool,
}

type AlertKey = (&'static str, String, String, String, u64);

/// Windows in, alerts out.
pub struct Detector {
    policy: Policy,
    /// The baseline in memory.
    pub baseline: Baseline,
    store: Option<Box<dyn Backend>>,
    mode: Mode,
    window_secs: u64,
    pending: Vec<ProcessWindow>,
    recent: VecDeque<AlertKey>,
    recent_set: HashSet<AlertKey>,
    /// Alerts of the window being judged (kept to spare an allocation).
    scratch: Vec<Alert>,
    /// Totals for the summary.
    pub summary: Summary,
}

impl Detector {
    /// A detector over `baseline`, written to `store` when one is given.
    pub fn new(
        policy: Policy,
        mut baseline: Baseline,
        store: Option<Box<dyn Backend>>,
        mode: Mode,
        window_secs: u64,
    ) -> Self {
        baseline.set_caps(policy.config.baseline.clone());
        let summary = Summary::for_rules(policy.registry().iter().map(|r| r.id()).collect());
        Detector {
            policy,
            baseline,
            store,
            mode,
            window_secs,
            pending: Vec::new(),
            recent: VecDeque::new(),
            recent_set: HashSet::new(),
            scratch: Vec::new(),
            summary,
        }
    }

    /// The compiled configuration.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Takes a closed window; it is judged at the next [`Detector::flush`].
    pub fn push(&mut self, w: ProcessWindow) {
        self.pending.push(w);
    }

    /// Judges and folds every window taken so far, batch by batch (same
    /// end time), earliest first; alerts go to `out`.
    pub fn flush(&mut self, out: &mut dyn FnMut(Alert)) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut windows = std::mem::take(&mut self.pending);
        windows.sort_by(|a, b| {
            a.end
                .cmp(&b.end)
                .then_with(|| a.host_name.cmp(&b.host_name))
                .then_with(|| a.image.cmp(&b.image))
                .then_with(|| a.start.cmp(&b.start))
        });
        let mut rest = windows.as_slice();
        while let Some(first) = rest.first() {
            let n = rest.iter().take_while(|w| w.end == first.end).count();
            let (batch, tail) = rest.split_at(n);
            self.batch(batch, out)?;
            rest = tail;
        }
        Ok(())
    }

    fn batch(
        &mut self,
        batch: &[ProcessWindow],
        out: &mut dyn FnMut(Alert),
    ) -> Result<(), StoreError> {
        let now = batch.first().map_or(0, |w| w.start);
        let hosts_total = self.baseline.hosts_seen(now, self.policy.horizon);
        let mut observations = Vec::with_capacity(batch.len());
        for w in batch {
            let s = Subject::new(w, &self.policy, &self.baseline, hosts_total);
            let o = s.observation();
            self.summary.add(
                &w.host_name,
                &w.image,
                &w.executable,
                s.remote.iter().map(|r| r.traffic.connections).sum::<u64>()
                    + s.other.traffic.connections,
                o.bytes_out,
                o.bytes_in,
            );
            if s.allowlisted.is_some() {
                self.summary.allowlisted_windows += 1;
            } else if self.mode.detect {
                let mut alerts = std::mem::take(&mut self.scratch);
                self.judge(&s, &mut alerts);
                for a in alerts.drain(..) {
                    self.emit(a, w, out);
                }
                self.scratch = alerts;
            }
            observations.push(o);
        }
        if self.mode.learn {
            for o in &observations {
                self.baseline.fold(o);
            }
            self.baseline.meta.batches += 1;
            self.baseline.meta.window_secs = self.window_secs;
            self.baseline.enforce_caps();
            if let Some(store) = self.store.as_mut() {
                store.commit(&mut self.baseline, &observations)?;
            }
        }
        Ok(())
    }

    /// Every rule that runs and applies, in the registry's order.
    fn judge(&self, s: &Subject, alerts: &mut Vec<Alert>) {
        let cx = Context {
            policy: &self.policy,
            baseline: &self.baseline,
            window_secs: self.window_secs,
        };
        for (i, rule) in self.policy.registry().iter().enumerate() {
            if !self.policy.runs(i) || !rule.applies(s, &self.policy) {
                continue;
            }
            if let Some(t) = s.role.thresholds(i) {
                rule.judge(s, t, &cx, alerts);
            }
        }
    }

    fn emit(&mut self, a: Alert, w: &ProcessWindow, out: &mut dyn FnMut(Alert)) {
        let dest = a
            .destination
            .domain
            .clone()
            .or_else(|| a.destination.ip.map(|i| i.to_string()))
            .unwrap_or_default();
        let key: AlertKey = (
            a.rule,
            w.host_name.to_lowercase(),
            w.image.clone(),
            dest,
            w.start,
        );
        if self.recent_set.contains(&key) {
            self.summary.duplicate_alerts += 1;
            return;
        }
        if self.recent.len() >= RECENT_ALERTS {
            if let Some(old) = self.recent.pop_front() {
                self.recent_set.remove(&old);
            }
        }
        self.recent.push_back(key.clone());
        self.recent_set.insert(key);
        *self.summary.alerts.entry(a.rule).or_default() += 1;
        out(a);
    }

    /// Ends the baseline's writing: what a shared baseline still queues
    /// is sent, or the error says how much was not. Call after the last
    /// [`Detector::flush`].
    pub fn close(&mut self) -> Result<(), StoreError> {
        match self.store.as_mut() {
            Some(store) => store.close(&mut self.baseline),
            None => Ok(()),
        }
    }

    /// Sets the window length the windows were made with (seconds), as
    /// reasons state it and the baseline records it.
    pub fn set_window_secs(&mut self, secs: u64) {
        self.window_secs = secs;
    }

    /// The window length the baseline was learned with, when it says.
    pub fn learned_window_secs(&self) -> Option<u64> {
        Some(self.baseline.meta.window_secs).filter(|&s| s > 0)
    }

    /// True when windows are judged (not only learned).
    pub fn detects(&self) -> bool {
        self.mode.detect
    }

    /// Ends the run: the baseline (as last written) and the run's totals.
    /// Windows still pending are not judged: call [`Detector::flush`] first.
    pub fn into_parts(self) -> (Baseline, Summary) {
        (self.baseline, self.summary)
    }
}
