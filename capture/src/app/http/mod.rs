//! HTTP/1.x on reassembled streams: requests and responses paired into
//! transactions with exact message byte counts.
//!
//! Each direction runs its own small state machine (headers, body by
//! Content-Length, chunked, or until close). Headers are parsed with
//! httparse straight from the packet data when a header block sits in one
//! chunk, and copied into a capped buffer only when it spans chunks.
//! A parse error or a gap inside framing leaves the direction "lost" until a
//! chunk starts with something that looks like a new message; bytes keep
//! being counted by the flow either way.

mod chunked;
mod flow;
mod head;
mod inflate;
mod parked;
mod small;
mod tx;

use super::parser::{ParserSpec, Probe, Transports, Verdict};
use chunked::{Chunked, ChunkedStep};
use head::{parse_request, parse_response, Parsed};
pub use inflate::{set_max_decoders, DEFAULT_MAX_DECODERS};
use inflate::{Coding, Inflate};
pub use model::flow::HttpTransaction;
pub use parked::read_back;
use small::{Held, Queue};
pub(crate) use tx::word;
use tx::Field;
pub use tx::Tx as WaitingTransaction;
use tx::Tx;
pub use tx::Txs;

/// Limits the parser works within.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Transactions recorded per flow.
    pub max_transactions: usize,
    /// Bytes of a header block buffered while incomplete.
    pub max_header_bytes: usize,
    /// Longest string kept from a header.
    pub max_field_len: usize,
}

/// Counters the parser reports to the shard's statistics (32-bit, as
/// every HTTP flow keeps them; they saturate).
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpCounters {
    /// Transactions started (request or orphan response seen).
    pub transactions: u32,
    /// Header blocks that failed to parse, or framing that broke.
    pub parse_errors: u32,
    /// Transactions beyond the per-flow cap (not recorded).
    pub dropped: u32,
    /// Content-Encoded bodies left undecoded: no decoder was free.
    pub not_decoded: u32,
}

/// Adds one to a saturating counter.
fn bump(c: &mut u32) {
    *c = c.saturating_add(1);
}

#[derive(Debug)]
enum Body {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
}

/// A Content-Encoded body being decoded: its framing and its decoder
/// (behind a pointer, so that the parser stays as small as the plain
/// framings keep it).
#[derive(Debug)]
struct Decoded {
    framing: Body,
    inflate: Inflate,
}

/// What one step of a body's framing did.
enum Step {
    /// `used` bytes read, `data` of them body data; the body goes on.
    Progress { used: usize, data: u64 },
    /// The body ended after `used` bytes.
    Done { used: usize, data: u64 },
    /// The framing broke after `used` good bytes; `unchunked`: at the
    /// first chunk size, so the body was never chunked.
    Invalid {
        used: usize,
        data: u64,
        unchunked: bool,
    },
}

impl Body {
    /// Reads what of `rest` belongs to the body, handing its data (after
    /// de-chunking) to `on_data`.
    #[inline]
    fn step(&mut self, rest: &[u8], mut on_data: impl FnMut(&[u8])) -> Step {
        match self {
            Body::Length(left) => {
                let n = (*left).min(rest.len() as u64);
                *left -= n;
                on_data(rest.get(..n as usize).unwrap_or(&[]));
                let used = n as usize;
                if *left == 0 {
                    Step::Done { used, data: n }
                } else {
                    Step::Progress { used, data: n }
                }
            }
            Body::UntilClose => {
                on_data(rest);
                Step::Progress {
                    used: rest.len(),
                    data: rest.len() as u64,
                }
            }
            Body::Chunked(c) => match c.step(rest, &mut on_data) {
                ChunkedStep::Progress { used, data } => Step::Progress { used, data },
                ChunkedStep::Done { used, data } => Step::Done { used, data },
                ChunkedStep::Invalid { used, data } => Step::Invalid {
                    used,
                    data,
                    unchunked: !c.started(),
                },
            },
        }
    }
}

#[derive(Debug)]
enum Phase {
    Headers,
    Body(Body),
    /// A body whose Content-Encoding is being undone.
    Decoded(Box<Decoded>),
    /// Lost track: wait for a chunk that starts a message.
    Lost,
    /// No longer HTTP.
    Tunnel,
}

