//! The packet path on threads: the caller's thread reads just enough of
//! each frame to pick the worker by the flow's symmetric hash
//! ([`crate::decode::shard_hint`]), and each worker owns one [`Shard`] (its
//! flows, reassembly and parsers) for the whole run, so no lock is taken.
//!
//! Frames reach the workers in batches over bounded channels, two ways:
//! read from a file, a batch names frames inside the file's shared
//! [`FileBlock`]s (no copy); handed over one by one (live capture), they are
//! copied into the batch. Batches go back to the reader once processed and
//! are filled again, and chunks go back to the file reader when the last
//! batch naming them is done: nothing is allocated per packet.
//!
//! Each shard sees its packets in capture order, exactly as the shards of
//! [`crate::Engine`] do, so the records are the same set for any number of
//! workers.
//!
//! Once a second of packet time the reader sends every worker what it has
//! (an empty batch too) stamped with the reader's clock; the worker brings
//! its shard's clock up to it, ends what went idle, and answers with the
//! records and the clock. The smallest clock answered is the
//! [`ParallelEngine::watermark`]: every record of a flow due to end by then
//! has been handed out, so windows downstream can close on it.

use crate::config::FlowConfig;
use crate::decode::{
    carrier, decode_with, frame_carrier, icmp, reassembled, shard_hint, DecodeError, Encap,
    LinkType, Tunnels,
};
use crate::defrag::{Defrag, Whole};
use crate::engine::quote;
use crate::file::{FileBlock, PacketRef};
use crate::flow::{FlowKey, Shard};
use crate::packets::PacketEngine;
use crate::record::FlowRecord;
use crate::stats::Stats;
use crate::time::{Micros, Watermark, SECOND};
use crossbeam_channel::{bounded, Receiver, Select, Sender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Packets per batch.
const BATCH_PACKETS: usize = 512;
/// Copied frame bytes per batch (a batch is sent when either fills).
const BATCH_BYTES: usize = 1 << 20;
/// File chunks one batch may hold: a worker that sees few packets must not
/// keep many chunks from going back to the reader.
const BATCH_CHUNKS: usize = 4;
/// Batches in flight per worker (the channel's bound: backpressure beyond).
const IN_FLIGHT: usize = 4;
/// Slot marker: the frame is in the batch's own `data`.
const OWN: u16 = u16::MAX;
/// Slot marker: a datagram reassembled by the reader, an IP packet in the
/// batch's own `data`; it came as the next of the batch's `encaps` says.
const WHOLE: u16 = u16::MAX - 1;
/// Packet time between two clock syncs of every worker.
const SYNC_EVERY: Micros = SECOND;

/// One packet's place in a batch.
#[derive(Clone, Copy)]
struct Slot {
    link: LinkType,
    ts: Micros,
    /// Index in the batch's `chunks`, or [`OWN`] or [`WHOLE`].
    chunk: u16,
    start: u32,
    len: u32,
    /// Its length on the wire (at least `len`).
    wire: u32,
    /// What the worker does with it.
    role: Role,
}

/// What a slot's frame is to the worker it goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A packet of the flow it decodes to.
    Flow,
    /// A datagram of its UDP tunnel's own flow (of the frame's UDP tunnel
    /// number `n`, from 0: [`crate::decode::carrier`]), not of the flow
    /// it carries.
    Carrier(u8),
    /// An ICMP error, counted in the flow of the packet it quotes
    /// ([`crate::decode::icmp::quoted`]); its own flow has it too.
    Quote,
}

/// What else a frame routed to its flow's worker is.
#[derive(Default)]
struct Also {
    /// The datagrams of this many UDP tunnels ([`Role::Carrier`]).
    carriers: u8,
    /// An ICMP error quoting a flow of this worker ([`Role::Quote`]).
    quote: Option<usize>,
}

/// Packets for one worker.
#[derive(Default)]
struct Batch {
    /// Frames copied in (live capture).
    data: Vec<u8>,
    /// File chunks the slots point into.
    chunks: Vec<Arc<FileBlock>>,
    slots: Vec<Slot>,
    /// How each reassembled datagram ([`WHOLE`] slots) came, in order.
    encaps: Vec<Encap>,
    /// The reader's packet time when the batch was sent.
    clock: Micros,
}

