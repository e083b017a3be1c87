//! HTTP/2 in cleartext (h2c, RFC 9113): with prior knowledge (the client
//! opens with the connection preface) or after an HTTP/1.1 `Upgrade: h2c`
//! (the HTTP/1.x parser hands the stream over at the 101, and this one
//! takes it at the preface or at the server's first SETTINGS frame).
//!
//! Each stream is a transaction, recorded as HTTP/1.x ones are: method,
//! authority, path, user agent, status, content type, and exact bytes.
//! A stream's request (response) bytes are its frames to the server (to
//! the client), frame headers included; its body bytes are DATA payload
//! without padding. Connection frames (SETTINGS, PING, GOAWAY, window
//! updates on stream 0) and the preface belong to no transaction.
//!
//! Header blocks are decoded with each direction's HPACK state
//! ([`hpack`]). A gap inside a DATA frame is counted and read past; one
//! in a header block makes that direction's later blocks unreadable (the
//! table is lost), and one across frame boundaries loses the framing: the
//! rest of the direction is counted by the flow, not by streams.

mod frame;
mod hpack;
mod huffman;

use super::http::{HttpLimits, HttpTransaction};
use super::parser::{ParserSpec, Probe, StreamParser, Transports, Verdict};
use crate::record::FlowRecord;
use crate::stats::Stats;
use frame::{Event, FrameReader, Kind};

#[cfg(test)]
use huffman::encode as huffman_encode;

/// The client's connection preface.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Most streams followed at once; a stream past them is counted as a
/// transaction not recorded.
const MAX_OPEN_STREAMS: usize = 128;

/// Most bytes of a dynamic table followed per direction (what a peer may
/// announce is far more; 64 KiB covers what clients and servers use).
const MAX_TABLE: usize = 64 << 10;

/// Version string of every HTTP/2 transaction.
const VERSION: &str = "HTTP/2";

/// A stream being followed.
#[derive(Debug)]
struct Open {
    id: u32,
    /// Its transaction, unless past the cap.
    tx: Option<usize>,
    /// END_STREAM seen: to the server, to the client.
    ended: [bool; 2],
    /// A final (non-1xx) response head seen.
    answered: bool,
}

/// Counters, as the HTTP/1.x parser keeps them.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    transactions: u64,
    parse_errors: u64,
    dropped: u64,
}

/// HTTP/2 state of one connection.
#[derive(Debug)]
pub struct H2 {
    /// Frames to the server, then to the client.
    dirs: [FrameReader; 2],
    open: Vec<Open>,
    txs: Vec<HttpTransaction>,
    counts: Counts,
    /// What the readers said of the chunk at hand (kept for its room).
    events: Vec<Event>,
    max_transactions: usize,
    max_field: usize,
}

impl H2 {
    /// A parser for a new connection.
    pub fn new(limits: HttpLimits) -> Self {
        let cap = limits.max_header_bytes;
        H2 {
            dirs: [
                FrameReader::new(true, cap, MAX_TABLE),
                FrameReader::new(false, cap, MAX_TABLE),
            ],
            open: Vec::new(),
            txs: Vec::new(),
            counts: Counts::default(),
            events: Vec::new(),
            max_transactions: limits.max_transactions,
            max_field: limits.max_field_len,
        }
    }

    /// The transactions so far.
    pub fn transactions(&self) -> &[HttpTransaction] {
        &self.txs
    }

    fn dir(to_server: bool) -> usize {
        usize::from(!to_server)
    }

    /// Feeds contiguous bytes of one direction.
    pub fn data(&mut self, to_server: bool, chunk: &[u8]) {
        let d = Self::dir(to_server);
        let max_field = self.max_field;
        let mut events = std::mem::take(&mut self.events);
        if let Some(reader) = self.dirs.get_mut(d) {
            reader.read(chunk, max_field, &mut |e| events.push(e));
        }
        self.handle(to_server, events);
    }

