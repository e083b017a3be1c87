//! `procflow flows`: captures in, flow records out.

use crate::cli::FlowsArgs;
use crate::pipeline::{self, Tick};
use crate::sink::Sink;
use anyhow::{Context, Result};

/// Runs the command.
pub fn run(args: &FlowsArgs) -> Result<()> {
    let mut sources = pipeline::open(&args.capture.captures, args.capture.libpcap)?;
    let mut out = Sink::new(
        pipeline::writer(args.out.as_deref())?,
        args.output.profile(),
    );
    let mut write_err: Option<std::io::Error> = None;
    let never = std::sync::atomic::AtomicBool::new(false);
    let (reports, stats) = pipeline::run(&mut sources, &args.capture, &never, &mut |t| {
        if let Tick::Record(r) = t {
            if write_err.is_none() {
                if let Err(e) = out.record(&r) {
                    write_err = Some(e);
                }
            }
        }
    })?;
    if let Some(e) = write_err {
        return Err(e).context("writing flow records");
    }
    out.flush().context("writing flow records")?;
    pipeline::print_summary(&stats);
    if let Some(path) = &args.capture.stats {
        let doc = serde_json::json!({ "files": reports, "stats": stats });
        let text = serde_json::to_string_pretty(&doc)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}
