//! The malformed-HTTP scenario: messages that break the grammar but that
//! servers and clients still exchange. Each is read as a lenient server
//! reads it, with the error counted, so its bytes still count.

use crate::conn::TcpConn;
use crate::expected::{ExpectedFlow, ExpectedHttp, Scenario};
use crate::pcap::Capture;
use crate::wire::{Link, LINKTYPE_ETHERNET};
use std::net::SocketAddr;

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address literal")
}

fn tx(method: Option<&str>, uri: Option<&str>, request_bytes: usize) -> ExpectedHttp {
    ExpectedHttp {
        method: method.map(str::to_string),
        host: None,
        uri: uri.map(str::to_string),
        user_agent: None,
        status: None,
        content_type: None,
        request_bytes: request_bytes as u64,
        response_bytes: 0,
        request_body_bytes: 0,
        response_body_bytes: 0,
        ..ExpectedHttp::default()
    }
}

/// A response with `body` bytes of `text/plain` behind a Content-Length.
fn ok(body: usize) -> Vec<u8> {
    let mut r =
        format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body}\r\n\r\n")
            .into_bytes();
    r.extend_from_slice(&vec![b'o'; body]);
    r
}

fn answered(mut t: ExpectedHttp, resp: &[u8], body: usize) -> ExpectedHttp {
    t.status = Some(200);
    t.content_type = Some("text/plain".into());
    t.response_bytes = resp.len() as u64;
    t.response_body_bytes = body as u64;
    t
}

/// A folded header line and a line without a colon in a POST's header
/// block; the next request on the connection is well formed.
fn broken_header_block(cap: &mut Capture) -> ExpectedFlow {
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.8.1:48001"), sa("203.0.113.81:80"));
    conn.handshake(cap);
    let first = b"POST /submit HTTP/1.1\r\nHost: fold.example.com\r\nX-Long: part one\r\n  part two\r\nNoColonHere\r\nContent-Length: 5\r\n\r\nhello";
    let second = b"GET /next HTTP/1.1\r\nHost: fold.example.com\r\n\r\n";
    conn.client_send(cap, first);
    let r1 = ok(10);
    conn.server_send(cap, &r1);
    conn.client_send(cap, second);
    let r2 = ok(20);
    conn.server_send(cap, &r2);
    conn.close(cap);
    let mut a = answered(tx(Some("POST"), Some("/submit"), first.len()), &r1, 10);
    a.host = Some("fold.example.com".into());
    a.request_body_bytes = 5;
    let mut b = answered(tx(Some("GET"), Some("/next"), second.len()), &r2, 20);
    b.host = Some("fold.example.com".into());
    conn.expected(vec![a, b], None)
}

/// An HTTP/0.9 request (no version, no headers) answered with bare bytes
/// until the close.
fn http09(cap: &mut Capture) -> ExpectedFlow {
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.8.2:48002"), sa("203.0.113.82:80"));
    conn.handshake(cap);
    let req = b"GET /old.html\r\n";
    conn.client_send(cap, req);
    let body = vec![b'z'; 300];
    conn.server_send(cap, &body);
    conn.server_close(cap);
    let mut t = tx(Some("GET"), Some("/old.html"), req.len());
    t.response_bytes = 300;
    t.response_body_bytes = 300;
    conn.expected(vec![t], None)
}

/// An HTTP/1.1 request answered in HTTP/0.9 style: no status line.
fn bare_answer(cap: &mut Capture) -> ExpectedFlow {
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.8.3:48003"), sa("203.0.113.83:80"));
    conn.handshake(cap);
    let req = b"GET /bare HTTP/1.1\r\nHost: bare.example.com\r\n\r\n";
    conn.client_send(cap, req);
    conn.server_send(cap, &[b'b'; 200]);
    conn.server_close(cap);
    let mut t = tx(Some("GET"), Some("/bare"), req.len());
    t.host = Some("bare.example.com".into());
    t.response_bytes = 200;
    t.response_body_bytes = 200;
    conn.expected(vec![t], None)
}

/// A chunk size of 2^64 (no size at all), then a second request in the
/// same segment: the reader loses the first body and finds the request.
fn chunk_overflow(cap: &mut Capture) -> ExpectedFlow {
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.8.4:48004"), sa("203.0.113.84:80"));
    conn.handshake(cap);
    let head =
        b"POST /upload HTTP/1.1\r\nHost: chunk.example.com\r\nTransfer-Encoding: chunked\r\n\r\n";
    let bad = b"10000000000000000\r\nxxxx\r\n0\r\n\r\n";
    let smuggled = b"GET /smuggled HTTP/1.1\r\nHost: chunk.example.com\r\n\r\n";
    conn.client_send(cap, &[&head[..], &bad[..], &smuggled[..]].concat());
    let (r1, r2) = (ok(4), ok(8));
    conn.server_send(cap, &[r1.clone(), r2.clone()].concat());
    conn.close(cap);
    // The lost bytes were still sent in the POST: they count in its size.
    let mut a = answered(
        tx(Some("POST"), Some("/upload"), head.len() + bad.len()),
        &r1,
        4,
    );
    a.host = Some("chunk.example.com".into());
    let mut b = answered(tx(Some("GET"), Some("/smuggled"), smuggled.len()), &r2, 8);
    b.host = Some("chunk.example.com".into());
    conn.expected(vec![a, b], None)
}

