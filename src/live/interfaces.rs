//! The capture thread: every interface through libpcap, non-blocking and
//! polled together, into the threaded engine. It never waits on anything
//! downstream: a full worker queue drops the batch (counted), a full
//! processing queue drops the record (counted), and kernel and interface
//! drops are read from pcap_stats. An interface that goes down is reported
//! and read again once up; one that fails (deleted) is reported and no
//! longer read. The others go on; capture ends when none is left.

use super::metrics::Metrics;
use super::shutdown::Shutdown;
use super::Msg;
use crate::pcap_out::FrameCopy;
use anyhow::{Context, Result};
use capture::decode::{syn_hint, LinkType};
use capture::parallel::ParallelEngine;
use capture::{FlowConfig, FlowRecord, PacketEngine, Stats};
use crossbeam_channel::Sender;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pcap::{Active, Capture};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Packets taken from one interface before looking at the others.
const BURST: usize = 256;
/// How often packet time is reported downstream and pcap_stats read.
const REPORT_EVERY: Duration = Duration::from_millis(200);
/// How long capture reads on once a stop is asked: over the 100 ms after
/// which the kernel hands a part-filled block of packets to libpcap, so
/// every packet seen before the stop is read.
pub const DRAIN: Duration = Duration::from_millis(250);

/// How an interface is opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Bytes captured per packet.
    pub snaplen: i32,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Kernel buffer, bytes.
    pub buffer_bytes: i32,
    /// Immediate delivery.
    pub immediate: bool,
    /// BPF filter.
    pub filter: Option<String>,
}

/// One open interface.
pub struct Interface {
    /// Its name.
    pub name: String,
    cap: Capture<Active>,
    link: LinkType,
    /// Kernel drops at the last reading.
    pub kernel_drops: u64,
    /// Interface drops at the last reading.
    pub if_drops: u64,
    /// Packets the kernel received, at the last reading.
    pub received: u64,
    /// Whether it is up, down, or failed for good.
    pub state: Link,
    /// Its state can be read from /sys (not so for `any`).
    watched: bool,
}

/// The state of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Up: packets come in.
    Up,
    /// Down (set down, or no carrier): still read, as packets come again
    /// once it is up.
    Down,
    /// libpcap failed on it (the interface was deleted) at this time: read
    /// only for [`DRAIN`] more, for the packets the kernel still held.
    Failed(Instant),
}

impl Interface {
    /// Still worth reading: not failed, or failed less than [`DRAIN`] ago.
    fn readable(&self) -> bool {
        match self.state {
            Link::Failed(at) => at.elapsed() < DRAIN,
            Link::Up | Link::Down => true,
        }
    }
}

/// Opens every interface (before privileges are dropped).
pub fn open(names: &[String], o: &OpenOptions) -> Result<Vec<Interface>> {
    let mut out = Vec::new();
    for name in names {
        let cap = Capture::from_device(name.as_str())
            .with_context(|| format!("interface {name}"))?
            .snaplen(o.snaplen)
            .promisc(o.promisc)
            .buffer_size(o.buffer_bytes)
            .immediate_mode(o.immediate)
            .timeout(100)
            .open()
            .with_context(|| format!("interface {name}: cannot capture"))?;
        let mut cap = cap
            .setnonblock()
            .with_context(|| format!("interface {name}: cannot set non-blocking"))?;
        if let Some(f) = &o.filter {
            cap.filter(f, true)
                .with_context(|| format!("interface {name}: filter {f:?}"))?;
        }
        let dlt = cap.get_datalink().0;
        let link = LinkType::from_dlt(dlt);
        if !link.is_supported() {
            anyhow::bail!("interface {name}: link type {dlt} is not supported");
        }
        out.push(Interface {
            name: name.clone(),
            cap,
            link,
            kernel_drops: 0,
            if_drops: 0,
            received: 0,
            state: Link::Up,
            watched: link_up(name).is_some(),
        });
    }
    Ok(out)
}

/// How long after its kernel time stamp a packet may still reach the
/// capture thread, in microseconds: the 100 ms read timeout, with room for
/// scheduling. Idle flows end this much later than they could.
const DELIVERY_LAG: u64 = 1_000_000;

fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What the capture thread hands back when it stops.
pub struct CaptureEnd {
    /// Engine counters.
    pub stats: Stats,
    /// Per interface: name, received, kernel drops, interface drops.
    pub interfaces: Vec<(String, u64, u64, u64)>,
    /// Capture ended because every interface went down.
    pub all_down: bool,
    /// Frame copies for `--pcap-out` the full queue refused.
    pub frames_dropped: u64,
}

/// Runs until `stop` is set (then reads on for [`DRAIN`], so that packets
/// the kernel still holds are taken) or every interface is down; flows
/// still open are then written out. Each of `nudges` is nudged on every SYN
/// (a new connection: /proc is read again at once). With `copies`, a copy
/// of every frame goes to the main thread too (`--pcap-out`).
pub fn run(
    mut ifaces: Vec<Interface>,
    cfg: FlowConfig,
    threads: usize,
    tx: Sender<Msg>,
    metrics: Arc<Metrics>,
    stop: Shutdown,
    (nudges, copies): (Vec<Sender<()>>, bool),
) -> CaptureEnd {
    let mut frames: Option<Vec<FrameCopy>> = copies.then(Vec::new);
    let mut frames_dropped = 0u64;
    let mut engine = ParallelEngine::new(cfg, threads.max(1));
    engine.set_lossy(true);
    let m = metrics.clone();
    let txr = tx.clone();
    let mut out = move |r: FlowRecord| {
        if txr.try_send(Msg::Record(Box::new(r))).is_err() {
            m.records_dropped.fetch_add(1, Relaxed);
        }
    };
    let mut last_report = Instant::now();
    let mut stopping: Option<Instant> = None;
    let mut all_down = false;
    loop {
        if stopping.is_none() && stop.requested() {
            stopping = Some(Instant::now());
        }
        if stopping.is_some_and(|t| t.elapsed() >= DRAIN) {
            break;
        }
        let got = read_all(
            &mut ifaces,
            &mut engine,
            (&nudges, frames.as_mut()),
            &mut out,
            &metrics,
        );
        if let Some(batch) = frames.as_mut().filter(|b| !b.is_empty()) {
            let n = batch.len() as u64;
            if tx.try_send(Msg::Frames(std::mem::take(batch))).is_err() {
                frames_dropped += n;
            }
        }
        if !ifaces.iter().any(Interface::readable) {
            eprintln!(
                "procflow: error: every interface is down: capture ends (open flows are written)"
            );
            all_down = true;
            break;
        }
        if got == 0 {
            let mut fds: Vec<PollFd> = ifaces
                .iter()
                .filter(|i| matches!(i.state, Link::Up | Link::Down))
                .map(|i| PollFd::new(i.cap.as_fd(), PollFlags::POLLIN))
                .collect();
            let _ = poll(&mut fds, PollTimeout::from(100u16));
            // A quiet link: packet time goes on with the clock, held back
            // by how late a packet may reach us after the kernel stamped
            // it, so that no packet is taken for one from the past.
            engine.advance(wall_micros().saturating_sub(DELIVERY_LAG), &mut out);
        }
        if last_report.elapsed() >= REPORT_EVERY {
            last_report = Instant::now();
            let _ = tx.try_send(Msg::Time(engine.watermark()));
            watch_links(&mut ifaces, &metrics);
            report(&mut ifaces, &engine, &metrics);
        }
    }
    report(&mut ifaces, &engine, &metrics);
    engine.finish(&mut out);
    let stats = engine.stats();
    metrics.queue_drops.store(stats.queue_drops, Relaxed);
    CaptureEnd {
        stats,
        interfaces: ifaces
            .iter()
            .map(|i| (i.name.clone(), i.received, i.kernel_drops, i.if_drops))
            .collect(),
        all_down,
        frames_dropped,
    }
}

/// Takes a burst from every interface worth reading; one that fails is
/// reported, and read only for [`DRAIN`] more: the kernel hands over its
/// last block of packets up to 100 ms after the error. The packets taken.
fn read_all(
    ifaces: &mut [Interface],
    engine: &mut ParallelEngine,
    (nudges, mut copies): (&[Sender<()>], Option<&mut Vec<FrameCopy>>),
    out: &mut dyn FnMut(FlowRecord),
    metrics: &Metrics,
) -> usize {
    let mut got = 0usize;
    let mut failed = Vec::new();
    for iface in ifaces.iter_mut().filter(|i| i.readable()) {
        match read_burst(iface, engine, (nudges, copies.as_deref_mut()), out) {
            Ok(n) => got += n,
            Err(_) if matches!(iface.state, Link::Failed(_)) => {}
            Err(e) => {
                iface.state = Link::Failed(Instant::now());
                failed.push((iface.name.clone(), e));
            }
        }
    }
    for (name, e) in failed {
        eprintln!(
            "procflow: warning: interface {name}: {e}; no longer read ({})",
            capturing(ifaces, metrics)
        );
    }
    got
}

