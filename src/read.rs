//! `procflow read` and `procflow learn`: captures and endpoint feeds in;
//! attributed flows, per-process windows, alerts and a summary out, and
//! the baseline brought up to date.

use crate::cli::{AttributeArgs, AttributionOpts, LearnArgs, ReadArgs};
use crate::detection;
use crate::pipeline::{self, Tick};
use crate::stage::{Outputs, Stage};
use anyhow::{Context, Result};
use correlate::feed::{self, FeedFormat, FeedReport};
use correlate::{AttributionConfig, Attributor, ProcessWindows, SocketIndex};
use rules::{Detector, Mode};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Seconds as microseconds, refusing negative or absurd values.
pub fn micros(secs: f64, what: &str) -> Result<u64> {
    if !(0.0..=1e9).contains(&secs) {
        anyhow::bail!("--{what} must be between 0 and 1e9 seconds, not {secs}");
    }
    Ok((secs * 1e6).round() as u64)
}

/// The attribution settings the options ask for.
pub fn attribution_config(o: &AttributionOpts) -> Result<AttributionConfig> {
    Ok(AttributionConfig {
        time_tolerance: micros(o.time_tolerance, "time-tolerance")?,
        late_window: micros(o.late_window, "late-window")?,
        max_sockets: o.max_sockets.max(1),
        max_hosts: o.max_hosts.max(1),
        ..AttributionConfig::default()
    })
}

/// `procflow read`.
pub fn run(args: &ReadArgs) -> Result<()> {
    let mode = Mode {
        detect: true,
        learn: args.learn,
    };
    let detector = detection::setup(args.baseline.as_deref(), args.config.as_deref(), mode)?;
    // Without any other output named, flows go to standard output.
    let a = &args.attribute;
    let flows_default = a.flows.is_none() && a.processes.is_none() && args.alerts.is_none();
    run_job(a, detector, args.alerts.as_deref(), flows_default)
}

/// `procflow learn`.
pub fn learn(args: &LearnArgs) -> Result<()> {
    let mode = Mode {
        detect: false,
        learn: true,
    };
    let detector = detection::setup(Some(&args.baseline), args.config.as_deref(), mode)?;
    run_job(&args.attribute, detector, None, false)
}

