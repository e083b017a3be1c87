//! `procflow live`: interfaces in; flows attributed from /proc, followed
//! feed files and streaming agents; windows judged as they close; alerts
//! written as they happen.
//!
//! Threads: one captures (every interface, polled together) into the
//! worker threads of the engine; one polls /proc (`--procfs`); one per
//! followed feed file and per agent connection; one serves metrics; one
//! writes each output. The main thread takes what they send (flow records,
//! packet time, socket events) over one bounded channel and runs
//! attribution, windows and detection. Nothing upstream ever waits for it,
//! and it never waits for an output: when a queue is full what does not
//! fit is dropped and counted. One stop signal (SIGINT, SIGTERM,
//! `--duration`, every interface down) reaches every thread, and each is
//! joined within a bounded time.

mod interfaces;
mod metrics;
mod output;
mod privileges;
pub mod shutdown;
mod sources;

#[cfg(feature = "ebpf")]
pub use sources::KernelArgs;
pub use sources::{FollowArgs, ListenArgs, LocalArgs, NatsFeedArgs, ProcfsArgs};

use crate::cli::LiveArgs;
use crate::read::{attribution_config, print_attribution};
use crate::stage::{Outputs, Stage};
use crate::{detection, pipeline};
use anyhow::{Context, Result};
use capture::FlowRecord;
use correlate::{Attributor, ProcessWindows, SocketEvent, SocketIndex};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use metrics::Metrics;
use output::Kind;
use rules::baseline::StoreError;
use rules::Mode;
use shutdown::{join_by, Shutdown, GRACE};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Messages the main thread takes.
pub enum Msg {
    /// A flow ended.
    Record(Box<FlowRecord>),
    /// Every flow that ended by this packet time has been sent.
    Time(u64),
    /// Copies of frames read, for `--pcap-out`.
    Frames(Vec<crate::pcap_out::FrameCopy>),
}

/// Messages in flight to the main thread at most.
const QUEUE: usize = 65_536;

/// Runs the command.
pub fn run(args: &LiveArgs) -> Result<()> {
    let mode = Mode {
        detect: true,
        learn: !args.no_learn,
    };
    let mut detector = detection::setup(args.baseline.as_deref(), args.config.as_deref(), mode)?;
    let window_secs = detection::set_window(&mut detector, args.attribution.window)?;
    let cfg = attribution_config(&args.attribution)?;
    let flow_cfg = pipeline::flow_config(&args.flow)?;
    let metrics = Arc::new(Metrics::new(detector.policy().registry()));
    let listener = detector.policy().config.listener.clone();
    let (outputs, writers) = open_outputs(args, detector, &metrics)?;
    if args.alerts.is_none() {
        eprintln!("procflow: warning: no --alerts: alerts are counted, not written");
    }
    // Sources start before privileges go (a listener may want a low port).
    let sources = sources::Sources::start(args, &metrics, listener)?;
    let ifaces = interfaces::open(
        &args.interfaces,
        &interfaces::OpenOptions {
            snaplen: args.snaplen,
            promisc: !args.no_promisc,
            buffer_bytes: args.buffer_mb.saturating_mul(1 << 20),
            immediate: args.immediate || !sources.nudges.is_empty(),
            filter: args.filter.clone(),
        },
    )?;
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

    let stop = Shutdown::on_signals().context("cannot watch for signals")?;
    let (tx, rx) = bounded::<Msg>(QUEUE);
    let helpers = start_helpers(&stop, &metrics, metrics_listener)?;
    let capture_thread = {
        let (tx, m, s) = (tx.clone(), metrics.clone(), stop.clone());
        let threads = pipeline::threads(&args.flow);
        let nudges = sources.nudges.clone();
        let copies = args.pcap.pcap_out.is_some();
        spawn("capture", move || {
            interfaces::run(ifaces, flow_cfg, threads, tx, m, s, (nudges, copies))
        })?
    };
    drop(tx);
    eprintln!(
        "procflow: live on {} ({} worker threads){}",
        args.interfaces.join(", "),
        pipeline::threads(&args.flow),
        sources.banner()
    );

    let windows = ProcessWindows::new(
        window_secs.saturating_mul(capture::time::SECOND),
        pipeline::close_lag(&args.flow, cfg.late_window),
        args.attribution.max_windows.max(1),
    )
    .with_max_flow_refs(args.attribution.max_flow_refs);
    let mut stage = Stage::new(Attributor::new(SocketIndex::new(cfg)), windows, outputs);
    let until = args
        .duration
        .map(|d| Instant::now() + Duration::from_secs_f64(d.max(0.0)));
    let ticker = Ticker {
        started: Instant::now(),
        interval: Duration::from_secs(args.stats_interval),
        until,
    };
    main_loop(
        &mut stage,
        &rx,
        &capture_thread,
        &stop,
        &sources.queues(),
        &metrics,
        &ticker,
    );
    let running = Running {
        capture: capture_thread,
        helpers,
        sources,
        writers,
    };
    let ended = wind_down(stage, running, &metrics)?;
    report_end(args, ended, &metrics)
}

