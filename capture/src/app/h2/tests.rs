//! Connections built frame by frame: what each stream records, cut into
//! chunks every way, and what a gap costs.

use super::*;

const LIMITS: HttpLimits = HttpLimits {
    max_transactions: 8,
    max_header_bytes: 4096,
    max_field_len: 256,
};

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// A literal field without indexing, the name by static index (`name` >
/// 0, 4-bit prefix: below 15) or as a raw string.
fn literal(name: u8, raw_name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![name];
    if name == 0 {
        b.push(raw_name.len() as u8);
        b.extend(raw_name.as_bytes());
    }
    b.push(value.len() as u8);
    b.extend(value.as_bytes());
    b
}

/// A literal with incremental indexing, the name a static index (below
/// 63), the value Huffman-coded.
fn indexed_literal(name: u8, value: &str) -> Vec<u8> {
    let mut coded = Vec::new();
    huffman_encode(value.as_bytes(), &mut coded);
    let mut b = vec![0x40 | name, 0x80 | coded.len() as u8];
    b.extend(coded);
    b
}

const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const DATA: u8 = 0x0;
const CONTINUATION: u8 = 0x9;
const RST: u8 = 0x3;
const WINDOW_UPDATE: u8 = 0x8;

/// The client side: preface, settings, a GET on stream 1 (Huffman
/// authority, added to the table), a POST on stream 3 whose head is split
/// over a CONTINUATION and reuses the authority from the table, with a
/// padded body.
fn client() -> (Vec<u8>, u64, u64) {
    let mut c = PREFACE.to_vec();
    c.extend(frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0xff, 0xff]));
    let mut get = vec![0x82, 0x86]; // :method GET, :scheme http
    get.extend(literal(0x04, "", "/feed?id=7")); // :path
    get.extend(indexed_literal(1, "api.example.test")); // :authority
    get.extend(literal(0, "user-agent", "grpc-go/1.60"));
    let s1 = frame(HEADERS, 0x5, 1, &get);
    let s1_len = s1.len() as u64;
    c.extend(s1);
    c.extend(frame(WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0]));
    // :path without indexing: an insertion would move the authority.
    let post = [0x83, 0x86, 0x04, 0x07];
    let mut first = post.to_vec();
    first.extend(b"/upload");
    let h3 = frame(HEADERS, 0, 3, &first);
    let c3 = frame(CONTINUATION, 0x4, 3, &[0xbe]); // dynamic 62: :authority
                                                   // 10 bytes of data behind a pad length of 5.
    let mut body = vec![5];
    body.extend(b"0123456789");
    body.extend([0; 5]);
    let d3 = frame(DATA, 0x9, 3, &body);
    let s3_len = (h3.len() + c3.len() + d3.len()) as u64;
    c.extend(h3);
    c.extend(c3);
    c.extend(d3);
    (c, s1_len, s3_len)
}

/// The server side: settings, an interim 103 then a 200 for stream 1 with
/// 300 bytes of body in two frames, a 404 for stream 3 with a trailer
/// block after its body.
fn server() -> (Vec<u8>, u64, u64) {
    let mut s = frame(SETTINGS, 0, 0, &[]);
    s.extend(frame(SETTINGS, 0x1, 0, &[]));
    let early = frame(HEADERS, 0x4, 1, &literal(0x08, "", "103"));
    // :status 200; content-type (static 31: past the 4-bit prefix, so
    // 15 and 16 more) without indexing.
    let mut ok = vec![0x88, 0x0f, 31 - 15, 16];
    ok.extend(b"application/grpc");
    let h1 = frame(HEADERS, 0x4, 1, &ok);
    let d1a = frame(DATA, 0, 1, &[b'x'; 200]);
    let d1b = frame(DATA, 0x1, 1, &[b'y'; 100]);
    let s1_len = (early.len() + h1.len() + d1a.len() + d1b.len()) as u64;
    s.extend(early);
    s.extend(h1);
    s.extend(d1a);
    s.extend(d1b);
    let h3 = frame(HEADERS, 0x4, 3, &[0x8d]); // :status 404
    let d3 = frame(DATA, 0, 3, b"gone");
    let t3 = frame(HEADERS, 0x5, 3, &literal(0, "grpc-status", "5"));
    let s3_len = (h3.len() + d3.len() + t3.len()) as u64;
    s.extend(h3);
    s.extend(d3);
    s.extend(t3);
    (s, s1_len, s3_len)
}

