//! A transaction as the parser keeps it while its connection lives: the
//! text fields one after another in a single allocation, and the counts.
//! On a busy link most connections sit with one request waiting for its
//! answer. Kept as a record's [`HttpTransaction`] (208 bytes and a string
//! per field), an HTTP flow with one request held 749 heap bytes in 7
//! blocks; kept so, and the first in place in the parser, 472 in 2
//! (`cargo test --release -p capture --test flow_memory -- --nocapture`).
//! The record's form is built when the flow is written.

use super::parked::{put, Reader};
use model::flow::HttpTransaction;
use std::borrow::Cow;

/// The text fields of a transaction, in their order in [`Tx::text`].
#[derive(Debug, Clone, Copy)]
pub enum Field {
    Method,
    Host,
    Uri,
    UserAgent,
    Version,
    ResponseVersion,
    ContentType,
}

const FIELDS: usize = 7;

/// The length that marks a field as absent. Fields are cut to the
/// parser's field cap, itself at most [`MAX_FIELD`], so 16 bits hold any.
const ABSENT: u16 = u16::MAX;

/// Longest field a transaction keeps.
pub const MAX_FIELD: usize = ABSENT as usize - 1;

/// One transaction, compact.
#[derive(Debug)]
pub struct Tx {
    /// The present text fields, in [`Field`] order, with no separator.
    text: Box<str>,
    /// Each field's length in `text`, or [`ABSENT`].
    lens: [u16; FIELDS],
    /// Final response status (0: none; see [`Tx::status`]).
    status: u16,
    /// Request bytes: request line, headers and body as sent.
    pub request_bytes: u64,
    /// Response bytes: interim and final status lines, headers and body.
    pub response_bytes: u64,
    /// Request body bytes after de-chunking.
    pub request_body_bytes: u64,
    /// Response body bytes after de-chunking.
    pub response_body_bytes: u64,
    /// Request and response body bytes once their Content-Encoding is
    /// undone ([`NOT_DECODED`]: not so encoded, or not decoded whole);
    /// 32 bits, saturating, as the decoding stops well short of that.
    decoded: [u32; 2],
}

/// A body not decoded (see [`Tx::decoded`]).
const NOT_DECODED: u32 = u32::MAX;

impl Default for Tx {
    fn default() -> Self {
        Tx {
            text: Box::default(),
            lens: [ABSENT; FIELDS],
            status: 0,
            request_bytes: 0,
            response_bytes: 0,
            request_body_bytes: 0,
            response_body_bytes: 0,
            decoded: [NOT_DECODED; 2],
        }
    }
}

impl Tx {
    /// A transaction opened by a request of `bytes` bytes.
    pub fn request(bytes: u64) -> Self {
        Tx {
            request_bytes: bytes,
            ..Tx::default()
        }
    }

    /// The final response's status, if one was read (0 is none: the
    /// parser keeps no status below 100).
    pub fn status(&self) -> Option<u16> {
        (self.status != 0).then_some(self.status)
    }

    /// Sets the final response's status.
    pub fn set_status(&mut self, s: Option<u16>) {
        self.status = s.unwrap_or(0);
    }

    /// Sets a body's decoded length (`to_server`: the request's); `None`
    /// says it is not known.
    pub fn set_decoded(&mut self, to_server: bool, n: Option<u64>) {
        let v = n.map_or(NOT_DECODED, |n| {
            u32::try_from(n)
                .unwrap_or(NOT_DECODED - 1)
                .min(NOT_DECODED - 1)
        });
        if let Some(slot) = self.decoded.get_mut(usize::from(!to_server)) {
            *slot = v;
        }
    }

    /// A body's decoded length, if known (`to_server`: the request's).
    pub fn decoded(&self, to_server: bool) -> Option<u64> {
        known(*self.decoded.get(usize::from(!to_server))?)
    }