    /// Acts on what a direction's reader said, and keeps the vector for
    /// the next chunk (no allocation per chunk).
    fn handle(&mut self, to_server: bool, mut events: Vec<Event>) {
        for e in events.drain(..) {
            self.event(to_server, e);
        }
        self.events = events;
    }

    /// `len` bytes of one direction are missing from the capture.
    pub fn gap(&mut self, to_server: bool, len: u64) {
        let mut events = std::mem::take(&mut self.events);
        if let Some(reader) = self.dirs.get_mut(Self::dir(to_server)) {
            reader.gap(len, &mut |e| events.push(e));
        }
        self.handle(to_server, events);
    }

    fn event(&mut self, to_server: bool, e: Event) {
        match e {
            Event::Bytes { stream, n, body } => self.count(to_server, stream, n, body),
            Event::Head {
                stream,
                fields,
                end_stream,
                bytes,
            } => {
                self.head(to_server, stream, fields);
                self.count(to_server, stream, bytes, 0);
                if end_stream {
                    self.end(to_server, stream);
                }
            }
            Event::Promise { promised, fields } => {
                if let Some(i) = self.stream(promised, true) {
                    self.request_fields(i, &fields);
                    if let Some(o) = self.open.get_mut(i) {
                        // A pushed stream's request half is the promise.
                        o.ended[0] = true;
                    }
                }
            }
            Event::End { stream } => self.end(to_server, stream),
            Event::Reset { stream } => self.open.retain(|o| o.id != stream),
            Event::TableSize(size) => {
                // The sender's setting bounds what is sent to it: the
                // other direction's blocks.
                if let Some(r) = self.dirs.get_mut(Self::dir(!to_server)) {
                    r.set_table_limit(size, MAX_TABLE);
                }
            }
            Event::Error => self.counts.parse_errors += 1,
        }
    }

    /// The open stream `id`, opened (with a transaction) when new and
    /// `create`; `None` when it is not followed.
    fn stream(&mut self, id: u32, create: bool) -> Option<usize> {
        if let Some(i) = self.open.iter().position(|o| o.id == id) {
            return Some(i);
        }
        if !create || id == 0 {
            return None;
        }
        self.counts.transactions += 1;
        let tx = if self.txs.len() < self.max_transactions {
            self.txs.push(HttpTransaction {
                version: Some(VERSION.into()),
                ..HttpTransaction::default()
            });
            Some(self.txs.len() - 1)
        } else {
            self.counts.dropped += 1;
            None
        };
        if self.open.len() >= MAX_OPEN_STREAMS {
            // The oldest stream stops being followed; its transaction
            // keeps what it had.
            self.open.remove(0);
        }
        self.open.push(Open {
            id,
            tx,
            ended: [false; 2],
            answered: false,
        });
        Some(self.open.len() - 1)
    }

    fn tx(&mut self, open: usize) -> Option<&mut HttpTransaction> {
        let i = self.open.get(open)?.tx?;
        self.txs.get_mut(i)
    }

    fn count(&mut self, to_server: bool, stream: u32, n: u64, body: u64) {
        if stream == 0 {
            return;
        }
        let Some(i) = self.stream(stream, false) else {
            return;
        };
        if let Some(t) = self.tx(i) {
            if to_server {
                t.request_bytes += n;
                t.request_body_bytes += body;
            } else {
                t.response_bytes += n;
                t.response_body_bytes += body;
            }
        }
    }

    fn head(&mut self, to_server: bool, stream: u32, fields: Vec<(Vec<u8>, Vec<u8>)>) {
        // A stream's first head opens it: the client's request, or a
        // response on a stream whose request was not seen (the upgraded
        // stream 1, or a capture that started late).
        let Some(i) = self.stream(stream, true) else {
            return;
        };
        if to_server {
            self.request_fields(i, &fields);
        } else {
            self.response_fields(i, &fields);
        }
    }

