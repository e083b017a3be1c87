//! The flows a capture file holds, listed before it is read: what lets
//! `read` keep, of an endpoint feed larger than its socket index, only the
//! sockets that could name one of them.
//!
//! A flow is its TCP or UDP 5-tuple as the engine keys it (through the
//! same tunnels; a fragmented datagram by its first fragment's ports),
//! kept as a 64-bit hash, either way round; its two endpoints likewise,
//! for feeds that do not log the local port. Eight bytes a flow and up to
//! sixteen for its ends, sorted, so a lookup is a binary search.

use crate::decode::{self, DecodeError, LinkType, Tunnels};
use crate::file::{FileBlock, PacketRef};
use crate::flow::{Addr, FlowKey, Transport};
use crate::packets::{self, PacketEngine, Reader};
use crate::source::SourceError;
use crate::stats::Stats;
use crate::time::Micros;
use crate::FlowRecord;
use foldhash::fast::FixedState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The TCP and UDP flows of some capture files, and their endpoints.
#[derive(Debug, Default)]
pub struct FlowList {
    flows: Vec<u64>,
    endpoints: Vec<u64>,
}

/// The one hasher both sides use (fixed, so a feed's socket and the
/// capture's flow meet).
const HASH: FixedState = FixedState::with_seed(0x7072_6f63_666c_6f77);

fn flow_hash(key: &FlowKey) -> u64 {
    HASH.hash_one(key)
}

fn endpoint_hash(proto: Transport, ip: Addr, port: u16) -> u64 {
    HASH.hash_one((proto, ip, port))
}

impl FlowList {
    /// Flows listed.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// Whether the capture holds the flow between `a` and `b` (either way).
    pub fn has_flow(&self, proto: Transport, a: (IpAddr, u16), b: (IpAddr, u16)) -> bool {
        let (key, _) = FlowKey::of(a.0.into(), a.1, b.0.into(), b.1, proto);
        self.flows.binary_search(&flow_hash(&key)).is_ok()
    }

    /// Whether some flow of the capture has `end` as one of its ends, on
    /// `proto` when known (a feed that logs no transport: either).
    pub fn has_endpoint(&self, proto: Option<Transport>, end: (IpAddr, u16)) -> bool {
        let on = |p| {
            let h = endpoint_hash(p, end.0.into(), end.1);
            self.endpoints.binary_search(&h).is_ok()
        };
        match proto {
            Some(p) => on(p),
            None => on(Transport::Tcp) || on(Transport::Udp),
        }
    }
}

/// Lists the flows of the capture files `paths`, read by procflow's own
/// reader through `tunnels`; `None` when they hold more than `max` flows
/// (the list would cost more than it saves) or a file cannot be listed so.
pub fn list(
    paths: &[&Path],
    tunnels: Tunnels,
    max: usize,
) -> Result<Option<FlowList>, SourceError> {
    let over = Arc::new(AtomicBool::new(false));
    let mut c = Collector {
        tunnels,
        max,
        list: FlowList::default(),
        next_settle: 1 << 16,
        over: Arc::clone(&over),
    };
    for path in paths {
        let mut src = packets::open(path, Reader::File)?;
        // Reading stops at the next progress once the cap is passed.
        src.read_into(&mut c, &mut |_| !over.load(Ordering::Relaxed));
        if c.is_over() {
            return Ok(None);
        }
    }
    c.settle();
    Ok((!c.is_over()).then_some(c.list))
}

/// The engine that only lists.
struct Collector {
    tunnels: Tunnels,
    max: usize,
    list: FlowList,
    /// The list's length at which duplicates are next sorted out.
    next_settle: usize,
    /// More flows than `max`: the rest is skipped.
    over: Arc<AtomicBool>,
}

impl Collector {
    fn add(&mut self, proto: Transport, src: Addr, sport: u16, dst: Addr, dport: u16) {
        let (key, _) = FlowKey::of(src, sport, dst, dport, proto);
        self.list.flows.push(flow_hash(&key));
        self.list.endpoints.push(endpoint_hash(proto, src, sport));
        self.list.endpoints.push(endpoint_hash(proto, dst, dport));
        // Every packet adds its flow again: the duplicates are sorted out
        // each time the list doubles (so at most twice what it holds).
        if self.list.flows.len() >= self.next_settle {
            self.settle();
            self.next_settle = self.list.flows.len().saturating_mul(2).max(1 << 16);
        }
    }

    fn settle(&mut self) {
        for v in [&mut self.list.flows, &mut self.list.endpoints] {
            v.sort_unstable();
            v.dedup();
        }
        if self.list.flows.len() > self.max {
            self.over.store(true, Ordering::Relaxed);
        }
    }

