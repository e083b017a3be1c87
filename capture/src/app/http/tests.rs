use super::*;

const LIMITS: HttpLimits = HttpLimits {
    max_transactions: 16,
    max_header_bytes: 4096,
    max_field_len: 256,
};

fn feed_all(h: &mut Http, to_server: bool, data: &[u8], split: usize) {
    for part in data.chunks(split.max(1)) {
        assert_eq!(h.data(to_server, part), Verdict::Continue);
    }
}

#[test]
fn keep_alive_pipelined_any_split() {
    let reqs = b"GET /a HTTP/1.1\r\nHost: x.test\r\nUser-Agent: t/1\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x.test\r\n\r\nPOST /c HTTP/1.1\r\nHost: x.test\r\nContent-Length: 5\r\n\r\nhello";
    let resps = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    for split in [1, 2, 7, 50, 10_000] {
        let mut h = Http::new(LIMITS);
        feed_all(&mut h, true, reqs, split);
        feed_all(&mut h, false, resps, split);
        assert_eq!(h.transactions().len(), 3, "split {split}");
        let a = &h.transactions()[0];
        assert_eq!(a.method.as_deref(), Some("GET"));
        assert_eq!(a.uri.as_deref(), Some("/a"));
        assert_eq!(a.host.as_deref(), Some("x.test"));
        assert_eq!(a.user_agent.as_deref(), Some("t/1"));
        assert_eq!(a.status, Some(200));
        assert_eq!(a.content_type.as_deref(), Some("text/plain"));
        assert_eq!(a.request_bytes, 50);
        assert_eq!(a.response_bytes, 67);
        assert_eq!(a.response_body_bytes, 3);
        // HEAD: the Content-Length describes a body that is not sent.
        assert_eq!(h.transactions()[1].response_body_bytes, 0);
        assert_eq!(h.transactions()[1].response_bytes, 41);
        let c = &h.transactions()[2];
        assert_eq!(c.request_body_bytes, 5);
        assert_eq!(c.request_bytes, 58);
        assert_eq!(c.status, Some(201));
        assert_eq!(c.response_body_bytes, 2);
        assert_eq!(c.response_bytes, 64);
    }
}

#[test]
fn continue_then_final_response() {
    let mut h = Http::new(LIMITS);
    feed_all(
        &mut h,
        true,
        b"PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        100,
    );
    feed_all(&mut h, false, b"HTTP/1.1 100 Continue\r\n\r\n", 100);
    feed_all(&mut h, true, b"data", 100);
    feed_all(&mut h, false, b"HTTP/1.1 204 No Content\r\n\r\n", 100);
    assert_eq!(h.transactions().len(), 1);
    assert_eq!(h.transactions()[0].status, Some(204));
    assert_eq!(h.transactions()[0].response_bytes, 25 + 27);
    assert_eq!(h.transactions()[0].request_body_bytes, 4);
}

#[test]
fn connect_switches_to_tunnel() {
    let mut h = Http::new(LIMITS);
    feed_all(
        &mut h,
        true,
        b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n",
        100,
    );
    feed_all(
        &mut h,
        false,
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        100,
    );
    assert!(h.upgraded());
    assert_eq!(h.data(true, b"\x16\x03\x01"), Verdict::Handover(0));
    assert_eq!(h.transactions()[0].uri.as_deref(), Some("a.test:443"));
}

#[test]
fn gap_inside_body_keeps_sync() {
    let mut h = Http::new(LIMITS);
    feed_all(
        &mut h,
        true,
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        100,
    );
    feed_all(
        &mut h,
        false,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
        100,
    );
    h.gap(false, 5);
    feed_all(&mut h, false, b"cde", 100);
    feed_all(
        &mut h,
        false,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        100,
    );
    // 2 seen + 5 missing + 3 seen: the body is 10 bytes as framed.
    assert_eq!(h.transactions()[0].response_body_bytes, 10);
    assert_eq!(h.transactions()[0].response_bytes, 39 + 10);
    assert_eq!(h.transactions()[1].status, Some(404));
}

