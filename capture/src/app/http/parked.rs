//! An HTTP connection between messages, packed into one small block.
//!
//! While a message is being read the parser needs its whole state
//! ([`Http`], 200 bytes and a block per transaction's text). Between
//! messages (both directions at a message start, nothing held) all it
//! must remember is its transactions, the requests waiting for answers,
//! its counters and its limits: a few dozen bytes. A busy link holds most
//! of its HTTP connections in that state, each waiting for a response, so
//! the flow keeps them packed (`HttpFlow`), and unpacks on the next bytes.
//!
//! The packing is a private format, varints and raw text, read back only
//! from what this module wrote.

use super::small::Queue;
use super::tx::Tx;
use super::{AwaitingResponse, Caps, Http, HttpCounters, Phase, Side, Txs};
use crate::config::DEFAULT_HTTP_LIMITS;
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
    caps: Caps,
    counters: HttpCounters,
    txs: u64,
    connect_tunnel: bool,
    req_tx: Option<u32>,
    resp_tx: Option<u32>,
    pending: Queue<AwaitingResponse>,
}

impl Head {
    fn read(r: &mut Reader<'_>) -> Option<Head> {
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
        };
        let connect_tunnel = flags & 1 != 0;
        let txs = u64::from(flags >> 1 & 3);
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

/// A connection between messages, packed.
#[derive(Debug)]
pub struct Parked(Box<[u8]>);

impl Parked {
    /// Packs `h` if it is between messages.
    pub fn pack(h: &Http) -> Option<Parked> {
        let idle = |s: &Side| matches!(s.phase, Phase::Headers) && s.buf.is_empty();
        let small = h.txs.len() <= MAX_PACKED && h.pending.len() <= MAX_PACKED + 1;
        if !idle(&h.req) || !idle(&h.resp) || !small {
            return None;
        }
        let usual = h.caps == Caps::from(DEFAULT_HTTP_LIMITS);
        // Room for 56 bytes: with malloc's 8 of its own, the block of a
        // usual connection is 64 bytes, and stays so when the box is cut
        // to its length (from room for 64 it would stay at 80).
        let mut out = Vec::with_capacity(56);
        // One byte of flags and small counts.
        out.push(
            u8::from(h.connect_tunnel)
                | (h.txs.len() as u8) << 1
                | (h.pending.len() as u8) << 3
                | u8::from(usual) << 5,
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
        put_index(&mut out, h.req.tx);
        put_index(&mut out, h.resp.tx);
        for p in h.pending.iter() {
            put_index(&mut out, p.tx);
            out.push(u8::from(p.head) | u8::from(p.connect) << 1 | u8::from(p.simple) << 2);
        }
        for t in h.txs.iter() {
            t.pack(&mut out);
        }
        Some(Parked(out.into_boxed_slice()))
    }

    /// The connection, unpacked; `None` only if the packing were damaged.
    pub fn unpack(&self) -> Option<Http> {
        let mut r = Reader::new(&self.0);
        let head = Head::read(&mut r)?;
        let mut txs = Txs::default();
        for _ in 0..head.txs {
            txs.push(Tx::unpack(&mut r)?);
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

    /// The transactions as records carry them, read straight from the
    /// packing.
    pub fn transactions(&self) -> Vec<HttpTransaction> {
        let mut r = Reader::new(&self.0);
        let Some(head) = Head::read(&mut r) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(usize::try_from(head.txs).unwrap_or(0).min(1024));
        for _ in 0..head.txs {
            match Tx::unpack_transaction(&mut r) {
                Some(t) => out.push(t),
                None => break,
            }
        }
        out
    }

    /// The counters and the number of transactions recorded, without
    /// unpacking the transactions.
    pub fn counts(&self) -> (HttpCounters, u64) {
        Head::read(&mut Reader::new(&self.0))
            .map_or((HttpCounters::default(), 0), |h| (h.counters, h.txs))
    }
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
        assert!(
            Parked::pack(&h).is_none(),
            "lost after the ambiguous framing"
        );
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
        let p = Parked::pack(&h).expect("between messages");
        let back = p.unpack().expect("unpacks");
        assert_eq!(back.transactions(), h.transactions());
        assert_eq!(back.pending.iter().count(), 3);
        let flags: Vec<_> = back.pending.iter().map(|a| (a.tx, a.head)).collect();
        assert_eq!(flags, [(Some(1), false), (None, true), (None, false)]);
        assert_eq!(back.req.tx, h.req.tx);
        assert_eq!(back.resp.tx, h.resp.tx);
        let (c, n) = p.counts();
        assert_eq!((c.transactions, c.parse_errors, c.dropped, n), (4, 1, 2, 2));
        assert_eq!(p.transactions(), h.transactions());
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
        assert!(Parked::pack(&h).is_none());
        // Nor does a connection with more transactions than it packs.
        let mut h = Http::new(HttpLimits {
            max_transactions: 8,
            ..LIMITS
        });
        for _ in 0..=MAX_PACKED {
            h.data(true, b"GET / HTTP/1.1\r\n\r\n");
        }
        assert!(Parked::pack(&h).is_none());
    }

    #[test]
    fn a_damaged_packing_unpacks_to_nothing() {
        let mut h = Http::new(LIMITS);
        h.data(true, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        let p = Parked::pack(&h).expect("idle");
        for cut in 0..p.0.len() {
            let short = Parked(p.0.get(..cut).unwrap_or_default().into());
            assert!(short.unpack().is_none(), "cut at {cut}");
        }
        let mut r = Reader::new(&[0xff; 12]);
        assert_eq!(r.get(), None, "a varint past 64 bits");
    }
}
