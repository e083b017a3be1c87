//! A shard: the flows one worker owns, and everything done to them per
//! packet. Nothing here is shared, so the hot path takes no locks.

use super::key::{Addr, FlowKey, Transport};
use super::state::{CloseReason, Flow, IcmpState, TransportState, TO_CLIENT, TO_SERVER};
use super::table::{FlowTable, List};
use crate::app::http::HttpLimits;
use crate::app::{App, AppLimits};
use crate::community_id::community_id_v1;
use crate::config::FlowConfig;
use crate::decode::icmp::Quoted;
use crate::decode::{tcp_flags, Packet, Tunnel, TunnelKind};
use crate::record::{
    AppProtocol, EndpointFields, EventFields, FlowFields, FlowRecord, IcmpErrorFields, IcmpFields,
    NetworkFields, TunnelFields, Vlan,
};
use crate::stats::Stats;
use crate::tcp::reassembly::Budget;
use crate::tcp::{Chunk, StreamLimits};
use crate::time::{Micros, SECOND};
use foldhash::quality::RandomState;
use std::collections::{BTreeMap, HashMap};

/// Flows in a shard from which parsers are asked to compact their state
/// between chunks (`AppLimits::compact`): an HTTP connection waiting for
/// its answer then holds 155 bytes less, for some 3,000 instructions a
/// message. A link with fewer connections open at once (the reference
/// capture holds 53) pays nothing; a busy one saves most of its parser
/// memory.
const COMPACT_FROM: usize = 4096;

/// Flows owned by one worker.
pub struct Shard {
    cfg: FlowConfig,
    table: FlowTable,
    now: Micros,
    next_sweep: Micros,
    budget: Budget,
    stream_limits: StreamLimits,
    app_limits: AppLimits,
    /// The tunnel of each tunnelled flow, kept apart so that the flows of
    /// an untunnelled network carry nothing for it (at most one entry per
    /// tracked flow: bounded by the table).
    tunnels: HashMap<FlowKey, Tunnel>,
    /// The tunnel each UDP tunnel flow carries (as `tunnels`: bounded by
    /// the table).
    carriers: HashMap<FlowKey, TunnelKind>,
    /// The ICMP errors that quoted each flow (as `tunnels`: bounded by the
    /// table).
    icmp_errors: HashMap<FlowKey, IcmpErrorFields>,
    /// Counters of this shard.
    pub stats: Stats,
}

impl Shard {
    /// An empty shard.
    pub fn new(cfg: FlowConfig) -> Self {
        Self::with_hasher(cfg, RandomState::default())
    }

    /// An empty shard whose table files flows by `hasher`'s hash (one
    /// an engine shares among its shards: `lookahead::Placement`).
    pub fn with_hasher(cfg: FlowConfig, hasher: RandomState) -> Self {
        crate::app::http::set_max_decoders(cfg.max_body_decoders);
        let stream_limits = StreamLimits {
            max_ooo_bytes: cfg.max_ooo_bytes_per_stream,
            max_ooo_segments: cfg.max_ooo_segments_per_stream,
        };
        let app_limits = AppLimits {
            http: HttpLimits {
                max_transactions: cfg.max_http_transactions,
                max_header_bytes: cfg.max_http_header_bytes,
                max_field_len: cfg.max_field_len,
            },
            max_tls_hello: cfg.max_tls_hello_bytes,
            parsers: cfg.parsers,
            compact: false,
        };
        Shard {
            table: FlowTable::new(cfg.max_flows, hasher),
            budget: Budget {
                used: 0,
                max: cfg.max_ooo_bytes,
            },
            now: 0,
            next_sweep: 0,
            stream_limits,
            app_limits,
            tunnels: HashMap::new(),
            carriers: HashMap::new(),
            icmp_errors: HashMap::new(),
            stats: Stats::default(),
            cfg,
        }
    }

    /// Flows tracked now.
    pub fn flows(&self) -> usize {
        self.table.len()
    }

    /// Heap bytes the flow table holds now (slots and index).
    pub fn table_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    /// Moves this shard's clock to `now` (packet time seen elsewhere in the
    /// capture) and writes out what went idle or quiet by then, so a shard
    /// whose own flows fell silent still ends them on time.
    pub fn advance(&mut self, now: Micros, out: &mut dyn FnMut(FlowRecord)) {
        if now > self.now {
            self.now = now;
            if now >= self.next_sweep {
                self.expire(out);
                self.next_sweep = now.saturating_add(SECOND);
            }
        }
    }