/// A status line that is no status line (`2XX`) is a response all the
/// same, counted as an error; junk after a response counts in its size,
/// and the reader finds the next status line.
#[test]
fn garbage_is_a_counted_error_and_resyncs() {
    let mut h = Http::new(LIMITS);
    feed_all(
        &mut h,
        true,
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        100,
    );
    let first = b"HTTP/1.1 2XX OK\r\nContent-Length: 2\r\n\r\nhi";
    feed_all(&mut h, false, first, 100);
    assert_eq!(h.counters.parse_errors, 1);
    let junk = b"junk junk\r\n";
    let second = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    feed_all(&mut h, false, &[&junk[..], &second[..]].concat(), 100);
    assert_eq!(h.counters.parse_errors, 2);
    let txs = h.transactions();
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[0].status, None);
    assert_eq!(txs[0].response_bytes, (first.len() + junk.len()) as u64);
    assert_eq!(txs[0].response_body_bytes, 2);
    assert_eq!(txs[1].status, Some(200));
    assert_eq!(txs[1].response_bytes, second.len() as u64);
}

#[test]
fn transaction_cap_counts_drops() {
    let limits = HttpLimits {
        max_transactions: 2,
        ..LIMITS
    };
    let mut h = Http::new(limits);
    for _ in 0..5 {
        feed_all(&mut h, true, b"GET / HTTP/1.1\r\n\r\n", 100);
    }
    assert_eq!(h.transactions().len(), 2);
    assert_eq!(h.counters.dropped, 3);
    assert_eq!(h.counters.transactions, 5);
}

#[test]
fn detects_message_starts() {
    assert!(starts_message(true, b"GET / HTTP/1.1"));
    assert!(starts_message(true, b"PROPFIND /x"));
    assert!(starts_message(true, b"GE"));
    assert!(!starts_message(true, b"get / HTTP/1.1"));
    assert!(!starts_message(true, b"\x16\x03\x01"));
    assert!(starts_message(false, b"HTTP/1.0 200"));
    assert!(starts_message(false, b"HTT"));
    assert!(!starts_message(false, b"SSH-2.0"));
}

/// Other line protocols' first lines look like request lines up to the
/// target: only a registered method, or a whole line ending in an HTTP
/// version, makes a stream HTTP.
#[test]
fn the_probe_takes_http_not_other_line_protocols() {
    use Probe::{NeedMore, No, Yes};
    let cases: &[(&[u8], Probe)] = &[
        (b"GET /index.html HTTP/1.1\r\nHost: a\r\n", Yes),
        (b"GET /", Yes),
        (b"GET /cgi-bin/x.pl?a=1\r\n", Yes),
        (b"PROPFIND /dav/ HTTP/1.1\r\n", Yes),
        (b"RPC_IN_DATA /rpc/rpcproxy.dll?x:6001 HTTP/1.1\r\n", Yes),
        (b"NOTIFY * HTTP/1.1\r\n", Yes),
        // Unregistered methods with an HTTP version: HTTP all the same.
        (b"NOTMETHOD / HTTP/1.1\r\n", Yes),
        (b"FOO /x HTTP/1.0\n", Yes),
        // An unregistered method and a path, no version: HTTP/0.9-style.
        (b"CCM_POST /HTTP/1.1\n", Yes),
        (b"CCM_POST /a b\n", No),
        // SMTP, FTP, POP3, IRC, RFB, SIP and RTSP.
        (b"EHLO mail.example.com\r\n", No),
        (b"USER anonymous\r\n", No),
        (b"USER bob", No),
        (b"CWD /pub\r\n", No),
        (b"RETR /pub/file.txt\r\n", No),
        (b"NICK guest\r\n", No),
        (b"RFB 003.008\n", No),
        (b"INVITE sip:bob@example.com SIP/2.0\r\n", No),
        (b"OPTIONS sip:bob@example.com SIP/2.0\r\n", No),
        (b"OPTIONS rtsp://cam.example/live RTSP/1.0\r\n", No),
        (b"DESCRIBE rtsp://cam.example/live RTSP/1.0\r\n", No),
        // Too short to tell.
        (b"GE", NeedMore),
        (b"NOTMETH", NeedMore),
        (b"get / HTTP/1.1\r\n", No),
    ];
    for (first, want) in cases {
        assert_eq!(
            probe(true, first),
            *want,
            "{:?}",
            String::from_utf8_lossy(first)
        );
    }
    assert_eq!(probe(false, b"HTTP/1.1 200 OK\r\n"), Yes);
    assert_eq!(probe(false, b"HTT"), NeedMore);
    assert_eq!(probe(false, b"220 ftp.example FTP\r\n"), No);
}