impl Batch {
    fn with_capacity() -> Self {
        Batch {
            data: Vec::new(),
            chunks: Vec::with_capacity(BATCH_CHUNKS),
            slots: Vec::with_capacity(BATCH_PACKETS),
            encaps: Vec::new(),
            clock: 0,
        }
    }

    /// Empties the batch; the chunks it held may go back to the reader.
    fn clear(&mut self) {
        self.data.clear();
        self.chunks.clear();
        self.slots.clear();
        self.encaps.clear();
        self.clock = 0;
    }

    fn full(&self) -> bool {
        self.slots.len() >= BATCH_PACKETS || self.data.len() >= BATCH_BYTES
    }

    fn frame(&self, s: &Slot) -> Option<&[u8]> {
        let (start, end) = (s.start as usize, s.start as usize + s.len as usize);
        if s.chunk == OWN || s.chunk == WHOLE {
            self.data.get(start..end)
        } else {
            self.chunks
                .get(usize::from(s.chunk))?
                .bytes()
                .get(start..end)
        }
    }
}

/// What a worker sends back.
enum WorkerReply {
    /// Flow records that ended while processing a batch of worker `.0`,
    /// whose clock was `.1`.
    Records(usize, Micros, Vec<FlowRecord>),
    /// The worker's counters, when its input ended.
    Finished(Box<Stats>),
}

struct Worker {
    /// Clock of the latest batch this worker has answered.
    acked: Micros,
    tx: Sender<Batch>,
    /// Where records this worker wrote go back to it to be freed.
    back: Sender<Vec<FlowRecord>>,
    free: Receiver<Batch>,
    filling: Batch,
    handle: Option<JoinHandle<()>>,
}

/// The threaded engine: same interface as [`crate::Engine`], plus
/// [`ParallelEngine::process_block`] for frames read from a file.
pub struct ParallelEngine {
    workers: Vec<Worker>,
    done: Receiver<WorkerReply>,
    frames: Stats,
    finished: Vec<Stats>,
    /// Latest packet time read.
    now: Watermark,
    /// When every worker is next sent its batch, full or not.
    next_sync: Micros,
    /// Drop a batch whose worker's queue is full instead of waiting (live
    /// capture must never block).
    lossy: bool,
    /// The tunnels followed (the reader picks a worker by the inner flow).
    tunnels: Tunnels,
    /// IP fragments in flight: reassembled by the reader, whose datagrams
    /// then go to the worker of their flow.
    defrag: Defrag,
}

/// Records a worker sends back in one message at most: a sweep that ends
/// many flows at once, or the end of input, goes out in pieces as it is
/// written, so no worker ever holds the records of its whole table. The
/// queue back holds `4 * IN_FLIGHT` messages a worker: at 1,024 records a
/// message, ending a run of 100,000 HTTP connections on two workers held
/// up to 12 MB of records there when the stage fell behind (half the
/// flow table); at 256, a quarter of that.
const RECORDS_PER_MESSAGE: usize = 256;

/// Records going back to a worker in one message.
const RECYCLE_BATCH: usize = 256;
/// Messages of records waiting for a worker to free them, at most.
const RECYCLE_QUEUE: usize = 4;

/// Takes records the caller is done with back to the workers that wrote
/// them ([`PacketEngine::recycler`]), to be freed there, one for each
/// record a worker writes next: each record's blocks then go back to its
/// own worker's allocator cache and out again to its next record. Freed
/// on the reading thread, a worker's records went back to that worker's
/// allocator arena under its lock, a tenth of the flood's time with two
/// workers. A record whose worker's queue is full is freed here.
pub struct Recycler {
    returns: Vec<Sender<Vec<FlowRecord>>>,
    pending: Vec<Vec<FlowRecord>>,
}