/// Threads that watch the stop signal on their own, with what they are.
type Helpers = Vec<(&'static str, JoinHandle<()>)>;

/// The threads of a run, besides the main one.
struct Running {
    capture: JoinHandle<interfaces::CaptureEnd>,
    helpers: Helpers,
    sources: sources::Sources,
    writers: Vec<output::Output>,
}

/// What a run leaves once its threads have stopped.
struct Ended {
    capture: interfaces::CaptureEnd,
    sources: Option<sources::SourcesEnd>,
    attributor: Attributor,
    windows: ProcessWindows,
    detector: rules::Detector,
    err: Option<std::io::Error>,
    baseline_err: Option<StoreError>,
}

/// Starts the metrics server (watching `stop`).
fn start_helpers(
    stop: &Shutdown,
    metrics: &Arc<Metrics>,
    metrics_listener: Option<std::net::TcpListener>,
) -> Result<Helpers> {
    let mut helpers = Vec::new();
    if let Some(l) = metrics_listener {
        let (m, s) = (metrics.clone(), stop.flag());
        let h = spawn("metrics", move || metrics::serve(l, m, s))?;
        helpers.push(("the metrics server", h));
    }
    Ok(helpers)
}

/// Once capture is over (every record taken, every thread told to stop):
/// joins each thread within [`GRACE`], takes the last feed events, ends
/// the stage, and lets each writer finish its queue within [`GRACE`].
fn wind_down(mut stage: Stage, r: Running, metrics: &Metrics) -> Result<Ended> {
    let capture = r
        .capture
        .join()
        .map_err(|_| anyhow::anyhow!("the capture thread failed"))?;
    let deadline = Instant::now() + GRACE;
    for (what, h) in r.helpers {
        let _ = join_by(h, deadline, what);
    }
    let queues = r.sources.queues();
    let sources = r.sources;
    let sources_end = spawn("sources-stop", move || sources.stop())
        .ok()
        .and_then(|h| join_by(h, deadline, "a socket-event source"));
    drain_feeds(&mut stage, &queues, metrics);
    for (_, end) in sources_end.iter().flatten() {
        for line in &end.lines {
            eprintln!("procflow: {line}");
        }
    }
    let (attributor, windows, detector, err, baseline_err) = stage.finish();
    // The writers' queues are closed: each finishes what it holds, in time.
    let deadline = Instant::now() + GRACE;
    for w in r.writers {
        finish_writer(w, deadline, metrics);
    }
    Ok(Ended {
        capture,
        sources: sources_end,
        attributor,
        windows,
        detector,
        err,
        baseline_err,
    })
}

/// The summary on stderr and in `--stats`; the run's result.
fn report_end(args: &LiveArgs, e: Ended, metrics: &Metrics) -> Result<()> {
    let (baseline, summary) = e.detector.into_parts();
    metrics.record_alerts(&summary.alerts);
    let end = &e.capture;
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
    print_attribution(&e.attributor, &e.windows);
    detection::print_summary(&summary, &baseline, Some(args.alerts.is_some()));
    let lost = report_outputs(args, metrics);
    if let Some(path) = &args.stats {
        let mut doc = serde_json::json!({
            "stats": end.stats,
            "interfaces": end.interfaces.iter().map(|(n, r, k, i)| serde_json::json!({
                "name": n, "received": r, "kernel_drops": k, "interface_drops": i,
            })).collect::<Vec<_>>(),
            "interfaces_down": metrics.interfaces_down.load(Relaxed),
            "records_dropped": metrics.records_dropped.load(Relaxed),
            "feed_events": metrics.feed_events.load(Relaxed),
            "feed_events_dropped": metrics.feed_events_dropped.load(Relaxed),
            "outputs": outputs_json(args, metrics),
            "coverage": e.attributor.coverage,
            "windows": e.windows.stats,
            "detection": detection::stats_json(&summary, &baseline),
        });
        // Each source's figures under its own key.
        for (_, end) in e.sources.into_iter().flatten() {
            if let (Some((key, v)), Some(o)) = (end.stats, doc.as_object_mut()) {
                o.insert(key.into(), v);
            }
        }
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    crate::stage::result(e.err, e.baseline_err)?;
    if end.frames_dropped > 0 {
        eprintln!(
            "procflow: pcap-out: {} frame copies dropped at the full processing queue",
            end.frames_dropped
        );
    }
    if end.all_down {
        anyhow::bail!("every interface went down; every flow seen was written");
    }
    if !lost.is_empty() {
        anyhow::bail!("lines not written: {}", lost.join(", "));
    }
    Ok(())
}

/// Starts a named thread.
fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>> {
    std::thread::Builder::new()
        .name(format!("procflow-{name}"))
        .spawn(f)
        .with_context(|| format!("cannot start the {name} thread"))
}

/// Each output asked for, behind its writer thread.
fn open_outputs(
    args: &LiveArgs,
    detector: rules::Detector,
    metrics: &Arc<Metrics>,
) -> Result<(Outputs, Vec<output::Output>)> {
    let mut writers = Vec::new();
    let mut open = |kind: Kind, path: &Option<PathBuf>| -> Result<Option<Box<dyn Write + Send>>> {
        let Some(path) = path else { return Ok(None) };
        let (q, w) = output::start(kind, path, args.output_queue, metrics)?;
        writers.push(w);
        Ok(Some(Box::new(q)))
    };
    let flows = open(Kind::Flows, &args.flows)?;
    let processes = open(Kind::Processes, &args.processes)?;
    let alerts = open(Kind::Alerts, &args.alerts)?;
    let profile = args.output.profile();
    let publisher = args.publish.start(&crate::sink::identity::sensor().name)?;
    if let Some(p) = &publisher {
        metrics.set_publish_counters(p.counters());
    }
    Ok((
        Outputs::with_publisher(flows, processes, alerts, profile, detector, publisher)
            .with_pcap(args.pcap.store()?),
        writers,
    ))
}

/// Waits for a writer to finish its queue; what it could not write by
/// `deadline` is counted as abandoned.
fn finish_writer(w: output::Output, deadline: Instant, metrics: &Metrics) {
    let what = format!("the {} writer ({})", w.kind.name(), w.path);
    if join_by(w.thread, deadline, &what).is_none() {
        let c = metrics.output(w.kind);
        let settled =
            c.written.load(Relaxed) + c.queue_full.load(Relaxed) + c.write_failed.load(Relaxed);
        c.abandoned
            .store(c.lines.load(Relaxed).saturating_sub(settled), Relaxed);
    }
}

/// One line per output with its figures; the outputs that lost lines.
fn report_outputs(args: &LiveArgs, metrics: &Metrics) -> Vec<String> {
    let mut lost = Vec::new();
    for (kind, path) in asked_outputs(args) {
        let c = metrics.output(kind);
        let dropped = c.dropped();
        eprintln!(
            "procflow: {} output {}: {} lines, {} written, {dropped} dropped ({} at the full queue, {} at failed writes, {} unwritten at the end)",
            kind.name(),
            path.display(),
            c.lines.load(Relaxed),
            c.written.load(Relaxed),
            c.queue_full.load(Relaxed),
            c.write_failed.load(Relaxed),
            c.abandoned.load(Relaxed)
        );
        if dropped > 0 {
            lost.push(format!("{} {dropped}", kind.name()));
        }
    }
    lost
}

fn asked_outputs(args: &LiveArgs) -> Vec<(Kind, &Path)> {
    Kind::ALL
        .into_iter()
        .filter_map(|k| {
            let p = match k {
                Kind::Flows => &args.flows,
                Kind::Processes => &args.processes,
                Kind::Alerts => &args.alerts,
            };
            p.as_deref().map(|p| (k, p))
        })
        .collect()
}

fn outputs_json(args: &LiveArgs, metrics: &Metrics) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    for (kind, path) in asked_outputs(args) {
        let mut v = metrics.output(kind).to_json();
        if let Some(m) = v.as_object_mut() {
            m.insert("path".into(), path.display().to_string().into());
        }
        o.insert(kind.name().into(), v);
    }
    o.into()
}

/// When the statistics line is due and when the run ends by itself.
struct Ticker {
    started: Instant,
    interval: Duration,
    until: Option<Instant>,
}

/// Takes what the threads send until capture is over: a stop (signal,
/// `--duration`) is passed on to every thread through `stop`, capture
/// drains and writes its open flows, and the loop ends once it has taken
/// them all.
fn main_loop(
    stage: &mut Stage,
    rx: &Receiver<Msg>,
    capture: &JoinHandle<interfaces::CaptureEnd>,
    stop: &Shutdown,
    sources: &[(u16, Receiver<SocketEvent>)],
    metrics: &Metrics,
    t: &Ticker,
) {
    let mut last_line = Instant::now();
    loop {
        let captured = capture.is_finished();
        if captured || t.until.is_some_and(|u| Instant::now() >= u) {
            stop.request();
        }
        if captured {
            // Its sender is gone: everything it sent is queued.
            for msg in rx.try_iter() {
                take(stage, msg);
            }
            drain_feeds(stage, sources, metrics);
            update(stage, metrics);
            return;
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(msg) => take(stage, msg),
            // Disconnected cannot outlive the capture thread's sender; the
            // next turn sees it finished.
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
        drain_feeds(stage, sources, metrics);
        update(stage, metrics);
        if !t.interval.is_zero() && last_line.elapsed() >= t.interval {
            last_line = Instant::now();
            stage.flush();
            stats_line(metrics, t.started);
        }
    }
}

fn take(stage: &mut Stage, msg: Msg) {
    match msg {
        Msg::Record(r) => stage.record(*r),
        Msg::Time(ts) => stage.time(ts),
        Msg::Frames(b) => stage.frames(b),
    }
}

/// Takes what the socket-event sources have sent (a bounded amount per
/// call).
fn drain_feeds(stage: &mut Stage, queues: &[(u16, Receiver<SocketEvent>)], metrics: &Metrics) {
    sources::drain(queues, metrics, &mut |e, id| {
        stage.attributor.index.insert(e, id)
    });
}

fn update(stage: &Stage, metrics: &Metrics) {
    let c = &stage.attributor.coverage;
    metrics.flows.store(c.flows, Relaxed);
    metrics.flows_attributed.store(c.attributed(), Relaxed);
    metrics.record_alerts(stage.out.alerts_by_rule());
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
        "procflow: live {:.0} s: {} packets, {} kernel drops, {} interface drops, {} queue drops, {} interfaces down; {} flows, {:.1} % attributed; {} feed events ({} lost by the sources); alerts {}; dropped at outputs: alerts {}, flows {}, processes {}",
        started.elapsed().as_secs_f64(),
        g(&m.packets),
        g(&m.kernel_drops),
        g(&m.if_drops),
        g(&m.queue_drops),
        g(&m.interfaces_down),
        flows,
        share,
        g(&m.feed_events),
        g(&m.source_events_lost),
        m.alerts_line(),
        m.alerts_out.dropped(),
        m.flows_out.dropped(),
        m.processes_out.dropped(),
    );
}