/// A header block that breaks the grammar (folded line, a line without a
/// colon) is read line by line, at any split: the request and its fields
/// kept, one error counted, the next request read. A response likewise.
#[test]
fn broken_header_blocks_are_read_line_by_line() {
    let reqs = b"GET /a HTTP/1.1\r\nHost: x.test\r\nX-F: one\r\n two\r\nNoColon\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nHost: y.test\r\n\r\n";
    let resps = b"HTTP/1.1 200 OK\r\nBad Line\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 204 No Content\r\n\r\n";
    for split in [1, 5, 10_000] {
        let mut h = Http::new(LIMITS);
        feed_all(&mut h, true, reqs, split);
        feed_all(&mut h, false, resps, split);
        assert_eq!(h.transactions().len(), 2, "split {split}");
        let a = &h.transactions()[0];
        assert_eq!(a.host.as_deref(), Some("x.test"));
        assert_eq!((a.request_bytes, a.request_body_bytes), (79, 2));
        assert_eq!(a.content_type.as_deref(), Some("text/plain"));
        assert_eq!((a.response_bytes, a.response_body_bytes), (75, 1));
        assert_eq!(h.transactions()[1].uri.as_deref(), Some("/b"));
        assert_eq!(h.transactions()[1].status, Some(204));
        assert_eq!(h.counters.parse_errors, 2, "split {split}");
    }
}

/// HTTP/0.9: a request line without a version is the whole request, and
/// its answer is every byte until the close; an HTTP/1.1 request answered
/// without a status line is read the same way.
#[test]
fn http09_answers_count_until_the_close() {
    let mut h = Http::new(LIMITS);
    feed_all(&mut h, true, b"GET /old\r\n", 3);
    feed_all(&mut h, false, &[b'z'; 500], 64);
    assert_eq!(h.transactions().len(), 1);
    assert_eq!(h.transactions()[0].version.as_deref(), Some("HTTP/0.9"));
    assert_eq!(
        (
            h.transactions()[0].request_bytes,
            h.transactions()[0].response_bytes
        ),
        (10, 500)
    );
    assert_eq!(h.transactions()[0].response_body_bytes, 500);

    let mut h = Http::new(LIMITS);
    feed_all(&mut h, true, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 100);
    feed_all(&mut h, false, b"<html>bare</html>", 4);
    assert_eq!(h.transactions()[0].response_bytes, 17);
    assert_eq!(h.transactions()[0].status, None);
    assert_eq!(h.counters.parse_errors, 0);
}