    /// Processes one decoded packet whose frame was `frame_len` bytes on
    /// the wire (a snap length may have kept fewer); `hash`, its flow's
    /// hash by this shard's table when the caller knows it.
    pub fn process(
        &mut self,
        pkt: &Packet<'_>,
        hash: Option<u32>,
        ts: Micros,
        frame_len: u32,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        self.stats.decoded += 1;
        // A tunnelled packet counts as the frame its tunnel carried.
        let frame_len = frame_len.saturating_sub(u32::from(pkt.encap.inner_at));
        self.track(pkt, None, hash, ts, frame_len, out);
    }

    /// Counts the datagram of a UDP tunnel ([`crate::decode::carrier`]) in
    /// the tunnel's own flow: the frame, already counted as decoded with
    /// the packet it carried, is not counted again.
    pub fn process_carrier(
        &mut self,
        pkt: &Packet<'_>,
        carries: TunnelKind,
        ts: Micros,
        frame_len: u32,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        self.track(pkt, Some(carries), None, ts, frame_len, out);
    }

    /// Counts an ICMP error (`kind`, `code`, sent by `reporter`) in the
    /// tracked flow of the packet it quotes; the error is a flow of its
    /// own besides ([`Shard::process`]).
    pub fn icmp_error(&mut self, quoted: &Quoted, kind: u8, code: u8, reporter: Addr) {
        let (key, _) = FlowKey::of(
            quoted.src,
            quoted.sport,
            quoted.dst,
            quoted.dport,
            quoted.transport,
        );
        let Some(flow) = self.table.find(&key).and_then(|id| self.table.get_mut(id)) else {
            self.stats.icmp_errors_unmatched += 1;
            return;
        };
        flow.set_quoted();
        self.stats.icmp_errors_matched += 1;
        self.icmp_errors
            .entry(key)
            .and_modify(|e| e.count += 1)
            .or_insert(IcmpErrorFields {
                count: 1,
                kind,
                code,
                reporter: reporter.ip(),
            });
    }

    /// Asks the processor for where the flow of a key with this hash
    /// (`lookahead::Placement`) is filed: its index bucket, or (asked for
    /// a few packets later, once the bucket is in) its slot. A hint for
    /// the packets ahead; it changes nothing.
    pub fn prefetch(&self, hash: u32, slot: bool) {
        if slot {
            self.table.prefetch_slot(hash);
        } else {
            self.table.prefetch_bucket(hash);
        }
    }

    /// Counts a packet in its flow (`hash`, its hash if known); `carries`
    /// names the tunnel of a UDP tunnel's own datagram.
    fn track(
        &mut self,
        pkt: &Packet<'_>,
        carries: Option<TunnelKind>,
        hash: Option<u32>,
        ts: Micros,
        frame_len: u32,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        self.advance(ts, out);
        let (key, forward) = FlowKey::of(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.transport);
        let flags = pkt.tcp.map_or(0, |t| t.flags);
        let opening_syn = flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
        // One lookup per packet, whatever happens below.
        let hash = hash.unwrap_or_else(|| self.table.hash(&key));
        let mut found = self.table.find_hashed(&key, hash);
        if let (true, Some(id)) = (opening_syn, found) {
            // A new SYN on a flow that closed, or a SYN with another initial
            // sequence number, is a new connection on the same ports (a new
            // connect()): write the old flow out and start afresh.
            let seq = pkt.tcp.map_or(0, |t| t.seq);
            let reused = self.table.get(id).is_some_and(|f| {
                f.closing().is_some()
                    || (f.dir(forward) == TO_SERVER && f.syn_seq().is_some_and(|s| s != seq))
            });
            if reused {
                found = None;
                if let Some(old) = self.table.remove(id) {
                    let reason = old.closing().unwrap_or(CloseReason::Reused);
                    self.emit(old, reason, out);
                }
            }
        }
        let id = match found {
            Some(id) => id,
            None => {
                if self.table.full() {
                    // A full table takes no TCP connection picked up
                    // without its SYN: an evicted flow's later packets
                    // would each evict the next flow in turn (a flood
                    // closing its connections in the order it opened them
                    // evicted every one), and a connection seen from its
                    // SYN is worth more than the rest of one.
                    if pkt.transport == Transport::Tcp && flags & tcp_flags::SYN == 0 {
                        self.stats.midstream_refused += 1;
                        return;
                    }
                    let (tcp, udp) = (self.cfg.tcp_idle_timeout, self.cfg.udp_idle_timeout);
                    if let Some(victim) = self.table.pop_victim(self.now, tcp, udp) {
                        // A closed connection loses nothing but its quiet
                        // wait: it keeps the reason it closed with.
                        let reason = match victim.closing() {
                            Some(r) => {
                                self.stats.closed_flushed += 1;
                                r
                            }
                            None => {
                                self.stats.flows_evicted += 1;
                                CloseReason::Evicted
                            }
                        };
                        self.emit(victim, reason, out);
                    }
                }
                let flow = self.new_flow(key, forward, pkt, carries, ts);
                let id = self.table.insert_hashed(flow, hash);
                self.stats.flows_peak = self.stats.flows_peak.max(self.table.len() as u64);
                self.app_limits.compact = self.table.len() >= COMPACT_FROM;
                id
            }
        };
        self.table.touch(id);
        let Shard {
            table,
            budget,
            stream_limits,
            app_limits,
            carriers,
            ..
        } = self;
        let Some(flow) = table.get_mut(id) else {
            return;
        };
        if let (Some(kind), false) = (carries, flow.carrier()) {
            // Datagrams between the tunnel ends came first that were not
            // the tunnel's: the flow is the tunnel's all the same.
            flow.set_carrier();
            carriers.insert(flow.key, kind);
        }
        let ctx = PacketEnv {
            budget,
            stream_limits: *stream_limits,
            app_limits,
        };
        if let Some(reason) = update(flow, ctx, pkt, ts, frame_len, forward) {
            table.close(id, reason);
        }
    }

