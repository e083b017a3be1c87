//! DTLS (RFC 6347, RFC 9147) on UDP datagrams: the hellos read as TLS's
//! are (server name, ALPN, offered and chosen versions, cipher
//! suite, JA4 with `d`) and application-data bytes each way (of them,
//! DTLS 1.3's encrypted handshake, epoch 2), without decryption.
//!
//! A datagram holds whole records; a handshake message may be split in
//! fragments over several records and datagrams, in any order, each
//! sent again when lost. Each side's hello is put back together from its
//! fragments, up to the hello cap. WebRTC sends STUN and SRTP on the same
//! ports (RFC 7983 tells them apart by the first byte): those datagrams
//! are passed over.

use super::hello;
use super::parser::{ParserSpec, Probe, StreamParser, Transports, Verdict};
use super::tls::TlsCounters;
use crate::record::FlowRecord;
use crate::stats::Stats;
use model::flow::TlsInfo;

/// The parser's registration.
pub const SPEC: ParserSpec = ParserSpec {
    name: "dtls",
    transports: Transports::Udp,
    probe,
    late_probe: None,
    new: |limits| Box::new(Dtls::new(limits.max_tls_hello)),
};

const CONTENT_HANDSHAKE: u8 = 22;
const CONTENT_APPLICATION_DATA: u8 = 23;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const HELLO_VERIFY_REQUEST: u8 = 3;
/// Record header: type, version, epoch, sequence number, length.
const RECORD_HEADER: usize = 13;
/// Handshake header: type, length, message sequence, fragment offset and
/// length.
const HANDSHAKE_HEADER: usize = 12;
/// Separate pieces a hello may be in before it is given up.
const MAX_PIECES: usize = 16;

/// A datagram starting a DTLS handshake (a handshake record of epoch 0
/// whose first message is a hello or a HelloVerifyRequest, within the
/// datagram), or one application-data record of a later epoch filling
/// the datagram (a flow captured after its handshake); of a DTLS version.
fn probe(_to_server: bool, first: &[u8]) -> Probe {
    let Some(&[t, major, minor, e0, e1, _, _, _, _, _, _, l0, l1]) = first.get(..RECORD_HEADER)
    else {
        return Probe::No;
    };
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let version = major == 0xfe && matches!(minor, 0xff | 0xfd | 0xfc);
    let epoch0 = [e0, e1] == [0, 0];
    let hello = t == CONTENT_HANDSHAKE
        && epoch0
        && len >= HANDSHAKE_HEADER
        && RECORD_HEADER + len <= first.len()
        && matches!(
            first.get(RECORD_HEADER),
            Some(&(CLIENT_HELLO | SERVER_HELLO | HELLO_VERIFY_REQUEST))
        );
    let midstream = t == CONTENT_APPLICATION_DATA && !epoch0 && RECORD_HEADER + len == first.len();
    if version && (hello || midstream) {
        Probe::Yes
    } else {
        Probe::No
    }
}

/// One hello being put back together from its fragments.
#[derive(Debug, Default)]
struct Assembly {
    /// Message sequence number of the hello being read.
    seq: u16,
    /// The message body, its whole length once the first fragment came.
    body: Vec<u8>,
    /// Byte ranges of `body` received, sorted and apart.
    have: Vec<(usize, usize)>,
    /// Read, or given up.
    done: bool,
}

impl Assembly {
    /// Adds a fragment; the whole body once it is complete.
    fn add(&mut self, frag: &Fragment<'_>, max: usize) -> Result<Option<Vec<u8>>, ()> {
        if self.done || (!self.body.is_empty() && frag.seq < self.seq) {
            return Ok(None);
        }
        if self.body.is_empty() || frag.seq > self.seq {
            // The first fragment, or a later hello (sent again with the
            // server's cookie) before this one was whole: start afresh.
            if frag.total > max {
                self.done = true;
                return Err(());
            }
            *self = Assembly {
                seq: frag.seq,
                body: vec![0; frag.total],
                ..Assembly::default()
            };
        }
        let end = frag.offset + frag.data.len();
        if frag.total != self.body.len() {
            self.done = true;
            return Err(());
        }
        let Some(dst) = self.body.get_mut(frag.offset..end) else {
            self.done = true;
            return Err(());
        };
        dst.copy_from_slice(frag.data);
        self.cover(frag.offset, end);
        if self.have.len() > MAX_PIECES {
            self.done = true;
            return Err(());
        }
        if self.have.first() == Some(&(0, self.body.len())) {
            self.done = true;
            return Ok(Some(std::mem::take(&mut self.body)));
        }
        Ok(None)
    }