impl Recycler {
    /// Hands back one record (the worker is found from its flow's key:
    /// one found wrongly, as for some tunnelled or ICMP flows, is freed by
    /// another worker, which is only slower).
    pub fn give(&mut self, r: FlowRecord) {
        let (key, _) = FlowKey::of(
            r.source.ip.into(),
            r.source.port,
            r.destination.ip.into(),
            r.destination.port,
            r.network.transport,
        );
        let idx = key.shard(self.returns.len());
        let (Some(pending), Some(tx)) = (self.pending.get_mut(idx), self.returns.get(idx)) else {
            return;
        };
        pending.push(r);
        if pending.len() >= RECYCLE_BATCH {
            // A full queue gives the records back, to be freed here.
            let _ = tx.try_send(std::mem::take(pending));
        }
    }
}

/// Records a worker has written and not yet sent back.
struct Outbox {
    id: usize,
    done: Sender<WorkerReply>,
    records: Vec<FlowRecord>,
    /// The clock of the latest batch answered in full.
    acked: Micros,
    /// Records of this worker's that were written out, come back
    /// ([`Recycler`]) to be freed here, one for each new record.
    spent: Vec<FlowRecord>,
    back: Receiver<Vec<FlowRecord>>,
}

impl Outbox {
    fn push(&mut self, r: FlowRecord) {
        if self.spent.is_empty() {
            if let Ok(more) = self.back.try_recv() {
                self.spent = more;
            }
        }
        self.spent.pop();
        self.records.push(r);
        if self.records.len() >= RECORDS_PER_MESSAGE {
            // Mid-batch: the clock answered stays the previous batch's.
            self.send(self.acked);
        }
    }

    /// Sends what is held (also when nothing is: the answer carries the
    /// clock).
    fn send(&mut self, clock: Micros) {
        let records = std::mem::take(&mut self.records);
        let _ = self
            .done
            .send(WorkerReply::Records(self.id, clock, records));
        self.acked = clock;
    }
}

fn work(
    id: usize,
    cfg: FlowConfig,
    rx: Receiver<Batch>,
    free: Sender<Batch>,
    done: Sender<WorkerReply>,
    back: Receiver<Vec<FlowRecord>>,
) {
    let tunnels = cfg.tunnels;
    let mut shard = Shard::new(cfg);
    let mut outbox = Outbox {
        id,
        done,
        records: Vec::new(),
        acked: 0,
        spent: Vec::new(),
        back,
    };
    for mut batch in rx {
        {
            let mut out = |r: FlowRecord| outbox.push(r);
            let mut encaps = batch.encaps.iter();
            for s in &batch.slots {
                let Some(frame) = batch.frame(s) else {
                    continue;
                };
                let encap = if s.chunk == WHOLE {
                    encaps.next().copied()
                } else {
                    None
                };
                if s.role == Role::Quote {
                    let pkt = match encap {
                        Some(e) => reassembled(frame, e, &tunnels),
                        None => decode_with(s.link, frame, &tunnels),
                    };
                    if let Ok(pkt) = pkt {
                        quote(std::slice::from_mut(&mut shard), &pkt);
                    }
                    continue;
                }
                if let Role::Carrier(nth) = s.role {
                    // The reader decoded it as a tunnel's datagram already.
                    let c = match encap {
                        Some(e) => carrier(frame, e.vlan, &tunnels, nth),
                        None => frame_carrier(s.link, frame, &tunnels, nth),
                    };
                    if let Ok((pkt, kind)) = c {
                        shard.process_carrier(&pkt, kind, s.ts, s.wire, &mut out);
                    }
                    continue;
                }
                let pkt = match encap {
                    Some(e) => reassembled(frame, e, &tunnels),
                    None => decode_with(s.link, frame, &tunnels),
                };
                match pkt {
                    Ok(pkt) => shard.process(&pkt, None, s.ts, s.wire, &mut out),
                    // The reader only read the addresses and ports.
                    Err(e) => shard.stats.undecoded(e),
                }
            }
            shard.advance(batch.clock, &mut out);
        }
        outbox.send(batch.clock);
        batch.clear();
        // The reader may have stopped taking batches back; dropping one then is fine.
        let _ = free.try_send(batch);
    }
    shard.finish(&mut |r| outbox.push(r));
    outbox.send(Micros::MAX);
    let _ = outbox
        .done
        .send(WorkerReply::Finished(Box::new(shard.stats.clone())));
}

/// What became of a reassembled datagram.
enum Queued {
    /// Queued for its flow's worker, whose batch is now full.
    Full(usize),
    /// What its tunnels carried is a fragment in turn (a copy).
    Inner(Vec<u8>, Encap),
    /// Queued, or counted as undecodable.
    Done,
}

