//! An HTTP connection between messages, packed into one small block.
//!
//! While a message is being read the parser needs its whole state
//! ([`Http`], 200 bytes and a block per transaction's text). Between
//! messages (both directions at a message start, nothing held) all it
//! must remember is its transactions, the requests waiting for answers,
//! its counters and its limits: a few dozen bytes. A busy link holds most
//! of its HTTP connections in that state, each waiting for a response, so
//! the flow swaps the parser for its packing ([`Packed`], one block of a
//! size class), and the packing for the whole parser on the next bytes.
//!
//! The packing is a private format, varints and raw text, read back only
//! from what this module wrote.

use super::small::Queue;
use super::tx::Tx;
use super::{AwaitingResponse, Caps, Http, HttpCounters, HttpLimits, Phase, Side, Txs, SPEC};
use crate::app::parser::{StreamParser, Verdict};
use crate::config::DEFAULT_HTTP_LIMITS;
use crate::record::FlowRecord;
use crate::stats::Stats;
use model::flow::HttpTransaction;

/// Most transactions a packed connection holds (and, one more, requests
/// waiting). Packing copies them all, at every message: a long keep-alive
/// or pipelined connection, whose transactions outweigh the parser's own
/// 200 bytes anyway, stays whole. Both counts fit the packing's first
/// byte (two bits each).
pub const MAX_PACKED: usize = 2;
const _: () = assert!(MAX_PACKED < 4, "two bits of the first byte");

/// Appends `v` as a little-endian base-128 varint.
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads packed fields back.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// The next varint.
    pub fn get(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.data.split_first()?;
            self.data = rest;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// The next varint as a u32.
    pub fn get32(&mut self) -> Option<u32> {
        u32::try_from(self.get()?).ok()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.data.get(..n)?, self.data.get(n..)?);
        self.data = rest;
        Some(head)
    }
}

/// An optional index: 0 for none, else index + 1.
fn put_index(out: &mut Vec<u8>, i: Option<u32>) {
    put(out, i.map_or(0, |i| u64::from(i) + 1));
}

fn get_index(r: &mut Reader<'_>) -> Option<Option<u32>> {
    Some(r.get32()?.checked_sub(1))
}

/// Everything packed before the transactions.
struct Head {
    /// Decoded body lengths (and the count of bodies left undecoded) are
    /// packed: most connections have none, and pack none.
    decoding: bool,
    caps: Caps,
    counters: HttpCounters,
    txs: u64,
    connect_tunnel: bool,
    req_tx: Option<u32>,
    resp_tx: Option<u32>,
    pending: Queue<AwaitingResponse>,
}

impl Head {
    /// The flags byte, caps and counters: the part before the indexes,
    /// all that [`counts`] needs.
    fn read_start(r: &mut Reader<'_>) -> Option<(u8, Caps, HttpCounters)> {
        let flags = *r.take(1)?.first()?;
        let caps = if flags & 1 << 5 != 0 {
            Caps::from(DEFAULT_HTTP_LIMITS)
        } else {
            Caps {
                transactions: r.get32()?,
                header_bytes: r.get32()?,
                field_len: r.get32()?,
            }
        };
        let counters = HttpCounters {
            transactions: r.get32()?,
            parse_errors: r.get32()?,
            dropped: r.get32()?,
            not_decoded: if flags & 1 << 6 != 0 { r.get32()? } else { 0 },
        };
        Some((flags, caps, counters))
    }

    fn read(r: &mut Reader<'_>) -> Option<Head> {
        let (flags, caps, counters) = Head::read_start(r)?;
        let decoding = flags & 1 << 6 != 0;
        let connect_tunnel = flags & 1 != 0;
        let txs = packed_txs(flags);
        let req_tx = get_index(r)?;
        let resp_tx = get_index(r)?;
        let mut pending = Queue::default();
        for _ in 0..flags >> 3 & 3 {
            let tx = get_index(r)?;
            let flags = *r.take(1)?.first()?;
            pending.push_back(AwaitingResponse {
                tx,
                head: flags & 1 != 0,
                connect: flags & 2 != 0,
                simple: flags & 4 != 0,
            });
        }
        Some(Head {
            decoding,
            caps,
            counters,
            txs,
            connect_tunnel,
            req_tx,
            resp_tx,
            pending,
        })
    }
}