fn run_job(
    args: &AttributeArgs,
    mut detector: Detector,
    alerts: Option<&Path>,
    flows_default: bool,
) -> Result<()> {
    let format: FeedFormat = args
        .feed_format
        .parse()
        .map_err(|e| anyhow::anyhow!("--feed-format: {e}"))?;
    let window_secs = detection::set_window(&mut detector, args.attribution.window)?;
    let detector_detects = detector.detects();
    let cfg = attribution_config(&args.attribution)?;
    let mut sources = pipeline::open(&args.capture)?;
    let loader = start_feeds(args, format, &cfg)?;

    let alerts_written = alerts.is_some();
    let open_outputs = outputs_opener(args, alerts, flows_default);
    let windows = ProcessWindows::new(
        window_secs.saturating_mul(capture::time::SECOND),
        pipeline::close_lag(&args.capture.flow, cfg.late_window),
        args.attribution.max_windows.max(1),
    )
    .with_max_flow_refs(args.attribution.max_flow_refs);
    let mut pending = StageStart::Feeds {
        loader,
        windows,
        detector,
        open_outputs,
    };
    let stop = AtomicBool::new(false);
    let frames = args.pcap.pcap_out.is_some();
    let mut sink = |t: Tick, back: &mut Vec<Tick>| {
        let Some(stage) = pending.stage(&stop) else {
            return;
        };
        match t {
            Tick::Record(r) => stage.record(r),
            Tick::Time(ts) => stage.time(ts),
            Tick::Frames(b) => stage.frames(b),
        }
        // Attribution holds records a while; those it let go and the
        // outputs wrote go back to be freed where they were made.
        back.extend(stage.spent().map(Tick::Record));
    };
    let (reports, stats) = pipeline::run(&mut sources, &args.capture, &stop, frames, &mut sink)?;
    pending.stage(&stop);
    let (stage, feed_reports) = match pending {
        StageStart::Ready(stage, reports) => (stage, reports),
        StageStart::Failed(e) => return Err(e),
        StageStart::Feeds { .. } | StageStart::Taken => anyhow::bail!("the feeds were never read"),
    };
    let (attributor, windows, detector, err, baseline_err) = stage.finish();
    let (baseline, summary) = detector.into_parts();

    pipeline::print_summary(&stats);
    print_attribution(&attributor, &windows);
    let written = detector_detects.then_some(alerts_written);
    detection::print_summary(&summary, &baseline, written);
    if let Some(path) = &args.capture.stats {
        let doc = serde_json::json!({
            "files": reports,
            "stats": stats,
            "feeds": feed_reports,
            "index": attributor.index.stats,
            "clocks": clocks_json(&attributor, &args.feeds),
            "coverage": attributor.coverage,
            "unattributed_talkers": attributor.top_unattributed(10),
            "windows": windows.stats,
            "detection": detection::stats_json(&summary, &baseline),
        });
        let text = serde_json::to_string_pretty(&doc)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    // The socket index can hold millions of sockets: freeing them one by
    // one took a fifth of a large run's time (bench/feed.sh), and the
    // process ends now and returns the memory whole.
    std::mem::forget(attributor);
    crate::stage::result(err, baseline_err)
}

/// Opens every feed now, so a missing one stops the run before any
/// output, and reads them on a thread of their own while the capture
/// starts (the first record waits for them).
fn start_feeds(
    args: &AttributeArgs,
    format: FeedFormat,
    cfg: &AttributionConfig,
) -> Result<std::thread::JoinHandle<Loaded>> {
    let mut feeds = Vec::with_capacity(args.feeds.len());
    for (i, path) in args.feeds.iter().enumerate() {
        let id = u16::try_from(i).context("too many --feed files (at most 65,535)")?;
        let host = args.feed_host.clone().unwrap_or_else(|| default_host(path));
        let input = match path.to_str().filter(|p| crate::publish::is_nats(p)) {
            Some(url) => {
                let (name, lines) = crate::publish::relayed_events(url, &args.publish)?;
                FeedInput::Relayed(name, lines)
            }
            None => FeedInput::File(feed::open(path)?, path.clone()),
        };
        feeds.push((input, id, host));
    }
    if args.feeds.is_empty() {
        eprintln!("procflow: no --feed given: every flow is reported unattributed");
    }
    let listing = listing(args, &feeds, cfg)?;
    let index_cfg = cfg.clone();
    let accept_bad = args.accept_bad_feeds;
    std::thread::Builder::new()
        .name("procflow-feeds".into())
        .spawn(move || {
            let mut index = SocketIndex::new(index_cfg);
            if let Some(listing) = listing {
                if let Some(list) = listing.run() {
                    index = index.only_for(std::sync::Arc::new(list));
                }
            }
            let mut reports = Vec::with_capacity(feeds.len());
            for (input, id, host) in feeds {
                let sink = &mut |ev| index.insert(ev, id);
                let report = match input {
                    FeedInput::File(file, path) => {
                        feed::read_open(file, &path, format, &host, sink)?
                    }
                    // Relays publish native feed lines.
                    FeedInput::Relayed(name, lines) => {
                        feed::read_reader(lines, &name, FeedFormat::Jsonl, &host, sink)?
                    }
                };
                if !accept_bad {
                    no_usable_line(&report)?;
                }
                reports.push(report);
            }
            Ok((index, reports))
        })
        .context("cannot start a thread")
}

/// Feed bytes a socket event takes at the least (a short native line): a
/// feed of more bytes than this per `--max-sockets` may overflow the index.
const MIN_EVENT_BYTES: u64 = 100;

/// The capture's flows listed before the feeds are read, so that an index
/// too small for the feeds keeps only the sockets that could name one.
struct Listing {
    captures: Vec<PathBuf>,
    tunnels: capture::decode::Tunnels,
    /// Flows listed at most (24 bytes each): past it, no list.
    max: usize,
    feed_bytes: u64,
}

impl Listing {
    /// Lists the flows, saying so; `None` (said too) when the capture
    /// holds more than the list's cap or could not be listed.
    fn run(self) -> Option<capture::prescan::FlowList> {
        let paths: Vec<&Path> = self.captures.iter().map(PathBuf::as_path).collect();
        match capture::prescan::list(&paths, self.tunnels, self.max) {
            Ok(Some(list)) => {
                eprintln!(
                    "procflow: feeds of {} bytes may hold more sockets than --max-sockets: listed the capture's flows first ({} 5-tuples), and keep only the sockets that could name one",
                    self.feed_bytes,
                    list.flows()
                );
                Some(list)
            }
            Ok(None) => {
                eprintln!(
                    "procflow: feeds of {} bytes may hold more sockets than --max-sockets, and the capture more than {} flows: every socket is kept, the oldest evicted",
                    self.feed_bytes, self.max
                );
                None
            }
            Err(e) => {
                eprintln!("procflow: could not list the capture's flows first ({e}): every socket is kept, the oldest evicted");
                None
            }
        }
    }
}

/// A listing of the capture's flows, when the feeds are files larger than
/// the socket index is likely to hold and the captures are files that can
/// be read twice.
fn listing(
    args: &AttributeArgs,
    feeds: &[(FeedInput, u16, String)],
    cfg: &AttributionConfig,
) -> Result<Option<Listing>> {
    let mut feed_bytes = 0u64;
    for (input, _, _) in feeds {
        match input {
            FeedInput::File(f, _) => feed_bytes += f.metadata().map_or(0, |m| m.len()),
            FeedInput::Relayed(..) => return Ok(None),
        }
    }
    let files = args.capture.captures.iter().all(|p| {
        p.as_os_str() != capture::file::STDIN && std::fs::metadata(p).is_ok_and(|m| m.is_file())
    });
    let big = feed_bytes > (cfg.max_sockets as u64).saturating_mul(MIN_EVENT_BYTES);
    if !big || !files {
        return Ok(None);
    }
    Ok(Some(Listing {
        captures: args.capture.captures.clone(),
        tunnels: pipeline::flow_config(&args.capture.flow)?.tunnels,
        max: cfg.max_sockets.saturating_mul(4),
        feed_bytes,
    }))
}

/// Where a feed's events come from.
enum FeedInput {
    /// A file, opened.
    File(std::fs::File, PathBuf),
    /// A NATS server's relayed events (its name, their lines as they come).
    Relayed(String, crate::publish::RelayedLines),
}

/// A feed of which not one line gave a socket event, though some were
/// bad, was most likely read as the wrong format: an error (with the
/// first bad line's reason), not a run attributing nothing.
fn no_usable_line(r: &FeedReport) -> std::result::Result<(), feed::FeedError> {
    if r.events > 0 || r.bad_lines == 0 {
        return Ok(());
    }
    let first = r
        .bad_examples
        .first()
        .map(|b| format!(" (line {}: {})", b.line, b.reason))
        .unwrap_or_default();
    Err(feed::FeedError::Format {
        path: r.path.clone(),
        reason: format!(
            "none of its {} lines gave a socket event read as {}, {} were bad{first}; check --feed-format, or pass --accept-bad-feeds to go on without it",
            r.lines, r.format, r.bad_lines
        ),
    })
}

/// What opens the outputs once the feeds are read, so a feed found
/// unusable leaves files of an earlier run as they were.
fn outputs_opener(args: &AttributeArgs, alerts: Option<&Path>, flows_default: bool) -> OpenOutputs {
    let (flows, processes) = (args.flows.clone(), args.processes.clone());
    let pcap = args.pcap.clone();
    let publish = args.publish.clone();
    let alerts = alerts.map(Path::to_path_buf);
    let profile = args.output.profile();
    Box::new(move |detector| {
        let flows_out = match &flows {
            None if flows_default => Some(pipeline::writer(None)?),
            f => f.as_deref().map(pipeline::output).transpose()?,
        };
        let procs_out = processes.as_deref().map(pipeline::output).transpose()?;
        let alerts_out = alerts.as_deref().map(pipeline::output).transpose()?;
        let store = pcap.store()?;
        let publisher = publish.start(&crate::sink::identity::sensor().name)?;
        Ok(Outputs::with_publisher(
            flows_out, procs_out, alerts_out, profile, detector, publisher,
        )
        .with_pcap(store))
    })
}

/// Each host clock the attribution learned, for the statistics file.
fn clocks_json(attributor: &Attributor, feeds: &[PathBuf]) -> Vec<serde_json::Value> {
    attributor
        .index
        .hosts
        .clocks()
        .map(|c| {
            serde_json::json!({
                "host": attributor.index.hosts.get(c.host).map(|h| h.name.to_string()),
                "feed": feeds.get(usize::from(c.feed)).map(|p| p.display().to_string()),
                "offset_us": c.offset(),
                "samples": c.sample_count,
            })
        })
        .collect()
}

/// What the feed-reading thread hands back.
type Loaded = std::result::Result<(SocketIndex, Vec<FeedReport>), feed::FeedError>;

/// Creates the outputs, handing them the detector.
type OpenOutputs = Box<dyn FnOnce(Detector) -> Result<Outputs> + Send>;

/// The stage, once the feeds it attributes by are read.
// One per run, never stored in bulk: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum StageStart {
    /// The feeds are being read; the stage's other parts wait here.
    Feeds {
        loader: std::thread::JoinHandle<Loaded>,
        windows: ProcessWindows,
        detector: Detector,
        open_outputs: OpenOutputs,
    },
    /// Running, with what reading the feeds gave.
    Ready(Stage, Vec<FeedReport>),
    /// A feed could not be read: the run stops with this error.
    Failed(anyhow::Error),
    /// Only while changing state.
    Taken,
}

