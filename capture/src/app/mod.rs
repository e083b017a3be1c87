//! Application protocols on reassembled streams and datagrams: detection
//! by content (any port) through the registered parsers ([`parser`],
//! [`registry`]), then the parser that took the stream.

pub(crate) mod dns;
pub(crate) mod dtls;
pub(crate) mod h2;
mod hello;
pub(crate) mod http;
mod ja4;
pub mod parser;
mod parsers;
pub(crate) mod quic;
pub mod registry;
pub(crate) mod tls;

use crate::record::FlowRecord;
use crate::stats::Stats;
use http::HttpLimits;
use model::flow::AppProtocol;
use parser::{ParserSpec, Probe, StreamParser, Verdict};
use parsers::Parsers;

/// Bytes per direction in which an unrecognised stream is still offered to
/// the parsers' late probes (STARTTLS upgrades in SMTP, LDAP, IMAP...):
/// what a saturating 16-bit count tells apart.
const LATE_WINDOW: u16 = u16::MAX;

/// Bytes of a short stream start held while a probe needs more (7 always
/// tell the built-in protocols apart).
const STASH: usize = 6;

/// Bytes of a direction's first chunk the probes see: enough for the first
/// line of a request (an unknown method needs its version at the end).
const PROBE_VIEW: usize = 2048;

/// The probes' view when a short start was held before the chunk.
const JOINED_VIEW: usize = 256;

/// Which parser a flow's bytes go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing seen yet, or a handover waiting for the next bytes.
    Undecided,
    /// The parser at this index of the flow's list.
    Parser(u8),
    /// Something else; only offered to late probes.
    Opaque,
}

/// Limits for the parsers, and the parsers to use.
#[derive(Debug, Clone, Copy)]
pub struct AppLimits {
    /// HTTP limits.
    pub http: HttpLimits,
    /// Bytes of a TLS hello kept while incomplete.
    pub max_tls_hello: usize,
    /// The registered parsers, in probing order.
    pub parsers: &'static [ParserSpec],
    /// The shard tracks many flows: parsers are asked to keep as little as
    /// they can between chunks ([`StreamParser::compact`]).
    pub compact: bool,
}

/// Bytes of a UDP direction within which each datagram is probed, until
/// one is taken.
const UDP_REPROBE: u16 = 1024;

/// Application-layer state of one flow: 40 bytes until a parser is needed
/// (the limits come from the shard on every call, not kept here).
#[derive(Debug)]
pub struct App {
    mode: Mode,
    /// Datagrams (UDP) rather than a reassembled stream.
    udp: bool,
    /// Parsers that took the flow, in the order they did (a CONNECT
    /// tunnel's HTTP, then the TLS inside).
    parsers: Parsers,
    /// Bytes seen per direction while opaque (saturating: only compared
    /// with the late-probe window).
    opaque_seen: [u16; 2],
    /// Directions whose first bytes the probes have seen (bit 0 to the
    /// server, bit 1 to the client): none is probed twice.
    probed: u8,
    /// A first chunk too short to tell the protocol by, per direction.
    stash: [Stash; 2],
}

/// Up to [`STASH`] leading bytes kept inline until the protocol can be told.
#[derive(Debug, Clone, Copy, Default)]
struct Stash {
    len: u8,
    bytes: [u8; STASH],
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

/// What the probes make of a stream start.
enum Decision {
    /// Hold the bytes: a probe needs more.
    Wait,
    /// This spec takes the stream.
    Take(&'static ParserSpec),
    /// No parser does.
    None,
}

fn decide(limits: &AppLimits, udp: bool, to_server: bool, view: &[u8]) -> Decision {
    let mut maybe = None;
    for spec in limits.parsers.iter().filter(|s| s.transports.reads(udp)) {
        match (spec.probe)(to_server, view) {
            Probe::Yes => return Decision::Take(spec),
            Probe::NeedMore => {
                maybe.get_or_insert(spec);
            }
            Probe::No => {}
        }
    }
    match maybe {
        Some(_) if !udp && view.len() <= STASH => Decision::Wait,
        Some(spec) => Decision::Take(spec),
        None => Decision::None,
    }
}

impl App {
    /// Fresh state for a new TCP connection.
    pub fn new() -> Self {
        App {
            mode: Mode::Undecided,
            udp: false,
            parsers: Parsers::default(),
            opaque_seen: [0; 2],
            probed: 0,
            stash: [Stash::default(); 2],
        }
    }