fn check(h: &H2, c: (u64, u64), s: (u64, u64)) {
    let t = h.transactions();
    assert_eq!(t.len(), 2, "{t:?}");
    let a = &t[0];
    assert_eq!(a.method.as_deref(), Some("GET"));
    assert_eq!(a.host.as_deref(), Some("api.example.test"));
    assert_eq!(a.uri.as_deref(), Some("/feed?id=7"));
    assert_eq!(a.user_agent.as_deref(), Some("grpc-go/1.60"));
    assert_eq!(a.version.as_deref(), Some("HTTP/2"));
    assert_eq!(a.response_version.as_deref(), Some("HTTP/2"));
    assert_eq!(a.status, Some(200));
    assert_eq!(a.content_type.as_deref(), Some("application/grpc"));
    assert_eq!((a.request_bytes, a.request_body_bytes), (c.0, 0));
    assert_eq!((a.response_bytes, a.response_body_bytes), (s.0, 300));
    let b = &t[1];
    assert_eq!(b.method.as_deref(), Some("POST"));
    assert_eq!(b.uri.as_deref(), Some("/upload"));
    assert_eq!(
        b.host.as_deref(),
        Some("api.example.test"),
        "from the table"
    );
    assert_eq!(b.status, Some(404));
    assert_eq!((b.request_bytes, b.request_body_bytes), (c.1, 10));
    assert_eq!((b.response_bytes, b.response_body_bytes), (s.1, 4));
    assert_eq!(h.counts.parse_errors, 0);
    assert!(h.open.is_empty(), "both streams ended: {:?}", h.open);
}

#[test]
fn streams_are_transactions_with_exact_bytes() {
    let (c, c1, c3) = client();
    let (s, s1, s3) = server();
    // Whole, then in chunks of every size up to 40 bytes.
    for size in [usize::MAX, 1, 2, 3, 7, 9, 10, 17, 40] {
        let mut h = H2::new(LIMITS);
        let (mut cc, mut sc) = (c.chunks(size.min(c.len())), s.chunks(size.min(s.len())));
        loop {
            let (a, b) = (cc.next(), sc.next());
            if a.is_none() && b.is_none() {
                break;
            }
            if let Some(a) = a {
                h.data(true, a);
            }
            if let Some(b) = b {
                h.data(false, b);
            }
        }
        check(&h, (c1, c3), (s1, s3));
    }
}

#[test]
fn the_server_settings_and_the_preface_are_what_the_probe_takes() {
    assert_eq!(probe(true, b"PRI * HTTP/2.0\r\n"), Probe::Yes);
    assert_eq!(probe(true, b"PRI * HT"), Probe::NeedMore);
    assert_eq!(probe(true, b"PRIX"), Probe::No);
    assert_eq!(probe(true, b"GET / HTTP/1.1\r\n"), Probe::No);
    let (s, _, _) = server();
    assert_eq!(probe(false, &s), Probe::Yes);
    assert_eq!(
        probe(false, &frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 1])),
        Probe::Yes
    );
    assert_eq!(probe(false, &s[..4]), Probe::NeedMore);
    // Settings of a length that is no number of settings; another frame;
    // another stream; HTTP/1.x.
    assert_eq!(probe(false, &frame(SETTINGS, 0, 0, &[0; 5])), Probe::No);
    assert_eq!(probe(false, &frame(HEADERS, 4, 0, &[0x88])), Probe::No);
    assert_eq!(probe(false, &frame(SETTINGS, 0, 1, &[])), Probe::No);
    assert_eq!(probe(false, b"HTTP/1.1 200 OK\r\n"), Probe::No);
    assert_eq!(probe(false, b"SSH-2.0-OpenSSH_9.2\r\n"), Probe::No);
}

#[test]
fn a_gap_in_data_is_counted_one_in_a_header_block_spoils_the_table() {
    let (c, c1, c3) = client();
    let (s, s1, s3) = server();
    // The server's 300 bytes of body for stream 1: 50 of them missing.
    let cut = s.windows(3).position(|w| w == b"xxx").unwrap() + 20;
    let mut h = H2::new(LIMITS);
    h.data(true, &c);
    h.data(false, &s[..cut]);
    h.gap(false, 50);
    h.data(false, &s[cut + 50..]);
    check(&h, (c1, c3), (s1, s3));

    // The client's second head lost: stream 3 is followed, unnamed; the
    // client's table is now unknown, its later heads unread.
    let at = c.windows(7).position(|w| w == b"/upload").unwrap();
    let mut h = H2::new(LIMITS);
    h.data(true, &c[..at]);
    h.gap(true, 7);
    h.data(true, &c[at + 7..]);
    h.data(true, &frame(HEADERS, 0x5, 5, &[0x82, 0x86, 0x84, 0xbe]));
    h.data(false, &s);
    let t = h.transactions();
    assert_eq!(t.len(), 3);
    assert_eq!(t[1].uri, None);
    assert_eq!(t[1].status, Some(404));
    assert_eq!(t[1].request_bytes, c3);
    assert_eq!(t[1].request_body_bytes, 10);
    assert_eq!((t[2].method.as_deref(), t[2].request_bytes), (None, 13));
    assert_eq!(h.counts.parse_errors, 1);

    // A gap across a frame's end: the framing is lost.
    let mut h = H2::new(LIMITS);
    h.data(true, &c[..30]);
    h.gap(true, 100);
    h.data(true, &c[130..]);
    assert!(h.transactions().is_empty());
    assert_eq!(h.counts.parse_errors, 1);
}

