//! DNS over UDP (one message a datagram) and TCP (messages framed by a
//! 2-byte length): the flow's first query name and type, the response
//! code, and every address an answer gave, so that a flow to one of those
//! addresses can be named by what its client resolved (see
//! `correlate::names`). Messages are read by `simple-dns`; one that does
//! not parse is counted and skipped.
//!
//! DNS has no magic bytes: the probe takes a first message whose header
//! asks one question (an opcode of 0, at most a few answers) and whose
//! question parses with class IN, from either direction.

use super::parser::{ParserSpec, Probe, StreamParser, Transports, Verdict};
use crate::record::FlowRecord;
use crate::stats::Stats;
use simple_dns::rdata::RData;
use simple_dns::Packet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Answers' addresses kept per flow.
const MAX_ADDRESSES: usize = 32;
/// Largest TCP message read (a flow's buffer, as HTTP's header cap): a
/// longer one (a zone transfer) is skipped whole and counted.
const MAX_TCP_MESSAGE: usize = 16 << 10;

/// The parser's registration.
pub const SPEC: ParserSpec = ParserSpec {
    name: "dns",
    transports: Transports::Both,
    probe,
    late_probe: None,
    new: |_| Box::<Dns>::default(),
};

/// What one flow's DNS messages said.
#[derive(Debug, Default)]
struct Dns {
    query: Option<String>,
    qtype: Option<String>,
    rcode: Option<String>,
    queries: u64,
    responses: u64,
    addresses: Vec<IpAddr>,
    /// The ttl of the first answer with an address (seconds).
    ttl: Option<u32>,
    bad: u64,
    /// TCP framing, per direction.
    framers: [Framer; 2],
    /// The flow is TCP (messages length-framed); learnt from the first
    /// bytes when they carry a length prefix.
    tcp: Option<bool>,
}

/// One direction of a TCP flow: the message being gathered (its 2-byte
/// length first), or the bytes left of one too long to keep.
#[derive(Debug, Default)]
struct Framer {
    buf: Vec<u8>,
    skip: usize,
}

impl Framer {
    /// Takes `chunk`; whole messages (with their length prefix) go to
    /// `out`; says how many were too long and skipped.
    fn take(&mut self, mut chunk: &[u8], out: &mut Vec<Vec<u8>>) -> u64 {
        let mut skipped = 0;
        while !chunk.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(chunk.len());
                self.skip -= n;
                chunk = chunk.get(n..).unwrap_or_default();
                continue;
            }
            let need = framed_len(&self.buf).map_or(2, |len| 2 + len);
            let n = need.saturating_sub(self.buf.len()).min(chunk.len());
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
            chunk = chunk.get(n..).unwrap_or_default();
            match framed_len(&self.buf) {
                Some(len) if len > MAX_TCP_MESSAGE => {
                    self.skip = len;
                    self.buf.clear();
                    skipped += 1;
                }
                Some(len) if self.buf.len() == 2 + len => out.push(std::mem::take(&mut self.buf)),
                _ => {}
            }
        }
        skipped
    }
}

/// True when `b` starts like a DNS message of one question: opcode 0,
/// QDCOUNT 1, at most 255 of each other record, and a first label of 1 to
/// 63 name characters. A first segment may end anywhere after the header,
/// so the header and the start of the name are what is asked.
fn looks_like_dns(b: &[u8]) -> bool {
    let [_, _, flags, _, 0, 1, 0, _, 0, _, 0, _, len, rest @ ..] = b else {
        return false;
    };
    let opcode = (flags >> 3) & 0x0f;
    let label = usize::from(*len);
    if opcode != 0 || !(1..=63).contains(&label) {
        return false;
    }
    let seen = rest.get(..label.min(rest.len())).unwrap_or_default();
    !seen.is_empty()
        && seen
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
}

fn probe(_to_server: bool, first: &[u8]) -> Probe {
    if looks_like_dns(first) {
        return Probe::Yes;
    }
    // TCP: a 2-byte length, then the message.
    match (framed_len(first), first.get(2..)) {
        (Some(12..), Some(rest)) if looks_like_dns(rest) => Probe::Yes,
        _ => Probe::No,
    }
}

/// The length a TCP message's 2-byte prefix gives.
fn framed_len(b: &[u8]) -> Option<usize> {
    match b {
        [hi, lo, ..] => Some(usize::from(u16::from_be_bytes([*hi, *lo]))),
        _ => None,
    }
}

impl Dns {
    fn message(&mut self, b: &[u8]) {
        let Ok(p) = Packet::parse(b) else {
            self.bad += 1;
            return;
        };
        if let Some(q) = p.questions.first() {
            if self.query.is_none() {
                self.query = Some(q.qname.to_string().to_ascii_lowercase());
                self.qtype = Some(match q.qtype {
                    simple_dns::QTYPE::TYPE(t) => format!("{t:?}"),
                    other => format!("{other:?}"),
                });
            }
        }
        let response = p.has_flags(simple_dns::PacketFlag::RESPONSE);
        if !response {
            self.queries += 1;
            return;
        }
        self.responses += 1;
        self.rcode.get_or_insert_with(|| format!("{:?}", p.rcode()));
        for a in &p.answers {
            let ip = match &a.rdata {
                RData::A(x) => IpAddr::V4(Ipv4Addr::from(x.address)),
                RData::AAAA(x) => IpAddr::V6(Ipv6Addr::from(x.address)),
                _ => continue,
            };
            self.ttl.get_or_insert(a.ttl);
            if self.addresses.len() < MAX_ADDRESSES && !self.addresses.contains(&ip) {
                self.addresses.push(ip);
            }
        }
    }