    fn new_flow(
        &mut self,
        key: FlowKey,
        forward: bool,
        pkt: &Packet<'_>,
        carries: Option<TunnelKind>,
        ts: Micros,
    ) -> Flow {
        self.stats.flows_created += 1;
        let flags = pkt.tcp.map_or(0, |t| t.flags);
        let syn = flags & tcp_flags::SYN != 0;
        let ack = flags & tcp_flags::ACK != 0;
        // The first datagram's sender is the client, for ICMP too; for
        // UDP, unless it came from a service's port to another kind of
        // port (an answer captured before, or without, its question).
        let sender_is_client = match pkt.transport {
            Transport::Udp => !super::server_ports::udp_answer_first(
                pkt.src,
                pkt.sport,
                pkt.dst,
                pkt.dport,
                pkt.payload,
            ),
            Transport::Icmp | Transport::Icmpv6 => true,
            Transport::Tcp if syn => !ack,
            // No SYN seen: a protocol's opening says who sent it (a
            // request line, a ClientHello); else the side on the higher
            // (ephemeral) port is the client; with equal ports, the first
            // sender.
            Transport::Tcp => {
                super::server_ports::tcp_opening_says(pkt.payload).unwrap_or(pkt.sport >= pkt.dport)
            }
        };
        let midstream = pkt.transport == Transport::Tcp && !syn;
        if midstream {
            self.stats.flows_midstream += 1;
        }
        let mut flow = Flow::new(key, ts, sender_is_client == forward, midstream);
        flow.vlan = pkt.encap.vlan;
        if let Some(t) = pkt.encap.tunnel {
            flow.set_tunnelled();
            self.tunnels.insert(key, t);
        }
        if let Some(kind) = carries {
            flow.set_carrier();
            self.carriers.insert(key, kind);
        }
        flow
    }

    /// Writes out flows that closed and went quiet, and idle flows.
    fn expire(&mut self, out: &mut dyn FnMut(FlowRecord)) {
        self.stats.flow_table_bytes = self.table.heap_bytes() as u64;
        let now = self.now;
        for (list, timeout) in [
            // A closed flow never waits longer than an open one would.
            (
                List::Closing,
                self.cfg.closed_timeout.min(self.cfg.tcp_idle_timeout),
            ),
            (List::Tcp, self.cfg.tcp_idle_timeout),
            (List::Udp, self.cfg.udp_idle_timeout),
        ] {
            // Before a whole timeout of packet time has passed nothing is
            // idle (a capture may start at time 0).
            let Some(cutoff) = now.checked_sub(timeout) else {
                continue;
            };
            while let Some(flow) = self.table.pop_idle(list, cutoff) {
                let reason = flow.closing().unwrap_or(CloseReason::Idle);
                self.emit(flow, reason, out);
            }
        }
    }

    /// End of input: writes out every flow still tracked, oldest first.
    pub fn finish(&mut self, out: &mut dyn FnMut(FlowRecord)) {
        self.stats.flow_table_bytes = self.table.heap_bytes() as u64;
        let fresh = FlowTable::new(self.cfg.max_flows, self.table.hasher().clone());
        let table = std::mem::replace(&mut self.table, fresh);
        for flow in table.into_start_order() {
            let reason = flow.closing().unwrap_or(CloseReason::EndOfInput);
            self.emit(flow, reason, out);
        }
    }