/// Queues a reassembled datagram as one packet for the worker of its flow.
fn queue_whole(
    workers: &mut [Worker],
    frames: &mut Stats,
    tunnels: &Tunnels,
    whole: &Whole<'_>,
    ts: Micros,
) -> Queued {
    let idx = match reassembled(whole.ip, whole.encap, tunnels) {
        Ok(pkt) => {
            // An ICMP error long enough to be cut into fragments: also to
            // the worker of the flow it quotes.
            if let Some(q) = icmp::quoted(pkt.transport, pkt.payload) {
                let (key, _) = FlowKey::of(q.src, q.sport, q.dst, q.dport, q.transport);
                let quoted = key.shard(workers.len());
                push_whole(workers, quoted, whole, ts, Role::Quote);
            }
            let (key, _) = FlowKey::of(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.transport);
            key.shard(workers.len())
        }
        Err(DecodeError::IpFragment) => return Queued::Inner(whole.ip.to_vec(), whole.encap),
        Err(e) => {
            frames.undecoded(e);
            return Queued::Done;
        }
    };
    if push_whole(workers, idx, whole, ts, Role::Flow) {
        Queued::Full(idx)
    } else {
        Queued::Done
    }
}

/// Copies a reassembled datagram into worker `idx`'s batch as `role`;
/// whether the batch is full. A quote's batch ([`Role::Quote`]: an ICMP
/// error long enough to be cut into fragments, counted in the flow it
/// quotes) ships with its next packet, or at the next sync.
fn push_whole(
    workers: &mut [Worker],
    idx: usize,
    whole: &Whole<'_>,
    ts: Micros,
    role: Role,
) -> bool {
    let Some(w) = workers.get_mut(idx) else {
        return false;
    };
    let start = w.filling.data.len() as u32;
    w.filling.data.extend_from_slice(whole.ip);
    w.filling.encaps.push(whole.encap);
    w.filling.slots.push(Slot {
        link: LinkType::Raw,
        ts,
        chunk: WHOLE,
        start,
        len: whole.ip.len() as u32,
        wire: whole.frame_bytes,
        role,
    });
    w.filling.full()
}

impl ParallelEngine {
    /// An engine with `workers` worker threads (at least one), owning
    /// `cfg.max_flows` flows at most together (each its share).
    pub fn new(cfg: FlowConfig, workers: usize) -> Self {
        let n = workers.max(1);
        let (done_tx, done) = bounded::<WorkerReply>(n * IN_FLIGHT * 4);
        let workers = (0..n)
            .map(|i| {
                let (tx, rx) = bounded::<Batch>(IN_FLIGHT);
                let (free_tx, free) = bounded::<Batch>(IN_FLIGHT + 2);
                let (back, back_rx) = bounded::<Vec<FlowRecord>>(RECYCLE_QUEUE);
                let (cfg, done_tx) = (cfg.share(i, n), done_tx.clone());
                let handle = std::thread::Builder::new()
                    .name(format!("procflow-worker-{i}"))
                    .spawn(move || work(i, cfg, rx, free_tx, done_tx, back_rx))
                    .ok();
                Worker {
                    acked: 0,
                    tx,
                    back,
                    free,
                    filling: Batch::with_capacity(),
                    handle,
                }
            })
            .collect();
        ParallelEngine {
            workers,
            done,
            frames: Stats::default(),
            finished: Vec::new(),
            now: Watermark::default(),
            next_sync: 0,
            lossy: false,
            tunnels: cfg.tunnels,
            defrag: Defrag::new(cfg.defrag),
        }
    }

    /// From now on, a batch for a worker whose queue is full is dropped and
    /// its packets counted in `queue_drops`, rather than waited for.
    pub fn set_lossy(&mut self, lossy: bool) {
        self.lossy = lossy;
    }

    /// Moves packet time to `now` without a packet (live capture when the
    /// link is quiet): every worker ends what went idle by then.
    pub fn advance(&mut self, now: Micros, out: &mut dyn FnMut(FlowRecord)) {
        self.tick(now, out);
        self.drain(out);
    }