    /// TCP: whole length-framed messages out of the bytes so far.
    fn framed(&mut self, idx: usize, chunk: &[u8]) {
        let mut msgs = Vec::new();
        if let Some(f) = self.framers.get_mut(idx) {
            self.bad += f.take(chunk, &mut msgs);
        }
        for m in msgs {
            self.message(m.get(2..).unwrap_or_default());
        }
    }
}

impl StreamParser for Dns {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn data(&mut self, to_server: bool, chunk: &[u8]) -> Verdict {
        let tcp = *self
            .tcp
            .get_or_insert_with(|| !looks_like_dns(chunk) && framed_len(chunk).is_some());
        if tcp {
            self.framed(usize::from(!to_server), chunk);
        } else {
            self.message(chunk);
        }
        Verdict::Continue
    }

    fn gap(&mut self, to_server: bool, _len: u64) {
        // Framing is lost on a gap: what was held is dropped.
        if let Some(f) = self.framers.get_mut(usize::from(!to_server)) {
            if !f.buf.is_empty() || f.skip > 0 {
                *f = Framer::default();
                self.bad += 1;
            }
        }
    }

    fn record(self: Box<Self>, rec: &mut FlowRecord, _: &mut Stats) {
        let mut v = serde_json::Map::new();
        if let Some(q) = self.query {
            v.insert("query".into(), q.into());
        }
        if let Some(t) = self.qtype {
            v.insert("qtype".into(), t.into());
        }
        if let Some(r) = self.rcode {
            v.insert("rcode".into(), r.into());
        }
        let addrs: Vec<serde_json::Value> = self
            .addresses
            .iter()
            .map(|a| a.to_string().into())
            .collect();
        if !addrs.is_empty() {
            v.insert("answers".into(), addrs.into());
        }
        if let Some(t) = self.ttl {
            v.insert("ttl".into(), t.into());
        }
        v.insert("queries".into(), self.queries.into());
        v.insert("responses".into(), self.responses.into());
        if self.bad > 0 {
            v.insert("bad_messages".into(), self.bad.into());
        }
        rec.extra.insert("dns", v.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` (type A), id 0x1234, or its answer with `ips`.
    fn message(name: &str, ips: &[[u8; 4]]) -> Vec<u8> {
        let answer = !ips.is_empty();
        let mut m = vec![
            0x12,
            0x34,
            if answer { 0x81 } else { 0x01 },
            if answer { 0x80 } else { 0 },
            0,
            1,
            0,
            ips.len() as u8,
            0,
            0,
            0,
            0,
        ];
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        for ip in ips {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
            m.extend_from_slice(ip);
        }
        m
    }

    #[test]
    fn queries_and_answers_over_udp_and_tcp() {
        let q = message("cdn.Example.net", &[]);
        let a = message("cdn.example.net", &[[198, 51, 100, 7], [198, 51, 100, 8]]);
        assert_eq!(probe(true, &q), Probe::Yes);
        assert_eq!(probe(true, b"GET / HTTP/1.1\r\n"), Probe::No);
        let mut d = Dns::default();
        d.data(true, &q);
        d.data(false, &a);
        assert_eq!(d.query.as_deref(), Some("cdn.example.net"));
        assert_eq!(d.addresses.len(), 2);
        assert_eq!((d.queries, d.responses, d.ttl), (1, 1, Some(3600)));
        // TCP: length-framed, split anywhere.
        let frame = |m: &[u8]| [&(m.len() as u16).to_be_bytes()[..], m].concat();
        assert_eq!(probe(true, &frame(&q)), Probe::Yes);
        let mut d = Dns::default();
        let fa = frame(&a);
        d.data(true, &frame(&q));
        d.data(false, &fa[..5]);
        d.data(false, &fa[5..]);
        assert_eq!(d.addresses.len(), 2);
        assert_eq!(d.bad, 0);
        // A message longer than the cap is skipped whole, framing kept.
        let mut d = Dns::default();
        let mut big = 40_000u16.to_be_bytes().to_vec();
        big.extend(std::iter::repeat_n(0u8, 40_000));
        d.data(true, &frame(&q));
        for piece in [&big[..1], &big[1..30_000], &big[30_000..], &fa[..]] {
            d.data(false, piece);
        }
        assert_eq!((d.bad, d.responses, d.addresses.len()), (1, 1, 2));
        assert!(d
            .framers
            .iter()
            .all(|f| f.buf.capacity() <= MAX_TCP_MESSAGE + 2));
        // Garbage after a good start is counted, never a panic.
        let mut d = Dns::default();
        d.data(true, &q);
        d.data(false, &[0xff; 40]);
        assert_eq!(d.bad, 1);
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;

    #[test]
    fn a_plain_query_is_taken() {
        let q = [
            0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, b'e',
            b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00, 0x00, 0x01, 0x00,
            0x01,
        ];
        assert!(Packet::parse(&q).is_ok(), "{:?}", Packet::parse(&q).err());
        assert_eq!(probe(true, &q), Probe::Yes);
    }
}