    /// Fresh state for a new UDP flow.
    pub fn datagrams() -> Self {
        App {
            udp: true,
            ..App::new()
        }
    }

    /// The parsers that took the flow, in the order they did.
    pub fn parsers(&self) -> impl Iterator<Item = &Box<dyn StreamParser>> {
        self.parsers.as_slice().iter()
    }

    /// The protocol the flow speaks, if recognised: the first parser that
    /// names it.
    pub fn protocol(&self) -> Option<AppProtocol> {
        let active = match self.mode {
            Mode::Parser(i) => Some(usize::from(i)),
            _ => None,
        };
        self.parsers()
            .enumerate()
            .find(|(i, p)| p.names_flow(active == Some(*i)))
            .map(|(_, p)| AppProtocol::named(p.name()))
    }

    /// Feeds contiguous bytes of one direction (a whole datagram on UDP).
    pub fn data(&mut self, limits: &AppLimits, to_server: bool, chunk: &[u8]) {
        let mut chunk = chunk;
        let mut decided = false;
        // A handover restarts detection on the rest of the chunk; each
        // turn consumes bytes or ends, so this loop is bounded by the chunk.
        while !chunk.is_empty() {
            if self.mode == Mode::Undecided {
                if !self.start(limits, to_server, chunk) {
                    break;
                }
                decided = true;
            }
            match self.dispatch(limits, to_server, chunk) {
                Some(at) if at < chunk.len() => chunk = chunk.get(at..).unwrap_or(&[]),
                _ => break,
            }
        }
        if decided {
            // The other direction may have been waiting on a short start.
            self.flush_stash(limits, !to_server);
        }
    }

    /// Decides the protocol on a direction's first bytes (with those held
    /// before); `false` when the bytes were held to wait for more.
    fn start(&mut self, limits: &AppLimits, to_server: bool, chunk: &[u8]) -> bool {
        let idx = usize::from(!to_server);
        let stash = self.stash.get(idx).copied().unwrap_or_default();
        let held = stash.bytes.get(..usize::from(stash.len)).unwrap_or(&[]);
        // The probes see the start of the chunk, after any bytes held.
        let mut joined = [0u8; JOINED_VIEW];
        let view = if held.is_empty() {
            chunk.get(..PROBE_VIEW).unwrap_or(chunk)
        } else {
            let n = held.len() + chunk.len().min(JOINED_VIEW - held.len());
            let (a, b) = joined.split_at_mut(held.len());
            a.copy_from_slice(held);
            if let Some(dst) = b.get_mut(..n - held.len()) {
                dst.copy_from_slice(chunk.get(..n - held.len()).unwrap_or(&[]));
            }
            joined.get(..n).unwrap_or(&[])
        };
        let decision = decide(limits, self.udp, to_server, view);
        self.probed |= 1 << idx;
        if let Decision::Wait = decision {
            // Waiting means the view is at most STASH bytes: the whole
            // chunk, after what was held.
            let n = view.len();
            if let Some(s) = self.stash.get_mut(idx) {
                if let Some(dst) = s.bytes.get_mut(held.len()..n) {
                    dst.copy_from_slice(chunk);
                }
                s.len = n as u8;
            }
            return false;
        }
        self.mode = self.take(limits, to_server, view, decision);
        self.flush_stash(limits, to_server);
        true
    }

