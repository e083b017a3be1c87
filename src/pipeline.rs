//! The capture loop both `flows` and `read` run: open every input, feed
//! each frame to the engine, hand records and packet time to the caller.

use crate::cli::{CaptureArgs, FlowOpts};
use crate::progress::Progress;
use anyhow::{bail, Result};
use capture::packets::{self, PacketSource, Reading};
use capture::{FlowConfig, FlowRecord, PacketEngine, Stats};
use crossbeam_channel::{bounded, Receiver};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// How one input file was read.
#[derive(Debug, serde::Serialize)]
pub struct FileReport {
    path: String,
    link_type: i32,
    packets: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<String>,
}

/// What the capture loop hands on.
// Passed by value to a callback and never stored in bulk: boxing the record
// would only add an allocation per flow.
#[allow(clippy::large_enum_variant)]
pub enum Tick {
    /// A flow ended.
    Record(FlowRecord),
    /// Copies of frames read, for `--pcap-out` (before the records they
    /// end).
    Frames(Vec<crate::pcap_out::FrameCopy>),
    /// Every record of a flow that ended by this packet time has been
    /// handed on (sent every few thousand packets).
    Time(u64),
}

/// Opens every capture first, so an unusable one (or unusable flow
/// settings) stops the run before any output is written.
pub fn open(a: &CaptureArgs) -> Result<Vec<Box<dyn PacketSource>>> {
    flow_config(&a.flow)?;
    let (paths, libpcap) = (&a.captures, a.libpcap);
    let stdin = paths
        .iter()
        .filter(|p| p.as_os_str() == capture::file::STDIN)
        .count();
    if stdin > 1 {
        bail!("standard input (-) is named {stdin} times: it can be read once");
    }
    let reader = if libpcap {
        packets::Reader::Libpcap
    } else {
        packets::Reader::File
    };
    paths
        .iter()
        .map(|p| Ok(packets::open(p, reader)?))
        .collect()
}

/// Worker threads when `--threads` is not given: one per core but one, since
/// the reading thread needs a core of its own (measured: on two cores, the
/// reader plus two workers is slower than the reader plus one engine).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// The flow-table settings the options ask for.
pub fn flow_config(o: &FlowOpts) -> Result<FlowConfig> {
    let mut tunnels = capture::decode::Tunnels {
        max_depth: o.tunnel_depth,
        ..Default::default()
    };
    if o.vxlan_ports.len() >= tunnels.vxlan_ports.len() {
        bail!(
            "--vxlan-port: at most {} ports besides 4789",
            tunnels.vxlan_ports.len() - 1
        );
    }
    for (slot, &port) in tunnels.vxlan_ports.iter_mut().skip(1).zip(&o.vxlan_ports) {
        *slot = port;
    }
    Ok(FlowConfig {
        max_flows: o.max_flows,
        tcp_idle_timeout: o.tcp_timeout.saturating_mul(capture::time::SECOND),
        udp_idle_timeout: o.udp_timeout.saturating_mul(capture::time::SECOND),
        community_id_seed: o.community_id_seed,
        max_body_decoders: o.max_body_decoders,
        tunnels,
        defrag: capture::defrag::DefragConfig {
            max_bytes: (o.defrag_memory as usize) << 20,
            timeout: o.frag_timeout.saturating_mul(capture::time::SECOND),
        },
        ..FlowConfig::default()
    })
}

/// Worker threads the options ask for.
pub fn threads(o: &FlowOpts) -> usize {
    o.threads.unwrap_or_else(default_threads).max(1)
}

/// How long after a window's end its flows may still come in: a flow is
/// written up to an idle timeout after its last packet, then waits out the
/// late-event window (µs).
pub fn close_lag(o: &FlowOpts, late_window: u64) -> u64 {
    o.tcp_timeout
        .max(o.udp_timeout)
        .saturating_mul(capture::time::SECOND)
        .saturating_add(late_window)
}

/// Opens an output named on the command line, "-" being standard output.
pub fn output(path: &Path) -> Result<Box<dyn std::io::Write + Send>> {
    writer(Some(path))
}

/// The engine for these settings: on the reading thread, or worker threads.
fn engine(a: &CaptureArgs) -> Box<dyn PacketEngine> {
    // `open` refused settings that do not make a configuration.
    let cfg = flow_config(&a.flow).unwrap_or_default();
    capture::packets::engine(cfg, threads(&a.flow), a.shards)
}

/// Batches of ticks queued for the stage thread.
const STAGE_QUEUE: usize = 8;
/// Records in a batch, at most (a batch also ends at every time tick).
const STAGE_BATCH: usize = 512;
/// Records the stage hands back with one batch, at most.
pub const HANDED_BACK: usize = 2 * STAGE_BATCH;