/// A request still waiting for its response.
#[derive(Debug, Clone, Copy)]
struct AwaitingResponse {
    tx: Option<u32>,
    head: bool,
    connect: bool,
    /// An HTTP/0.9 request: its answer is bare bytes until the close.
    simple: bool,
}

#[derive(Debug)]
struct Side {
    phase: Phase,
    buf: Held,
    /// Transaction whose message this side is reading.
    tx: Option<u32>,
}

impl Side {
    fn new() -> Self {
        Side {
            phase: Phase::Headers,
            buf: Held::default(),
            tx: None,
        }
    }
}

/// [`HttpLimits`] narrowed to 32 bits: kept by every HTTP flow, so kept
/// small (transaction indices are 32-bit for the same reason). A field is
/// kept to at most [`tx::MAX_FIELD`] bytes, whatever the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Caps {
    transactions: u32,
    header_bytes: u32,
    field_len: u32,
}

impl From<HttpLimits> for Caps {
    fn from(l: HttpLimits) -> Self {
        let narrow = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Caps {
            transactions: narrow(l.max_transactions),
            header_bytes: narrow(l.max_header_bytes),
            field_len: narrow(l.max_field_len.min(tx::MAX_FIELD)),
        }
    }
}

/// HTTP state of one connection: 200 bytes, and one block for the
/// waiting request's text, while requests come one at a time with their
/// heads whole (`cargo test --release -p capture --test flow_memory --
/// --nocapture`).
#[derive(Debug)]
pub struct Http {
    /// Transactions in request order.
    txs: Txs,
    /// Counters for statistics.
    pub counters: HttpCounters,
    req: Side,
    resp: Side,
    pending: Queue<AwaitingResponse>,
    caps: Caps,
    /// The tunnel was opened by CONNECT (HTTP may run inside it), not by
    /// a 101 switch to another protocol.
    connect_tunnel: bool,
}

impl Http {
    /// A parser for a new connection.
    pub fn new(limits: HttpLimits) -> Self {
        Http {
            txs: Txs::default(),
            counters: HttpCounters::default(),
            req: Side::new(),
            resp: Side::new(),
            pending: Queue::default(),
            caps: Caps::from(limits),
            connect_tunnel: false,
        }
    }

    fn side(&mut self, to_server: bool) -> &mut Side {
        if to_server {
            &mut self.req
        } else {
            &mut self.resp
        }
    }

    /// The transactions so far, as the parser keeps them.
    pub fn txs(&self) -> &Txs {
        &self.txs
    }

    /// The transactions so far, as records carry them.
    pub fn transactions(&self) -> Vec<HttpTransaction> {
        self.txs.to_transactions()
    }

    fn tx_mut(&mut self, idx: Option<u32>) -> Option<&mut Tx> {
        idx.and_then(|i| self.txs.get_mut(i as usize))
    }

    fn add_bytes(&mut self, to_server: bool, idx: Option<u32>, msg: u64, body: u64) {
        if let Some(tx) = self.tx_mut(idx) {
            if to_server {
                tx.request_bytes += msg;
                tx.request_body_bytes += body;
            } else {
                tx.response_bytes += msg;
                tx.response_body_bytes += body;
            }
        }
    }

    fn new_tx(&mut self, tx: Tx) -> Option<u32> {
        bump(&mut self.counters.transactions);
        let idx = u32::try_from(self.txs.len()).unwrap_or(u32::MAX);
        if idx < self.caps.transactions {
            self.txs.push(tx);
            Some(idx)
        } else {
            bump(&mut self.counters.dropped);
            None
        }
    }

