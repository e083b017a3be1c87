//! `procflow flows`: captures in, flow records out.

use crate::cli::FlowsArgs;
use crate::progress::Progress;
use anyhow::{Context, Result};
use capture::source::OfflineSource;
use capture::{Engine, FlowConfig, FlowRecord, Stats};
use std::fs::File;
use std::io::{BufWriter, Write};

/// How one input file was read.
#[derive(Debug, serde::Serialize)]
struct FileReport {
    path: String,
    link_type: i32,
    packets: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<String>,
}

/// Runs the command.
pub fn run(args: &FlowsArgs) -> Result<()> {
    // Open every input first: an unusable one stops the run before any
    // output is written.
    let mut sources = Vec::with_capacity(args.captures.len());
    for path in &args.captures {
        let src = OfflineSource::open(path)?;
        if !src.link.is_supported() {
            anyhow::bail!("{}: link type {} is not supported", path.display(), src.dlt);
        }
        sources.push(src);
    }
    let cfg = FlowConfig {
        max_flows: args.max_flows,
        tcp_idle_timeout: args.tcp_timeout.saturating_mul(capture::time::SECOND),
        udp_idle_timeout: args.udp_timeout.saturating_mul(capture::time::SECOND),
        community_id_seed: args.community_id_seed,
        ..FlowConfig::default()
    };
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut engine = Engine::new(cfg, args.shards);
    let mut write_err: Option<std::io::Error> = None;
    let mut emit = |r: FlowRecord| {
        if write_err.is_none() {
            if let Err(e) = writeln!(out, "{}", r.to_json()) {
                write_err = Some(e);
            }
        }
    };
    let total: u64 = sources.iter().map(|s| s.size).sum();
    let progress = Progress::new(total, args.no_progress);
    let mut done = 0u64;
    let mut reports = Vec::new();
    for src in &mut sources {
        let link = src.link;
        let mut n = 0u64;
        let outcome = src.for_each(|ts, frame, wire_len| {
            engine.process_frame(link, ts, frame, wire_len, &mut emit);
            n += 1;
            if n.is_multiple_of(65_536) {
                progress.set(done + n * 16);
            }
        });
        done += src.size;
        progress.set(done);
        if let Some(why) = &outcome.truncated {
            eprintln!(
                "procflow: warning: {}: capture cut off after packet {} (byte offset {}): {why}; flows up to the cut are written",
                src.path.display(),
                outcome.packets,
                outcome.offset
            );
        }
        reports.push(FileReport {
            path: src.path.display().to_string(),
            link_type: src.dlt,
            packets: outcome.packets,
            truncated: outcome.truncated,
        });
    }
    engine.finish(&mut emit);
    progress.finish();
    if let Some(e) = write_err {
        return Err(e).context("writing flow records");
    }
    out.flush().context("writing flow records")?;
    let stats = engine.stats();
    print_summary(&stats);
    if let Some(path) = &args.stats {
        let doc = serde_json::json!({ "files": reports, "stats": stats });
        let text = serde_json::to_string_pretty(&doc)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

fn print_summary(s: &Stats) {
    eprintln!(
        "procflow: {} packets ({} bytes), {} flows ({} evicted, {} midstream), {} decode errors, {} truncated packets",
        s.packets,
        s.bytes,
        s.flows_emitted,
        s.flows_evicted,
        s.flows_midstream,
        s.decode_errors.total(),
        s.truncated_packets
    );
    if s.decode_errors.total() > 0 {
        let by_reason = serde_json::to_string(&s.decode_errors).unwrap_or_default();
        eprintln!("procflow: decode errors by reason: {by_reason}");
    }
    eprintln!(
        "procflow: reassembly: {} bytes, {} gaps ({} bytes missed), {} bytes retransmitted, {} out-of-order segments, {} overflows",
        s.reassembled_bytes,
        s.reassembly_gaps,
        s.missed_bytes,
        s.retransmitted_bytes,
        s.out_of_order_segments,
        s.reassembly_overflows
    );
    eprintln!(
        "procflow: http: {} transactions, {} parse errors, {} not recorded (cap); tls: {} client hellos, {} parse errors",
        s.http_transactions,
        s.http_parse_errors,
        s.http_transactions_dropped,
        s.tls_client_hellos,
        s.tls_parse_errors
    );
}