/// Notes interfaces that went down or came back up (read from /sys).
fn watch_links(ifaces: &mut [Interface], metrics: &Metrics) {
    let mut changed = Vec::new();
    for i in ifaces.iter_mut().filter(|i| i.watched) {
        // Gone from /sys: deleted; libpcap says so at the next read.
        let up = link_up(&i.name).unwrap_or(false);
        match (i.state, up) {
            (Link::Up, false) => i.state = Link::Down,
            (Link::Down, true) => i.state = Link::Up,
            _ => continue,
        }
        changed.push((i.name.clone(), up));
    }
    for (name, up) in changed {
        let now = capturing(ifaces, metrics);
        if up {
            eprintln!("procflow: interface {name} is up again ({now})");
        } else {
            eprintln!(
                "procflow: warning: interface {name} is down: no packets until it is up again ({now})"
            );
        }
    }
}

/// Updates the count of interfaces not up; says how many are capturing.
fn capturing(ifaces: &[Interface], metrics: &Metrics) -> String {
    let up = ifaces.iter().filter(|i| i.state == Link::Up).count();
    metrics
        .interfaces_down
        .store((ifaces.len() - up) as u64, Relaxed);
    format!("{up} of {} interfaces capturing", ifaces.len())
}

/// Whether the kernel calls the link up (its operstate in /sys); `None`
/// where /sys does not show it.
fn link_up(name: &str) -> Option<bool> {
    let path = Path::new("/sys/class/net").join(name).join("operstate");
    let state = std::fs::read_to_string(path).ok()?;
    Some(!matches!(
        state.trim(),
        "down" | "lowerlayerdown" | "notpresent"
    ))
}

/// Up to [`BURST`] packets from one interface into the engine.
fn read_burst(
    iface: &mut Interface,
    engine: &mut ParallelEngine,
    (nudges, mut copies): (&[Sender<()>], Option<&mut Vec<FrameCopy>>),
    out: &mut dyn FnMut(FlowRecord),
) -> Result<usize, pcap::Error> {
    for n in 0..BURST {
        let p = match iface.cap.next_packet() {
            Ok(p) => p,
            Err(pcap::Error::TimeoutExpired) => return Ok(n),
            Err(e) => return Err(e),
        };
        let ts = capture::time::from_parts(
            u64::try_from(p.header.ts.tv_sec).unwrap_or(0),
            u64::try_from(p.header.ts.tv_usec).unwrap_or(0),
        );
        if !nudges.is_empty() && syn_hint(iface.link, p.data) {
            for n in nudges {
                let _ = n.try_send(());
            }
        }
        if let Some(c) = copies.as_deref_mut() {
            c.push(FrameCopy {
                ts,
                link: iface.link,
                wire_len: p.header.len,
                data: p.data.into(),
            });
        }
        engine.process_frame(iface.link, ts, p.data, p.header.len, out);
    }
    Ok(BURST)
}

/// Reads pcap_stats and the engine's frame counters into the metrics.
fn report(ifaces: &mut [Interface], engine: &ParallelEngine, metrics: &Metrics) {
    let (mut kd, mut ifd) = (0u64, 0u64);
    for i in ifaces.iter_mut() {
        if let Ok(s) = i.cap.stats() {
            i.received = u64::from(s.received);
            i.kernel_drops = u64::from(s.dropped);
            i.if_drops = u64::from(s.if_dropped);
        }
        kd += i.kernel_drops;
        ifd += i.if_drops;
    }
    let f = engine.frame_stats();
    metrics.packets.store(f.packets, Relaxed);
    metrics.bytes.store(f.bytes, Relaxed);
    metrics.queue_drops.store(f.queue_drops, Relaxed);
    metrics.kernel_drops.store(kd, Relaxed);
    metrics.if_drops.store(ifd, Relaxed);
}