    /// Feeds contiguous bytes of one direction.
    pub fn data(&mut self, to_server: bool, chunk: &[u8]) -> Verdict {
        let mut at = 0;
        while at < chunk.len() {
            let rest = chunk.get(at..).unwrap_or(&[]);
            let side = self.side(to_server);
            match &mut side.phase {
                Phase::Tunnel => return Verdict::Handover(at),
                Phase::Lost => {
                    let idx = side.tx;
                    let cap = self.caps.header_bytes as usize;
                    let found = self.find_message(to_server, rest, cap);
                    // Bytes passed over were still sent in the last message
                    // of this side: its size counts them, its body does not.
                    self.add_bytes(to_server, idx, found.passed as u64, 0);
                    match found.skip {
                        Some(skip) => at += skip,
                        None => return Verdict::Continue,
                    }
                }
                Phase::Headers => {
                    if side.buf.is_empty() {
                        // Stray CRLFs between messages belong to no message
                        // (and blanks before a status line, which lenient
                        // clients pass over too).
                        let skip = rest
                            .iter()
                            .take_while(|b| {
                                matches!(b, b'\r' | b'\n')
                                    || (!to_server && matches!(b, b' ' | b'\t'))
                            })
                            .count();
                        if skip > 0 {
                            self.stray(to_server, skip);
                            at += skip;
                            continue;
                        }
                    }
                    if !to_server && side.buf.is_empty() && self.bare_response(rest) {
                        continue;
                    }
                    match self.headers(to_server, rest) {
                        Some(used) => at += used,
                        None => return Verdict::Continue,
                    }
                }
                Phase::Body(body) => {
                    let idx = side.tx;
                    let step = body.step(rest, |_| {});
                    at += self.body_step(to_server, idx, step, false);
                }
                Phase::Decoded(d) => {
                    let idx = side.tx;
                    let Decoded { framing, inflate } = &mut **d;
                    let step = framing.step(rest, |b| inflate.feed(b));
                    let decoded = inflate.decoded();
                    if let Some(tx) = self.tx_mut(idx) {
                        tx.set_decoded(to_server, decoded);
                    }
                    at += self.body_step(to_server, idx, step, true);
                }
            }
        }
        Verdict::Continue
    }

    /// Counts one step of a body in its transaction and moves the side on
    /// when the body ended or its framing broke; gives the bytes used.
    fn body_step(
        &mut self,
        to_server: bool,
        idx: Option<u32>,
        step: Step,
        decoding: bool,
    ) -> usize {
        match step {
            Step::Progress { used, data } => {
                self.add_bytes(to_server, idx, used as u64, data);
                used
            }
            Step::Done { used, data } => {
                self.add_bytes(to_server, idx, used as u64, data);
                self.side(to_server).phase = Phase::Headers;
                used
            }
            // A size that is no size (or overflows 64 bits). A response
            // whose first size line is none was not chunked at all: faulty
            // framing, its body runs to the close (RFC 9112 6.3). Anything
            // else is lost, and found again at the next line that starts a
            // message. Decoding stops with the framing.
            Step::Invalid {
                used,
                data,
                unchunked,
            } => {
                self.add_bytes(to_server, idx, used as u64, data);
                bump(&mut self.counters.parse_errors);
                if let (true, Some(tx)) = (decoding, self.tx_mut(idx)) {
                    tx.set_decoded(to_server, None);
                }
                self.side(to_server).phase = if !to_server && unchunked {
                    Phase::Body(Body::UntilClose)
                } else {
                    Phase::Lost
                };
                used
            }
        }
    }

    /// Parses a header block from `data` (plus what is buffered). Returns
    /// the bytes of `data` used, or `None` when all of it was used up
    /// (buffered, or the side got lost).
    fn headers(&mut self, to_server: bool, data: &[u8]) -> Option<usize> {
        let max = self.caps.header_bytes as usize;
        let field = self.caps.field_len as usize;
        let side = self.side(to_server);
        let held = side.buf.len();
        if held > 0 {
            let room = max.saturating_sub(held);
            let take = data.len().min(room);
            side.buf.extend(data.get(..take).unwrap_or(&[]));
        }
        // What is held is parsed out of its place, so that the fields read
        // can borrow it while the message is taken.
        let mut buf = std::mem::take(&mut side.buf);
        let parsed = parse(to_server, if held == 0 { data } else { buf.bytes() }, field);
        match parsed {
            Parsed::Complete(len, head) => {
                if to_server {
                    self.on_request(len as u64, head);
                } else {
                    self.on_response(len as u64, head);
                }
                buf.clear();
                self.side(to_server).buf = buf;
                Some(len.saturating_sub(held))
            }
            Parsed::Partial => {
                let side = self.side(to_server);
                side.buf = buf;
                if held == 0 {
                    if data.len() >= max {
                        self.lost_with_error(to_server, data.len());
                    } else {
                        side.buf.extend(data);
                    }
                } else if side.buf.len() >= max {
                    self.lost_with_error(to_server, held + data.len());
                }
                None
            }
            Parsed::Invalid => {
                // Its first line is passed over, and the rest of `data`
                // searched for the next message start.
                let line_end = buf.bytes().iter().position(|b| *b == b'\n');
                let used = match line_end {
                    Some(n) if n < held => 0,
                    _ => data
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(data.len(), |n| n + 1),
                };
                self.side(to_server).buf = buf;
                self.lost_with_error(to_server, held + used);
                Some(used)
            }
        }
    }