    /// Marks `start..end` received, merging the ranges it meets.
    fn cover(&mut self, mut start: usize, mut end: usize) {
        let mut merged = Vec::with_capacity(self.have.len() + 1);
        for &(s, e) in &self.have {
            if e < start || s > end {
                merged.push((s, e));
            } else {
                start = start.min(s);
                end = end.max(e);
            }
        }
        merged.push((start, end));
        merged.sort_unstable();
        self.have = merged;
    }
}

/// One handshake fragment of a record.
#[derive(Debug)]
struct Fragment<'a> {
    kind: u8,
    seq: u16,
    total: usize,
    offset: usize,
    data: &'a [u8],
}

/// Splits a handshake record's body into its fragments; `None` at a
/// malformed one.
fn fragments(mut body: &[u8]) -> impl Iterator<Item = Option<Fragment<'_>>> {
    std::iter::from_fn(move || {
        if body.is_empty() {
            return None;
        }
        let Some(&[kind, t0, t1, t2, s0, s1, o0, o1, o2, f0, f1, f2]) =
            body.get(..HANDSHAKE_HEADER)
        else {
            body = &[];
            return Some(None);
        };
        let n = |a: u8, b: u8, c: u8| usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        let (total, offset, len) = (n(t0, t1, t2), n(o0, o1, o2), n(f0, f1, f2));
        let Some(data) = body.get(HANDSHAKE_HEADER..HANDSHAKE_HEADER + len) else {
            body = &[];
            return Some(None);
        };
        body = body.get(HANDSHAKE_HEADER + len..).unwrap_or_default();
        Some(Some(Fragment {
            kind,
            seq: u16::from_be_bytes([s0, s1]),
            total,
            offset,
            data,
        }))
    })
}

/// A whole hello body under a handshake header of one fragment holding
/// all of it, as the parser reads a message.
fn whole_message(kind: u8, seq: u16, body: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(body.len()).ok()?.to_be_bytes();
    let len = len.get(1..)?;
    let mut msg = Vec::with_capacity(HANDSHAKE_HEADER + body.len());
    msg.push(kind);
    msg.extend_from_slice(len);
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(&[0, 0, 0]);
    msg.extend_from_slice(len);
    msg.extend_from_slice(body);
    Some(msg)
}

/// DTLS state of one flow.
#[derive(Debug, Default)]
pub struct Dtls {
    info: TlsInfo,
    counters: TlsCounters,
    client_hello: Assembly,
    server_hello: Assembly,
    max_hello: usize,
}

impl Dtls {
    /// A parser keeping at most `max_hello` bytes of a hello.
    pub fn new(max_hello: usize) -> Self {
        Dtls {
            max_hello,
            ..Dtls::default()
        }
    }

    /// What was learnt so far.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Reads one datagram's records.
    pub fn datagram(&mut self, to_server: bool, mut d: &[u8]) {
        // RFC 7983: DTLS starts with 20 to 63; STUN, TURN channels and
        // SRTP share the flow with other first bytes.
        if !matches!(d.first(), Some(20..=63)) {
            return;
        }
        while let Some(&first) = d.first() {
            let (content, body, rest) = match first {
                // RFC 9147's unified header: encrypted records.
                0x20..=0x3f => unified(d),
                _ => plaintext(d),
            };
            match content {
                CONTENT_HANDSHAKE => self.handshake(body),
                CONTENT_APPLICATION_DATA => {
                    // Epoch 2 (the unified header's low two bits) is DTLS
                    // 1.3's encrypted handshake.
                    let handshake = (0x20..=0x3f).contains(&first) && first & 0x03 == 2;
                    self.count_app(to_server, body.len(), handshake);
                }
                _ => {}
            }
            d = rest;
        }
    }