/// A Content-Length of 2^64 - 1, then a second request in the same
/// segment: no body is that long, so the POST has none and the GET is
/// found.
fn length_overflow(cap: &mut Capture) -> ExpectedFlow {
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.8.7:48007"), sa("203.0.113.87:80"));
    conn.handshake(cap);
    let post = b"POST /upload HTTP/1.1\r\nHost: length.example.com\r\nContent-Length: 18446744073709551615\r\n\r\n";
    let smuggled = b"GET /smuggled-length HTTP/1.1\r\nHost: length.example.com\r\n\r\n";
    conn.client_send(cap, &[&post[..], &smuggled[..]].concat());
    let (r1, r2) = (ok(3), ok(5));
    conn.server_send(cap, &[r1.clone(), r2.clone()].concat());
    conn.close(cap);
    let mut a = answered(tx(Some("POST"), Some("/upload"), post.len()), &r1, 3);
    a.host = Some("length.example.com".into());
    let mut b = answered(
        tx(Some("GET"), Some("/smuggled-length"), smuggled.len()),
        &r2,
        5,
    );
    b.host = Some("length.example.com".into());
    conn.expected(vec![a, b], None)
}

/// `GET HTTP/1.1`: no target between method and version.
fn no_target(cap: &mut Capture) -> ExpectedFlow {
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.8.5:48005"), sa("203.0.113.85:80"));
    conn.handshake(cap);
    let req = b"GET HTTP/1.1\r\nHost: empty.example.com\r\n\r\n";
    conn.client_send(cap, req);
    let r = ok(30);
    conn.server_send(cap, &r);
    conn.close(cap);
    let mut t = answered(tx(Some("GET"), Some(""), req.len()), &r, 30);
    t.host = Some("empty.example.com".into());
    conn.expected(vec![t], None)
}

/// `CCM_POST /HTTP/1.1`: an unregistered method and a path, no version,
/// with a header line in the same segment; the server answers with a
/// status line.
fn unregistered_without_version(cap: &mut Capture) -> ExpectedFlow {
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.8.6:48006"), sa("203.0.113.86:80"));
    conn.handshake(cap);
    let req = b"CCM_POST /HTTP/1.1\nHost: ccm.example.com\n\n";
    conn.client_send(cap, req);
    let r = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nbad request";
    conn.server_send(cap, r);
    conn.close(cap);
    let mut t = tx(Some("CCM_POST"), Some("/HTTP/1.1"), req.len());
    t.host = Some("ccm.example.com".into());
    t.status = Some(400);
    t.content_type = Some("text/plain".into());
    t.response_bytes = r.len() as u64;
    t.response_body_bytes = 11;
    conn.expected(vec![t], None)
}

/// Every malformed case, one connection each.
pub fn http_malformed() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let flows = vec![
        broken_header_block(&mut cap),
        http09(&mut cap),
        bare_answer(&mut cap),
        chunk_overflow(&mut cap),
        no_target(&mut cap),
        unregistered_without_version(&mut cap),
        length_overflow(&mut cap),
    ];
    Scenario {
        name: "http-malformed",
        linktype: LINKTYPE_ETHERNET,
        description: "Seven connections to port 80, each a message that breaks HTTP's grammar: a POST whose header \
                      block has a folded line and a line without a colon (kept, with its Host and 5-byte body; \
                      the next GET on the connection is read too); an HTTP/0.9 request `GET /old.html` answered \
                      with 300 bare bytes until the server closes; an HTTP/1.1 GET answered with 200 bare bytes \
                      (no status line); a chunked POST whose chunk size is 2^64 followed in the same segment by \
                      `GET /smuggled` (the POST's body is lost, the GET found; both answered 200); and \
                      `GET HTTP/1.1` with no target (an empty URI); and `CCM_POST /HTTP/1.1` (an unregistered \
                      method, no version) with a Host line in the same segment, answered 400 with a status line; \
                      and a POST whose Content-Length is 2^64 - 1 followed in the same segment by `GET \
                      /smuggled-length` (no body is that long: the POST has none, the GET is found; both answered \
                      200). Three HTTP parse errors are counted: the header block read line by line, the chunk \
                      size and the length.",
        pcap: cap.into_bytes(),
        flows,
    }
}
