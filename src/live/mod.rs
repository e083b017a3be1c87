//! `procflow live`: interfaces in; flows attributed from /proc, followed
//! feed files and streaming agents; windows judged as they close; alerts
//! written as they happen.
//!
//! Threads: one captures (every interface, polled together) into the
//! worker threads of the engine; one polls /proc (`--procfs`); one per
//! followed feed file and per agent connection; one serves metrics. The
//! main thread takes what they send (flow records, packet time, socket
//! events) over one bounded channel and runs attribution, windows and
//! detection. Nothing upstream ever waits for it: when the channel is full
//! what does not fit is dropped and counted.

mod feeds;
mod interfaces;
mod metrics;
mod privileges;
mod procfs;

use crate::cli::LiveArgs;
use crate::read::{attribution_config, print_attribution};
use crate::stage::{Outputs, Stage};
use crate::{detection, pipeline};
use anyhow::{Context, Result};
use capture::FlowRecord;
use correlate::{Attributor, ProcessWindows, SocketEvent, SocketIndex};
use crossbeam_channel::{bounded, RecvTimeoutError};
use metrics::Metrics;
use rules::Mode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Messages the main thread takes.
pub enum Msg {
    /// A flow ended.
    Record(Box<FlowRecord>),
    /// Every flow that ended by this packet time has been sent.
    Time(u64),
    /// Socket events from feed `.1`.
    Events(Vec<SocketEvent>, u16),
}

/// Messages in flight to the main thread at most.
const QUEUE: usize = 65_536;
/// Feed ids: /proc is 0; feed files and agents follow.
const FEED_PROCFS: u16 = 0;

