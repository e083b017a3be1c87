//! The lenient-responses scenario: answers whose framing breaks HTTP's
//! grammar in the ways servers (and evasive ones) send and clients still
//! read. Each is read as a lenient client reads it; whatever the framing,
//! every byte the server sent counts in the response it belongs to.

use crate::conn::TcpConn;
use crate::expected::{ExpectedFlow, ExpectedHttp, Scenario};
use crate::pcap::Capture;
use crate::wire::{Link, LINKTYPE_ETHERNET};
use std::net::SocketAddr;

/// One request, its answer as sent, and what the answer must read as.
struct Case {
    path: &'static str,
    answer: Vec<u8>,
    status: Option<u16>,
    content_type: bool,
    body: usize,
}

fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: lenient.example.com\r\n\r\n").into_bytes()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Chunk sizes as clients read them: junk after the digits (`f,`, `5\0`),
/// a blank line before a size, a last size of twenty zeros.
fn lenient_chunk_sizes() -> Case {
    Case {
        path: "/chunk-sizes",
        answer: cat(&[
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"f,\r\n",
            &[b'a'; 15],
            b"\r\n\n5\x00\r\n",
            &[b'b'; 5],
            b"\r\n00000000000000000000\r\n\r\n",
        ]),
        status: Some(200),
        content_type: true,
        body: 20,
    }
}

/// `Transfer-Encoding: chunked` over a body that is not: its first size is
/// none, so the body runs to the close.
fn not_chunked_after_all() -> Case {
    Case {
        path: "/not-chunked",
        answer: cat(&[
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
            &[b'p'; 68],
        ]),
        status: Some(200),
        content_type: true,
        body: 68,
    }
}

/// A status line of another version: the status and body still read.
fn other_version() -> Case {
    Case {
        path: "/http2-line",
        answer: cat(&[
            b"HTTP/2.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n",
            &[b'v'; 12],
        ]),
        status: Some(200),
        content_type: true,
        body: 12,
    }
}

/// A status that is no number: no status, the message kept.
fn status_not_a_number() -> Case {
    Case {
        path: "/2xx",
        answer: cat(&[b"HTTP/1.1 2xx OK\r\nContent-Length: 9\r\n\r\n", &[b'n'; 9]]),
        status: None,
        content_type: false,
        body: 9,
    }
}

/// `http/1.1` in lower case.
fn lower_case_protocol() -> Case {
    Case {
        path: "/lower-case",
        answer: cat(&[
            b"http/1.1 200 ok\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\n",
            &[b'l'; 7],
        ]),
        status: Some(200),
        content_type: true,
        body: 7,
    }
}

/// A folded header whose first continuation is blanks, and a block ended
/// by a line of one space rather than an empty one.
fn blank_lines() -> Case {
    Case {
        path: "/blank-lines",
        answer: cat(&[
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding:\r\n \r\n identity\r\n",
            b"Content-Length: 10\n \n",
            &[b'e'; 10],
        ]),
        status: Some(200),
        content_type: true,
        body: 10,
    }
}

/// Two different Content-Lengths: faulty framing, read to the close.
fn conflicting_lengths() -> Case {
    Case {
        path: "/two-lengths",
        answer: cat(&[
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 40\r\nContent-Length: 20\r\n\r\n",
            &[b'c'; 40],
        ]),
        status: Some(200),
        content_type: true,
        body: 40,
    }
}

/// Junk after a body of known length: part of the response, not its body.
fn junk_after_body() -> Case {
    Case {
        path: "/junk-after",
        answer: cat(&[
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\n",
            &[b'j'; 16],
            &[b'X'; 20],
        ]),
        status: Some(200),
        content_type: true,
        body: 16,
    }
}

/// Blanks and a line end before the status line.
fn blank_before_status() -> Case {
    Case {
        path: "/blank-first",
        answer: cat(&[
            b" \r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
            &[b'f'; 5],
        ]),
        status: Some(200),
        content_type: true,
        body: 5,
    }
}