    /// A field's text, if present.
    pub fn get(&self, f: Field) -> Option<&str> {
        self.view().get(f)
    }

    fn view(&self) -> View<'_> {
        View {
            text: &self.text,
            lens: self.lens,
            status: self.status(),
            counts: [
                self.request_bytes,
                self.response_bytes,
                self.request_body_bytes,
                self.response_body_bytes,
            ],
            decoded: self.decoded,
        }
    }

    /// Sets some fields (a `None` leaves the field as it is), rebuilding
    /// the text once.
    pub fn set(&mut self, fields: &[(Field, Option<&str>)]) {
        if fields.iter().all(|(_, v)| v.is_none()) {
            return;
        }
        // The present fields, in one pass over the lengths.
        let mut values: [Option<&str>; FIELDS] = [None; FIELDS];
        let mut at = 0;
        for (v, &len) in values.iter_mut().zip(&self.lens) {
            if len != ABSENT {
                *v = self.text.get(at..at + len as usize);
                at += len as usize;
            }
        }
        for (f, v) in fields {
            if let (Some(slot), Some(v)) = (values.get_mut(*f as usize), v) {
                *slot = Some(v);
            }
        }
        let mut text = String::with_capacity(values.iter().flatten().map(|v| v.len()).sum());
        let mut lens = [ABSENT; FIELDS];
        for (v, len) in values.iter().zip(lens.iter_mut()) {
            if let Some(v) = v {
                // The parser cuts a field to its cap before; this cut only
                // guards the 16-bit length. Either keeps a char boundary.
                let mut end = v.len().min(MAX_FIELD);
                while !v.is_char_boundary(end) {
                    end -= 1;
                }
                text.push_str(v.get(..end).unwrap_or(""));
                *len = end as u16;
            }
        }
        self.text = text.into_boxed_str();
        self.lens = lens;
    }

    /// Whether a body's decoded length is known.
    pub(super) fn has_decoded(&self) -> bool {
        self.decoded != [NOT_DECODED; 2]
    }

    /// Appends the transaction, packed (see `parked`); its decoded
    /// lengths only `with_decoded` (the packing says so once for all).
    pub(super) fn pack(&self, out: &mut Vec<u8>, with_decoded: bool) {
        for len in self.lens {
            put(out, if len == ABSENT { 0 } else { u64::from(len) + 1 });
        }
        put(out, self.status().map_or(0, |s| u64::from(s) + 1));
        for v in [
            self.request_bytes,
            self.response_bytes,
            self.request_body_bytes,
            self.response_body_bytes,
        ] {
            put(out, v);
        }
        // Shifted by one: an absent length ([`NOT_DECODED`]) packs in a byte.
        if with_decoded {
            for d in self.decoded {
                put(out, u64::from(d.wrapping_add(1)));
            }
        }
        out.extend_from_slice(self.text.as_bytes());
    }

    /// A transaction packed by [`Tx::pack`].
    pub(super) fn unpack(r: &mut Reader<'_>, with_decoded: bool) -> Option<Tx> {
        let v = View::unpack(r, with_decoded)?;
        let [request_bytes, response_bytes, request_body_bytes, response_body_bytes] = v.counts;
        Some(Tx {
            text: v.text.into(),
            lens: v.lens,
            status: v.status.unwrap_or(0),
            request_bytes,
            response_bytes,
            request_body_bytes,
            response_body_bytes,
            decoded: v.decoded,
        })
    }

    /// A transaction packed by [`Tx::pack`], straight to its record form.
    pub(super) fn unpack_transaction(
        r: &mut Reader<'_>,
        with_decoded: bool,
    ) -> Option<HttpTransaction> {
        Some(View::unpack(r, with_decoded)?.to_transaction())
    }

    /// The transaction as records carry it.
    pub fn to_transaction(&self) -> HttpTransaction {
        self.view().to_transaction()
    }
}