    fn request_fields(&mut self, i: usize, fields: &[(Vec<u8>, Vec<u8>)]) {
        let Some(t) = self.tx(i) else {
            return;
        };
        for (name, value) in fields {
            let text = || Some(String::from_utf8_lossy(value).into_owned());
            match name.as_slice() {
                b":method" => t.method = Some(super::http::word(&String::from_utf8_lossy(value))),
                b":path" => t.uri = text(),
                b":authority" => t.host = text(),
                b"host" if t.host.is_none() => t.host = text(),
                b"user-agent" => t.user_agent = text(),
                _ => {}
            }
        }
    }

    fn response_fields(&mut self, i: usize, fields: &[(Vec<u8>, Vec<u8>)]) {
        let status = fields
            .iter()
            .find(|(n, _)| n == b":status")
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u16>().ok());
        let Some(open) = self.open.get_mut(i) else {
            return;
        };
        // Trailers (no status), or interim 1xx heads: not the answer.
        let Some(status) = status.filter(|s| !(100..200).contains(s) && !open.answered) else {
            return;
        };
        open.answered = true;
        let Some(t) = self.tx(i) else {
            return;
        };
        t.status = Some(status);
        t.response_version = Some(VERSION.into());
        if let Some((_, v)) = fields.iter().find(|(n, _)| n == b"content-type") {
            t.content_type = Some(String::from_utf8_lossy(v).into_owned());
        }
    }

    fn end(&mut self, to_server: bool, stream: u32) {
        let Some(i) = self.stream(stream, false) else {
            return;
        };
        let Some(o) = self.open.get_mut(i) else {
            return;
        };
        if let Some(e) = o.ended.get_mut(Self::dir(to_server)) {
            *e = true;
        }
        if o.ended == [true; 2] {
            self.open.remove(i);
        }
    }
}

/// HTTP/2 as a registered parser.
pub const SPEC: ParserSpec = ParserSpec {
    name: "http2",
    transports: Transports::Tcp,
    probe,
    late_probe: None,
    new: |limits| Box::new(H2::new(limits.http)),
};

/// The client's preface settles it (its first 16 bytes will do); on
/// the server's side, a first frame that is a SETTINGS frame on stream 0
/// (what a server sends first after an `Upgrade: h2c`).
fn probe(to_server: bool, first: &[u8]) -> Probe {
    if to_server {
        let n = first.len().min(PREFACE.len());
        return match (PREFACE.get(..n) == first.get(..n), n) {
            (false, _) => Probe::No,
            (true, 16..) => Probe::Yes,
            (true, _) => Probe::NeedMore,
        };
    }
    let settings = |i: usize, b: u8| match i {
        // A length below 64 KiB, a whole number of 6-byte settings.
        0 => b == 0,
        3 => b == Kind::SETTINGS,
        4 => b & !1 == 0,
        // Stream 0 (the reserved bit aside).
        5 => b & 0x7f == 0,
        6..=8 => b == 0,
        _ => true,
    };
    if !first
        .iter()
        .take(9)
        .enumerate()
        .all(|(i, b)| settings(i, *b))
    {
        return Probe::No;
    }
    match first {
        [_, hi, lo, _, _, _, _, _, _, ..] => {
            if (usize::from(*hi) << 8 | usize::from(*lo)) % 6 == 0 {
                Probe::Yes
            } else {
                Probe::No
            }
        }
        _ => Probe::NeedMore,
    }
}

impl StreamParser for H2 {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn data(&mut self, to_server: bool, chunk: &[u8]) -> Verdict {
        H2::data(self, to_server, chunk);
        Verdict::Continue
    }

    fn gap(&mut self, to_server: bool, len: u64) {
        H2::gap(self, to_server, len);
    }

    fn record(self: Box<Self>, rec: &mut FlowRecord, stats: &mut Stats) {
        stats.http_transactions += self.counts.transactions;
        stats.http_parse_errors += self.counts.parse_errors;
        stats.http_transactions_dropped += self.counts.dropped;
        rec.http.extend(self.txs);
    }
}

#[cfg(test)]
mod tests;