    fn emit(&mut self, mut flow: Flow, reason: CloseReason, out: &mut dyn FnMut(FlowRecord)) {
        let mut payload = [0; 2];
        let mut missed = 0;
        let mut retransmitted = 0;
        let limits = &self.app_limits;
        let mut icmp = None;
        match &flow.proto {
            TransportState::Udp(udp) => (payload, missed) = (udp.payload, udp.missed),
            TransportState::Icmp(state) => {
                (payload, missed) = (state.payload, state.missed);
                icmp = icmp_fields(state);
            }
            TransportState::Tcp(_) => {}
        }
        if let TransportState::Tcp(tcp) = &mut flow.proto {
            let app = &mut tcp.app;
            for (dir, stream) in tcp.streams.iter_mut().enumerate() {
                let to_server = dir == TO_SERVER;
                stream.finish(&mut self.budget, &mut |c| feed(app, limits, to_server, c));
                let c = stream.counters();
                if let Some(p) = payload.get_mut(dir) {
                    *p = c.delivered;
                }
                missed += c.missed;
                retransmitted += c.retransmitted;
                self.stats.reassembled_bytes += c.delivered;
                self.stats.reassembly_gaps += c.gaps;
                self.stats.missed_bytes += c.missed;
                self.stats.retransmitted_bytes += c.retransmitted;
                self.stats.out_of_order_segments += c.out_of_order;
                self.stats.reassembly_overflows += c.overflows;
            }
        }
        let (client, cport) = flow.client();
        let (server, sport) = flow.server();
        let midstream = flow.midstream();
        let [pkts_out, pkts_in] = flow.packets;
        let [bytes_out, bytes_in] = flow.bytes;
        let [payload_out, payload_in] = payload;
        let mut record = FlowRecord {
            community_id: community_id_v1(
                self.cfg.community_id_seed,
                flow.key.transport.number(),
                client.ip(),
                cport,
                server.ip(),
                sport,
            ),
            event: EventFields {
                start: flow.start,
                end: flow.last,
                reason: reason.name(),
            },
            network: NetworkFields {
                transport: flow.key.transport,
                protocol: None,
                vlan: (flow.vlan != 0).then_some(Vlan { id: flow.vlan }),
            },
            source: EndpointFields {
                ip: client.ip(),
                port: cport,
                packets: pkts_out,
                bytes: bytes_out,
            },
            destination: EndpointFields {
                ip: server.ip(),
                port: sport,
                packets: pkts_in,
                bytes: bytes_in,
            },
            flow: FlowFields {
                payload_out,
                payload_in,
                missed_bytes: missed,
                retransmitted_bytes: retransmitted,
                ip_bytes_out: flow.ip_bytes.get(TO_SERVER).copied().unwrap_or(0),
                ip_bytes_in: flow.ip_bytes.get(TO_CLIENT).copied().unwrap_or(0),
                history: flow.history.render(),
                midstream,
            },
            tunnel: tunnel_of(&mut self.tunnels, &flow),
            icmp,
            icmp_errors: flow
                .quoted()
                .then(|| self.icmp_errors.remove(&flow.key))
                .flatten(),
            http: Vec::new(),
            tls: None,
            extra: BTreeMap::new(),
        };
        let carrier = flow.carrier().then(|| self.carriers.remove(&flow.key));
        let mut app = match flow.proto {
            TransportState::Tcp(tcp) => tcp.app,
            TransportState::Udp(udp) => udp.app,
            TransportState::Icmp(_) => {
                self.stats.flows_emitted += 1;
                out(record);
                return;
            }
        };
        app.finish(limits);
        app.record(&mut record, &mut self.stats);
        if let Some(kind) = carrier {
            // A tunnel's flow speaks the tunnel (Zeek's `service`).
            record.network.protocol = kind.map(|k| AppProtocol::named(k.name()));
        }
        self.stats.flows_emitted += 1;
        out(record);
    }
}

/// The ICMP fields of a flow: its client's first message, and its
/// server's when it answered.
fn icmp_fields(state: &IcmpState) -> Option<IcmpFields> {
    let [to_server, to_client] = state.first;
    let (kind, code) = to_server.or(to_client)?;
    let response = to_server.and(to_client);
    Some(IcmpFields {
        kind,
        code,
        response_type: response.map(|r| r.0),
        response_code: response.map(|r| r.1),
    })
}