/// A transaction's fields over text it borrows: the parser's own, or its
/// packing (read into a record without a copy of its own first).
#[derive(Debug, Clone, Copy)]
struct View<'a> {
    text: &'a str,
    lens: [u16; FIELDS],
    status: Option<u16>,
    /// Request, response, request body and response body bytes.
    counts: [u64; 4],
    /// As [`Tx::decoded`].
    decoded: [u32; 2],
}

impl<'a> View<'a> {
    fn get(&self, f: Field) -> Option<&'a str> {
        let i = f as usize;
        let len = *self.lens.get(i)?;
        if len == ABSENT {
            return None;
        }
        let start: usize = self
            .lens
            .iter()
            .take(i)
            .filter(|l| **l != ABSENT)
            .map(|l| *l as usize)
            .sum();
        self.text.get(start..start + len as usize)
    }

    fn unpack(r: &mut Reader<'a>, with_decoded: bool) -> Option<View<'a>> {
        let mut lens = [ABSENT; FIELDS];
        let mut total = 0usize;
        for len in &mut lens {
            if let Some(l) = r.get()?.checked_sub(1) {
                *len = u16::try_from(l).ok().filter(|l| *l != ABSENT)?;
                total += usize::from(*len);
            }
        }
        let status = match r.get()?.checked_sub(1) {
            Some(s) => Some(u16::try_from(s).ok()?),
            None => None,
        };
        let counts = [r.get()?, r.get()?, r.get()?, r.get()?];
        let decoded = if with_decoded {
            [
                u32::try_from(r.get()?).ok()?.wrapping_sub(1),
                u32::try_from(r.get()?).ok()?.wrapping_sub(1),
            ]
        } else {
            [NOT_DECODED; 2]
        };
        let text = std::str::from_utf8(r.take(total)?).ok()?;
        Some(View {
            text,
            lens,
            status,
            counts,
            decoded,
        })
    }

    fn to_transaction(self) -> HttpTransaction {
        let owned = |f| self.get(f).map(str::to_owned);
        let word = |f| self.get(f).map(word);
        let [request_bytes, response_bytes, request_body_bytes, response_body_bytes] = self.counts;
        let [request_decoded, response_decoded] = self.decoded;
        HttpTransaction {
            method: word(Field::Method),
            host: owned(Field::Host),
            uri: owned(Field::Uri),
            user_agent: owned(Field::UserAgent),
            version: word(Field::Version),
            response_version: word(Field::ResponseVersion),
            status: self.status,
            content_type: owned(Field::ContentType),
            request_bytes,
            response_bytes,
            request_body_bytes,
            response_body_bytes,
            request_body_decoded_bytes: known(request_decoded),
            response_body_decoded_bytes: known(response_decoded),
        }
    }
}

/// A decoded length, unless it is [`NOT_DECODED`].
fn known(v: u32) -> Option<u64> {
    (v != NOT_DECODED).then_some(u64::from(v))
}

/// A connection's transactions in request order: the first in place (most
/// connections carry one, and it costs no block of its own), the rest in
/// a vector allocated when a second comes (behind a pointer: 16 bytes
/// less in place than a vector).
#[derive(Debug, Default)]
pub struct Txs {
    first: Option<Tx>,
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<Tx>>>,
}

impl Txs {
    /// How many.
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.as_ref().map_or(0, |m| m.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// In request order.
    pub fn iter(&self) -> impl Iterator<Item = &Tx> {
        self.first
            .iter()
            .chain(self.more.iter().flat_map(|m| m.iter()))
    }

    /// The `i`-th.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Tx> {
        match i {
            0 => self.first.as_mut(),
            i => self.more.as_mut()?.get_mut(i - 1),
        }
    }

    /// As records carry them, in a vector of exactly their number (one
    /// collected from the chained iterator would make room for four).
    pub fn to_transactions(&self) -> Vec<HttpTransaction> {
        let mut v = Vec::with_capacity(self.len());
        v.extend(self.iter().map(Tx::to_transaction));
        v
    }

