//! `procflow flows`: captures in, flow records out.

use crate::cli::FlowsArgs;
use crate::pipeline::{self, Tick};
use crate::sink::Sink;
use anyhow::{Context, Result};
use std::collections::HashSet;

/// The Community IDs asked for, if any: `--community-id` and the IDs in
/// `--community-ids-from` (the `flows` of alert lines, or one a line).
fn wanted_ids(args: &FlowsArgs) -> Result<Option<HashSet<String>>> {
    let mut ids: HashSet<String> = args.community_ids.iter().cloned().collect();
    if let Some(path) = &args.community_ids_from {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--community-ids-from {}", path.display()))?;
        for (no, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if !line.starts_with('{') {
                ids.insert(line.to_string());
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(line).with_context(|| {
                format!(
                    "--community-ids-from {}: line {}: not JSON",
                    path.display(),
                    no + 1
                )
            })?;
            let listed = v
                .get("flows")
                .and_then(|f| f.as_array())
                .into_iter()
                .flatten();
            ids.extend(listed.filter_map(|f| {
                f.get("community_id")
                    .and_then(|c| c.as_str())
                    .map(String::from)
            }));
        }
        if ids.is_empty() {
            anyhow::bail!(
                "--community-ids-from {}: no Community ID in it",
                path.display()
            );
        }
    }
    Ok((!ids.is_empty()).then_some(ids))
}

/// Runs the command.
pub fn run(args: &FlowsArgs) -> Result<()> {
    let wanted = wanted_ids(args)?;
    let mut sources = pipeline::open(&args.capture)?;
    let mut found: HashSet<String> = HashSet::new();
    let mut out = Sink::new(
        pipeline::writer(args.out.as_deref())?,
        args.output.profile(),
    );
    let mut write_err: Option<std::io::Error> = None;
    let never = std::sync::atomic::AtomicBool::new(false);
    let mut sink = |t: Tick, back: &mut Vec<Tick>| {
        if let Tick::Record(r) = &t {
            let keep = wanted.as_ref().is_none_or(|w| w.contains(&r.community_id));
            if keep && wanted.is_some() {
                found.insert(r.community_id.clone());
            }
            if keep && write_err.is_none() {
                if let Err(e) = out.record(r) {
                    write_err = Some(e);
                }
            }
        }
        // Written: the record goes back to be freed where it was made.
        back.push(t);
    };
    let (reports, stats) = pipeline::run(&mut sources, &args.capture, &never, false, &mut sink)?;
    if let Some(e) = write_err {
        return Err(e).context("writing flow records");
    }
    out.flush().context("writing flow records")?;
    pipeline::print_summary(&stats);
    if let Some(w) = &wanted {
        eprintln!(
            "procflow: {} of {} Community IDs asked for found",
            found.len(),
            w.len()
        );
    }
    if let Some(path) = &args.capture.stats {
        let doc = serde_json::json!({ "files": reports, "stats": stats });
        let text = serde_json::to_string_pretty(&doc)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}