    /// Packet time is `ts`: once a second of it, every worker is synced.
    fn tick(&mut self, ts: Micros, out: &mut dyn FnMut(FlowRecord)) {
        if self.now.advance(ts) && ts >= self.next_sync {
            self.next_sync = ts.saturating_add(SYNC_EVERY);
            self.sync(out);
        }
    }

    /// Counts a frame and picks its worker, with the packet time it is
    /// taken at (never earlier than a frame before it); `None` when it
    /// cannot be decoded (counted here, by reason).
    fn route(
        &mut self,
        link: LinkType,
        ts: Micros,
        frame: &[u8],
        wire_len: u32,
        out: &mut dyn FnMut(FlowRecord),
    ) -> Option<(usize, Micros, Also)> {
        let ts = self.frames.frame(self.now, ts, frame.len(), wire_len);
        self.tick(ts, out);
        let mut also = Also::default();
        let hash = match shard_hint(link, frame, &self.tunnels) {
            Some(h) => h,
            None => match decode_with(link, frame, &self.tunnels) {
                Ok(pkt) => {
                    also.carriers = pkt.encap.tunnel.map_or(0, |t| t.udp_tunnels);
                    if let Some(q) = icmp::quoted(pkt.transport, pkt.payload) {
                        let (key, _) = FlowKey::of(q.src, q.sport, q.dst, q.dport, q.transport);
                        also.quote = Some(key.shard(self.workers.len()));
                    }
                    FlowKey::of(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.transport)
                        .0
                        .shard_hash()
                }
                Err(DecodeError::IpFragment) => {
                    self.take_fragment(link, frame, wire_len, ts, out);
                    return None;
                }
                Err(e) => {
                    self.frames.undecoded(e);
                    // What a tunnel carried may be no flow (ARP) or
                    // damaged: the tunnel's datagram is one all the same.
                    self.carry_frame(link, ts, frame, wire_len, None, out);
                    return None;
                }
            },
        };
        Some(((hash % self.workers.len() as u64) as usize, ts, also))
    }

    /// Sends a copy of a frame routed to its flow's worker wherever else
    /// it counts.
    fn also(
        &mut self,
        also: &Also,
        link: LinkType,
        ts: Micros,
        frame: &[u8],
        wire_len: u32,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        if let Some(idx) = also.quote {
            self.quote_frame(idx, link, ts, frame, out);
        }
        if also.carriers > 0 {
            self.carry_frame(link, ts, frame, wire_len, Some(also.carriers), out);
        }
    }

    /// Sends a copy of an ICMP error to the worker of the flow it quotes.
    #[cold]
    #[inline(never)]
    fn quote_frame(
        &mut self,
        idx: usize,
        link: LinkType,
        ts: Micros,
        frame: &[u8],
        out: &mut dyn FnMut(FlowRecord),
    ) {
        let slot = Slot {
            link,
            ts,
            chunk: OWN,
            start: 0,
            len: 0,
            wire: frame.len() as u32,
            role: Role::Quote,
        };
        self.push_copy(idx, slot, frame, None, out);
    }

    /// Copies `frame` into worker `idx`'s batch as `slot` (its place in
    /// the batch filled in; `encap`: how a reassembled datagram came),
    /// shipping the batch once it is full.
    fn push_copy(
        &mut self,
        idx: usize,
        slot: Slot,
        frame: &[u8],
        encap: Option<Encap>,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        let Some(w) = self.workers.get_mut(idx) else {
            return;
        };
        let start = w.filling.data.len() as u32;
        w.filling.data.extend_from_slice(frame);
        w.filling.encaps.extend(encap);
        w.filling.slots.push(Slot {
            chunk: if encap.is_some() { WHOLE } else { OWN },
            start,
            len: frame.len() as u32,
            ..slot
        });
        if w.filling.full() {
            self.ship(idx, out);
        }
    }

    /// [`ParallelEngine::carry`] for a captured frame.
    fn carry_frame(
        &mut self,
        link: LinkType,
        ts: Micros,
        frame: &[u8],
        wire_len: u32,
        known: Option<u8>,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        let slot = Slot {
            link,
            ts,
            chunk: OWN,
            start: 0,
            len: 0,
            wire: wire_len.max(frame.len() as u32),
            role: Role::Carrier(0),
        };
        self.carry(slot, frame, None, known, out);
    }