/// The packing of `h`, if it is between messages.
fn pack_bytes(h: &Http) -> Option<Vec<u8>> {
    let idle = |s: &Side| matches!(s.phase, Phase::Headers) && s.buf.is_empty();
    let small = h.txs.len() <= MAX_PACKED && h.pending.len() <= MAX_PACKED + 1;
    if !idle(&h.req) || !idle(&h.resp) || !small {
        return None;
    }
    let usual = h.caps == Caps::from(DEFAULT_HTTP_LIMITS);
    let decoding = h.counters.not_decoded > 0 || h.txs.iter().any(Tx::has_decoded);
    let mut out = Vec::with_capacity(64);
    // One byte of flags and small counts.
    out.push(
        u8::from(h.connect_tunnel)
            | (h.txs.len() as u8) << 1
            | (h.pending.len() as u8) << 3
            | u8::from(usual) << 5
            | u8::from(decoding) << 6,
    );
    if !usual {
        for v in [h.caps.transactions, h.caps.header_bytes, h.caps.field_len] {
            put(&mut out, u64::from(v));
        }
    }
    let c = h.counters;
    for v in [c.transactions, c.parse_errors, c.dropped] {
        put(&mut out, u64::from(v));
    }
    if decoding {
        put(&mut out, u64::from(c.not_decoded));
    }
    put_index(&mut out, h.req.tx);
    put_index(&mut out, h.resp.tx);
    for p in h.pending.iter() {
        put_index(&mut out, p.tx);
        out.push(u8::from(p.head) | u8::from(p.connect) << 1 | u8::from(p.simple) << 2);
    }
    for t in h.txs.iter() {
        t.pack(&mut out, decoding);
    }
    Some(out)
}

/// The packed form of `h`, if it is between messages: one block of the
/// smallest size class its packing fits.
pub fn pack(h: &Http) -> Option<Box<dyn StreamParser>> {
    pack_bytes(h).map(|bytes| boxed(&bytes))
}

/// The connection a packing holds; `None` only if it were damaged.
fn unpack(bytes: &[u8]) -> Option<Http> {
    let mut r = Reader::new(bytes);
    let head = Head::read(&mut r)?;
    let mut txs = Txs::default();
    for _ in 0..head.txs {
        txs.push(Tx::unpack(&mut r, head.decoding)?);
    }
    let mut req = Side::new();
    req.tx = head.req_tx;
    let mut resp = Side::new();
    resp.tx = head.resp_tx;
    Some(Http {
        txs,
        counters: head.counters,
        req,
        resp,
        pending: head.pending,
        caps: head.caps,
        connect_tunnel: head.connect_tunnel,
    })
}

/// A packing's transactions as records carry them, read straight from it.
fn transactions(bytes: &[u8]) -> Vec<HttpTransaction> {
    let mut r = Reader::new(bytes);
    let Some(head) = Head::read(&mut r) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(usize::try_from(head.txs).unwrap_or(0).min(1024));
    for _ in 0..head.txs {
        match Tx::unpack_transaction(&mut r, head.decoding) {
            Some(t) => out.push(t),
            None => break,
        }
    }
    out
}

/// A packing's counters and the number of transactions it recorded,
/// without unpacking the transactions.
fn counts(bytes: &[u8]) -> (HttpCounters, u64) {
    Head::read_start(&mut Reader::new(bytes))
        .map_or((HttpCounters::default(), 0), |(flags, _, counters)| {
            (counters, packed_txs(flags))
        })
}

/// The transactions a packing holds, from its flags byte.
fn packed_txs(flags: u8) -> u64 {
    u64::from(flags >> 1 & 3)
}