fn one_answer(cap: &mut Capture, n: u16, case: Case) -> ExpectedFlow {
    let client: SocketAddr = format!("10.0.9.{n}:{}", 49000 + n)
        .parse()
        .expect("address");
    let server: SocketAddr = format!("198.51.100.{n}:80").parse().expect("address");
    let mut conn = TcpConn::new(Link::Ethernet, client, server);
    conn.handshake(cap);
    let req = request(case.path);
    conn.client_send(cap, &req);
    conn.server_send(cap, &case.answer);
    conn.server_close(cap);
    let t = ExpectedHttp {
        method: Some("GET".into()),
        host: Some("lenient.example.com".into()),
        uri: Some(case.path.into()),
        user_agent: None,
        status: case.status,
        content_type: case.content_type.then(|| "text/plain".into()),
        request_bytes: req.len() as u64,
        response_bytes: case.answer.len() as u64,
        request_body_bytes: 0,
        response_body_bytes: case.body as u64,
        ..ExpectedHttp::default()
    };
    conn.expected(vec![t], None)
}

/// Keep-alive: the first answer's chunking breaks after one good chunk;
/// the reader finds the second answer's status line, and the bytes
/// between count in the first answer (its body is the one good chunk).
fn broken_chunk_then_next(cap: &mut Capture) -> ExpectedFlow {
    let client: SocketAddr = "10.0.9.99:49099".parse().expect("address");
    let server: SocketAddr = "198.51.100.99:80".parse().expect("address");
    let mut conn = TcpConn::new(Link::Ethernet, client, server);
    conn.handshake(cap);
    let (a, b) = (request("/broken-chunk"), request("/after"));
    conn.client_send(cap, &a);
    let first = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nzz\r\njunk\r\n";
    conn.server_send(cap, first);
    conn.client_send(cap, &b);
    let second = cat(&[
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n",
        &[b's'; 6],
    ]);
    conn.server_send(cap, &second);
    conn.close(cap);
    let tx = |path: &str, req: &[u8], resp: usize, body: usize| ExpectedHttp {
        method: Some("GET".into()),
        host: Some("lenient.example.com".into()),
        uri: Some(path.into()),
        user_agent: None,
        status: Some(200),
        content_type: Some("text/plain".into()),
        request_bytes: req.len() as u64,
        response_bytes: resp as u64,
        request_body_bytes: 0,
        response_body_bytes: body as u64,
        ..ExpectedHttp::default()
    };
    conn.expected(
        vec![
            tx("/broken-chunk", &a, first.len(), 4),
            tx("/after", &b, second.len(), 6),
        ],
        None,
    )
}

/// Every lenient answer, one connection each, and the broken chunking on
/// a kept-alive connection.
pub fn http_lenient() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let cases = [
        lenient_chunk_sizes(),
        not_chunked_after_all(),
        other_version(),
        status_not_a_number(),
        lower_case_protocol(),
        blank_lines(),
        conflicting_lengths(),
        junk_after_body(),
        blank_before_status(),
    ];
    let mut flows: Vec<ExpectedFlow> = cases
        .into_iter()
        .zip(1..)
        .map(|(case, n)| one_answer(&mut cap, n, case))
        .collect();
    flows.push(broken_chunk_then_next(&mut cap));
    Scenario {
        name: "http-lenient",
        linktype: LINKTYPE_ETHERNET,
        description: "Ten connections to port 80, each a GET answered in a way that breaks HTTP's framing, read \
                      as a lenient client reads it, every byte the server sent counted in its response: chunk \
                      sizes with junk after the digits, a blank line before one and a last size of twenty zeros \
                      (20 body bytes); Transfer-Encoding: chunked over a body that is not (68 bytes to the \
                      close); an `HTTP/2.0 200` status line (12); status `2xx` (no status, 9); `http/1.1 200 ok` \
                      (7); a fold continued by a blank line and a block ended by a line of one space (10); two \
                      different Content-Lengths (40 to the close); 20 junk bytes after a 16-byte body (response \
                      bytes, not body); ` \\r\\n` before the status line (5); and a kept-alive connection whose \
                      first chunked answer breaks after one 4-byte chunk (`zz`), the bytes up to the second \
                      answer's status line counted in the first. Eight HTTP parse errors are counted (all but \
                      the chunk sizes and the blanks before the status line).",
        pcap: cap.into_bytes(),
        flows,
    }
}