    /// Sends a copy of a frame to the worker of each UDP tunnel's own
    /// flow (`encap`: how a reassembled one came; `known`: how many UDP
    /// tunnels the frame holds, if its decoding said, else each is tried
    /// until there is none).
    #[cold]
    #[inline(never)]
    fn carry(
        &mut self,
        slot: Slot,
        frame: &[u8],
        encap: Option<Encap>,
        known: Option<u8>,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        for nth in 0..known.unwrap_or(u8::MAX) {
            let pkt = match encap {
                Some(e) => carrier(frame, e.vlan, &self.tunnels, nth),
                None => frame_carrier(slot.link, frame, &self.tunnels, nth),
            };
            let Ok((pkt, _)) = pkt else {
                return;
            };
            let (key, _) = FlowKey::of(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.transport);
            let idx = key.shard(self.workers.len());
            let slot = Slot {
                role: Role::Carrier(nth),
                ..slot
            };
            self.push_copy(idx, slot, frame, encap, out);
        }
    }

    /// Offers a fragment to reassembly; a datagram it completes goes to
    /// the worker of its flow, as an IP packet of its own.
    fn take_fragment(
        &mut self,
        link: LinkType,
        frame: &[u8],
        wire_len: u32,
        ts: Micros,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        // A fragment inside a UDP tunnel is a whole datagram of the tunnel.
        self.carry_frame(link, ts, frame, wire_len, None, out);
        let mut inner = match self
            .defrag
            .offer_frame(link, frame, wire_len, ts, &self.tunnels)
        {
            Ok(Some(whole)) => {
                // A tunnel datagram that was itself fragmented: also its
                // tunnel's.
                let tunnel_datagram = carrier(whole.ip, whole.encap.vlan, &self.tunnels, 0)
                    .is_ok()
                    .then(|| (whole.ip.to_vec(), whole.encap, whole.frame_bytes));
                let queued = queue_whole(
                    &mut self.workers,
                    &mut self.frames,
                    &self.tunnels,
                    &whole,
                    ts,
                );
                if let Some((ip, encap, bytes)) = tunnel_datagram {
                    let slot = Slot {
                        link: LinkType::Raw,
                        ts,
                        chunk: WHOLE,
                        start: 0,
                        len: 0,
                        wire: bytes,
                        role: Role::Carrier(0),
                    };
                    self.carry(slot, &ip, Some(encap), None, out);
                }
                self.queued(queued, out)
            }
            Ok(None) => return,
            Err(e) => return self.frames.undecoded(e),
        };
        // A fragment inside a reassembled tunnel datagram: reassembled in
        // turn, as deep as tunnels are followed (a loop, bounded).
        for _ in 0..self.tunnels.max_depth {
            let Some((ip, encap)) = inner.take() else {
                return;
            };
            inner = match self.defrag.offer_inner(&ip, encap, ts, &self.tunnels) {
                Ok(Some(whole)) => {
                    let queued = queue_whole(
                        &mut self.workers,
                        &mut self.frames,
                        &self.tunnels,
                        &whole,
                        ts,
                    );
                    self.queued(queued, out)
                }
                Ok(None) => None,
                Err(e) => {
                    self.frames.undecoded(e);
                    None
                }
            };
        }
        if inner.is_some() {
            self.frames.undecoded(DecodeError::TunnelTooDeep);
        }
    }

    /// Ships a batch a reassembled datagram filled; gives back the
    /// fragment a datagram carried.
    fn queued(&mut self, q: Queued, out: &mut dyn FnMut(FlowRecord)) -> Option<(Vec<u8>, Encap)> {
        match q {
            Queued::Full(idx) => self.ship(idx, out),
            Queued::Inner(ip, encap) => return Some((ip, encap)),
            Queued::Done => {}
        }
        None
    }

    /// Sends worker `idx` its batch as it is and starts a new one.
    fn ship(&mut self, idx: usize, out: &mut dyn FnMut(FlowRecord)) {
        let now = self.now.at();
        let Some(w) = self.workers.get_mut(idx) else {
            return;
        };
        let next = w.free.try_recv().unwrap_or_else(|_| Batch::with_capacity());
        let mut batch = std::mem::replace(&mut w.filling, next);
        batch.clock = now;
        self.send(idx, batch, out);
        self.drain(out);
    }