    /// A header block that is none: counted, its `passed` bytes (what was
    /// held and the chunk it came with) given to the side's last message,
    /// and the side lost.
    fn lost_with_error(&mut self, to_server: bool, passed: usize) {
        bump(&mut self.counters.parse_errors);
        let side = self.side(to_server);
        side.buf.clear();
        side.phase = Phase::Lost;
        let idx = side.tx;
        self.add_bytes(to_server, idx, passed as u64, 0);
    }

    /// Looks for the next message start in `data`, read while lost, with
    /// the cut line held from the data before (a request line may span two
    /// segments). Says how many bytes of `data` to skip to reach it, the
    /// side then reading headers (with what it holds), or `None` when all
    /// of `data` was passed over (its cut last line held, up to `cap`
    /// bytes); and how many bytes were passed over for good, held ones
    /// included once they are let go.
    fn find_message(&mut self, to_server: bool, data: &[u8], cap: usize) -> Found {
        let side = self.side(to_server);
        let held = side.buf.take();
        let mut passed = held.len();
        if !held.is_empty() {
            let upto = data
                .iter()
                .position(|b| *b == b'\n')
                .map_or(data.len(), |n| n + 1);
            let mut line = held.clone();
            line.extend_from_slice(data.get(..upto).unwrap_or(&[]));
            if line.ends_with(b"\n") && whole_start_line(to_server, &line) {
                side.buf.set(held);
                side.phase = Phase::Headers;
                return Found::at(0, 0);
            }
            if !line.ends_with(b"\n") && line.len() < cap && starts_message(to_server, &line) {
                side.buf.set(line);
                return Found::none(0);
            }
            if !line.ends_with(b"\n") {
                return Found::none(passed + data.len());
            }
            // Not a start: the rest of `data` is looked at afresh.
            passed += upto;
            let rest = data.get(upto..).unwrap_or(&[]);
            return match resync(to_server, rest) {
                Resync::At(n) => {
                    side.phase = Phase::Headers;
                    Found::at(upto + n, passed + n)
                }
                Resync::Tail(n) => {
                    side.buf.set(rest.get(n..).unwrap_or(&[]).to_vec());
                    Found::none(passed + n)
                }
                Resync::None => Found::none(passed + rest.len()),
            };
        }
        match resync(to_server, data) {
            Resync::At(n) => {
                side.phase = Phase::Headers;
                Found::at(n, n)
            }
            Resync::Tail(n) => {
                let tail = data.get(n..).unwrap_or(&[]);
                if tail.len() < cap {
                    side.buf.set(tail.to_vec());
                    Found::none(n)
                } else {
                    Found::none(data.len())
                }
            }
            Resync::None => Found::none(data.len()),
        }
    }

    /// Answers with no status line: HTTP/0.9's bare bytes until the close,
    /// to a 0.9 request or as the first answer of the connection. Takes
    /// the response side there and says so.
    fn bare_response(&mut self, data: &[u8]) -> bool {
        let first = self.resp.tx.is_none();
        let bare = match self.pending.front() {
            Some(p) => (p.simple || first) && !starts_message(false, data),
            None => false,
        };
        if bare {
            let tx = self.pending.pop_front().and_then(|p| p.tx);
            self.resp.tx = tx;
            self.resp.phase = Phase::Body(Body::UntilClose);
        }
        bare
    }

