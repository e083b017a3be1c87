//! Property tests: TCP reassembly against a model, HTTP framing at every
//! split point, and flow keys the same from either direction. Case counts
//! are kept small so the whole file runs in seconds.
// Test code: indexes are of vectors the test built.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use capture::app::parser::Verdict;
use capture::community_id::community_id_v1;
use capture::decode::{decode, LinkType};
use capture::internals::flow::symmetric_hash;
use capture::internals::flow::{Addr, FlowKey, Transport};
use capture::internals::http::{Http, HttpLimits, HttpTransaction};
use capture::internals::tcp::{Budget, Chunk, Stream, StreamCounters, StreamLimits};
use proptest::prelude::*;

// ---------------------------------------------------------------- reassembly

/// The byte at stream offset `i`: differs between nearby offsets and
/// offsets 256 apart, so a byte handed out at the wrong place shows.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// A segment: stream offset and length.
type Seg = (usize, usize);

/// Segments covering parts of a stream of up to 600 bytes, some repeated,
/// in a random order; and an initial sequence number, often near 2^32 so
/// the numbers wrap inside the stream.
fn arrivals() -> impl Strategy<Value = (u32, Vec<Seg>)> {
    let isn = prop_oneof![any::<u32>(), (u32::MAX - 700)..=u32::MAX];
    let segs = prop::collection::vec((0usize..600, 1usize..120), 1..24);
    (
        isn,
        segs,
        prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    )
        .prop_flat_map(|(isn, segs, dups)| {
            let mut all = segs.clone();
            all.extend(dups.iter().map(|d| segs[d.index(segs.len())]));
            (Just(isn), Just(all).prop_shuffle())
        })
}

/// What the stream handed out, one entry per stream offset: the byte, or
/// `None` inside a gap.
fn run_stream(
    isn: u32,
    events: &[Event],
    limits: StreamLimits,
    budget_max: usize,
) -> (Vec<Option<u8>>, StreamCounters, usize) {
    let mut s = Stream::default();
    s.syn(isn);
    let mut budget = Budget {
        used: 0,
        max: budget_max,
    };
    let mut out: Vec<Option<u8>> = Vec::new();
    let mut sink = |c: Chunk<'_>| match c {
        Chunk::Data(d) => out.extend(d.iter().map(|b| Some(*b))),
        Chunk::Gap(n) => out.extend(std::iter::repeat_n(None, n as usize)),
    };
    let data_at = |seq: u32| seq.wrapping_sub(isn).wrapping_sub(1);
    for e in events {
        match *e {
            Event::Seg(off, len) => {
                let data: Vec<u8> = (off..off + len).map(pattern).collect();
                let seq = isn.wrapping_add(1).wrapping_add(off as u32);
                assert_eq!(data_at(seq) as usize, off);
                s.segment(seq, &data, 0, false, limits, &mut budget, &mut sink);
            }
            Event::Ack(off) => {
                let ack = isn.wrapping_add(1).wrapping_add(off as u32);
                s.peer_ack(ack, false, &mut budget, &mut sink);
            }
        }
    }
    s.finish(&mut budget, &mut sink);
    assert_eq!(s.held_bytes(), 0, "bytes held after the end");
    (out, s.counters(), budget.used)
}

/// One thing the stream is given.
#[derive(Debug, Clone, Copy)]
enum Event {
    Seg(usize, usize),
    Ack(usize),
}

const ROOMY: StreamLimits = StreamLimits {
    max_ooo_bytes: 1 << 20,
    max_ooo_segments: 1 << 10,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// With room for every out-of-order segment, the stream is the model:
    /// each offset any segment covered holds its byte, the others up to
    /// the last covered byte are gaps; delivered, missed and retransmitted
    /// bytes follow.
    #[test]
    fn reassembly_equals_the_model((isn, segs) in arrivals()) {
        let events: Vec<Event> = segs.iter().map(|&(o, l)| Event::Seg(o, l)).collect();
        let (got, c, held) = run_stream(isn, &events, ROOMY, 1 << 20);
        let end = segs.iter().map(|(o, l)| o + l).max().unwrap_or(0);
        let mut seen = vec![false; end];
        for &(o, l) in &segs {
            seen[o..o + l].iter_mut().for_each(|s| *s = true);
        }
        let want: Vec<Option<u8>> =
            (0..end).map(|i| seen[i].then(|| pattern(i))).collect();
        prop_assert_eq!(&got, &want);
        let covered = seen.iter().filter(|s| **s).count() as u64;
        let given: u64 = segs.iter().map(|(_, l)| *l as u64).sum();
        prop_assert_eq!(c.delivered, covered);
        prop_assert_eq!(c.missed, end as u64 - covered);
        prop_assert_eq!(c.retransmitted, given - covered);
        prop_assert_eq!(held, 0);
    }

    /// Under tight caps and with acknowledgements, gaps come early, but
    /// every byte handed out is the right one at the right offset, every
    /// offset is either delivered or missed, and every byte given is
    /// either delivered or counted as seen again.
    #[test]
    fn reassembly_under_caps_keeps_its_accounts(
        (isn, segs) in arrivals(),
        acks in prop::collection::vec((any::<prop::sample::Index>(), 0usize..700), 0..6),
        max_segs in 1usize..4,
        max_bytes in 1usize..300,
        budget in 1usize..400,
    ) {
        let mut events: Vec<Event> = segs.iter().map(|&(o, l)| Event::Seg(o, l)).collect();
        for (at, off) in &acks {
            events.insert(at.index(events.len() + 1), Event::Ack(*off));
        }
        let limits = StreamLimits { max_ooo_bytes: max_bytes, max_ooo_segments: max_segs };
        let (got, c, held) = run_stream(isn, &events, limits, budget);
        for (i, b) in got.iter().enumerate() {
            if let Some(b) = b {
                prop_assert_eq!(*b, pattern(i), "offset {}", i);
            }
        }
        let delivered = got.iter().filter(|b| b.is_some()).count() as u64;
        prop_assert_eq!(c.delivered, delivered);
        prop_assert_eq!(c.missed, got.len() as u64 - delivered);
        let given: u64 = segs.iter().map(|(_, l)| *l as u64).sum();
        prop_assert_eq!(c.delivered + c.retransmitted, given);
        prop_assert_eq!(held, 0);
    }
}