/// A chunk size that overflows 64 bits loses the body; the reader finds
/// the next request line inside the same bytes, not only at a segment's
/// start. `GET HTTP/1.1` has an empty target.
#[test]
fn resync_after_a_chunk_size_overflow() {
    let data = b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc\r\n0\r\n\r\nGET HTTP/1.1\r\nHost: s\r\n\r\n";
    for split in [1, 9, 10_000] {
        let mut h = Http::new(LIMITS);
        feed_all(&mut h, true, data, split);
        assert_eq!(h.transactions().len(), 2, "split {split}");
        assert_eq!(h.transactions()[1].method.as_deref(), Some("GET"));
        assert_eq!(h.transactions()[1].uri.as_deref(), Some(""));
        assert_eq!(h.transactions()[1].version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(h.counters.parse_errors, 1);
    }
}

/// Inside lost bytes, text that merely looks like a method is no request:
/// only a whole `METHOD target HTTP/1.x` line is.
#[test]
fn resync_needs_a_whole_request_line() {
    let mut h = Http::new(LIMITS);
    feed_all(
        &mut h,
        true,
        b"GET /a HTTP/1.1\r\nContent-Length: x\r\nContent-Length: 3\r\n\r\n",
        1000,
    );
    assert_eq!(h.transactions().len(), 1);
    feed_all(
        &mut h,
        true,
        b"abc\nTHE cat sat\nPUT /b HTTP/1.0\r\n\r\n",
        1000,
    );
    assert_eq!(h.transactions().len(), 2);
    assert_eq!(h.transactions()[1].method.as_deref(), Some("PUT"));
}

/// A gzip body decodes to its length across any split; a gap inside it
/// leaves the length unknown while the framing still counts the body.
#[test]
fn encoded_bodies_decode_and_gaps_unknow_them() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let plain: Vec<u8> = (0..4000u32)
        .flat_map(|i| format!("{i},").into_bytes())
        .collect();
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&plain).expect("gzip");
    let gz = e.finish().expect("gzip");
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    );
    let answer = [head.as_bytes(), &gz].concat();
    for split in [1, 13, 700, answer.len()] {
        let mut h = Http::new(LIMITS);
        feed_all(&mut h, true, b"GET / HTTP/1.1\r\n\r\n", 100);
        feed_all(&mut h, false, &answer, split);
        let t = &h.transactions()[0];
        assert_eq!(t.response_body_bytes, gz.len() as u64, "split {split}");
        assert_eq!(
            t.response_body_decoded_bytes,
            Some(plain.len() as u64),
            "split {split}"
        );
    }
    let mut h = Http::new(LIMITS);
    feed_all(&mut h, true, b"GET / HTTP/1.1\r\n\r\n", 100);
    let (a, b) = answer.split_at(head.len() + 20);
    feed_all(&mut h, false, a, 1000);
    h.gap(false, 10);
    feed_all(&mut h, false, b.get(10..).expect("rest"), 1000);
    let t = &h.transactions()[0];
    assert_eq!(t.response_body_bytes, gz.len() as u64);
    assert_eq!(t.response_body_decoded_bytes, None);
}

/// A target's bytes that are no UTF-8 are kept, written `%XX`; its valid
/// UTF-8 stays as it is.
#[test]
fn targets_keep_every_byte() {
    let mut h = Http::new(LIMITS);
    feed_all(
        &mut h,
        true,
        b"GET /r\xfchma/\xe2\x82\xac HTTP/1.1\r\n\r\n",
        100,
    );
    assert_eq!(
        h.transactions()[0].uri.as_deref(),
        Some("/r%FChma/\u{20ac}")
    );
    assert_eq!(head::uri_text(b"/plain", 3), "/pl");
}

/// Blanks before a status line count in the answer they begin, even with
/// an earlier answer on the connection.
#[test]
fn blanks_before_a_status_line_count_in_its_answer() {
    let mut h = Http::new(LIMITS);
    feed_all(
        &mut h,
        true,
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        100,
    );
    let first = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na";
    let second = b"\r\n \r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nbb";
    feed_all(&mut h, false, first, 100);
    feed_all(&mut h, false, second, 100);
    let txs = h.transactions();
    assert_eq!(txs[0].response_bytes, first.len() as u64);
    assert_eq!(txs[1].response_bytes, second.len() as u64);
    assert_eq!(txs[1].response_body_bytes, 2);
}