    fn on_request(&mut self, len: u64, head: head::Head<'_>) {
        if head.malformed {
            bump(&mut self.counters.parse_errors);
        }
        let simple = head.simple;
        let method = head.method.unwrap_or_default();
        let is_head = method.eq_ignore_ascii_case("HEAD");
        let connect = method.eq_ignore_ascii_case("CONNECT");
        let mut tx = Tx::request(len);
        tx.set(&[
            (Field::Method, Some(&method)),
            (Field::Host, head.host.as_deref()),
            (Field::Uri, head.uri.as_deref()),
            (Field::UserAgent, head.user_agent.as_deref()),
            (Field::Version, head.version.as_deref()),
        ]);
        let tx = self.new_tx(tx);
        self.pending.push_back(AwaitingResponse {
            tx,
            head: is_head,
            connect,
            simple,
        });
        self.req.tx = tx;
        self.req.phase = match head.framing {
            head::Framing::Chunked => {
                self.body(true, Body::Chunked(Chunked::default()), head.coding)
            }
            head::Framing::Length(n) if n > 0 => self.body(true, Body::Length(n), head.coding),
            head::Framing::Ambiguous => {
                bump(&mut self.counters.parse_errors);
                Phase::Lost
            }
            // A request without framing has no body (RFC 9112 6.3).
            _ => Phase::Headers,
        };
    }

    /// The phase that reads a body of `framing`, decoding it when its
    /// Content-Encoding is one undone and a decoder is free (none free:
    /// counted, and the body read as it is).
    fn body(&mut self, to_server: bool, framing: Body, coding: Option<Coding>) -> Phase {
        let Some(coding) = coding else {
            return Phase::Body(framing);
        };
        let Some(inflate) = Inflate::start(coding) else {
            bump(&mut self.counters.not_decoded);
            return Phase::Body(framing);
        };
        let idx = self.side(to_server).tx;
        if let Some(tx) = self.tx_mut(idx) {
            tx.set_decoded(to_server, Some(0));
        }
        Phase::Decoded(Box::new(Decoded { framing, inflate }))
    }