/// Runs the command.
pub fn run(args: &LiveArgs) -> Result<()> {
    let mode = Mode {
        detect: true,
        learn: !args.no_learn,
    };
    let mut detector = detection::setup(args.baseline.as_deref(), args.config.as_deref(), mode)?;
    let window_secs = detection::set_window(&mut detector, args.attribution.window)?;
    let cfg = attribution_config(&args.attribution)?;
    let flow_cfg = pipeline::flow_config(&args.flow);
    let open = |p: &Option<std::path::PathBuf>| p.as_deref().map(pipeline::output).transpose();
    let outputs = Outputs::new(
        open(&args.flows)?,
        open(&args.processes)?,
        open(&args.alerts)?,
        detector,
    );
    if args.alerts.is_none() {
        eprintln!("procflow: warning: no --alerts: alerts are counted, not written");
    }
    let ifaces = interfaces::open(
        &args.interfaces,
        &interfaces::OpenOptions {
            snaplen: args.snaplen,
            promisc: !args.no_promisc,
            buffer_bytes: args.buffer_mb.saturating_mul(1 << 20),
            immediate: args.immediate || args.procfs,
            filter: args.filter.clone(),
        },
    )?;
    // Feeds start before privileges go (a listener may want a low port).
    let feeds = feeds::Feeds::start(args, FEED_PROCFS + 1)?;
    let metrics_listener = args
        .metrics
        .as_deref()
        .map(|a| {
            std::net::TcpListener::bind(a).with_context(|| format!("--metrics {a}: cannot listen"))
        })
        .transpose()?;
    if let Some(user) = &args.user {
        privileges::drop_to(user)?;
        eprintln!("procflow: running as {user}");
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot watch for signals")?;
    }
    let metrics = Arc::new(Metrics::default());
    let (tx, rx) = bounded::<Msg>(QUEUE);
    let threads = pipeline::threads(&args.flow);
    let until = args
        .duration
        .map(|d| Instant::now() + Duration::from_secs_f64(d.max(0.0)));

    // Background threads stop on this flag once capture is over.
    let helpers_stop = Arc::new(AtomicBool::new(false));
    let mut helpers = Vec::new();
    if let Some(l) = metrics_listener {
        let (m, s) = (metrics.clone(), helpers_stop.clone());
        helpers.push(std::thread::spawn(move || metrics::serve(l, m, s)));
    }
    let poke = if args.procfs {
        let (poke_tx, poke_rx) = bounded::<()>(1);
        let p = procfs::Sidecar::new(&args.proc_root, args.procfs_interval_ms)?;
        let (tx, m, s) = (tx.clone(), metrics.clone(), helpers_stop.clone());
        helpers.push(std::thread::spawn(move || {
            p.run(tx, FEED_PROCFS, poke_rx, m, s)
        }));
        Some(poke_tx)
    } else {
        None
    };
    let capture_thread = {
        let (tx, m, s) = (tx.clone(), metrics.clone(), stop.clone());
        std::thread::Builder::new()
            .name("procflow-capture".into())
            .spawn(move || interfaces::run(ifaces, flow_cfg, threads, tx, m, s, until, poke))
            .context("cannot start the capture thread")?
    };
    drop(tx);
    eprintln!(
        "procflow: live on {} ({} worker threads){}",
        args.interfaces.join(", "),
        threads,
        if args.procfs {
            ", sockets from /proc"
        } else {
            ""
        }
    );

    let windows = ProcessWindows::new(
        window_secs.saturating_mul(capture::time::SECOND),
        pipeline::close_lag(&args.flow, cfg.late_window),
        args.attribution.max_windows.max(1),
    );
    let mut stage = Stage::new(Attributor::new(SocketIndex::new(cfg)), windows, outputs);
    let started = Instant::now();
    let mut last_line = Instant::now();
    let interval = Duration::from_secs(args.stats_interval);
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(msg) => take(&mut stage, msg, &metrics),
            Err(RecvTimeoutError::Timeout) => {}
            // Every sender is gone: capture ended and the helpers stopped.
            Err(RecvTimeoutError::Disconnected) => break,
        }
        drain_feeds(&mut stage, &feeds.sources, &metrics);
        if capture_thread.is_finished() {
            helpers_stop.store(true, Relaxed);
        }
        update(&stage, &metrics);
        if args.stats_interval > 0 && last_line.elapsed() >= interval {
            last_line = Instant::now();
            stage.flush();
            stats_line(&metrics, started);
        }
    }
    let end = capture_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the capture thread failed"))?;
    for h in helpers {
        let _ = h.join();
    }
    let sources = feeds.sources.clone();
    let feeds_end = feeds.shutdown();
    drain_feeds(&mut stage, &sources, &metrics);
    for f in &feeds_end.followed {
        eprintln!(
            "procflow: feed {} followed: {} lines, {} socket events, {} bad lines, {} rotations, {} truncations{}",
            f.path,
            f.lines,
            f.events,
            f.bad_lines,
            f.rotations,
            f.truncations,
            f.error.as_ref().map(|e| format!("; {e}")).unwrap_or_default()
        );
    }
    if let Some(l) = &feeds_end.listener {
        eprintln!("procflow: feed listener: {}", l.summary());
    }
    let (attributor, windows, detector, err, baseline_err) = stage.finish();
    let (baseline, summary) = detector.into_parts();
    metrics
        .alerts_an0144
        .store(summary.alerts.get("AN0144").copied().unwrap_or(0), Relaxed);
    metrics
        .alerts_an0145
        .store(summary.alerts.get("AN0145").copied().unwrap_or(0), Relaxed);
    pipeline::print_summary(&end.stats);
    for (name, received, kernel, ifd) in &end.interfaces {
        eprintln!(
            "procflow: interface {name}: {received} packets received by the kernel, {kernel} dropped by the kernel, {ifd} by the interface"
        );
    }
    eprintln!(
        "procflow: {} packets dropped at full worker queues, {} flow records and {} feed events dropped at the full processing queue",
        end.stats.queue_drops,
        metrics.records_dropped.load(Relaxed),
        metrics.feed_events_dropped.load(Relaxed)
    );
    print_attribution(&attributor, &windows);
    detection::print_summary(&summary, &baseline, Some(args.alerts.is_some()));
    if let Some(path) = &args.stats {
        let doc = serde_json::json!({
            "stats": end.stats,
            "interfaces": end.interfaces.iter().map(|(n, r, k, i)| serde_json::json!({
                "name": n, "received": r, "kernel_drops": k, "interface_drops": i,
            })).collect::<Vec<_>>(),
            "records_dropped": metrics.records_dropped.load(Relaxed),
            "followed": feeds_end.followed,
            "listener": feeds_end.listener,
            "feed_events": metrics.feed_events.load(Relaxed),
            "feed_events_dropped": metrics.feed_events_dropped.load(Relaxed),
            "coverage": attributor.coverage,
            "windows": windows.stats,
            "detection": detection::stats_json(&summary, &baseline),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    crate::stage::result(err, baseline_err)
}

fn take(stage: &mut Stage, msg: Msg, metrics: &Metrics) {
    match msg {
        Msg::Record(r) => stage.record(*r),
        Msg::Time(ts) => stage.time(ts),
        Msg::Events(events, feed) => {
            metrics.feed_events.fetch_add(events.len() as u64, Relaxed);
            for e in events {
                stage.attributor.index.insert(e, feed);
            }
        }
    }
}

/// Takes what the feed sources have sent (a bounded amount per call).
fn drain_feeds(
    stage: &mut Stage,
    sources: &[(u16, crossbeam_channel::Receiver<SocketEvent>)],
    metrics: &Metrics,
) {
    for (id, rx) in sources {
        for e in rx.try_iter().take(65_536) {
            metrics.feed_events.fetch_add(1, Relaxed);
            stage.attributor.index.insert(e, *id);
        }
    }
}

fn update(stage: &Stage, metrics: &Metrics) {
    let c = &stage.attributor.coverage;
    metrics.flows.store(c.flows, Relaxed);
    metrics.flows_attributed.store(c.attributed(), Relaxed);
    let (a, b) = stage.out.alerts_by_rule();
    metrics.alerts_an0144.store(a, Relaxed);
    metrics.alerts_an0145.store(b, Relaxed);
}

fn stats_line(m: &Metrics, started: Instant) {
    let g = |a: &std::sync::atomic::AtomicU64| a.load(Relaxed);
    let flows = g(&m.flows);
    let share = if flows == 0 {
        0.0
    } else {
        g(&m.flows_attributed) as f64 * 100.0 / flows as f64
    };
    eprintln!(
        "procflow: live {:.0} s: {} packets, {} kernel drops, {} interface drops, {} queue drops; {} flows, {:.1} % attributed; {} feed events; alerts AN0144 {}, AN0145 {}",
        started.elapsed().as_secs_f64(),
        g(&m.packets),
        g(&m.kernel_drops),
        g(&m.if_drops),
        g(&m.queue_drops),
        flows,
        share,
        g(&m.feed_events),
        g(&m.alerts_an0144),
        g(&m.alerts_an0145),
    );
}
