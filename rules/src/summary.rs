//! What a run saw, per process, for the summary at the end: which
//! processes sent the most, and which got the least back.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Processes tracked for the summary; more are counted, not kept.
const MAX_PROCESSES: usize = 100_000;
/// Connections a process needs to be ranked by response ratio.
const MIN_CONNECTIONS_FOR_RATIO: u64 = 10;

/// One (host, image) over the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessTotals {
    /// Host name.
    pub host: String,
    /// Executable.
    pub executable: String,
    /// Windows it appeared in.
    pub windows: u64,
    /// Outbound connections.
    pub connections: u64,
    /// Outbound request volume.
    pub bytes_out: u64,
    /// Outbound response volume.
    pub bytes_in: u64,
}

impl ProcessTotals {
    /// bytes_in / bytes_out.
    pub fn response_ratio(&self) -> f64 {
        if self.bytes_out == 0 {
            0.0
        } else {
            self.bytes_in as f64 / self.bytes_out as f64
        }
    }
}

/// Totals of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Process windows judged or learned.
    pub windows: u64,
    /// Windows whose process is allowlisted.
    pub allowlisted_windows: u64,
    /// Alerts written, by rule.
    pub alerts: BTreeMap<&'static str, u64>,
    /// Alerts not written again for a window already alerted on.
    pub duplicate_alerts: u64,
    /// Processes not tracked because the table was full.
    pub processes_dropped: u64,
    /// The ids of the rules that ran, in order.
    #[serde(skip)]
    pub rules: Vec<&'static str>,
    #[serde(skip)]
    processes: HashMap<(String, String), ProcessTotals>,
}

impl Summary {
    /// Empty totals of a run of the rules with ids `rules`.
    pub fn for_rules(rules: Vec<&'static str>) -> Self {
        Summary {
            rules,
            ..Summary::default()
        }
    }

    /// Alerts written by each rule that ran, in order (0 for none).
    pub fn alerts_by_rule(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.rules
            .iter()
            .map(|&r| (r, self.alerts.get(r).copied().unwrap_or(0)))
    }

    /// Adds one window's outbound figures.
    pub fn add(
        &mut self,
        host: &str,
        image: &str,
        executable: &str,
        conns: u64,
        out: u64,
        back: u64,
    ) {
        self.windows += 1;
        let key = (host.to_string(), image.to_string());
        if !self.processes.contains_key(&key) && self.processes.len() >= MAX_PROCESSES {
            self.processes_dropped += 1;
            return;
        }
        let p = self.processes.entry(key).or_insert_with(|| ProcessTotals {
            host: host.to_string(),
            executable: executable.to_string(),
            ..ProcessTotals::default()
        });
        p.windows += 1;
        p.connections += conns;
        p.bytes_out += out;
        p.bytes_in += back;
    }

    /// Distinct (host, image) pairs and distinct images seen.
    pub fn processes(&self) -> (usize, usize) {
        let images: std::collections::HashSet<&String> =
            self.processes.keys().map(|(_, i)| i).collect();
        (self.processes.len(), images.len())
    }

    /// The `n` processes that sent the most.
    pub fn top_by_volume(&self, n: usize) -> Vec<&ProcessTotals> {
        let mut v: Vec<&ProcessTotals> = self
            .processes
            .values()
            .filter(|p| p.bytes_out > 0)
            .collect();
        v.sort_by(|a, b| {
            b.bytes_out
                .cmp(&a.bytes_out)
                .then(a.host.cmp(&b.host))
                .then(a.executable.cmp(&b.executable))
        });
        v.truncate(n);
        v
    }

    /// The `n` processes with the lowest response ratio among those with
    /// at least ten outbound connections.
    pub fn lowest_ratio(&self, n: usize) -> Vec<&ProcessTotals> {
        let mut v: Vec<&ProcessTotals> = self
            .processes
            .values()
            .filter(|p| p.connections >= MIN_CONNECTIONS_FOR_RATIO && p.bytes_out > 0)
            .collect();
        v.sort_by(|a, b| {
            a.response_ratio()
                .total_cmp(&b.response_ratio())
                .then(a.host.cmp(&b.host))
                .then(a.executable.cmp(&b.executable))
        });
        v.truncate(n);
        v
    }
}