    /// The mode a decided stream start leads to: a parser of the flow that
    /// reclaims it, else the probes' choice (a new parser; none when a
    /// parser of that protocol handed the stream over already).
    fn take(&mut self, limits: &AppLimits, to_server: bool, view: &[u8], d: Decision) -> Mode {
        let list = self.parsers.as_mut_slice();
        if let Some(i) = list.iter_mut().position(|p| p.reclaim(to_server, view)) {
            return Mode::Parser(i as u8);
        }
        match d {
            Decision::Take(spec) => self.add(limits, spec),
            Decision::Wait | Decision::None => Mode::Opaque,
        }
    }

    /// Starts `spec`'s parser on the flow, unless one of its protocol is
    /// there already (after a 101 the stream is another protocol, however
    /// much it looks like HTTP).
    fn add(&mut self, limits: &AppLimits, spec: &'static ParserSpec) -> Mode {
        let list = self.parsers.as_slice();
        if list.iter().any(|p| p.name() == spec.name) || list.len() >= usize::from(u8::MAX) {
            return Mode::Opaque;
        }
        let i = list.len() as u8;
        self.parsers.push((spec.new)(limits));
        Mode::Parser(i)
    }

    /// Gives a chunk to the mode's reader; `Some(offset)` when the parser
    /// handed the stream over there.
    fn dispatch(&mut self, limits: &AppLimits, to_server: bool, chunk: &[u8]) -> Option<usize> {
        match self.mode {
            Mode::Parser(i) => {
                let p = self.parsers.as_mut_slice().get_mut(usize::from(i))?;
                parser::expand(p);
                let verdict = p.data(to_server, chunk);
                if limits.compact {
                    parser::compact(p);
                }
                match verdict {
                    Verdict::Continue => None,
                    Verdict::Handover(_) if self.udp => {
                        self.mode = Mode::Opaque;
                        None
                    }
                    Verdict::Handover(at) => {
                        self.mode = Mode::Undecided;
                        Some(at)
                    }
                }
            }
            Mode::Opaque => {
                let idx = usize::from(!to_server);
                let seen = self.opaque_seen.get(idx).copied().unwrap_or(0);
                // The other direction's first bytes may tell what the
                // first did not (a server's `HTTP/1.0 400` to a request
                // line no probe took); on UDP, so may a direction's next
                // datagrams, in its first KiB (a junk datagram before a
                // DNS query).
                let again = self.udp && seen < UDP_REPROBE;
                if (self.probed & (1 << idx) == 0 || again) && self.parsers.is_empty() {
                    self.probed |= 1 << idx;
                    let view = chunk.get(..PROBE_VIEW).unwrap_or(chunk);
                    if let Decision::Take(spec) = decide(limits, self.udp, to_server, view) {
                        self.mode = self.add(limits, spec);
                        if self.mode != Mode::Opaque {
                            return self.dispatch(limits, to_server, chunk);
                        }
                    }
                }
                if seen < LATE_WINDOW {
                    if let Some(spec) = self.late_spec(limits, to_server, chunk) {
                        self.mode = self.add(limits, spec);
                        if self.mode != Mode::Opaque {
                            return self.dispatch(limits, to_server, chunk);
                        }
                    }
                }
                if let Some(s) = self.opaque_seen.get_mut(idx) {
                    *s = s.saturating_add(u16::try_from(chunk.len()).unwrap_or(u16::MAX));
                }
                None
            }
            Mode::Undecided => None,
        }
    }

    fn late_spec(
        &self,
        limits: &AppLimits,
        to_server: bool,
        chunk: &[u8],
    ) -> Option<&'static ParserSpec> {
        limits.parsers.iter().find(|s| {
            s.transports.reads(self.udp) && s.late_probe.is_some_and(|f| f(to_server, chunk))
        })
    }