    fn on_response(&mut self, len: u64, head: head::Head<'_>) {
        if head.malformed {
            bump(&mut self.counters.parse_errors);
        }
        let status = head.status.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            // Interim (100 Continue, 103 Early Hints): part of the exchange
            // of the request waiting at the front, which stays waiting.
            let idx = match self.pending.front() {
                Some(p) => p.tx,
                None => self.new_tx(Tx::default()),
            };
            self.add_bytes(false, idx, len, 0);
            self.resp.tx = idx;
            return;
        }
        let pending = self.pending.pop_front();
        let idx = match pending {
            Some(p) => p.tx,
            // A response with no request seen (capture started mid-way).
            None => self.new_tx(Tx::default()),
        };
        if let Some(tx) = self.tx_mut(idx) {
            tx.set_status(head.status);
            tx.set(&[
                (Field::ResponseVersion, head.version.as_deref()),
                (Field::ContentType, head.content_type.as_deref()),
            ]);
            tx.response_bytes += len;
        }
        self.resp.tx = idx;
        let p = pending.unwrap_or(AwaitingResponse {
            tx: None,
            head: false,
            connect: false,
            simple: false,
        });
        let tunnel = status == 101 || (p.connect && (200..300).contains(&status));
        self.resp.phase = if tunnel {
            self.connect_tunnel = status != 101;
            self.req.phase = Phase::Tunnel;
            Phase::Tunnel
        } else if p.head || status == 204 || status == 304 {
            Phase::Headers
        } else {
            let coding = head.coding;
            match head.framing {
                head::Framing::Chunked => {
                    self.body(false, Body::Chunked(Chunked::default()), coding)
                }
                head::Framing::Length(0) => Phase::Headers,
                head::Framing::Length(n) => self.body(false, Body::Length(n), coding),
                head::Framing::None => self.body(false, Body::UntilClose, coding),
                // Conflicting lengths: faulty framing, which a client reads
                // to the close (RFC 9112 6.3).
                head::Framing::Ambiguous => {
                    bump(&mut self.counters.parse_errors);
                    self.body(false, Body::UntilClose, coding)
                }
            }
        };
    }

    /// `len` bytes of one direction are missing from the capture.
    ///
    /// Inside a body of known length (Content-Length, or chunk data) the
    /// missing bytes still belong to the message: they were sent, only not
    /// captured. They count in the message and body bytes, so transaction
    /// sizes follow the framing; the flow's `missed_bytes` says how much was
    /// not seen.
    pub fn gap(&mut self, to_server: bool, len: u64) {
        let side = self.side(to_server);
        let idx = side.tx;
        // A decoder cannot go on past missing bytes: the body is read on
        // by its framing alone, its decoded length unknown.
        if matches!(side.phase, Phase::Decoded(_)) {
            if let Phase::Decoded(d) = std::mem::replace(&mut side.phase, Phase::Lost) {
                side.phase = Phase::Body(d.framing);
            }
            if let Some(tx) = self.tx_mut(idx) {
                tx.set_decoded(to_server, None);
            }
        }
        let side = self.side(to_server);
        let counted = match &mut side.phase {
            Phase::Body(Body::Length(left)) if len < *left => {
                *left -= len;
                len
            }
            Phase::Body(Body::Length(left)) => {
                let rest = *left;
                // A gap that runs past the body also swallowed whatever came
                // next: lost until a message start shows up.
                side.phase = if len == rest {
                    Phase::Headers
                } else {
                    Phase::Lost
                };
                rest
            }
            Phase::Body(Body::Chunked(c)) => {
                if c.skip(len) {
                    len
                } else {
                    side.phase = Phase::Lost;
                    0
                }
            }
            Phase::Body(Body::UntilClose) => len,
            // Taken apart above.
            Phase::Decoded(_) | Phase::Tunnel | Phase::Lost => 0,
            Phase::Headers => {
                side.buf.clear();
                side.phase = Phase::Lost;
                0
            }
        };
        if counted > 0 {
            self.add_bytes(to_server, idx, counted, counted);
        }
    }

    /// End of the connection. A request line still waiting for its end of
    /// headers (an HTTP/0.9-style `GET /`, or a client cut off) is recorded
    /// as the request it is; other bytes still held (a head never ended,
    /// junk after a response) count in their side's last message.
    pub fn finish(&mut self) {
        let resp = self.resp.buf.take();
        self.stray(false, resp.len());
        if !matches!(self.req.phase, Phase::Headers | Phase::Lost) || self.req.buf.is_empty() {
            return;
        }
        let buf = self.req.buf.take();
        let line = buf.split(|b| *b == b'\n').next().unwrap_or(&[]);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match head::split_request_line(line) {
            Some((method, target, version)) if matches!(self.req.phase, Phase::Headers) => {
                let max = self.caps.field_len as usize;
                let mut tx = Tx::request(buf.len() as u64);
                tx.set(&[
                    (Field::Method, Some(&head::known(method, max))),
                    (Field::Uri, Some(&head::uri_text(target, max))),
                    (Field::Version, version.as_deref()),
                ]);
                self.new_tx(tx);
            }
            _ => self.stray(true, buf.len()),
        }
    }

    /// `len` bytes of one side outside any message, before a head (blanks,
    /// a head the connection cut): a response's count in the answer a
    /// waiting request is about to get, else, as a request's, in the
    /// side's last message.
    fn stray(&mut self, to_server: bool, len: usize) {
        if len == 0 {
            return;
        }
        let waiting = (!to_server)
            .then(|| self.pending.front().map(|p| p.tx))
            .flatten();
        let idx = waiting.unwrap_or(self.side(to_server).tx);
        self.add_bytes(to_server, idx, len as u64, 0);
    }

    /// True once the connection left HTTP.
    pub fn upgraded(&self) -> bool {
        matches!(self.req.phase, Phase::Tunnel)
    }

    /// True when the connection left HTTP through a CONNECT tunnel, inside
    /// which HTTP may run again (a 101 switch leaves HTTP/1.x for good).
    pub fn in_connect_tunnel(&self) -> bool {
        self.upgraded() && self.connect_tunnel
    }

    /// Reads the tunnel's own HTTP: both directions start again at a
    /// message head; the transactions recorded so far are kept.
    pub fn reopen(&mut self) {
        self.req = Side::new();
        self.resp = Side::new();
        self.pending.clear();
        self.connect_tunnel = false;
    }
}