    fn handshake(&mut self, body: &[u8]) {
        for frag in fragments(body) {
            let Some(frag) = frag else {
                self.counters.parse_errors += 1;
                return;
            };
            let assembly = match frag.kind {
                CLIENT_HELLO => &mut self.client_hello,
                SERVER_HELLO => &mut self.server_hello,
                _ => continue,
            };
            match assembly.add(&frag, self.max_hello) {
                Ok(Some(whole)) => match whole_message(frag.kind, frag.seq, &whole) {
                    Some(msg) => hello::read_dtls(&mut self.info, &mut self.counters, &msg),
                    None => self.counters.parse_errors += 1,
                },
                Ok(None) => {}
                Err(()) => self.counters.parse_errors += 1,
            }
        }
    }

    /// Application-data bytes of one direction; `handshake` when they
    /// carry the encrypted handshake (counted in both, as TLS 1.3's are).
    fn count_app(&mut self, to_server: bool, n: usize, handshake: bool) {
        let i = &mut self.info;
        let (app, hs) = if to_server {
            (&mut i.app_bytes_out, &mut i.handshake_bytes_out)
        } else {
            (&mut i.app_bytes_in, &mut i.handshake_bytes_in)
        };
        *app += n as u64;
        if handshake {
            *hs += n as u64;
        }
    }
}

/// A plaintext-framed record at the start of `d`: its content type, its
/// body (as far as the datagram holds it: a capture may cut it) and what
/// follows it. Encrypted records of later epochs are framed alike; their
/// content type is what the header says, and handshake records of epoch 1
/// on (an encrypted Finished) are no hellos.
fn plaintext(d: &[u8]) -> (u8, &[u8], &[u8]) {
    let Some(&[t, _, _, e0, e1, _, _, _, _, _, _, l0, l1]) = d.get(..RECORD_HEADER) else {
        return (0, &[], &[]);
    };
    let body = d.get(RECORD_HEADER..).unwrap_or_default();
    let len = usize::from(u16::from_be_bytes([l0, l1])).min(body.len());
    let (body, rest) = body.split_at(len);
    let content = if t == CONTENT_HANDSHAKE && [e0, e1] != [0, 0] {
        0
    } else {
        t
    };
    (content, body, rest)
}

/// A record of RFC 9147's unified header (`001CSLEE`): application data
/// as far as this side can tell (its true type is encrypted). With a
/// connection id, whose length only the peers know, the rest of the
/// datagram is taken as the record.
fn unified(d: &[u8]) -> (u8, &[u8], &[u8]) {
    let Some(&flags) = d.first() else {
        return (0, &[], &[]);
    };
    if flags & 0x10 != 0 {
        return (
            CONTENT_APPLICATION_DATA,
            d.get(1..).unwrap_or_default(),
            &[],
        );
    }
    let seq = if flags & 0x08 != 0 { 2 } else { 1 };
    let at = 1 + seq;
    if flags & 0x04 == 0 {
        return (
            CONTENT_APPLICATION_DATA,
            d.get(at..).unwrap_or_default(),
            &[],
        );
    }
    let Some(&[l0, l1]) = d.get(at..at + 2) else {
        return (0, &[], &[]);
    };
    let body = d.get(at + 2..).unwrap_or_default();
    let len = usize::from(u16::from_be_bytes([l0, l1])).min(body.len());
    let (body, rest) = body.split_at(len);
    (CONTENT_APPLICATION_DATA, body, rest)
}

impl StreamParser for Dtls {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn data(&mut self, to_server: bool, chunk: &[u8]) -> Verdict {
        self.datagram(to_server, chunk);
        Verdict::Continue
    }

    fn gap(&mut self, _to_server: bool, _len: u64) {}

    fn record(self: Box<Self>, rec: &mut FlowRecord, stats: &mut Stats) {
        self.counters.add_to(stats);
        rec.tls = Some(Box::new(self.info));
    }
}

#[cfg(test)]
mod tests;
