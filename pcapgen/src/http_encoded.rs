//! The encoded-bodies scenario: bodies with a Content-Encoding, whose
//! decoded length a reader counts beside the length on the wire (as Zeek
//! logs a body's length): gzip and x-gzip, deflate with and without its
//! zlib wrapper, Content-Length or chunked, a request body; and bodies
//! that have no decoded length (an encoding not undone, broken data, a
//! HEAD answer with no body).

use crate::conn::TcpConn;
use crate::expected::{ExpectedFlow, ExpectedHttp, Scenario};
use crate::http::chunked;
use crate::pcap::Capture;
use crate::rng::SplitMix64;
use crate::wire::{Link, LINKTYPE_ETHERNET};
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::{Compression, GzBuilder};
use std::io::Write;
use std::net::SocketAddr;

/// `n` bytes of text that compresses about as web pages do (words drawn
/// at random, with a fixed seed).
fn page(n: usize) -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "flow ",
        "process ",
        "beacon ",
        "sensor ",
        "egress ",
        "<div>",
        "</div>\n",
        "host ",
        "request ",
        "response ",
        "volume ",
        "<p>",
    ];
    let mut rng = SplitMix64::new(n as u64);
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        out.extend_from_slice(w.as_bytes());
        // A number now and then, as pages carry.
        if rng.chance(200) {
            out.extend_from_slice(rng.below(100_000).to_string().as_bytes());
        }
    }
    out.truncate(n);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn gzip_named(data: &[u8]) -> Vec<u8> {
    let mut e = GzBuilder::new()
        .filename("report.html")
        .comment("generated")
        .write(Vec::new(), Compression::best());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

/// One exchange: its request and answer as sent, and what they read as.
struct Case {
    request: Vec<u8>,
    answer: Vec<u8>,
    method: &'static str,
    path: &'static str,
    status: u16,
    request_body: usize,
    response_body: usize,
    request_decoded: Option<u64>,
    response_decoded: Option<u64>,
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: encoded.example.com\r\nAccept-Encoding: gzip, deflate\r\n\r\n")
        .into_bytes()
}

/// A GET answered 200 with `body` (as sent) under `coding`, framed by
/// Content-Length or, with `chunk`, chunked.
fn answered(
    path: &'static str,
    coding: &str,
    body: &[u8],
    chunk: Option<usize>,
    decoded: Option<u64>,
) -> Case {
    let framing = match chunk {
        Some(_) => "Transfer-Encoding: chunked".to_string(),
        None => format!("Content-Length: {}", body.len()),
    };
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: {coding}\r\n{framing}\r\n\r\n"
    )
    .into_bytes();
    match chunk {
        Some(size) => {
            let chunks: Vec<&[u8]> = body.chunks(size).collect();
            answer.extend_from_slice(&chunked(&chunks, &[]));
        }
        None => answer.extend_from_slice(body),
    }
    Case {
        request: get(path),
        answer,
        method: "GET",
        path,
        status: 200,
        request_body: 0,
        response_body: body.len(),
        request_decoded: None,
        response_decoded: decoded,
    }
}

fn cases() -> Vec<Case> {
    let html = page(30_000);
    let mut cases = vec![
        answered("/gzip", "gzip", &gzip(&html), None, Some(30_000)),
        answered(
            "/gzip-chunked",
            "gzip",
            &gzip(&page(50_000)),
            Some(1000),
            Some(50_000),
        ),
        answered(
            "/deflate-zlib",
            "deflate",
            &zlib(&page(4_000)),
            None,
            Some(4_000),
        ),
        // Raw deflate where a zlib stream belongs, as some servers send it.
        answered(
            "/deflate-raw",
            "deflate",
            &raw_deflate(&page(2_500)),
            None,
            Some(2_500),
        ),
        answered(
            "/x-gzip-named",
            "x-gzip",
            &gzip_named(&page(1_000)),
            None,
            Some(1_000),
        ),
        // Brotli is not undone: no decoded length.
        answered("/brotli", "br", &page(700), None, None),
        // A gzip header, then bytes that are no deflate data.
        answered(
            "/broken-gzip",
            "gzip",
            &[&gzip(b"")[..10], &[0xff; 40][..]].concat(),
            None,
            None,
        ),
    ];
    // A gzip request body, answered plainly.
    let upload = gzip(&page(12_000));
    let mut request = format!(
        "POST /upload HTTP/1.1\r\nHost: encoded.example.com\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        upload.len()
    )
    .into_bytes();
    request.extend_from_slice(&upload);
    let answer =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok".to_vec();
    cases.push(Case {
        request,
        answer,
        method: "POST",
        path: "/upload",
        status: 200,
        request_body: upload.len(),
        response_body: 2,
        request_decoded: Some(12_000),
        response_decoded: None,
    });
    // HEAD: the headers say gzip and a length, but no body follows.
    let head = b"HEAD /gzip HTTP/1.1\r\nHost: encoded.example.com\r\n\r\n".to_vec();
    let answer =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: 512\r\n\r\n"
            .to_vec();
    cases.push(Case {
        request: head,
        answer,
        method: "HEAD",
        path: "/gzip",
        status: 200,
        request_body: 0,
        response_body: 0,
        request_decoded: None,
        response_decoded: None,
    });
    cases
}

fn exchange(cap: &mut Capture, n: u16, case: Case) -> ExpectedFlow {
    let client: SocketAddr = format!("10.0.10.{n}:{}", 49100 + n)
        .parse()
        .expect("address");
    let server: SocketAddr = format!("198.51.100.{}:80", 100 + n)
        .parse()
        .expect("address");
    let mut conn = TcpConn::new(Link::Ethernet, client, server);
    conn.handshake(cap);
    conn.client_send(cap, &case.request);
    conn.server_send(cap, &case.answer);
    conn.close(cap);
    let t = ExpectedHttp {
        method: Some(case.method.into()),
        host: Some("encoded.example.com".into()),
        uri: Some(case.path.into()),
        user_agent: None,
        status: Some(case.status),
        content_type: Some("text/plain".into()),
        request_bytes: case.request.len() as u64,
        response_bytes: case.answer.len() as u64,
        request_body_bytes: case.request_body as u64,
        response_body_bytes: case.response_body as u64,
        request_body_decoded_bytes: case.request_decoded,
        response_body_decoded_bytes: case.response_decoded,
    };
    conn.expected(vec![t], None)
}

/// Every encoded body, one connection each.
pub fn http_encoded() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let flows = cases()
        .into_iter()
        .zip(1..)
        .map(|(case, n)| exchange(&mut cap, n, case))
        .collect();
    Scenario {
        name: "http-encoded",
        linktype: LINKTYPE_ETHERNET,
        description: "Nine connections to port 80, each one exchange with a Content-Encoding, whose decoded \
                      length is counted beside the length on the wire: a gzip page (30,000 bytes decoded) by \
                      Content-Length; a gzip page (50,000) in chunks of 1,000; deflate in its zlib wrapper \
                      (4,000); raw deflate where the zlib stream belongs (2,500); x-gzip with a file name and a \
                      comment in its header (1,000); a POST whose gzip body decodes to 12,000, answered \
                      plainly. No decoded length: a brotli body (not undone), a gzip header followed by bytes \
                      that are no deflate data, and a HEAD answer that names gzip and a length but has no body.",
        pcap: cap.into_bytes(),
        flows,
    }
}