/// HTTP/1.x as a registered parser.
pub const SPEC: ParserSpec = ParserSpec {
    name: "http",
    transports: Transports::Tcp,
    probe,
    late_probe: None,
    new: |limits| Box::new(Http::new(limits.http)),
};

/// A response settles it with its whole `HTTP/`. A request settles it with
/// a registered method and a space, unless its whole first line ends in
/// another protocol's version (SIP's and RTSP's `OPTIONS ... SIP/2.0`).
/// Any other token needs its whole first line, ending in an HTTP version:
/// up to the target, SMTP's `EHLO x`, FTP's and POP3's `USER x`, IRC's
/// `NICK x` or RFB's `RFB 003.008` are request lines too.
fn probe(to_server: bool, first: &[u8]) -> Probe {
    if !starts_message(to_server, first) {
        return Probe::No;
    }
    if !to_server {
        return if first.len() >= 5 {
            Probe::Yes
        } else {
            Probe::NeedMore
        };
    }
    let Some(space) = first.iter().position(|b| *b == b' ') else {
        return Probe::NeedMore;
    };
    let method = first.get(..space).unwrap_or_default();
    let version = first_line(first).map(line_version);
    match (known_method(method), version) {
        (true, None) => Probe::Yes,
        (true, Some(v)) => yes_if(v.is_none_or(is_http_version)),
        (false, Some(Some(v))) => yes_if(is_http_version(v)),
        // `CCM_POST /x`: an unregistered method and a path, no version (an
        // HTTP/0.9-style line, as Zeek reads it). FTP's commands with a
        // path (`CWD /pub`, `RETR /f`) are all shorter.
        (false, Some(None)) => {
            yes_if(method.len() >= 5 && first_line(first).is_some_and(path_only))
        }
        (false, None) => Probe::No,
    }
}

/// A request line of a method and a path alone: `METHOD /path`.
fn path_only(line: &[u8]) -> bool {
    line.splitn(2, |b| *b == b' ')
        .nth(1)
        .is_some_and(|target| target.starts_with(b"/") && !target.contains(&b' '))
}

/// The first line of `b` without its end, when `b` holds all of it.
fn first_line(b: &[u8]) -> Option<&[u8]> {
    let end = b.iter().position(|c| *c == b'\n')?;
    let line = b.get(..end)?;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// The last word of a request line when it reads as a protocol version
/// (`NAME/digit...`); `None` for a line without one (HTTP/0.9's `GET /`).
fn line_version(line: &[u8]) -> Option<&[u8]> {
    let at = line.iter().rposition(|c| *c == b' ')?;
    let word = line.get(at + 1..)?;
    let slash = word.iter().position(|c| *c == b'/')?;
    let name = word.get(..slash)?;
    let named = !name.is_empty() && name.iter().all(u8::is_ascii_uppercase);
    let numbered = word.get(slash + 1).is_some_and(u8::is_ascii_digit);
    (named && numbered).then_some(word)
}

fn yes_if(http: bool) -> Probe {
    if http {
        Probe::Yes
    } else {
        Probe::No
    }
}

fn is_http_version(word: &[u8]) -> bool {
    word.starts_with(b"HTTP/")
}

/// Methods of the IANA HTTP method registry, with those of UPnP (GENA),
/// of cache purging and of Exchange's WebDAV and RPC over HTTP, which
/// busy networks carry.
fn known_method(m: &[u8]) -> bool {
    const METHODS: &[&[u8]] = &[
        b"GET",
        b"POST",
        b"HEAD",
        b"PUT",
        b"DELETE",
        b"OPTIONS",
        b"CONNECT",
        b"TRACE",
        b"PATCH",
        b"QUERY",
        b"PRI",
        b"ACL",
        b"BASELINE-CONTROL",
        b"BIND",
        b"CHECKIN",
        b"CHECKOUT",
        b"COPY",
        b"LABEL",
        b"LINK",
        b"LOCK",
        b"MERGE",
        b"MKACTIVITY",
        b"MKCALENDAR",
        b"MKCOL",
        b"MKREDIRECTREF",
        b"MKWORKSPACE",
        b"MOVE",
        b"ORDERPATCH",
        b"PROPFIND",
        b"PROPPATCH",
        b"REBIND",
        b"REPORT",
        b"SEARCH",
        b"UNBIND",
        b"UNCHECKOUT",
        b"UNLINK",
        b"UNLOCK",
        b"UPDATE",
        b"UPDATEREDIRECTREF",
        b"VERSION-CONTROL",
        b"NOTIFY",
        b"SUBSCRIBE",
        b"UNSUBSCRIBE",
        b"M-SEARCH",
        b"M-POST",
        b"PURGE",
        b"BAN",
        b"POLL",
        b"BCOPY",
        b"BDELETE",
        b"BMOVE",
        b"BPROPFIND",
        b"BPROPPATCH",
        b"RPC_IN_DATA",
        b"RPC_OUT_DATA",
    ];
    METHODS.contains(&m)
}

fn parse(to_server: bool, data: &[u8], field: usize) -> Parsed<'_> {
    if to_server {
        parse_request(data, field)
    } else {
        parse_response(data, field)
    }
}