/// Moves an HTTP parser's transactions into the record (after those of a
/// parser before it) and its counters into the run's.
pub(super) fn record(
    counters: HttpCounters,
    txs: Vec<HttpTransaction>,
    rec: &mut FlowRecord,
    stats: &mut Stats,
) {
    stats.http_transactions += u64::from(counters.transactions);
    stats.http_parse_errors += u64::from(counters.parse_errors);
    stats.http_transactions_dropped += u64::from(counters.dropped);
    stats.http_bodies_not_decoded += u64::from(counters.not_decoded);
    if rec.http.is_empty() {
        rec.http = txs;
    } else {
        rec.http.extend(txs);
    }
}

/// A packing held in place: `N` bytes and its length, one block with the
/// parser's own (no pointer to a second one).
#[derive(Debug)]
pub struct Inline<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    /// `bytes` (at most `N`, and `N` under 256) in place.
    fn new(bytes: &[u8]) -> Self {
        let mut inline = Inline {
            len: 0,
            bytes: [0; N],
        };
        let n = bytes.len().min(N).min(usize::from(u8::MAX));
        if let (Some(to), Some(from)) = (inline.bytes.get_mut(..n), bytes.get(..n)) {
            to.copy_from_slice(from);
            inline.len = n as u8;
        }
        inline
    }
}

