//! The capture thread: every interface through libpcap, non-blocking and
//! polled together, into the threaded engine. It never waits on anything
//! downstream: a full worker queue drops the batch (counted), a full
//! processing queue drops the record (counted), and kernel and interface
//! drops are read from pcap_stats.

use super::metrics::Metrics;
use super::Msg;
use anyhow::{Context, Result};
use capture::decode::{syn_hint, LinkType};
use capture::parallel::ParallelEngine;
use capture::{FlowConfig, FlowRecord, Stats};
use crossbeam_channel::Sender;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pcap::{Active, Capture};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Packets taken from one interface before looking at the others.
const BURST: usize = 256;
/// How often packet time is reported downstream and pcap_stats read.
const REPORT_EVERY: Duration = Duration::from_millis(200);

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
        });
    }
    Ok(out)
}

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
}

/// Runs until `stop` is set or `until` passes; flows still open are then
/// written out. `poke` is nudged on every SYN (a new connection: /proc is
/// read again at once).
#[allow(clippy::too_many_arguments)]
pub fn run(
    mut ifaces: Vec<Interface>,
    cfg: FlowConfig,
    threads: usize,
    tx: Sender<Msg>,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    until: Option<Instant>,
    poke: Option<Sender<()>>,
) -> CaptureEnd {
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
    let mut failed: Vec<bool> = vec![false; ifaces.len()];
    loop {
        if stop.load(Relaxed) || until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        let mut got = 0usize;
        for (i, iface) in ifaces.iter_mut().enumerate() {
            if failed.get(i).copied().unwrap_or(true) {
                continue;
            }
            for _ in 0..BURST {
                match iface.cap.next_packet() {
                    Ok(p) => {
                        got += 1;
                        let ts = capture::time::from_parts(
                            u64::try_from(p.header.ts.tv_sec).unwrap_or(0),
                            u64::try_from(p.header.ts.tv_usec).unwrap_or(0),
                        );
                        if let Some(poke) = &poke {
                            if syn_hint(iface.link, p.data) {
                                let _ = poke.try_send(());
                            }
                        }
                        engine.process_frame(iface.link, ts, p.data, p.header.len, &mut out);
                    }
                    Err(pcap::Error::TimeoutExpired) => break,
                    Err(e) => {
                        eprintln!(
                            "procflow: warning: interface {}: {e}; no longer read",
                            iface.name
                        );
                        if let Some(f) = failed.get_mut(i) {
                            *f = true;
                        }
                        break;
                    }
                }
            }
        }
        if got == 0 {
            let mut fds: Vec<PollFd> = ifaces
                .iter()
                .map(|i| PollFd::new(i.cap.as_fd(), PollFlags::POLLIN))
                .collect();
            let _ = poll(&mut fds, PollTimeout::from(100u16));
            // A quiet link: packet time goes on with the clock.
            engine.advance(wall_micros(), &mut out);
        }
        if last_report.elapsed() >= REPORT_EVERY {
            last_report = Instant::now();
            let _ = tx.try_send(Msg::Time(engine.watermark()));
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
    }
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