    /// Adds one at the end.
    pub fn push(&mut self, tx: Tx) {
        if self.first.is_none() {
            self.first = Some(tx);
        } else {
            self.more.get_or_insert_with(Box::default).push(tx);
        }
    }
}

/// A method or version: the usual ones static (no allocation per record),
/// others copied.
pub fn word(s: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 13] = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "HTTP/1.1",
        "HTTP/1.0", "HTTP/0.9", "HTTP/2",
    ];
    match KNOWN.iter().find(|k| **k == s) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(s.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kept by every HTTP flow with a request waiting: the decoded lengths
    /// fit in what was padding.
    #[test]
    fn a_transaction_is_72_bytes() {
        assert_eq!(std::mem::size_of::<Tx>(), 72);
    }

    /// Decoded lengths survive packing, absent ones stay absent.
    #[test]
    fn decoded_lengths_pack_and_unpack() {
        let mut tx = Tx::request(10);
        tx.set_decoded(false, Some(13_249));
        let mut packed = Vec::new();
        tx.pack(&mut packed, true);
        let back = Tx::unpack(&mut Reader::new(&packed), true).expect("unpacks");
        assert_eq!(
            (back.decoded(true), back.decoded(false)),
            (None, Some(13_249))
        );
        let t = back.to_transaction();
        assert_eq!(t.request_body_decoded_bytes, None);
        assert_eq!(t.response_body_decoded_bytes, Some(13_249));
        // Saturates short of the mark of absence.
        tx.set_decoded(true, Some(u64::MAX));
        assert_eq!(tx.decoded(true), Some(u64::from(u32::MAX - 1)));
    }

    #[test]
    fn fields_set_in_two_turns_read_back() {
        let mut tx = Tx::default();
        assert_eq!(tx.get(Field::Host), None);
        tx.set(&[
            (Field::Method, Some("POST")),
            (Field::Host, Some("collector")),
            (Field::Uri, Some("/r")),
            (Field::UserAgent, None),
            (Field::Version, Some("HTTP/1.1")),
        ]);
        tx.set(&[
            (Field::ResponseVersion, Some("HTTP/1.0")),
            (Field::ContentType, Some("text/plain; charset=ütf-8")),
            (Field::Uri, Some("")),
        ]);
        tx.set_status(Some(200));
        tx.request_bytes = 7;
        let t = tx.to_transaction();
        assert!(matches!(t.method, Some(Cow::Borrowed("POST"))));
        assert_eq!(t.host.as_deref(), Some("collector"));
        assert_eq!(t.uri.as_deref(), Some(""));
        assert_eq!(t.user_agent, None);
        assert_eq!(t.version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(t.response_version.as_deref(), Some("HTTP/1.0"));
        assert_eq!(t.content_type.as_deref(), Some("text/plain; charset=ütf-8"));
        assert_eq!((t.status, t.request_bytes), (Some(200), 7));
        let mut txs = Txs::default();
        assert!(txs.is_empty() && txs.get_mut(0).is_none());
        txs.push(tx);
        let one = txs.to_transactions();
        assert_eq!((one.len(), one.capacity()), (1, 1));
        txs.push(Tx::request(3));
        txs.push(Tx::request(4));
        if let Some(t) = txs.get_mut(2) {
            t.set_status(Some(204));
        }
        let three = txs.to_transactions();
        assert_eq!((three.len(), three.capacity()), (3, 3));
        let sizes: Vec<_> = three.iter().map(|t| (t.request_bytes, t.status)).collect();
        assert_eq!(sizes, [(7, Some(200)), (3, None), (4, Some(204))]);
        let mut odd = Tx::default();
        odd.set(&[(Field::Method, Some("PROPFIND"))]);
        assert!(matches!(
            odd.to_transaction().method,
            Some(Cow::Owned(m)) if m == "PROPFIND"
        ));
    }
}