/// Whether a chunk looks like the start of an HTTP message of this
/// direction: a method token and a space, or `HTTP/`. A chunk shorter than
/// that counts when it is a prefix of one.
pub fn starts_message(to_server: bool, data: &[u8]) -> bool {
    if to_server {
        let token = data
            .iter()
            .take_while(|b| b.is_ascii_uppercase() || **b == b'-' || **b == b'_')
            .count();
        match data.get(token) {
            Some(b' ') => (3..=20).contains(&token),
            None => token == data.len() && token <= 20,
            Some(_) => false,
        }
    } else {
        // Clients take `http/1.1` as well.
        let n = data.len().min(5);
        let (got, want) = (data.get(..n), b"HTTP/".get(..n));
        got.zip(want)
            .is_some_and(|(g, w)| g.eq_ignore_ascii_case(w))
    }
}

/// What [`Http::find_message`] found.
struct Found {
    /// Bytes to skip to the message start; `None`: not in this data.
    skip: Option<usize>,
    /// Bytes passed over for good.
    passed: usize,
}

impl Found {
    fn at(skip: usize, passed: usize) -> Self {
        Found {
            skip: Some(skip),
            passed,
        }
    }

    fn none(passed: usize) -> Self {
        Found { skip: None, passed }
    }
}

/// Where a message starts again in `data` after the reader lost track:
/// at its first byte, or at the first line that starts one.
enum Resync {
    /// A message starts this far in.
    At(usize),
    /// None does; the line that begins this far in, cut by the end of
    /// the data, may start one.
    Tail(usize),
    None,
}

fn resync(to_server: bool, data: &[u8]) -> Resync {
    if starts_message(to_server, data) {
        return Resync::At(0);
    }
    let mut at = 0;
    while let Some(nl) = data
        .get(at..)
        .and_then(|d| d.iter().position(|b| *b == b'\n'))
    {
        at += nl + 1;
        let rest = data.get(at..).unwrap_or(&[]);
        if whole_start_line(to_server, rest) {
            return Resync::At(at);
        }
        if !rest.is_empty() && !rest.contains(&b'\n') && starts_message(to_server, rest) {
            return Resync::Tail(at);
        }
    }
    Resync::None
}

/// Whether `data` begins with a whole HTTP/1.x request line (`Some(true)`)
/// or status line (`Some(false)`): which side of a connection sent it.
pub fn start_line_side(data: &[u8]) -> Option<bool> {
    if whole_start_line(true, data) {
        Some(true)
    } else if whole_start_line(false, data) {
        Some(false)
    } else {
        None
    }
}

/// True when `data` begins with a whole HTTP/1.x request or status line:
/// the strict test for a message start found inside other bytes.
fn whole_start_line(to_server: bool, data: &[u8]) -> bool {
    let Some(eol) = data.iter().position(|b| *b == b'\n') else {
        return false;
    };
    let line = data.get(..eol).unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if to_server {
        head::split_request_line(line)
            .is_some_and(|(_, _, v)| v.is_some_and(|v| v.starts_with("HTTP/1.")))
    } else {
        line.starts_with(b"HTTP/1.") && line.get(9).is_some_and(u8::is_ascii_digit)
    }
}

#[cfg(test)]
mod tests;