/// The tunnel a flow came in, taken out of the shard's side table.
fn tunnel_of(tunnels: &mut HashMap<FlowKey, Tunnel>, flow: &Flow) -> Option<Box<TunnelFields>> {
    if !flow.tunnelled() {
        return None;
    }
    let t = tunnels.remove(&flow.key)?;
    Some(Box::new(TunnelFields {
        kind: t.kind.name(),
        id: t.id(),
        src_ip: t.src.ip(),
        dest_ip: t.dst.ip(),
        depth: t.depth,
    }))
}

/// What a packet's update needs of its shard besides the flow.
struct PacketEnv<'a> {
    budget: &'a mut Budget,
    stream_limits: StreamLimits,
    app_limits: &'a AppLimits,
}

/// Counts a packet into its flow and feeds its payload to reassembly;
/// returns why the flow closed if this packet closed it.
fn update(
    flow: &mut Flow,
    ctx: PacketEnv<'_>,
    pkt: &Packet<'_>,
    ts: Micros,
    frame_len: u32,
    forward: bool,
) -> Option<CloseReason> {
    let dir = flow.dir(forward);
    let carrier = flow.carrier();
    if let Some(v) = flow.packets.get_mut(dir) {
        *v += 1;
    }
    if let Some(v) = flow.bytes.get_mut(dir) {
        *v += u64::from(frame_len);
    }
    if let Some(v) = flow.ip_bytes.get_mut(dir) {
        *v += u64::from(pkt.ip_len);
    }
    flow.last = flow.last.max(ts);
    let tcp = match (pkt.tcp, &mut flow.proto) {
        (Some(tcp), TransportState::Tcp(_)) => tcp,
        (_, TransportState::Udp(udp)) => {
            if let Some(v) = udp.payload.get_mut(dir) {
                *v += pkt.payload.len() as u64;
            }
            // Sent, but cut by the snap length.
            udp.missed += u64::from(pkt.payload_cut);
            if !carrier {
                udp.app.data(ctx.app_limits, dir == TO_SERVER, pkt.payload);
            }
            return None;
        }
        (_, TransportState::Icmp(icmp)) => {
            icmp.message(dir, pkt.payload, pkt.payload_cut);
            return None;
        }
        (None, TransportState::Tcp(_)) => return None,
    };
    let to_server = dir == TO_SERVER;
    // Payload the snap length cut off was sent all the same.
    let data = !pkt.payload.is_empty() || pkt.payload_cut > 0;
    flow.history.add(to_server, tcp.flags, data);
    if tcp.flags & tcp_flags::RST != 0 {
        // RST payload is diagnostic text at best: not stream data.
        return flow.closing().is_none().then_some(CloseReason::Rst);
    }
    let syn = tcp.flags & tcp_flags::SYN != 0;
    if syn && to_server && tcp.flags & tcp_flags::ACK == 0 {
        flow.note_syn(tcp.seq);
    }
    let fin = tcp.flags & tcp_flags::FIN != 0;
    let both_fin = fin && flow.note_fin(dir);
    let TransportState::Tcp(state) = &mut flow.proto else {
        return None;
    };
    let app = &mut state.app;
    let [to_srv, to_cli] = &mut state.streams;
    let (mine, theirs) = if to_server {
        (to_srv, to_cli)
    } else {
        (to_cli, to_srv)
    };
    if syn {
        mine.syn(tcp.seq);
    }
    let seq = if syn {
        tcp.seq.wrapping_add(1)
    } else {
        tcp.seq
    };
    let limits = ctx.app_limits;
    if !syn || !pkt.payload.is_empty() || fin {
        mine.segment(
            seq,
            pkt.payload,
            pkt.payload_cut,
            fin,
            ctx.stream_limits,
            ctx.budget,
            &mut |c| feed(app, limits, to_server, c),
        );
    }
    if tcp.flags & tcp_flags::ACK != 0 {
        let reset = tcp.flags & tcp_flags::RST != 0;
        theirs.peer_ack(tcp.ack, reset, ctx.budget, &mut |c| {
            feed(app, limits, !to_server, c)
        });
    }
    (both_fin && flow.closing().is_none()).then_some(CloseReason::Fin)
}

/// Hands a reassembled chunk to the application parsers.
fn feed(app: &mut App, limits: &AppLimits, to_server: bool, chunk: Chunk<'_>) {
    match chunk {
        Chunk::Data(d) => app.data(limits, to_server, d),
        Chunk::Gap(n) => app.gap(to_server, n),
    }
}