#[test]
fn resets_caps_and_garbage_are_bounded() {
    let mut c = PREFACE.to_vec();
    for id in (1..40).step_by(2) {
        c.extend(frame(HEADERS, 0x5, id, &[0x82, 0x86, 0x84]));
        c.extend(frame(RST, 0, id, &[0, 0, 0, 8]));
    }
    let mut h = H2::new(LIMITS);
    h.data(true, &c);
    assert_eq!(h.transactions().len(), LIMITS.max_transactions);
    assert_eq!((h.counts.transactions, h.counts.dropped), (20, 12));
    assert!(h.open.is_empty());
    // Streams left open past the cap on followed streams.
    let mut c = PREFACE.to_vec();
    for id in (1..2 * MAX_OPEN_STREAMS as u32 + 20).step_by(2) {
        c.extend(frame(HEADERS, 0x4, id, &[0x82]));
    }
    let mut h = H2::new(LIMITS);
    h.data(true, &c);
    assert_eq!(h.open.len(), MAX_OPEN_STREAMS);
    // A preface that is not one.
    let mut h = H2::new(LIMITS);
    h.data(true, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n");
    h.data(true, &frame(HEADERS, 0x5, 1, &[0x82]));
    assert!(h.transactions().is_empty());
    assert_eq!(h.counts.parse_errors, 1);
    // A CONTINUATION of another stream inside a block is an error, and
    // does not end the block it interrupts.
    let mut h = H2::new(LIMITS);
    h.data(true, PREFACE);
    h.data(true, &frame(HEADERS, 0x1, 1, &[0x82, 0x86]));
    h.data(true, &frame(CONTINUATION, 0x4, 3, &[0x84]));
    h.data(true, &frame(CONTINUATION, 0x4, 1, &literal(0x04, "", "/x")));
    assert_eq!(h.transactions().len(), 1);
    assert_eq!(h.transactions()[0].uri.as_deref(), Some("/x"));
    assert_eq!(h.transactions()[0].request_bytes, 11 + 13);
    assert_eq!(h.counts.parse_errors, 1);
    // A header block past the cap is counted, not kept.
    let big = literal(0, "x-big", &"a".repeat(100));
    let mut block = Vec::new();
    while block.len() <= LIMITS.max_header_bytes {
        block.extend(&big);
    }
    let mut h = H2::new(LIMITS);
    h.data(true, PREFACE);
    h.data(true, &frame(HEADERS, 0x5, 1, &block));
    assert_eq!(h.transactions().len(), 1);
    assert_eq!(h.transactions()[0].request_bytes, block.len() as u64 + 9);
    assert_eq!(h.counts.parse_errors, 1);
}

mod through_the_app {
    use super::*;
    use crate::app::tunnel_tests::empty_record;
    use crate::app::{registry, App, AppLimits};

    fn run(exchange: &[(bool, &[u8])]) -> (Option<&'static str>, Vec<HttpTransaction>) {
        let l = AppLimits {
            http: LIMITS,
            max_tls_hello: 4096,
            parsers: registry::BUILTIN,
            compact: true,
        };
        let mut app = App::new();
        for (to_server, bytes) in exchange {
            app.data(&l, *to_server, bytes);
        }
        app.finish(&l);
        let mut rec = empty_record();
        let mut stats = Stats::default();
        app.record(&mut rec, &mut stats);
        (rec.network.protocol.map(|p| p.name()), rec.http)
    }

    #[test]
    fn prior_knowledge_is_http2_not_a_pri_request() {
        let (c, ..) = client();
        let (s, ..) = server();
        // The preface split where neither probe can tell yet.
        let (protocol, txs) = run(&[(true, &c[..3]), (true, &c[3..]), (false, &s)]);
        assert_eq!(protocol, Some("http2"));
        let uris: Vec<_> = txs.iter().map(|t| t.uri.as_deref()).collect();
        assert_eq!(uris, [Some("/feed?id=7"), Some("/upload")]);
    }

    #[test]
    fn an_upgrade_to_h2c_goes_on_as_http2_on_stream_one() {
        let request =
            b"GET /stream HTTP/1.1\r\nHost: h2.test\r\nConnection: Upgrade, HTTP2-Settings\r\n\
            Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
        let switching =
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
        let mut answer = switching.to_vec();
        answer.extend(frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]));
        let head = frame(HEADERS, 0x4, 1, &[0x88]);
        let body = frame(DATA, 0x1, 1, b"hello");
        answer.extend(&head);
        answer.extend(&body);
        let mut preface = PREFACE.to_vec();
        preface.extend(frame(SETTINGS, 0, 0, &[]));
        let (protocol, txs) = run(&[(true, request), (false, &answer), (true, &preface)]);
        // Named after the HTTP/1.1 exchange that opened it.
        assert_eq!(protocol, Some("http"));
        assert_eq!(txs.len(), 2, "{txs:?}");
        assert_eq!(txs[0].status, Some(101));
        assert_eq!(txs[0].uri.as_deref(), Some("/stream"));
        assert_eq!(txs[0].response_bytes, switching.len() as u64);
        let h2 = &txs[1];
        assert_eq!((h2.method.as_deref(), h2.status), (None, Some(200)));
        assert_eq!(h2.version.as_deref(), Some("HTTP/2"));
        assert_eq!(h2.response_bytes, (head.len() + body.len()) as u64);
        assert_eq!(h2.response_body_bytes, 5);
    }
}
