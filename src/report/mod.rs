//! `procflow report`: a run's outputs (process windows, alerts, flows, as
//! `read` and `live` write them in the native profile) turned into the
//! tables an analyst asks for first: the alerts with their reasons, who
//! talked to whom per process (internal and external destinations), how
//! much of the traffic was attributed and the blind spots; on the
//! terminal, and as one self-contained HTML page (`html.rs`).

mod html;
mod load;

use crate::cli::ReportArgs;
use anyhow::{Context, Result};
use load::{Loaded, Talker};
use rules::format::bytes;

/// `procflow report`.
pub fn run(a: &ReportArgs) -> Result<()> {
    let data = load::load(a)?;
    print!("{}", terminal(&data));
    if let Some(path) = &a.html {
        std::fs::write(path, html::page(&data))
            .with_context(|| format!("{}: cannot write", path.display()))?;
        eprintln!("procflow: report written to {}", path.display());
    }
    Ok(())
}

/// The terminal summary.
pub fn terminal(d: &Loaded) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "procflow report: {} process windows, {} alerts",
        d.windows.len(),
        d.alerts.len()
    ));
    if let Some(c) = &d.coverage {
        s.push_str(&format!(
            ", {} flows ({} with their client's process, {:.1} %)",
            c.flows,
            c.client_attributed,
            c.percent()
        ));
    }
    s.push('\n');
    if !d.alerts.is_empty() {
        s.push_str("\nAlerts\n");
        for a in &d.alerts {
            s.push_str(&format!(
                "  {:<8} {:<7} {:<18} {:<40} -> {}\n      {}\n",
                a.severity,
                a.rule,
                a.host,
                a.executable,
                a.destination,
                a.reasons.first().map_or("", String::as_str)
            ));
        }
    }
    s.push_str("\nWho talked to whom (per process, every window)\n");
    s.push_str(&format!(
        "  {:<18} {:<40} {:>6} {:>10} {:>10} {:>8}  destinations (internal | external)\n",
        "host", "process", "conns", "out", "in", "ratio"
    ));
    for t in &d.talkers {
        s.push_str(&talker_line(t));
    }
    if let Some(c) = &d.coverage {
        if !c.blind.is_empty() {
            s.push_str("\nBlind spots (clients whose flows no process was found for)\n");
            for (ip, flows, b) in &c.blind {
                s.push_str(&format!("  {ip:<40} {flows:>6} flows {:>10}\n", bytes(*b)));
            }
        }
    }
    s
}

fn talker_line(t: &Talker) -> String {
    let list = |v: &[(String, u64)]| {
        v.iter()
            .take(3)
            .map(|(d, b)| format!("{d} {}", bytes(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "  {:<18} {:<40} {:>6} {:>10} {:>10} {:>8.3}  {} | {}\n",
        t.host,
        t.executable,
        t.connections,
        bytes(t.bytes_out),
        bytes(t.bytes_in),
        t.ratio(),
        list(&t.internal),
        list(&t.external)
    )
}