    /// Sends every worker its batch as it is, stamped with the clock.
    fn sync(&mut self, out: &mut dyn FnMut(FlowRecord)) {
        for idx in 0..self.workers.len() {
            self.ship(idx, out);
        }
    }

    /// Sends a batch to worker `idx`; while its queue is full, takes the
    /// records workers send back, so neither side can wait on the other.
    fn send(&mut self, idx: usize, mut batch: Batch, out: &mut dyn FnMut(FlowRecord)) {
        loop {
            let Some(tx) = self.workers.get(idx).map(|w| w.tx.clone()) else {
                return;
            };
            match tx.try_send(batch) {
                // A worker that died has dropped its receiver: its packets
                // are lost, and its missing counters show it.
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(mut b)) if self.lossy => {
                    self.frames.queue_drops += b.slots.len() as u64;
                    b.clear();
                    if let Some(w) = self.workers.get_mut(idx) {
                        if w.filling.slots.is_empty() {
                            // Reuse its buffers for the next batch.
                            std::mem::swap(&mut w.filling, &mut b);
                        }
                    }
                    return;
                }
                Err(TrySendError::Full(b)) => {
                    batch = b;
                    let mut sel = Select::new();
                    sel.send(&tx);
                    sel.recv(&self.done);
                    if sel.ready() == 1 {
                        self.drain(out);
                    }
                }
            }
        }
    }

    fn drain(&mut self, out: &mut dyn FnMut(FlowRecord)) {
        while let Ok(d) = self.done.try_recv() {
            self.take(d, out);
        }
    }

    fn take(&mut self, d: WorkerReply, out: &mut dyn FnMut(FlowRecord)) {
        match d {
            WorkerReply::Records(id, clock, rs) => {
                rs.into_iter().for_each(&mut *out);
                if let Some(w) = self.workers.get_mut(id) {
                    w.acked = w.acked.max(clock);
                }
            }
            WorkerReply::Finished(s) => self.finished.push(*s),
        }
    }

    /// The reader's own counters so far (frames, bytes, decode errors,
    /// queue drops), for live statistics before the end.
    pub fn frame_stats(&self) -> &Stats {
        &self.frames
    }
}