// ---------------------------------------------------------------- HTTP

/// How a message body is framed.
#[derive(Debug, Clone)]
enum Body {
    None,
    Length(usize),
    /// Chunk sizes (a last zero-size chunk is added).
    Chunked(Vec<usize>),
}

/// One request and its response, as generated.
#[derive(Debug, Clone)]
struct Exchange {
    method: &'static str,
    uri: String,
    req_body: Body,
    status: u16,
    resp_body: Body,
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::None),
        (0usize..40).prop_map(Body::Length),
        prop::collection::vec(1usize..20, 0..4).prop_map(Body::Chunked),
    ]
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (
        prop::sample::select(vec!["GET", "POST", "HEAD", "PUT"]),
        "/[a-z0-9]{0,12}",
        body(),
        prop::sample::select(vec![200u16, 201, 204, 304, 404]),
        body(),
    )
        .prop_map(|(method, uri, req_body, status, resp_body)| Exchange {
            method,
            uri,
            req_body,
            status,
            resp_body,
        })
}

/// Writes a body's headers and bytes; its de-chunked length.
fn write_body(b: &Body, head: &mut String, data: &mut Vec<u8>, fill: u8) -> usize {
    match b {
        Body::None => 0,
        Body::Length(n) => {
            head.push_str(&format!("Content-Length: {n}\r\n"));
            data.extend(std::iter::repeat_n(fill, *n));
            *n
        }
        Body::Chunked(sizes) => {
            head.push_str("Transfer-Encoding: chunked\r\n");
            for n in sizes {
                data.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                data.extend(std::iter::repeat_n(fill, *n));
                data.extend_from_slice(b"\r\n");
            }
            data.extend_from_slice(b"0\r\n\r\n");
            sizes.iter().sum()
        }
    }
}

/// The request and response bytes of an exchange, and the transaction
/// the reference splitter expects from them.
fn render(x: &Exchange) -> (Vec<u8>, Vec<u8>, HttpTransaction) {
    let mut head = format!("{} {} HTTP/1.1\r\nHost: t.example\r\n", x.method, x.uri);
    let mut body = Vec::new();
    let req_body = write_body(&x.req_body, &mut head, &mut body, b'q');
    let mut req = head.into_bytes();
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(&body);

    let mut head = format!("HTTP/1.1 {} X\r\n", x.status);
    let mut body = Vec::new();
    // HEAD responses and 204 / 304 carry no body whatever they announce.
    let bodiless = x.method == "HEAD" || x.status == 204 || x.status == 304;
    let mut resp_body = write_body(&x.resp_body, &mut head, &mut body, b'r');
    if bodiless {
        body.clear();
        resp_body = 0;
        if matches!(x.resp_body, Body::Chunked(_)) {
            head = format!("HTTP/1.1 {} X\r\n", x.status);
        }
    } else if matches!(x.resp_body, Body::None) {
        // Keep-alive needs a length: an empty body says so.
        head.push_str("Content-Length: 0\r\n");
    }
    let mut resp = head.into_bytes();
    resp.extend_from_slice(b"\r\n");
    resp.extend_from_slice(&body);

    let tx = HttpTransaction {
        method: Some(x.method.to_string().into()),
        host: Some("t.example".into()),
        uri: Some(x.uri.clone()),
        version: Some("HTTP/1.1".into()),
        response_version: Some("HTTP/1.1".into()),
        status: Some(x.status),
        request_bytes: req.len() as u64,
        response_bytes: resp.len() as u64,
        request_body_bytes: req_body as u64,
        response_body_bytes: resp_body as u64,
        ..HttpTransaction::default()
    };
    (req, resp, tx)
}

const HTTP_LIMITS: HttpLimits = HttpLimits {
    max_transactions: 64,
    max_header_bytes: 4096,
    max_field_len: 256,
};