impl StageStart {
    /// The stage, waiting for the feeds on first use; `None` (and `stop`
    /// set, so reading ends early) when a feed could not be read.
    fn stage(&mut self, stop: &AtomicBool) -> Option<&mut Stage> {
        if matches!(self, StageStart::Feeds { .. }) {
            let StageStart::Feeds {
                loader,
                windows,
                detector,
                open_outputs,
            } = std::mem::replace(self, StageStart::Taken)
            else {
                return None;
            };
            *self = match loader.join() {
                Ok(Ok((index, reports))) => {
                    for r in &reports {
                        print_feed(r);
                    }
                    match open_outputs(detector) {
                        Ok(outputs) => {
                            let attributor = Attributor::new(index).with_complete_index();
                            let mut stage = Stage::new(attributor, windows, outputs);
                            stage.keep_spent(pipeline::HANDED_BACK);
                            StageStart::Ready(stage, reports)
                        }
                        Err(e) => StageStart::Failed(e),
                    }
                }
                Ok(Err(e)) => StageStart::Failed(e.into()),
                Err(_) => StageStart::Failed(anyhow::anyhow!("the feed-reading thread failed")),
            };
        }
        match self {
            StageStart::Ready(stage, _) => Some(stage),
            _ => {
                stop.store(true, Ordering::Relaxed);
                None
            }
        }
    }
}

