//! Setting up the detector for `read` and `learn` (configuration, baseline
//! file) and reporting what it did.

use anyhow::{Context, Result};
use rules::baseline::{backend, Found};
use rules::config::{self, Config};
use rules::format;
use rules::{Baseline, Detector, Mode, Policy, Summary};
use std::path::Path;

/// Reads the configuration and opens the baseline: for writing (one writer
/// at a time, checked whole and writable) when the run learns, read-only
/// otherwise. Says loudly when every process will count as unseen.
pub fn setup(baseline: Option<&Path>, config_path: Option<&Path>, mode: Mode) -> Result<Detector> {
    let config = match config_path {
        Some(p) => config::load(p)?,
        None => Config::default(),
    };
    let window_secs = config.window_secs;
    crate::sink::identity::configured_name(config.sensor.name.as_deref());
    let policy = Policy::new(config);
    let caps = policy.config.baseline.clone();
    let (store, base) = match baseline {
        Some(path) => {
            let opened = backend::open(path, caps, mode.learn)?;
            warn_baseline(
                path,
                opened.damaged_rows,
                &opened.baseline,
                mode,
                || match opened.found {
                    Found::New => "new",
                    Found::Missing => "missing (not created: nothing is learned)",
                    Found::Existing => "empty",
                },
            );
            (opened.writer, opened.baseline)
        }
        None => {
            if mode.detect {
                eprintln!(
                    "procflow: warning: no --baseline: every process counts as previously unseen, and nothing this run learns is kept"
                );
            }
            (None, Baseline::new(caps))
        }
    };
    Ok(Detector::new(policy, base, store, mode, window_secs))
}

/// Warns of damaged rows, and of a baseline with no image to judge by.
fn warn_baseline(
    path: &Path,
    damaged_rows: u64,
    base: &Baseline,
    mode: Mode,
    state: impl Fn() -> &'static str,
) {
    if damaged_rows > 0 {
        eprintln!(
            "procflow: warning: baseline {}: {} damaged rows skipped",
            path.display(),
            damaged_rows
        );
    }
    if mode.detect && base.images.is_empty() {
        eprintln!(
            "procflow: warning: baseline {} is {}: every process counts as previously unseen",
            path.display(),
            state()
        );
    }
}

/// Settles the window length (`--window`, else the configuration's) and
/// tells the detector; warns when the baseline was learned with another.
pub fn set_window(d: &mut Detector, asked: Option<u64>) -> Result<u64> {
    let secs = asked.unwrap_or(d.policy().config.window_secs);
    if secs == 0 {
        anyhow::bail!("--window must be at least 1 second");
    }
    d.set_window_secs(secs);
    if let Some(learned) = d.learned_window_secs() {
        if learned != secs {
            eprintln!(
                "procflow: warning: the baseline was learned with {learned} s windows, this run uses {secs} s: volume history compares unlike windows"
            );
        }
    }
    Ok(secs)
}

/// `procflow config`.
pub fn config_command(a: &crate::cli::ConfigArgs) -> Result<()> {
    if let Some(path) = &a.check {
        let c = config::load(path)?;
        println!(
            "{}: ok ({} roles, {} allowlisted image patterns, {} home_net blocks)",
            path.display(),
            c.roles.len(),
            c.allowlist.images.len(),
            c.home_net.len()
        );
        return Ok(());
    }
    if !a.print_default {
        anyhow::bail!("procflow config: say --default (print the default file) or --check FILE");
    }
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(config::DEFAULT_TOML.as_bytes())
        .and_then(|()| out.flush())
        .context("writing the configuration")
}

/// The detection part of the summary on standard error. `alerts_written`:
/// `None` when learning (nothing judged), else whether --alerts was given.
pub fn print_summary(s: &Summary, b: &Baseline, alerts_written: Option<bool>) {
    let (procs, images) = s.processes();
    let alerts: Vec<String> = s
        .alerts_by_rule()
        .map(|(rule, n)| format!("{rule} {n}"))
        .collect();
    eprintln!(
        "procflow: detection: {} process windows, {} processes ({} images), {} windows allowlisted; alerts: {}{}",
        s.windows,
        procs,
        images,
        s.allowlisted_windows,
        match alerts_written {
            None => "none asked (learning)".to_string(),
            Some(true) => alerts.join(", "),
            Some(false) => format!("{} (not written: no --alerts)", alerts.join(", ")),
        },
        if s.duplicate_alerts > 0 {
            format!(" ({} repeats dropped)", s.duplicate_alerts)
        } else {
            String::new()
        }
    );
    let top = s.top_by_volume(5);
    if !top.is_empty() {
        eprintln!("procflow: top processes by outbound volume:");
        for p in top {
            eprintln!(
                "procflow:   {:>10} out {:>10} in  {:>6} conns  {} on {}",
                format::bytes(p.bytes_out),
                format::bytes(p.bytes_in),
                p.connections,
                p.executable,
                p.host
            );
        }
    }
    let low = s.lowest_ratio(5);
    if !low.is_empty() {
        eprintln!("procflow: lowest response ratio (10 or more outbound connections):");
        for p in low {
            eprintln!(
                "procflow:   {:>10.4} ratio {:>6} conns {:>10} out  {} on {}",
                p.response_ratio(),
                p.connections,
                format::bytes(p.bytes_out),
                p.executable,
                p.host
            );
        }
    }
    let st = &b.stats;
    eprintln!(
        "procflow: baseline: {} images, {} hosts, {} windows folded in {} batches; forgotten at the caps: {} images, {} hosts, {} host sightings",
        b.images.len(),
        b.hosts.len(),
        b.meta.windows_folded,
        b.meta.batches,
        st.images_evicted,
        st.hosts_evicted,
        st.image_hosts_dropped
    );
    if let Some(y) = &b.sync {
        eprintln!(
            "procflow: shared baseline: {} windows folded in {} transactions, {} rows read back; {} batches found already folded; {} outages; {} windows still queued, {} dropped at the queue's cap",
            y.windows_sent,
            y.folds,
            y.rows_read_back,
            y.already_folded,
            y.outages,
            y.windows_queued,
            y.windows_dropped
        );
    }
    if s.processes_dropped > 0 {
        eprintln!(
            "procflow: warning: {} process windows left out of the summary (table full)",
            s.processes_dropped
        );
    }
}

/// The detection figures for `--stats`.
pub fn stats_json(s: &Summary, b: &Baseline) -> serde_json::Value {
    let (procs, images) = s.processes();
    serde_json::json!({
        "windows": s.windows,
        "allowlisted_windows": s.allowlisted_windows,
        "processes": procs,
        "images": images,
        "alerts": s.alerts,
        "duplicate_alerts": s.duplicate_alerts,
        "top_by_volume": s.top_by_volume(5),
        "lowest_ratio": s.lowest_ratio(5),
        "baseline": {
            "images": b.images.len(),
            "hosts": b.hosts.len(),
            "meta": b.meta,
            "caps": b.stats,
            "shared": b.sync,
        },
    })
}