    fn is_over(&self) -> bool {
        self.over.load(Ordering::Relaxed)
    }

    fn frame(&mut self, link: LinkType, frame: &[u8]) {
        if self.is_over() {
            return;
        }
        let decoded = decode::decode_with(link, frame, &self.tunnels);
        // The datagrams of a UDP tunnel are a flow of their own too.
        let carriers = match &decoded {
            Ok(p) => p.encap.tunnel.map_or(0, |t| t.udp_tunnels),
            Err(_) => u8::MAX,
        };
        for nth in 0..carriers {
            let Ok((c, _)) = decode::frame_carrier(link, frame, &self.tunnels, nth) else {
                break;
            };
            self.add(c.transport, c.src, c.sport, c.dst, c.dport);
        }
        match decoded {
            Ok(p) if matches!(p.transport, Transport::Tcp | Transport::Udp) => {
                self.add(p.transport, p.src, p.sport, p.dst, p.dport);
            }
            Err(DecodeError::IpFragment) => {
                let Ok(f) = decode::fragment(link, frame, &self.tunnels) else {
                    return;
                };
                let proto = match f.key.proto {
                    6 => Transport::Tcp,
                    17 => Transport::Udp,
                    _ => return,
                };
                let ports = f.data.get(..4).and_then(|p| <[u8; 4]>::try_from(p).ok());
                if let (0, Some([s0, s1, d0, d1])) = (f.offset, ports) {
                    let (sport, dport) =
                        (u16::from_be_bytes([s0, s1]), u16::from_be_bytes([d0, d1]));
                    self.add(proto, f.key.src, sport, f.key.dst, dport);
                }
            }
            _ => {}
        }
    }
}

impl PacketEngine for Collector {
    fn process_frame(
        &mut self,
        link: LinkType,
        _ts: Micros,
        frame: &[u8],
        _wire_len: u32,
        _out: &mut dyn FnMut(FlowRecord),
    ) {
        self.frame(link, frame);
    }

    fn process_block(
        &mut self,
        block: &Arc<FileBlock>,
        packets: &[PacketRef],
        _ahead: &[crate::decode::Ahead],
        _out: &mut dyn FnMut(FlowRecord),
    ) {
        for p in packets {
            self.frame(p.link, block.frame(p));
        }
    }

    fn watermark(&self) -> Micros {
        0
    }

    fn finish(&mut self, _out: &mut dyn FnMut(FlowRecord)) {}

    fn stats(&self) -> Stats {
        Stats::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::FileSource;
    use crate::{Engine, FlowConfig};

    /// On every capture at hand, every TCP and UDP flow the engine writes
    /// is on the list, either way round, with both its ends; and a capture
    /// of more flows than the cap gives no list.
    #[test]
    fn the_list_holds_every_flow_the_engine_writes() {
        let files =
            crate::test_captures::every_capture("the_list_holds_every_flow_the_engine_writes");
        let mut checked = 0;
        for f in &files {
            let Ok(mut src) = FileSource::open(f) else {
                continue;
            };
            let cfg = FlowConfig::default();
            let Ok(Some(list)) = list(&[f.as_path()], cfg.tunnels, usize::MAX) else {
                panic!("{}: not listed", f.display());
            };
            let mut engine = Engine::new(cfg, 1);
            let mut all: Vec<FlowRecord> = Vec::new();
            src.for_each(|link, ts, frame, wire| {
                engine.process_frame(link, ts, frame, wire, &mut |r| all.push(r));
            });
            engine.finish(&mut |r| all.push(r));
            for r in &all {
                let t = r.network.transport;
                if !matches!(t, Transport::Tcp | Transport::Udp) {
                    continue;
                }
                let a = (r.source.ip, r.source.port);
                let b = (r.destination.ip, r.destination.port);
                let on = list.has_flow(t, a, b) && list.has_flow(t, b, a);
                let ends = list.has_endpoint(Some(t), a) && list.has_endpoint(None, b);
                assert!(on && ends, "{}: {a:?} {b:?} {t:?}", f.display());
                checked += 1;
            }
            if list.flows() > 1 {
                let capped = list_capped(f, list.flows() - 1);
                assert!(capped.is_none(), "{}: over the cap", f.display());
            }
        }
        let absent = ("203.0.113.254".parse().expect("ip"), 1);
        println!("{checked} flows of {} captures on their lists", files.len());
        assert!(checked > 1000);
        let f = files.first().expect("a capture");
        let l = list_capped(f, usize::MAX).expect("listed");
        assert!(!l.has_endpoint(None, absent));
    }

    fn list_capped(f: &std::path::Path, max: usize) -> Option<FlowList> {
        list(&[f], FlowConfig::default().tunnels, max)
            .ok()
            .flatten()
    }
}