    /// Hands a direction's held first bytes to the parser, deciding the
    /// protocol on them if nothing decided it yet.
    fn flush_stash(&mut self, limits: &AppLimits, to_server: bool) {
        let idx = usize::from(!to_server);
        let Some(stash) = self.stash.get_mut(idx) else {
            return;
        };
        if stash.len == 0 {
            return;
        }
        let n = usize::from(stash.len);
        stash.len = 0;
        let bytes = stash.bytes;
        let held = bytes.get(..n).unwrap_or(&[]);
        if self.mode == Mode::Undecided {
            let d = match decide(limits, self.udp, to_server, held) {
                // The stream ended (or the other side decided) on a prefix.
                Decision::Wait => first_maybe(limits, self.udp, to_server, held),
                d => d,
            };
            self.mode = self.take(limits, to_server, held, d);
        }
        // Held bytes are at most 6: a handover inside them leaves the rest
        // to the next chunk's detection, as the tail of a chunk would.
        if let Some(at) = self.dispatch(limits, to_server, held) {
            if let Some(rest) = held.get(at..) {
                if !rest.is_empty() && self.mode == Mode::Undecided {
                    let d = decide(limits, self.udp, to_server, rest);
                    self.mode = self.take(limits, to_server, rest, d);
                    self.dispatch(limits, to_server, rest);
                }
            }
        }
    }

    /// End of the flow: parsers record what they still hold.
    pub fn finish(&mut self, limits: &AppLimits) {
        // A stream that ended before its first bytes told the protocol
        // (`GET` and a close) is decided on what it has.
        self.flush_stash(limits, true);
        self.flush_stash(limits, false);
        for p in self.parsers.as_mut_slice() {
            p.finish();
        }
    }

    /// Moves what the parsers learnt into the record and their counters
    /// into `stats`; names the record's protocol.
    pub fn record(self, rec: &mut FlowRecord, stats: &mut Stats) {
        rec.network.protocol = self.protocol();
        self.parsers.record(rec, stats);
    }

    /// `len` bytes of one direction are missing from the capture.
    pub fn gap(&mut self, to_server: bool, len: u64) {
        match self.mode {
            Mode::Parser(i) => {
                if let Some(p) = self.parsers.as_mut_slice().get_mut(usize::from(i)) {
                    parser::expand(p);
                    p.gap(to_server, len);
                }
            }
            Mode::Undecided | Mode::Opaque => {
                if let Some(s) = self.opaque_seen.get_mut(usize::from(!to_server)) {
                    *s = s.saturating_add(u16::try_from(len).unwrap_or(u16::MAX));
                }
            }
        }
    }
}

/// The first spec whose probe does not refuse `view`.
fn first_maybe(limits: &AppLimits, udp: bool, to_server: bool, view: &[u8]) -> Decision {
    limits
        .parsers
        .iter()
        .filter(|s| s.transports.reads(udp))
        .find(|s| (s.probe)(to_server, view) != Probe::No)
        .map_or(Decision::None, Decision::Take)
}

#[cfg(test)]
mod tunnel_tests {
    use super::*;

    use crate::app::http::HttpTransaction;
    use crate::record::{EndpointFields, EventFields};
    use model::flow::Transport;
    use std::net::{IpAddr, Ipv4Addr};

    fn limits() -> AppLimits {
        AppLimits {
            parsers: registry::BUILTIN,
            compact: true,
            http: HttpLimits {
                max_transactions: 64,
                max_header_bytes: 16 << 10,
                max_field_len: 256,
            },
            max_tls_hello: 1 << 16,
        }
    }

    fn run(exchange: &[(bool, &[u8])]) -> App {
        let l = limits();
        let mut app = App::new();
        for (to_server, bytes) in exchange {
            app.data(&l, *to_server, bytes);
        }
        app.finish(&l);
        app
    }

    /// The record the app's parsers write, and their counters.
    fn record(app: App) -> (FlowRecord, Stats) {
        let mut rec = empty_record();
        let mut stats = Stats::default();
        app.record(&mut rec, &mut stats);
        (rec, stats)
    }