impl PacketEngine for ParallelEngine {
    /// Takes one captured frame, copying it; records of flows that ended
    /// on the workers meanwhile are handed to `out`.
    fn process_frame(
        &mut self,
        link: LinkType,
        ts: Micros,
        frame: &[u8],
        wire_len: u32,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        let Some((idx, ts, also)) = self.route(link, ts, frame, wire_len, out) else {
            return;
        };
        let slot = Slot {
            link,
            ts,
            chunk: OWN,
            start: 0,
            len: 0,
            wire: wire_len.max(frame.len() as u32),
            role: Role::Flow,
        };
        self.push_copy(idx, slot, frame, None, out);
        self.also(&also, link, ts, frame, wire_len, out);
    }
    fn recycler(&self) -> Option<Recycler> {
        Some(Recycler {
            returns: self.workers.iter().map(|w| w.back.clone()).collect(),
            pending: self.workers.iter().map(|_| Vec::new()).collect(),
        })
    }
    /// Takes the packets of one file chunk without copying them: the
    /// batches hold the chunk itself.
    fn process_block(
        &mut self,
        chunk: &Arc<FileBlock>,
        packets: &[PacketRef],
        _ahead: &[crate::decode::Ahead],
        out: &mut dyn FnMut(FlowRecord),
    ) {
        for p in packets {
            let frame = chunk.frame(p);
            let Some((idx, ts, also)) = self.route(p.link, p.ts, frame, p.wire_len, out) else {
                continue;
            };
            let Some(w) = self.workers.get_mut(idx) else {
                continue;
            };
            let new_chunk = !w
                .filling
                .chunks
                .last()
                .is_some_and(|c| Arc::ptr_eq(c, chunk));
            if new_chunk && w.filling.chunks.len() >= BATCH_CHUNKS {
                self.ship(idx, out);
            }
            let Some(w) = self.workers.get_mut(idx) else {
                continue;
            };
            if new_chunk {
                w.filling.chunks.push(Arc::clone(chunk));
            }
            w.filling.slots.push(Slot {
                link: p.link,
                ts,
                chunk: w.filling.chunks.len().saturating_sub(1) as u16,
                start: p.start,
                len: p.len,
                wire: p.wire_len.max(p.len),
                role: Role::Flow,
            });
            if w.filling.full() {
                self.ship(idx, out);
            }
            self.also(&also, p.link, ts, frame, p.wire_len, out);
        }
    }
    /// Packet time up to which every flow due to end has been handed out:
    /// the oldest clock a worker has answered.
    fn watermark(&self) -> Micros {
        self.workers.iter().map(|w| w.acked).min().unwrap_or(0)
    }
    /// Sends what is left, lets every worker write out its open flows, and
    /// waits for them.
    fn finish(&mut self, out: &mut dyn FnMut(FlowRecord)) {
        self.defrag.finish();
        for idx in 0..self.workers.len() {
            let last = match self.workers.get_mut(idx) {
                Some(w) => std::mem::take(&mut w.filling),
                None => continue,
            };
            if !last.slots.is_empty() {
                let mut last = last;
                last.clock = self.now.at();
                self.send(idx, last, out);
            }
        }
        let mut handles = Vec::new();
        for w in &mut self.workers {
            // Closing the channel ends the worker's loop.
            let (closed, _) = bounded(0);
            drop(std::mem::replace(&mut w.tx, closed));
            handles.extend(w.handle.take());
        }
        let n = handles.len();
        while self.finished.len() < n {
            match self.done.recv() {
                Ok(d) => self.take(d, out),
                Err(_) => break,
            }
        }
        for h in handles {
            let _ = h.join();
        }
        self.drain(out);
    }
    /// Counters of the whole engine (complete after [`ParallelEngine::finish`]).
    fn stats(&self) -> Stats {
        let mut total = self.frames.clone();
        total.fragments.merge(&self.defrag.stats);
        for s in &self.finished {
            total.merge(s);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::flow::{EndpointFields, EventFields, Transport};

    fn record(port: u16) -> FlowRecord {
        let end = |ip: &str, port| EndpointFields {
            ip: ip.parse().unwrap(),
            port,
            packets: 1,
            bytes: 60,
        };
        let event = EventFields {
            start: 0,
            end: 0,
            reason: "fin",
        };
        FlowRecord::new(
            event,
            Transport::Tcp,
            end("10.0.0.1", port),
            end("10.0.0.2", 80),
        )
    }

    /// The worker the reader sends the packets of `record`'s flow to: its
    /// shard hint, read from a frame of the flow.
    fn routed(port: u16, workers: u64) -> u64 {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .tcp(80, port, 1, 1000)
            .write(&mut frame, b"")
            .unwrap();
        let hint = shard_hint(LinkType::Ethernet, &frame, &Tunnels::default()).unwrap();
        hint % workers
    }

    /// Records go back to the worker that tracks their flow (the worker
    /// the reader routes its packets to), a message of `RECYCLE_BATCH`
    /// at a time; a worker whose queue is full leaves them to the caller
    /// to free, so that nothing waits without bound.
    #[test]
    fn records_go_back_to_their_workers_in_bounded_queues() {
        let (returns, queues): (Vec<_>, Vec<_>) = (0..3)
            .map(|_| bounded::<Vec<FlowRecord>>(RECYCLE_QUEUE))
            .unzip();
        let mut recycler = Recycler {
            returns,
            pending: vec![Vec::new(); 3],
        };
        for port in 0..20_000 {
            recycler.give(record(port));
        }
        for (i, queue) in queues.iter().enumerate() {
            assert_eq!(queue.len(), RECYCLE_QUEUE, "worker {i}");
            for message in queue.try_iter() {
                assert_eq!(message.len(), RECYCLE_BATCH);
                for r in &message {
                    assert_eq!(routed(r.source.port, 3), i as u64);
                }
            }
        }
        assert!(recycler.pending.iter().all(|p| p.len() < RECYCLE_BATCH));
    }
}