/// Host name for feeds without one: the file name up to its first dot.
pub fn default_host(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .filter(|n| !n.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

/// Prints what reading one feed gave.
pub fn print_feed(r: &FeedReport) {
    let skipped: Vec<String> = r.skipped.iter().map(|(k, v)| format!("{v} {k}")).collect();
    eprintln!(
        "procflow: feed {}: {}, {} lines, {} socket events, {} bad lines{}",
        r.path,
        r.format,
        r.lines,
        r.events,
        r.bad_lines,
        if skipped.is_empty() {
            String::new()
        } else {
            format!(", skipped: {}", skipped.join(", "))
        }
    );
    for b in &r.bad_examples {
        eprintln!("procflow: feed {}: line {}: {}", r.path, b.line, b.reason);
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// Clocks listed one a line up to this many; past it, one summary line
/// and the farthest few.
const CLOCK_LINES: usize = 5;

/// Each feed host's clock offset from packet time: one line each for a
/// few hosts; for many, the spread and the farthest ones.
fn print_clocks(a: &Attributor) {
    let hosts = &a.index.hosts;
    let name =
        |c: &correlate::hosts::Clock| hosts.get(c.host).map_or("?", |h| &*h.name).to_string();
    let line = |c: &correlate::hosts::Clock| {
        match c.offset() {
        Some(off) => format!(
            "procflow: clock of {} (feed {}): {:+.3} s from packet time ({} samples)",
            name(c),
            c.feed + 1,
            off as f64 / 1e6,
            c.sample_count
        ),
        None => format!(
            "procflow: clock of {} (feed {}): offset unknown (no unambiguous match), tolerance applies",
            name(c),
            c.feed + 1
        ),
    }
    };
    let clocks: Vec<_> = hosts.clocks().collect();
    if clocks.len() <= CLOCK_LINES {
        for c in clocks {
            eprintln!("{}", line(c));
        }
        return;
    }
    let mut known: Vec<_> = clocks.iter().filter(|c| c.offset().is_some()).collect();
    known.sort_by_key(|c| std::cmp::Reverse(c.offset().map_or(0, i64::unsigned_abs)));
    let mut offsets: Vec<i64> = known.iter().filter_map(|c| c.offset()).collect();
    offsets.sort_unstable();
    let at = |i: usize| offsets.get(i).map_or(0.0, |o| *o as f64 / 1e6);
    eprintln!(
        "procflow: clocks of {} feed hosts: {} estimated, from {:+.3} s to {:+.3} s (median {:+.3} s); {} unknown (tolerance applies); the farthest:",
        clocks.len(),
        offsets.len(),
        at(0),
        at(offsets.len().saturating_sub(1)),
        at(offsets.len() / 2),
        clocks.len() - offsets.len()
    );
    for c in known.into_iter().take(3) {
        eprintln!("{}", line(c));
    }
}

/// Prints the attribution half of the run summary.
pub fn print_attribution(a: &Attributor, w: &ProcessWindows) {
    let ix = &a.index.stats;
    eprintln!(
        "procflow: socket index: {} events, {} sockets, {} merged, {} evicted, {} refused (host table full), {} without an executable (named from another event of the pid where one exists)",
        ix.events, ix.sockets, ix.merged, ix.evicted, ix.refused_hosts, ix.unknown_images
    );
    if ix.not_in_capture > 0 {
        eprintln!(
            "procflow: socket index: {} events left out, their sockets naming no flow of the capture",
            ix.not_in_capture
        );
    }
    if ix.evicted > 0 {
        eprintln!(
            "procflow: warning: the socket index evicted {} sockets at --max-sockets {}: flows of the evicted sockets' time go unattributed; raise --max-sockets (about 600 bytes a socket)",
            ix.evicted,
            a.index.config().max_sockets
        );
    }
    if ix.refused_hosts > 0 {
        eprintln!(
            "procflow: warning: {} events refused: more endpoint hosts than --max-hosts {}",
            ix.refused_hosts,
            a.index.config().max_hosts
        );
    }
    print_clocks(a);
    let c = &a.coverage;
    let client = c.client_exact + c.client_remote_only + c.client_time_window;
    eprintln!(
        "procflow: attribution: {client} of {} flows with their client's process ({:.1} %), {} with a process on either end ({:.1} %), {} of {} payload bytes ({:.1} %); client side: {} exact, {} remote_only, {} time_window; server side: {}; {} conflicts left unattributed",
        c.flows,
        pct(client, c.flows),
        c.attributed(),
        pct(c.attributed(), c.flows),
        c.bytes_attributed,
        c.bytes,
        pct(c.bytes_attributed, c.bytes),
        c.client_exact,
        c.client_remote_only,
        c.client_time_window,
        c.server_attributed,
        c.conflicts
    );
    if c.icmp > 0 {
        eprintln!(
            "procflow: {} ICMP flows (no socket to attribute them to: not in the figures above)",
            c.icmp
        );
    }
    if c.released_early > 0 {
        eprintln!(
            "procflow: warning: {} flows attributed before their late-event wait ended (too many waiting)",
            c.released_early
        );
    }
    let top = a.top_unattributed(10);
    if !top.is_empty() {
        eprintln!("procflow: top unattributed talkers (blind spots):");
        for t in top {
            eprintln!(
                "procflow:   {:<39} {:>8} flows {:>14} bytes  (largest to port {})",
                t.ip.map(|i| i.to_string()).unwrap_or_default(),
                t.flows,
                t.bytes,
                t.top_port
            );
        }
    }
    eprintln!(
        "procflow: process windows: {} written ({} early, table full), {} flows counted in a later window (theirs was written), {} flows counted but not listed (--max-flow-refs), {} destinations named from their client's DNS answers ({} answers taken, {} forgotten at the cap)",
        w.stats.emitted, w.stats.evicted, w.stats.late_flows, w.stats.flows_unlisted, w.stats.named_by_dns,
        w.names.learnt, w.names.evicted
    );
}