    /// A record with nothing in it yet.
    pub(super) fn empty_record() -> FlowRecord {
        let end = EndpointFields {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 1,
            packets: 0,
            bytes: 0,
        };
        let event = EventFields {
            start: 0,
            end: 0,
            reason: "",
        };
        FlowRecord::new(event, Transport::Tcp, end.clone(), end)
    }

    fn txs(app: App) -> Vec<HttpTransaction> {
        record(app).0.http
    }

    /// A UDP flow whose first datagram no probe takes is probed again on
    /// its next ones (within a KiB): a junk datagram, then a DNS query.
    #[test]
    fn a_udp_flow_is_named_by_a_later_datagram() {
        let l = limits();
        let mut app = App::datagrams();
        app.data(&l, true, b"junk, no protocol at all");
        assert_eq!(app.protocol(), None);
        // A query for example.com, type A.
        let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
        app.data(&l, true, query);
        assert_eq!(app.protocol(), Some(AppProtocol::named("dns")));
    }

    #[test]
    fn http_inside_connect_is_read_as_http() {
        let app = run(&[
            (
                true,
                b"CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n",
            ),
            (false, b"HTTP/1.1 200 Connection established\r\n\r\n"),
            (true, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
            (false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        ]);
        assert_eq!(app.protocol(), Some(AppProtocol::HTTP));
        let txs = txs(app);
        assert_eq!(txs.len(), 2);
        assert_eq!(txs[0].method.as_deref(), Some("CONNECT"));
        assert_eq!((txs[0].request_bytes, txs[0].response_bytes), (57, 39));
        assert_eq!(txs[1].method.as_deref(), Some("GET"));
        assert_eq!(txs[1].host.as_deref(), Some("example.com"));
        assert_eq!((txs[1].request_bytes, txs[1].response_bytes), (37, 40));
        assert_eq!(txs[1].response_body_bytes, 2);
    }

    #[test]
    fn inner_bytes_in_the_same_chunk_as_the_answer() {
        let app = run(&[
            (
                true,
                b"CONNECT a:80 HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
            ),
            (
                false,
                b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            ),
            (true, b"GET /y HTTP/1.1\r\nHost: a\r\n\r\n"),
        ]);
        let txs = txs(app);
        let got: Vec<_> = txs.iter().map(|t| (t.uri.as_deref(), t.status)).collect();
        // /x was sent before the tunnel opened: a pipelined request that
        // waits behind the CONNECT. The 204 inside the tunnel has no
        // request the parser saw inside it; /y follows inside.
        assert_eq!(
            got,
            [
                (Some("a:80"), Some(200)),
                (Some("/x"), None),
                (None, Some(204)),
                (Some("/y"), None)
            ]
        );
    }

    #[test]
    fn after_101_the_stream_is_handed_over() {
        // HTTP/1.x is not taken again, however much the stream looks like
        // it; HTTP/2's preface is (the h2c upgrade).
        for (inner, mode) in [
            (&b"GET /again HTTP/1.1\r\n\r\n"[..], Mode::Opaque),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Mode::Parser(1)),
        ] {
            let app = run(&[
                (true, b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
                (false, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
                (true, inner),
                (false, b"\x81\x02hi"),
            ]);
            assert_eq!(app.mode, mode);
            let txs = txs(app);
            assert_eq!(txs.len(), 1);
            assert_eq!(txs[0].status, Some(101));
        }
    }

    #[test]
    fn nested_connects_never_loop() {
        let mut ex: Vec<(bool, &[u8])> = Vec::new();
        for _ in 0..1000 {
            ex.push((true, b"CONNECT a:80 HTTP/1.1\r\n\r\n"));
            ex.push((false, b"HTTP/1.1 200 OK\r\n\r\n"));
        }
        let app = run(&ex);
        let (rec, stats) = record(app);
        assert_eq!(rec.http.len(), 64);
        assert_eq!(stats.http_transactions, 1000);
        assert_eq!(stats.http_transactions_dropped, 1000 - 64);
    }
}