/// Reads every source through a new engine, then flushes it. `sink` runs
/// on a thread of its own (the stage), fed batches in order, so what is
/// done with the records (attribution, windows, detection, output)
/// overlaps reading and flow tracking instead of waiting its turn on the
/// reading thread. What `sink` hands back (records it is done with, pushed
/// on its second argument) is dropped on the reading thread, which
/// allocated it, or given back to the engine's worker that did
/// ([`PacketEngine::recycler`]): freed on the stage, each record's blocks
/// went back through the reading thread's allocator arena under its lock,
/// and the two threads queued on it (a tenth of the reading thread's time
/// on a flood of short flows).
/// Reading stops early, and the engine is flushed, once `stop` is set.
pub fn run(
    sources: &mut [Box<dyn PacketSource>],
    a: &CaptureArgs,
    stop: &AtomicBool,
    frames: bool,
    sink: &mut (dyn FnMut(Tick, &mut Vec<Tick>) + Send),
) -> Result<(Vec<FileReport>, Stats)> {
    let (tx, rx) = bounded::<Vec<Tick>>(STAGE_QUEUE);
    let (back, spare) = bounded::<Vec<Tick>>(STAGE_QUEUE + 2);
    std::thread::scope(|scope| {
        let stage = std::thread::Builder::new()
            .name("procflow-stage".into())
            .spawn_scoped(scope, move || {
                // Two buffers in turn: the batch read, and what goes back.
                let mut handed = Vec::with_capacity(STAGE_BATCH);
                for mut batch in rx {
                    for t in batch.drain(..) {
                        sink(t, &mut handed);
                        // What is beyond the bound is freed here: a bunch
                        // attribution let go at once would otherwise sit
                        // in the buffers going back.
                        handed.truncate(HANDED_BACK);
                    }
                    let _ = back.try_send(std::mem::replace(&mut handed, batch));
                }
            });
        let stage = stage.map_err(|e| anyhow::anyhow!("cannot start a thread: {e}"))?;
        let mut batch = Vec::with_capacity(STAGE_BATCH);
        // What the stage handed back, freed a tick or two for each new
        // one (two while more are left than the batch has room for), so
        // that the blocks of a record freed go to this thread's small
        // cache of free blocks and straight out again to the next
        // record's. Freed a batch at once, they overflowed that cache into
        // the allocator's shared bins, each free there an atomic
        // operation that waits for every store before it: on the flood,
        // the allocator went from 12 % of all samples to 5 %. Records a
        // threaded engine's workers wrote go back to them to be freed
        // there in the same way (`capture::parallel::Recycler`).
        let mut spent: Vec<Tick> = Vec::new();
        let (engine, copies) = engine_for(a, frames);
        let mut recycler = engine.recycler();
        let mut free = |t: Option<Tick>| {
            if let (Some(Tick::Record(r)), Some(rc)) = (t, recycler.as_mut()) {
                rc.give(r);
            }
        };
        let result = read_all(sources, a, stop, engine, copies, &mut |t| {
            let time = matches!(t, Tick::Time(_));
            batch.push(t);
            free(spent.pop());
            if spent.len() > STAGE_BATCH.saturating_sub(batch.len()) {
                free(spent.pop());
            }
            if time || batch.len() >= STAGE_BATCH {
                let next = spare.try_recv().map_or_else(
                    |_| Vec::with_capacity(STAGE_BATCH),
                    |handed| {
                        let mut left = std::mem::replace(&mut spent, handed);
                        left.drain(..).for_each(|t| free(Some(t)));
                        left
                    },
                );
                // The stage goes away before its queue closes only when it
                // failed: read no further (its failure is raised below).
                if tx.send(std::mem::replace(&mut batch, next)).is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        });
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        if let Err(panic) = stage.join() {
            std::panic::resume_unwind(panic);
        }
        Ok(result)
    })
}

/// The engine for a run, and with --pcap-out the queue of its frame
/// copies: they go from the engine to the stage in the same queue as the
/// records, each batch ahead of what follows it.
fn engine_for(
    a: &CaptureArgs,
    frames: bool,
) -> (
    Box<dyn PacketEngine>,
    Option<Receiver<Vec<crate::pcap_out::FrameCopy>>>,
) {
    if frames {
        let (tx, rx) = crossbeam_channel::unbounded();
        let tap = crate::pcap_out::Tap::new(engine(a), tx);
        (Box::new(tap), Some(rx))
    } else {
        (engine(a), None)
    }
}

fn read_all(
    sources: &mut [Box<dyn PacketSource>],
    a: &CaptureArgs,
    stop: &AtomicBool,
    mut engine: Box<dyn PacketEngine>,
    copies: Option<Receiver<Vec<crate::pcap_out::FrameCopy>>>,
    sink: &mut dyn FnMut(Tick),
) -> (Vec<FileReport>, Stats) {
    let mut sink = |t: Tick| {
        for b in copies.iter().flat_map(|rx| rx.try_iter()) {
            sink(Tick::Frames(b));
        }
        sink(t);
    };
    let total: u64 = sources.iter().map(|s| s.size()).sum();
    let progress = Progress::new(total, a.no_progress);
    let mut done = 0u64;
    let mut reports = Vec::new();
    for src in sources.iter_mut() {
        let outcome = src.read_into(engine.as_mut(), &mut |r| match r {
            Reading::Record(r) => {
                sink(Tick::Record(r));
                true
            }
            Reading::Progress(p) => {
                // Not the packets' own time: workers may still hold
                // records of flows that ended before it.
                sink(Tick::Time(p.watermark));
                progress.set(done + p.bytes);
                !stop.load(Ordering::Relaxed)
            }
        });
        done += src.size();
        progress.set(done);
        if let Some(why) = &outcome.truncated {
            eprintln!(
                "procflow: warning: {}: capture cut off after packet {} (byte offset {}): {why}; flows up to the cut are written",
                src.path().display(),
                outcome.packets,
                outcome.offset
            );
        }
        reports.push(FileReport {
            path: src.path().display().to_string(),
            link_type: src.dlt(),
            packets: outcome.packets,
            truncated: outcome.truncated,
        });
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    engine.finish(&mut |r| sink(Tick::Record(r)));
    let stats = engine.stats();
    drop(engine);
    for b in copies.iter().flat_map(|rx| rx.try_iter()) {
        sink(Tick::Frames(b));
    }
    progress.finish();
    (reports, stats)
}

/// Prints the capture half of the run summary on stderr.
pub fn print_summary(s: &Stats) {
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
    if s.flows_peak > 0 {
        eprintln!(
            "procflow: flow table: at most {} flows tracked at once, {} bytes of slots and index ({} bytes per tracked flow)",
            s.flows_peak,
            s.flow_table_bytes,
            s.flow_table_bytes / s.flows_peak
        );
    }
    if s.time_backwards > 0 {
        eprintln!(
            "procflow: {} packets stamped earlier than one before them, taken at the latest time seen",
            s.time_backwards
        );
    }
    if s.closed_flushed > 0 {
        eprintln!(
            "procflow: flow table full: {} closed connections written out before their quiet wait ended, before any open flow was evicted (--max-flows)",
            s.closed_flushed
        );
    }
    if s.midstream_refused > 0 {
        eprintln!(
            "procflow: flow table full: {} TCP packets of connections picked up without their SYN not tracked (no flow evicted for them; --max-flows)",
            s.midstream_refused
        );
    }
    if s.icmp_errors_matched + s.icmp_errors_unmatched > 0 {
        eprintln!(
            "procflow: ICMP errors: {} about tracked flows (in their records' icmp_errors), {} about flows not tracked",
            s.icmp_errors_matched, s.icmp_errors_unmatched
        );
    }
    let n = &s.not_flows;
    if n.arp + n.link_control + n.other_ip_protocols > 0 {
        eprintln!(
            "procflow: frames that carry no flow (not errors): {} ARP, {} link control (spanning tree, LLDP, CDP, LACP, PPP, GRE and 802.11 control...), {} of other IP protocols (IGMP, OSPF, ESP, SCTP...)",
            n.arp, n.link_control, n.other_ip_protocols
        );
    }
    let f = &s.fragments;
    if f.fragments > 0 {
        eprintln!(
            "procflow: IP fragments: {} taken, {} datagrams reassembled; dropped: {} duplicate fragments, {} datagrams overlapping, {} invalid, {} cut by the capture, {} timed out, {} evicted, {} incomplete at the end",
            f.fragments, f.reassembled, f.duplicates, f.overlaps, f.invalid, f.cut, f.timed_out, f.evicted, f.incomplete_at_end
        );
    }
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
        "procflow: http: {} transactions, {} parse errors, {} not recorded (cap), {} bodies not decoded (no decoder free); tls: {} client hellos, {} parse errors; quic: {} initial packets, {} not opened",
        s.http_transactions,
        s.http_parse_errors,
        s.http_transactions_dropped,
        s.http_bodies_not_decoded,
        s.tls_client_hellos,
        s.tls_parse_errors,
        s.quic_initials,
        s.quic_undecrypted
    );
}

/// Opens an output file, or standard output when `path` is `None` or
/// "-" (as every output option reads it).
pub fn writer(path: Option<&std::path::Path>) -> Result<Box<dyn std::io::Write + Send>> {
    use anyhow::Context;
    use std::io::BufWriter;
    Ok(match path.filter(|p| *p != Path::new("-")) {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        // Not a lock: the writer may be handed to the stage thread.
        None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout())),
    })
}