impl<const N: usize> AsRef<[u8]> for Inline<N> {
    fn as_ref(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// An HTTP/1.x connection between messages, packed: the parser a flow
/// holds while it waits for more bytes. It records straight from the
/// packing; on the next bytes it gives the whole parser back.
#[derive(Debug)]
pub struct Packed<S>(S);

impl<S: AsRef<[u8]> + std::fmt::Debug + Send + 'static> StreamParser for Packed<S> {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    /// Never called: the flow expands the parser first.
    fn data(&mut self, _to_server: bool, _chunk: &[u8]) -> Verdict {
        Verdict::Continue
    }

    /// Never called: the flow expands the parser first.
    fn gap(&mut self, _to_server: bool, _len: u64) {}

    fn expand(&self) -> Option<Box<dyn StreamParser>> {
        // Only what `pack` wrote is read back; were it damaged, the
        // connection would go on with a parser that records nothing.
        let h = unpack(self.0.as_ref()).unwrap_or_else(|| {
            Http::new(HttpLimits {
                max_transactions: 0,
                max_header_bytes: 0,
                max_field_len: 0,
            })
        });
        Some(Box::new(h))
    }

    fn names_flow(&self, active: bool) -> bool {
        active || counts(self.0.as_ref()).1 > 0
    }

    fn record(self: Box<Self>, rec: &mut FlowRecord, stats: &mut Stats) {
        let bytes = self.0.as_ref();
        record(counts(bytes).0, transactions(bytes), rec, stats);
    }
}

/// The size classes of a packing held in place (one less than a block
/// size malloc hands out: 24, 40, 56, 88, 120, 184 and 248 bytes), the
/// box of a packing that fits none of them, and the way back to the
/// bytes from a parser of any of them.
macro_rules! size_classes {
    ($($n:literal),*) => {
        fn boxed(bytes: &[u8]) -> Box<dyn StreamParser> {
            $(
                if bytes.len() <= $n {
                    return Box::new(Packed(Inline::<$n>::new(bytes)));
                }
            )*
            Box::new(Packed(Box::<[u8]>::from(bytes)))
        }

        fn packing(p: &dyn std::any::Any) -> Option<&[u8]> {
            $(
                if let Some(x) = p.downcast_ref::<Packed<Inline<$n>>>() {
                    return Some(x.0.as_ref());
                }
            )*
            p.downcast_ref::<Packed<Box<[u8]>>>().map(|x| x.0.as_ref())
        }
    };
}
size_classes!(23, 39, 55, 87, 119, 183, 247);

/// What an HTTP/1.x parser of a flow holds, whole or packed: its counters
/// and transactions (`None` for a parser of another protocol). For the
/// fuzz harness's packed-against-whole oracle.
pub fn read_back(p: &dyn StreamParser) -> Option<(HttpCounters, Vec<HttpTransaction>)> {
    let any = p as &dyn std::any::Any;
    if let Some(h) = any.downcast_ref::<Http>() {
        return Some((h.counters, h.transactions()));
    }
    let bytes = packing(any)?;
    Some((counts(bytes).0, transactions(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::http::HttpLimits;

    const LIMITS: HttpLimits = HttpLimits {
        max_transactions: MAX_PACKED,
        max_header_bytes: 4096,
        max_field_len: 300,
    };

    #[test]
    fn between_messages_a_connection_packs_and_unpacks_whole() {
        let mut h = Http::new(LIMITS);
        h.data(
            true,
            b"GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: \xc3\xa9t\xc3\xa9\r\n\r\n",
        );
        h.data(
            false,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/x\r\nContent-Length: 2\r\n\r\nok",
        );
        // Two pipelined requests wait, the second a HEAD; a bad one counts.
        h.data(
            true,
            b"POST /b HTTP/1.0\r\nContent-Length: 1\r\n\r\nxHEAD /c HTTP/1.1\r\n\r\n",
        );
        h.data(
            true,
            b"GET /d HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        );
        assert!(pack_bytes(&h).is_none(), "lost after the ambiguous framing");
        let mut h = Http::new(LIMITS);
        h.data(
            true,
            b"GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: \xc3\xa9t\xc3\xa9\r\n\r\n",
        );
        h.data(
            false,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/x\r\nContent-Length: 2\r\n\r\nok",
        );
        h.data(
            true,
            b"POST /b HTTP/1.0\r\nContent-Length: 1\r\n\r\nxHEAD /c HTTP/1.1\r\n\r\n",
        );
        h.data(true, b"\0bad\r\n\r\n");
        h.data(true, b"GET /d HTTP/1.1\r\n\r\n");
        let p = pack_bytes(&h).expect("between messages");
        let back = unpack(&p).expect("unpacks");
        assert_eq!(back.transactions(), h.transactions());
        assert_eq!(back.pending.iter().count(), 3);
        let flags: Vec<_> = back.pending.iter().map(|a| (a.tx, a.head)).collect();
        assert_eq!(flags, [(Some(1), false), (None, true), (None, false)]);
        assert_eq!(back.req.tx, h.req.tx);
        assert_eq!(back.resp.tx, h.resp.tx);
        let (c, n) = counts(&p);
        assert_eq!((c.transactions, c.parse_errors, c.dropped, n), (4, 1, 2, 2));
        assert_eq!(transactions(&p), h.transactions());
        // The unpacked parser reads on exactly as the packed one would.
        let mut a = back;
        for x in [&mut a, &mut h] {
            x.data(false, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
            x.data(false, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        }
        assert_eq!(a.transactions(), h.transactions());
        assert_eq!(a.transactions()[1].status, Some(201));
        // Inside a message it does not pack.
        h.data(false, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab");
        assert!(pack_bytes(&h).is_none());
        // Nor does a connection with more transactions than it packs.
        let mut h = Http::new(HttpLimits {
            max_transactions: 8,
            ..LIMITS
        });
        for _ in 0..=MAX_PACKED {
            h.data(true, b"GET / HTTP/1.1\r\n\r\n");
        }
        assert!(pack_bytes(&h).is_none());
    }

    #[test]
    fn a_damaged_packing_unpacks_to_nothing() {
        let mut h = Http::new(LIMITS);
        h.data(true, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        let p = pack_bytes(&h).expect("idle");
        for cut in 0..p.len() {
            let short = p.get(..cut).unwrap_or_default();
            assert!(unpack(short).is_none(), "cut at {cut}");
        }
        let mut r = Reader::new(&[0xff; 12]);
        assert_eq!(r.get(), None, "a varint past 64 bits");
    }
}