/// Feeds `(to_server, bytes)` pieces in order; the transactions.
fn feed(pieces: &[(bool, &[u8])]) -> (Vec<HttpTransaction>, u64) {
    let mut h = Http::new(HTTP_LIMITS);
    for (to_server, p) in pieces {
        assert_eq!(h.data(*to_server, p), Verdict::Continue);
    }
    h.finish();
    (h.transactions(), u64::from(h.counters.parse_errors))
}

/// Cuts `data` at the given offsets (taken modulo its length, sorted).
fn cut_at(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for a in at.into_iter().chain([data.len()]) {
        out.push(data[prev..a].to_vec());
        prev = a;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Pipelined and keep-alive exchanges, whole or split at every point
    /// of either stream, or at several random points: always the
    /// reference's transactions and byte counts.
    #[test]
    fn http_framing_at_every_split(
        xs in prop::collection::vec(exchange(), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let rendered: Vec<_> = xs.iter().map(render).collect();
        let want: Vec<HttpTransaction> = rendered.iter().map(|r| r.2.clone()).collect();
        let reqs: Vec<u8> = rendered.iter().flat_map(|r| r.0.clone()).collect();
        let resps: Vec<u8> = rendered.iter().flat_map(|r| r.1.clone()).collect();

        // Pipelined: every request, then every response.
        let whole = feed(&[(true, &reqs), (false, &resps)]);
        prop_assert_eq!(&whole.0, &want);
        prop_assert_eq!(whole.1, 0);
        for k in 0..=reqs.len() {
            let got = feed(&[(true, &reqs[..k]), (true, &reqs[k..]), (false, &resps)]);
            prop_assert_eq!(&got.0, &want, "request stream split at {}", k);
        }
        for k in 0..=resps.len() {
            let got = feed(&[(true, &reqs), (false, &resps[..k]), (false, &resps[k..])]);
            prop_assert_eq!(&got.0, &want, "response stream split at {}", k);
        }
        // Keep-alive: each request, then its response, each cut at random.
        let mut pieces: Vec<(bool, Vec<u8>)> = Vec::new();
        for (req, resp, _) in &rendered {
            pieces.extend(cut_at(req, &cuts).into_iter().map(|p| (true, p)));
            pieces.extend(cut_at(resp, &cuts).into_iter().map(|p| (false, p)));
        }
        let borrowed: Vec<(bool, &[u8])> = pieces.iter().map(|(d, p)| (*d, p.as_slice())).collect();
        prop_assert_eq!(&feed(&borrowed).0, &want);
    }
}

// ---------------------------------------------------------------- flow keys

fn addr_pair() -> impl Strategy<Value = (Addr, Addr)> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(a, b)| (Addr::V4(a), Addr::V4(b))),
        (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(a, b)| (Addr::V6(a), Addr::V6(b))),
        // The same address both ends (loopback): only the ports tell.
        any::<[u8; 4]>().prop_map(|a| (Addr::V4(a), Addr::V4(a))),
    ]
}

/// An IPv4 TCP packet with no options, as a raw-IP frame.
fn ipv4_tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Both directions of a flow give one key (with opposite direction
    /// flags, unless both ends are the same), one shard hash, one
    /// Community ID.
    #[test]
    fn flow_key_is_symmetric(
        (a, b) in addr_pair(),
        pa in any::<u16>(),
        pb in any::<u16>(),
        udp in any::<bool>(),
        seed in any::<u16>(),
    ) {
        let t = if udp { Transport::Udp } else { Transport::Tcp };
        let (k1, f1) = FlowKey::of(a, pa, b, pb, t);
        let (k2, f2) = FlowKey::of(b, pb, a, pa, t);
        prop_assert_eq!(k1, k2);
        if (a, pa) != (b, pb) {
            prop_assert_ne!(f1, f2);
        }
        prop_assert_eq!(k1.shard_hash(), k2.shard_hash());
        prop_assert_eq!(symmetric_hash(a, pa, b, pb, t), symmetric_hash(b, pb, a, pa, t));
        prop_assert_eq!(symmetric_hash(a, pa, b, pb, t), k1.shard_hash());
        let c1 = community_id_v1(seed, t.number(), a.ip(), pa, b.ip(), pb);
        let c2 = community_id_v1(seed, t.number(), b.ip(), pb, a.ip(), pa);
        prop_assert_eq!(c1, c2);
    }

    /// The same from packets: a segment and its answer, decoded, are one
    /// flow.
    #[test]
    fn decoded_directions_are_one_flow(
        a in any::<[u8; 4]>(),
        b in any::<[u8; 4]>(),
        pa in any::<u16>(),
        pb in any::<u16>(),
    ) {
        let there = ipv4_tcp(a, pa, b, pb);
        let back = ipv4_tcp(b, pb, a, pa);
        let p = decode(LinkType::Raw, &there).unwrap();
        let q = decode(LinkType::Raw, &back).unwrap();
        let (k1, _) = FlowKey::of(p.src, p.sport, p.dst, p.dport, p.transport);
        let (k2, _) = FlowKey::of(q.src, q.sport, q.dst, q.dport, q.transport);
        prop_assert_eq!(k1, k2);
        prop_assert_eq!(k1.lo_port.min(k1.hi_port), pa.min(pb));
    }
}
