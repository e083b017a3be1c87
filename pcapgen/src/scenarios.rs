//! The scenario captures and their expected flows.
//!
//! Every scenario is its own pcap. Clients are in 10.0.0.0/8 or fd00::/8,
//! servers at documentation addresses (203.0.113.0/24, 198.51.100.0/24,
//! 2001:db8::/32). Time starts at 1 700 000 000 s and advances 1 ms per
//! packet. See [`crate::conn`] for the TCP model (ACK policy included).

use crate::conn::{Dir, SegOp, TcpConn, UdpFlow};
use crate::dns;
use crate::expected::{ExpectedFlow, ExpectedHttp, ExpectedTls, Scenario};
use crate::http::{text_body, transaction, HttpRequest, HttpResponse, USER_AGENT};
use crate::pcap::Capture;
use crate::rng::SplitMix64;
use crate::tls::{self, ClientHelloSpec, GREASE, TLS12, TLS13};
use crate::wire::{
    internet_checksum, ipv4_fragment_frame, tcp_frame, transport_checksum, udp_frame, IpOpts, Link,
    LinkCtx, TcpSeg, ETHERTYPE_ARP, IPPROTO_TCP, IPPROTO_UDP, LINKTYPE_ETHERNET, TCP_ACK, TCP_PSH,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("valid socket address literal")
}

/// Sends a request, then its response, on an open connection.
fn exchange(
    cap: &mut Capture,
    conn: &mut TcpConn,
    req: &HttpRequest,
    resp: &HttpResponse,
) -> ExpectedHttp {
    conn.client_send(cap, &req.bytes());
    conn.server_send(cap, &resp.bytes());
    transaction(req, resp)
}

/// Handshake, one GET with a `len`-byte text/html response, close.
pub(crate) fn simple_http(
    cap: &mut Capture,
    link: Link,
    client: &str,
    server: &str,
    host: &str,
    uri: &str,
    len: usize,
) -> ExpectedFlow {
    let mut conn = TcpConn::new(link, sa(client), sa(server));
    conn.handshake(cap);
    let req = HttpRequest::get(host, uri);
    let resp = HttpResponse::ok("text/html", len, len as u64);
    let t = exchange(cap, &mut conn, &req, &resp);
    conn.close(cap);
    conn.expected(vec![t], None)
}

/// One GET as [`simple_http`] writes it, in Ethernet frames, each
/// rewritten into `cap` by `wrap` (given the frame, whether the client sent
/// it, and its number from 0), which also says how many of the new frame's
/// bytes its flow counts: the expected flow with those bytes each way.
/// Tunnels, link shims and other link types start from plain Ethernet so.
pub(crate) fn rewritten_http(
    cap: &mut Capture,
    (client, server, host, uri, len): (&str, &str, &str, &str, usize),
    mut wrap: impl FnMut(&[u8], bool, u32) -> (Vec<u8>, usize),
) -> ExpectedFlow {
    let mut plain = Capture::new(LINKTYPE_ETHERNET);
    let mut want = simple_http(&mut plain, Link::Ethernet, client, server, host, uri, len);
    let (mut out, mut inn) = (0, 0);
    for (seq, r) in crate::pcap::records(&plain.into_bytes()).enumerate() {
        let to_server = r.data[6..12] == crate::wire::CLIENT_MAC;
        let (frame, counted) = wrap(r.data, to_server, seq as u32);
        if to_server {
            out += counted as u64;
        } else {
            inn += counted as u64;
        }
        cap.emit(&frame);
    }
    want.client_bytes = out;
    want.server_bytes = inn;
    want
}

/// Every scenario, in a fixed order.
pub fn scenarios() -> Vec<Scenario> {
    let mut all = vec![
        http_keepalive(),
        http_pipelined(),
        http_chunked(),
        http_special(),
        tcp_retransmit(),
        tcp_out_of_order(),
        tcp_gap(),
        tls_split(),
        ipv6_vlan(),
        link_single(
            "link-sll",
            Link::Sll,
            "Linux cooked capture v1 (linktype 113): one HTTP GET 10.0.0.30:50100 -> 203.0.113.100:80 \
             (handshake, GET /sll, 200 text/html Content-Length 1200, close). Client->server frames have \
             packet type 4 (outgoing), server->client 0.",
        ),
        link_single(
            "link-sll2",
            Link::Sll2 { ifindex: 2 },
            "Linux cooked capture v2 (linktype 276, interface index 2): one HTTP GET 10.0.0.30:50100 -> \
             203.0.113.100:80 (handshake, GET /sll2, 200 text/html Content-Length 1200, close).",
        ),
        link_single(
            "link-raw",
            Link::Raw,
            "Raw IP (linktype 101): one HTTP GET 10.0.0.30:50100 -> 203.0.113.100:80 (handshake, GET /raw, \
             200 text/html Content-Length 1200, close).",
        ),
        link_null(),
        link_single(
            "link-ppp",
            Link::Ppp,
            "PPP (linktype 9, address and control bytes FF 03, then protocol 0x0021): one HTTP GET \
             10.0.0.30:50100 -> 203.0.113.100:80 (handshake, GET /ppp, 200 text/html Content-Length 1200, \
             close).",
        ),
        udp_dns(),
        udp_answers_first(),
        tcp_dns(),
        ipv4_fragments(),
        midstream(),
        snaplen(),
        snaplen_headers(),
        snaplen_udp(),
        bad_ip(),
        tcp_fastopen(),
        http_tunnels(),
        http_bad_request(),
        crate::http_malformed::http_malformed(),
        crate::http_lenient::http_lenient(),
        crate::http_encoded::http_encoded(),
        crate::encap::encapsulations(),
        crate::fragments::ip_fragments(),
        crate::quic::quic(),
        crate::dtls::dtls(),
        crate::icmp::icmp(),
        crate::line_protocols::line_protocols(),
        crate::shims::link_shims(),
        crate::tls_drafts::tls_drafts(),
    ];
    all.extend(crate::links::scenarios());
    all
}

/// A request line no reader takes, answered `400`: the exchange is read
/// from the server's side.
fn http_bad_request() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut conn = TcpConn::new(
        Link::Ethernet,
        sa("10.0.0.40:50400"),
        sa("203.0.113.140:80"),
    );
    conn.handshake(&mut cap);
    let garbage = b"\x01\x02BLAH\r\n\r\n";
    conn.client_send(&mut cap, garbage);
    let resp = HttpResponse::new(
        "HTTP/1.0",
        400,
        "Bad Request",
        &[("Content-Type", "text/html"), ("Content-Length", "50")],
        vec![b'x'; 50],
    );
    let bytes = resp.bytes();
    conn.server_send(&mut cap, &bytes);
    conn.close(&mut cap);
    let http = vec![ExpectedHttp {
        method: None,
        host: None,
        uri: None,
        user_agent: None,
        status: Some(400),
        content_type: Some("text/html".into()),
        request_bytes: 0,
        response_bytes: bytes.len() as u64,
        request_body_bytes: 0,
        response_body_bytes: 50,
        ..ExpectedHttp::default()
    }];
    Scenario {
        name: "http-bad-request",
        linktype: LINKTYPE_ETHERNET,
        description: "10.0.0.40:50400 -> 203.0.113.140:80: the client sends 10 bytes no HTTP request starts \
                      with (\\x01\\x02BLAH and a blank line), the server answers HTTP/1.0 400 Bad Request \
                      (text/html, Content-Length 50), close. The transaction is read from the server's side: \
                      status 400 and its response bytes, no request.",
        pcap: cap.into_bytes(),
        flows: vec![conn.expected(http, None)],
    }
}

fn http_keepalive() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.0.10:49152"), sa("203.0.113.10:80"))
        .with_isns(0x1000_0000, 0xffff_f800);
    conn.handshake(&mut cap);
    let host = "www.example.com";
    let items = [
        ("/index.html", "text/html; charset=utf-8", 1000),
        ("/static/app.js", "application/javascript", 5000),
        ("/api/ping", "application/json", 10),
    ];
    let mut http = Vec::new();
    for (i, (uri, ctype, len)) in items.into_iter().enumerate() {
        let req = HttpRequest::get(host, uri);
        let resp = HttpResponse::ok(ctype, len, 100 + i as u64);
        http.push(exchange(&mut cap, &mut conn, &req, &resp));
    }
    conn.close(&mut cap);
    Scenario {
        name: "http-keepalive",
        linktype: LINKTYPE_ETHERNET,
        description: "One keep-alive connection 10.0.0.10:49152 -> 203.0.113.10:80 (Host www.example.com): \
                      GET /index.html -> 200 text/html; charset=utf-8 Content-Length 1000; GET /static/app.js -> \
                      200 application/javascript Content-Length 5000 (4 segments); GET /api/ping -> 200 \
                      application/json Content-Length 10; client close. Server ISN 0xfffff800, so the server's \
                      sequence numbers wrap past 2^32 during the second response.",
        pcap: cap.into_bytes(),
        flows: vec![conn.expected(http, None)],
    }
}

fn http_pipelined() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.0.11:49200"), sa("203.0.113.20:80"));
    conn.handshake(&mut cap);
    let host = "pipeline.example.com";
    let reqs: Vec<HttpRequest> = ["/a", "/b", "/c"]
        .iter()
        .map(|u| HttpRequest::get(host, u))
        .collect();
    let resps: Vec<HttpResponse> = [100usize, 200, 300]
        .iter()
        .map(|&n| HttpResponse::ok("text/plain", n, n as u64))
        .collect();
    let all_reqs: Vec<u8> = reqs.iter().flat_map(HttpRequest::bytes).collect();
    let all_resps: Vec<u8> = resps.iter().flat_map(HttpResponse::bytes).collect();
    assert!(all_reqs.len() <= conn.mss() && all_resps.len() <= conn.mss());
    conn.client_send(&mut cap, &all_reqs);
    conn.server_send(&mut cap, &all_resps);
    conn.close(&mut cap);
    let http = reqs
        .iter()
        .zip(&resps)
        .map(|(q, r)| transaction(q, r))
        .collect();
    Scenario {
        name: "http-pipelined",
        linktype: LINKTYPE_ETHERNET,
        description: "10.0.0.11:49200 -> 203.0.113.20:80 (Host pipeline.example.com): GET /a, /b, /c sent in ONE \
                      TCP segment; the three responses (200 text/plain, Content-Length 100, 200, 300) sent \
                      back-to-back in ONE segment.",
        pcap: cap.into_bytes(),
        flows: vec![conn.expected(http, None)],
    }
}

fn http_chunked() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut conn = TcpConn::new(
        Link::Ethernet,
        sa("10.0.0.12:49300"),
        sa("198.51.100.30:80"),
    );
    conn.handshake(&mut cap);
    let host = "upload.example.com";
    let (c1, c2, c3) = (text_body(300, 1), text_body(500, 2), text_body(200, 3));
    let req = HttpRequest::chunked(
        "POST",
        "/upload",
        &[
            ("Host", host),
            ("User-Agent", USER_AGENT),
            ("Content-Type", "application/octet-stream"),
            ("Transfer-Encoding", "chunked"),
        ],
        &[&c1, &c2, &c3],
        &[],
    );
    // Request head and chunked body in two segments.
    conn.send_chunks(&mut cap, Dir::ToServer, &[&req.head, &req.body]);

    let (r1, r2, r3) = (text_body(1000, 4), text_body(2000, 5), text_body(700, 6));
    let resp = HttpResponse::chunked(
        200,
        "OK",
        &[
            ("Server", "pcapgen-httpd"),
            ("Content-Type", "text/csv"),
            ("Transfer-Encoding", "chunked"),
            ("Trailer", "X-Checksum"),
        ],
        &[&r1, &r2, &r3],
        &[("X-Checksum", "5f3a9c")],
    );
    let h = resp.head.len();
    let b = &resp.body;
    // Body layout: "3e8\r\n" data(1000) "\r\n" | "7d0\r\n" at 1007 | data 1012..3012 "\r\n" |
    // "2bc\r\n" at 3014 | data 3019..3719 "\r\n" | "0\r\n" at 3721 | trailer at 3724 | "\r\n".
    assert_eq!(&b[1007..1012], b"7d0\r\n");
    assert_eq!(&b[3014..3019], b"2bc\r\n");
    assert_eq!(&b[3724..3734], b"X-Checksum");
    let all = resp.bytes();
    // Cuts: inside chunk 1 data; inside the "7d0" size line (after "7"); inside
    // chunk 2 data; between "\r" and "\n" of the "2bc" line; inside the trailer.
    let cuts = [
        0,
        h + 600,
        h + 1008,
        h + 2400,
        h + 3018,
        h + 3730,
        all.len(),
    ];
    let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &all[w[0]..w[1]]).collect();
    assert!(pieces.iter().all(|p| p.len() <= conn.mss()));
    conn.send_chunks(&mut cap, Dir::ToClient, &pieces);
    conn.close(&mut cap);
    Scenario {
        name: "http-chunked",
        linktype: LINKTYPE_ETHERNET,
        description: "10.0.0.12:49300 -> 198.51.100.30:80: POST /upload (Host upload.example.com) with a chunked \
                      body of 3 chunks (300, 500, 200 bytes; head and body in two segments); response 200 text/csv \
                      chunked: chunks of 1000, 2000, 700 bytes, then '0' and trailer 'X-Checksum: 5f3a9c' \
                      (announced by 'Trailer:'), sent in 6 segments cut inside chunk 1 data, inside the '7d0' size \
                      line, inside chunk 2 data, between CR and LF of the '2bc' size line, and inside the trailer.",
        pcap: cap.into_bytes(),
        flows: vec![conn.expected(vec![transaction(&req, &resp)], None)],
    }
}

fn http_special() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let host = "special.example.com";
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.0.13:49400"), sa("203.0.113.40:80"));
    conn.handshake(&mut cap);
    let mut http = Vec::new();

    let head = HttpRequest::new(
        "HEAD",
        "/download/big.zip",
        "HTTP/1.1",
        &[("Host", host), ("User-Agent", USER_AGENT)],
        Vec::new(),
    );
    let head_resp = HttpResponse::new(
        "HTTP/1.1",
        200,
        "OK",
        &[
            ("Content-Type", "application/zip"),
            ("Content-Length", "5000"),
        ],
        Vec::new(),
    );
    http.push(exchange(&mut cap, &mut conn, &head, &head_resp));

    let empty = HttpRequest::get(host, "/empty");
    let no_content = HttpResponse::new(
        "HTTP/1.1",
        204,
        "No Content",
        &[("Server", "pcapgen-httpd")],
        Vec::new(),
    );
    http.push(exchange(&mut cap, &mut conn, &empty, &no_content));

    let cached = HttpRequest::new(
        "GET",
        "/cached.css",
        "HTTP/1.1",
        &[
            ("Host", host),
            ("User-Agent", USER_AGENT),
            ("If-None-Match", "\"v1\""),
        ],
        Vec::new(),
    );
    let not_modified = HttpResponse::new(
        "HTTP/1.1",
        304,
        "Not Modified",
        &[("ETag", "\"v1\""), ("Cache-Control", "max-age=60")],
        Vec::new(),
    );
    http.push(exchange(&mut cap, &mut conn, &cached, &not_modified));

    let body = text_body(2000, 40);
    let post = HttpRequest::new(
        "POST",
        "/submit",
        "HTTP/1.1",
        &[
            ("Host", host),
            ("User-Agent", USER_AGENT),
            ("Content-Type", "application/json"),
            ("Content-Length", "2000"),
            ("Expect", "100-continue"),
        ],
        body,
    );
    let continue_line = b"HTTP/1.1 100 Continue\r\n\r\n";
    let post_resp = HttpResponse::ok("text/plain", 50, 41).with_interim(continue_line);
    conn.client_send(&mut cap, &post.head);
    conn.server_send(&mut cap, &post_resp.interim);
    conn.client_send(&mut cap, &post.body);
    conn.server_send(&mut cap, &post_resp.bytes());
    http.push(transaction(&post, &post_resp));
    conn.close(&mut cap);

    let mut old = TcpConn::new(Link::Ethernet, sa("10.0.0.13:49401"), sa("203.0.113.41:80"));
    old.handshake(&mut cap);
    let req10 = HttpRequest::new(
        "GET",
        "/legacy.html",
        "HTTP/1.0",
        &[("Host", "old.example.com"), ("User-Agent", USER_AGENT)],
        Vec::new(),
    );
    let resp10 = HttpResponse::new(
        "HTTP/1.0",
        200,
        "OK",
        &[("Server", "pcapgen-httpd"), ("Content-Type", "text/html")],
        text_body(3000, 42),
    );
    let t10 = exchange(&mut cap, &mut old, &req10, &resp10);
    old.server_close(&mut cap);

    Scenario {
        name: "http-special",
        linktype: LINKTYPE_ETHERNET,
        description: "Connection 1, 10.0.0.13:49400 -> 203.0.113.40:80 (Host special.example.com): HEAD \
                      /download/big.zip -> 200 application/zip with Content-Length: 5000 and no body; GET /empty -> \
                      204 (no body, no Content-Type); GET /cached.css -> 304 (no body); POST /submit with Expect: \
                      100-continue and Content-Length 2000: headers, then 'HTTP/1.1 100 Continue' (25 bytes, \
                      counted in response_bytes), then the 2000-byte body (2 segments), then 200 text/plain \
                      Content-Length 50; client close. Connection 2, 10.0.0.13:49401 -> 203.0.113.41:80: HTTP/1.0 \
                      GET /legacy.html (Host old.example.com) -> HTTP/1.0 200 text/html with a 3000-byte body \
                      delimited by the connection close (no Content-Length, no chunking); the server sends FIN \
                      first.",
        pcap: cap.into_bytes(),
        flows: vec![conn.expected(http, None), old.expected(vec![t10], None)],
    }
}

/// A GET whose 5104-byte response (Content-Length 5000) is 4 segments, sent
/// following `plan`.
fn four_segments(client: &str, server: &str, plan: &[SegOp]) -> (Vec<u8>, ExpectedFlow) {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut conn = TcpConn::new(Link::Ethernet, sa(client), sa(server));
    conn.handshake(&mut cap);
    let req = HttpRequest::get("files.example.com", "/data.bin");
    let resp = HttpResponse::ok("application/octet-stream", 5000, 50);
    conn.client_send(&mut cap, &req.bytes());
    let data = resp.bytes();
    assert_eq!(conn.segment_bounds(data.len()).len(), 4);
    conn.send_planned(&mut cap, Dir::ToClient, &data, plan);
    conn.close(&mut cap);
    (
        cap.into_bytes(),
        conn.expected(vec![transaction(&req, &resp)], None),
    )
}

fn tcp_retransmit() -> Scenario {
    let plan = [
        SegOp::Emit(0),
        SegOp::Emit(1),
        SegOp::Retransmit(1),
        SegOp::Emit(2),
        SegOp::Range {
            start: 2190,
            len: 1460,
        },
        SegOp::Emit(3),
    ];
    let (pcap, flow) = four_segments("10.0.0.14:49500", "203.0.113.50:80", &plan);
    Scenario {
        name: "tcp-retransmit",
        linktype: LINKTYPE_ETHERNET,
        description: "10.0.0.14:49500 -> 203.0.113.50:80: GET /data.bin (Host files.example.com) -> 200 \
                      application/octet-stream Content-Length 5000; the 5104-byte response is 4 segments \
                      (bytes 0-1460, 1460-2920, 2920-4380, 4380-5104) emitted as: 1, 2, 2 again (exact \
                      retransmission), 3, then a 1460-byte retransmission of bytes 2190-3650 (middle of segment 2 \
                      to middle of segment 3), then 4. Unique payload counts each byte once.",
        pcap,
        flows: vec![flow],
    }
}

fn tcp_out_of_order() -> Scenario {
    let plan = [
        SegOp::Emit(0),
        SegOp::Emit(2),
        SegOp::Emit(1),
        SegOp::Emit(3),
    ];
    let (pcap, flow) = four_segments("10.0.0.15:49550", "203.0.113.51:80", &plan);
    Scenario {
        name: "tcp-out-of-order",
        linktype: LINKTYPE_ETHERNET,
        description: "10.0.0.15:49550 -> 203.0.113.51:80: GET /data.bin -> 200 application/octet-stream \
                      Content-Length 5000; the 4 response segments (1460, 1460, 1460, 724 bytes) are emitted in \
                      order 1, 3, 2, 4, then the client ACKs everything.",
        pcap,
        flows: vec![flow],
    }
}

fn tcp_gap() -> Scenario {
    let plan = [
        SegOp::Emit(0),
        SegOp::Drop(1),
        SegOp::Emit(2),
        SegOp::Emit(3),
    ];
    let (pcap, flow) = four_segments("10.0.0.16:49580", "203.0.113.52:80", &plan);
    Scenario {
        name: "tcp-gap",
        linktype: LINKTYPE_ETHERNET,
        description: "10.0.0.16:49580 -> 203.0.113.52:80: GET /data.bin -> 200 application/octet-stream \
                      Content-Length 5000; of the 4 response segments (1460, 1460, 1460, 724 bytes) segment 2 \
                      (bytes 1460-2920) is never in the capture, and the client's ACK acknowledges past it. \
                      missed_bytes = 1460; payload_in excludes it; the transaction's response_bytes are the full \
                      5104 bytes as sent (status 200).",
        pcap,
        flows: vec![flow],
    }
}

/// Where the 32-byte legacy session id sits in a ClientHello record.
fn client_hello_session_id(ch: &[u8]) -> &[u8] {
    let at = 5 + 4 + 2 + 32;
    let len = ch[at] as usize;
    &ch[at + 1..at + 1 + len]
}

fn tls_split() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);

    // Connection 1: TLS 1.3 style.
    let mut c13 = TcpConn::new(
        Link::Ethernet,
        sa("10.0.0.17:49600"),
        sa("203.0.113.60:443"),
    );
    c13.handshake(&mut cap);
    let spec = ClientHelloSpec {
        legacy_version: TLS12,
        sni: Some("upload.example.net".to_string()),
        alpn: vec!["h2".to_string(), "http/1.1".to_string()],
        supported_versions: vec![GREASE, TLS13, TLS12],
        seed: 11,
    };
    let ch = tls::client_hello(&spec);
    c13.send_chunks(&mut cap, Dir::ToServer, &[&ch[..100], &ch[100..]]);
    let sh = tls::record(
        tls::CT_HANDSHAKE,
        TLS12,
        &tls::server_hello(0x1301, Some(TLS13), client_hello_session_id(&ch), 12),
    );
    let ccs = tls::change_cipher_spec();
    let (mut out13, mut in13) = (0u64, 0u64);
    // Encrypted EncryptedExtensions..Finished, as one application_data record.
    let enc_hs = tls::app_data(2100, 13);
    in13 += 2100;
    let flight = [&sh[40..], &ccs[..], &enc_hs[..]].concat();
    c13.send_chunks(&mut cap, Dir::ToClient, &[&sh[..40], &flight]);
    // Client CCS + encrypted Finished in one segment.
    let fin = [ccs.clone(), tls::app_data(53, 14)].concat();
    out13 += 53;
    c13.client_send(&mut cap, &fin);
    // Three request records in one segment.
    let reqs = [
        tls::app_data(200, 15),
        tls::app_data(150, 16),
        tls::app_data(90, 17),
    ]
    .concat();
    out13 += 200 + 150 + 90;
    c13.client_send(&mut cap, &reqs);
    // Response records of 3000 and 500 bytes; the second record's 5-byte
    // header is split 2 + 3 across segments.
    let resp = [tls::app_data(3000, 18), tls::app_data(500, 19)].concat();
    in13 += 3000 + 500;
    c13.send_chunks(
        &mut cap,
        Dir::ToClient,
        &[
            &resp[..1460],
            &resp[1460..2920],
            &resp[2920..3007],
            &resp[3007..],
        ],
    );
    c13.close(&mut cap);
    let tls13 = ExpectedTls {
        sni: Some("upload.example.net".to_string()),
        alpn: vec!["h2".to_string(), "http/1.1".to_string()],
        client_versions: vec!["TLS 1.3".to_string(), "TLS 1.2".to_string()],
        version: Some("TLS 1.3".to_string()),
        app_bytes_out: out13,
        app_bytes_in: in13,
    };

    // Connection 2: TLS 1.2 without supported_versions.
    let mut c12 = TcpConn::new(
        Link::Ethernet,
        sa("10.0.0.17:49601"),
        sa("198.51.100.61:8443"),
    );
    c12.handshake(&mut cap);
    let spec12 = ClientHelloSpec {
        legacy_version: TLS12,
        sni: Some("api.example.org".to_string()),
        alpn: vec!["http/1.1".to_string()],
        supported_versions: Vec::new(),
        seed: 21,
    };
    c12.client_send(&mut cap, &tls::client_hello(&spec12));
    let sid = SplitMix64::new(22).bytes(32);
    let server_flight = [
        tls::server_hello(0xc02f, None, &sid, 23),
        tls::certificate(1500, 24),
        tls::server_hello_done(),
    ]
    .concat();
    c12.server_send(
        &mut cap,
        &tls::record(tls::CT_HANDSHAKE, TLS12, &server_flight),
    );
    let client_finish = [
        tls::record(tls::CT_HANDSHAKE, TLS12, &tls::client_key_exchange(25)),
        tls::change_cipher_spec(),
        tls::record(tls::CT_HANDSHAKE, TLS12, &SplitMix64::new(26).bytes(40)),
    ]
    .concat();
    c12.client_send(&mut cap, &client_finish);
    let server_finish = [
        tls::change_cipher_spec(),
        tls::record(tls::CT_HANDSHAKE, TLS12, &SplitMix64::new(27).bytes(40)),
    ]
    .concat();
    c12.server_send(&mut cap, &server_finish);
    c12.client_send(&mut cap, &tls::app_data(400, 28));
    c12.server_send(
        &mut cap,
        &[tls::app_data(1200, 29), tls::app_data(800, 30)].concat(),
    );
    // Encrypted close_notify alert (content type 21, not counted).
    c12.client_send(
        &mut cap,
        &tls::record(tls::CT_ALERT, TLS12, &SplitMix64::new(31).bytes(26)),
    );
    c12.close(&mut cap);
    let tls12 = ExpectedTls {
        sni: Some("api.example.org".to_string()),
        alpn: vec!["http/1.1".to_string()],
        client_versions: vec!["TLS 1.2".to_string()],
        version: Some("TLS 1.2".to_string()),
        app_bytes_out: 400,
        app_bytes_in: 2000,
    };

    Scenario {
        name: "tls-split",
        linktype: LINKTYPE_ETHERNET,
        description: "Connection 1, 10.0.0.17:49600 -> 203.0.113.60:443: ClientHello (legacy 0x0303, SNI \
                      upload.example.net, ALPN h2,http/1.1, supported_versions 0x0a0a(GREASE),0x0304,0x0303) split \
                      after 100 bytes into two segments; ServerHello (supported_versions 0x0304) split after 40 \
                      bytes, followed by ChangeCipherSpec and a 2100-byte application_data record (encrypted \
                      handshake); client CCS + 53-byte app record in one segment; client records of 200, 150, 90 \
                      in ONE segment; server records of 3000 and 500 in 4 segments with the second record's header \
                      split 2+3 bytes. app_bytes_out 493, app_bytes_in 5600 (all type-23 payload). Connection 2, \
                      10.0.0.17:49601 -> 198.51.100.61:8443: TLS 1.2 ClientHello 0x0303 without supported_versions \
                      (SNI api.example.org, ALPN http/1.1); one handshake record holding ServerHello 0x0303 + \
                      Certificate + ServerHelloDone; ClientKeyExchange/CCS/Finished; CCS/Finished; app data 400 \
                      out, 1200 + 800 in; an alert record (type 21, 26 bytes, not counted) from the client.",
        pcap: cap.into_bytes(),
        flows: vec![c13.expected(Vec::new(), Some(tls13)), c12.expected(Vec::new(), Some(tls12))],
    }
}

fn ipv6_vlan() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let a = simple_http(
        &mut cap,
        Link::Vlan(100),
        "[fd00::10]:50000",
        "[2001:db8::80]:80",
        "v6.example.com",
        "/v6",
        2000,
    );
    let b = simple_http(
        &mut cap,
        Link::QinQ {
            outer: 200,
            inner: 300,
        },
        "10.0.1.20:50001",
        "198.51.100.80:80",
        "qinq.example.com",
        "/qinq",
        1500,
    );
    let mut conn = TcpConn::new(
        Link::Ethernet,
        sa("[fd00::30]:50002"),
        sa("[2001:db8::81]:80"),
    )
    .with_ipv6_ext_headers(true)
    .with_mss(1424);
    conn.handshake(&mut cap);
    let req = HttpRequest::get("ext.example.com", "/ext");
    let resp = HttpResponse::ok("text/html", 3000, 3000);
    let t = exchange(&mut cap, &mut conn, &req, &resp);
    conn.close(&mut cap);
    Scenario {
        name: "ipv6-vlan",
        linktype: LINKTYPE_ETHERNET,
        description: "Three HTTP GET connections, one after another: [fd00::10]:50000 -> [2001:db8::80]:80 over \
                      IPv6 in one 802.1Q tag (VLAN 100), 200 text/html Content-Length 2000; 10.0.1.20:50001 -> \
                      198.51.100.80:80 over IPv4 in QinQ (0x88a8 VLAN 200, then 0x8100 VLAN 300), Content-Length \
                      1500; [fd00::30]:50002 -> [2001:db8::81]:80, plain Ethernet, every packet with an IPv6 \
                      hop-by-hop options header and a destination options header (8 bytes each) before TCP, \
                      MSS 1424, Content-Length 3000.",
        pcap: cap.into_bytes(),
        flows: vec![a, b, conn.expected(vec![t], None)],
    }
}

fn link_single(name: &'static str, link: Link, description: &'static str) -> Scenario {
    let mut cap = Capture::new(link.linktype());
    let uri = format!("/{}", name.trim_start_matches("link-"));
    let flow = simple_http(
        &mut cap,
        link,
        "10.0.0.30:50100",
        "203.0.113.100:80",
        "link.example.com",
        &uri,
        1200,
    );
    Scenario {
        name,
        linktype: link.linktype(),
        description,
        pcap: cap.into_bytes(),
        flows: vec![flow],
    }
}

fn link_null() -> Scenario {
    let mut cap = Capture::new(Link::Null.linktype());
    let a = simple_http(
        &mut cap,
        Link::Null,
        "10.0.0.31:50110",
        "203.0.113.101:80",
        "null.example.com",
        "/null4",
        1200,
    );
    let b = simple_http(
        &mut cap,
        Link::Null,
        "[fd00::31]:50111",
        "[2001:db8::101]:80",
        "null.example.com",
        "/null6",
        1300,
    );
    Scenario {
        name: "link-null",
        linktype: Link::Null.linktype(),
        description: "BSD loopback (linktype 0, address family as a little-endian u32: 2 = IPv4, 30 = IPv6): HTTP \
                      GET 10.0.0.31:50110 -> 203.0.113.101:80 (Content-Length 1200), then HTTP GET \
                      [fd00::31]:50111 -> [2001:db8::101]:80 (Content-Length 1300).",
        pcap: cap.into_bytes(),
        flows: vec![a, b],
    }
}

fn udp_dns() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let resolver = sa("198.51.100.53:53");
    let mut f1 = UdpFlow::new(Link::Ethernet, sa("10.0.0.22:53001"), resolver);
    let mut f2 = UdpFlow::new(Link::Ethernet, sa("10.0.0.22:53002"), resolver);
    let mut f3 = UdpFlow::new(Link::Ethernet, sa("10.0.0.22:53003"), resolver);
    f1.client_send(
        &mut cap,
        &dns::query(0x1a2b, "www.example.com", dns::QTYPE_A),
    );
    f2.client_send(
        &mut cap,
        &dns::query(0x3c4d, "mail.example.org", dns::QTYPE_AAAA),
    );
    let v4: IpAddr = "203.0.113.10".parse().expect("literal");
    let v6: IpAddr = "2001:db8::25".parse().expect("literal");
    f1.server_send(
        &mut cap,
        &dns::response(0x1a2b, "www.example.com", dns::QTYPE_A, &[v4]),
    );
    f2.server_send(
        &mut cap,
        &dns::response(0x3c4d, "mail.example.org", dns::QTYPE_AAAA, &[v6]),
    );
    f3.client_send(
        &mut cap,
        &dns::query(0x5e6f, "nx.example.net", dns::QTYPE_A),
    );
    Scenario {
        name: "udp-dns",
        linktype: LINKTYPE_ETHERNET,
        description: "DNS over UDP to 198.51.100.53:53 from 10.0.0.22: port 53001 queries www.example.com A, port \
                      53002 queries mail.example.org AAAA, both answered (answers 203.0.113.10 and 2001:db8::25, \
                      responses after both queries); port 53003 queries nx.example.net A and gets no answer.",
        pcap: cap.into_bytes(),
        flows: vec![f1.expected(), f2.expected(), f3.expected()],
    }
}

/// A UDP flow captured from its answer: which side is the client.
fn udp_answers_first() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let v4: IpAddr = "203.0.113.20".parse().expect("literal");
    // A DNS answer whose question the capture missed, then a second one.
    let mut dns_late = UdpFlow::new(
        Link::Ethernet,
        sa("10.0.0.24:53010"),
        sa("198.51.100.53:53"),
    );
    dns_late.server_send(
        &mut cap,
        &dns::response(0x1111, "late.example.com", dns::QTYPE_A, &[v4]),
    );
    dns_late.client_send(
        &mut cap,
        &dns::query(0x2222, "again.example.com", dns::QTYPE_A),
    );
    // A DHCP offer (BOOTP op 2) from the server's 67 to the client's 68.
    let mut dhcp = UdpFlow::new(Link::Ethernet, sa("10.0.0.25:68"), sa("10.0.0.1:67"));
    let mut offer = vec![0u8; 240];
    offer[..4].copy_from_slice(&[2, 1, 6, 0]);
    dhcp.server_send(&mut cap, &offer);
    // NTP between two 123 ports: the server's mode 4 reply first.
    let mut ntp = UdpFlow::new(Link::Ethernet, sa("10.0.0.26:123"), sa("192.0.2.123:123"));
    let mut reply = vec![0u8; 48];
    reply[0] = 0x24;
    ntp.server_send(&mut cap, &reply);
    let mut request = vec![0u8; 48];
    request[0] = 0x23;
    ntp.client_send(&mut cap, &request);
    // An SNMP response (no protocol read here): the port rule.
    let mut snmp = UdpFlow::new(Link::Ethernet, sa("10.0.0.27:40161"), sa("10.0.0.161:161"));
    snmp.server_send(&mut cap, b"\x30\x26\x02\x01\x01");
    // An empty datagram from port 53: nothing says it answers, so its
    // sender stays the client.
    let mut empty = UdpFlow::new(Link::Ethernet, sa("10.0.0.28:53"), sa("10.0.0.29:12345"));
    empty.client_send(&mut cap, b"");
    // An mDNS answer to the group: a group is never the client.
    let mut mdns = UdpFlow::new(Link::Ethernet, sa("10.0.0.30:5353"), sa("224.0.0.251:5353"));
    mdns.client_send(
        &mut cap,
        &dns::response(0, "printer.local", dns::QTYPE_A, &[v4]),
    );
    Scenario {
        name: "udp-answers-first",
        linktype: LINKTYPE_ETHERNET,
        description: "UDP flows whose first captured datagram is an answer: a DNS answer from 198.51.100.53:53 \
                      to 10.0.0.24:53010, then a new query; a DHCP offer (op 2) 10.0.0.1:67 -> 10.0.0.25:68; an \
                      NTP mode 4 reply 192.0.2.123:123 -> 10.0.0.26:123 then the mode 3 request; an SNMP response \
                      10.0.0.161:161 -> 10.0.0.27:40161. Each names the receiver of the first datagram the client. \
                      Two keep the first sender: an empty datagram 10.0.0.28:53 -> 10.0.0.29:12345, and an mDNS \
                      answer 10.0.0.30:5353 -> 224.0.0.251:5353.",
        pcap: cap.into_bytes(),
        flows: vec![
            dns_late.expected(),
            dhcp.expected(),
            ntp.expected(),
            snmp.expected(),
            empty.expected(),
            mdns.expected(),
        ],
    }
}

/// A DNS message as TCP carries it: its 2-byte length first.
fn length_prefixed(message: &[u8]) -> Vec<u8> {
    let mut v = (message.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(message);
    v
}

fn tcp_dns() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut conn = TcpConn::new(
        Link::Ethernet,
        sa("10.0.0.23:53100"),
        sa("198.51.100.53:53"),
    );
    conn.handshake(&mut cap);
    // Two queries on one connection (RFC 7766 pipelining), the second
    // answered with two addresses; the first answer is split, its length
    // prefix alone in the first segment.
    let q1 = length_prefixed(&dns::query(0x7a01, "api.example.com", dns::QTYPE_A));
    let q2 = length_prefixed(&dns::query(0x7a02, "cdn.example.net", dns::QTYPE_AAAA));
    let a1: IpAddr = "203.0.113.44".parse().expect("literal");
    let b1: IpAddr = "2001:db8::44".parse().expect("literal");
    let b2: IpAddr = "2001:db8::45".parse().expect("literal");
    let r1 = length_prefixed(&dns::response(
        0x7a01,
        "api.example.com",
        dns::QTYPE_A,
        &[a1],
    ));
    let r2 = length_prefixed(&dns::response(
        0x7a02,
        "cdn.example.net",
        dns::QTYPE_AAAA,
        &[b1, b2],
    ));
    conn.client_send(&mut cap, &q1);
    conn.send_chunks(&mut cap, Dir::ToClient, &[&r1[..2], &r1[2..]]);
    conn.client_send(&mut cap, &q2);
    conn.server_send(&mut cap, &r2);
    conn.close(&mut cap);
    Scenario {
        name: "tcp-dns",
        linktype: LINKTYPE_ETHERNET,
        description: "DNS over TCP (RFC 7766): 10.0.0.23:53100 -> 198.51.100.53:53, handshake, a query for \
                      api.example.com A answered 203.0.113.44 (the answer's 2-byte length prefix alone in its \
                      first segment), then on the same connection cdn.example.net AAAA answered 2001:db8::44 and \
                      2001:db8::45, close.",
        pcap: cap.into_bytes(),
        flows: vec![conn.expected(Vec::new(), None)],
    }
}

fn ipv4_fragments() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let l2 = LinkCtx::new(Link::Ethernet);
    let mut buf = Vec::new();
    let mut frag = Vec::new();
    let client = Ipv4Addr::new(10, 0, 0, 23);

    // A 3000-byte UDP datagram (8-byte header + 2992 payload) in 3 fragments.
    let udp_dst = sa("198.51.100.90:9999");
    let ip = IpOpts {
        dont_fragment: false,
        ..IpOpts::default()
    };
    let payload = text_body(2992, 60);
    let layout = udp_frame(
        &mut buf,
        &l2,
        true,
        &ip,
        sa("10.0.0.23:40000"),
        udp_dst,
        &payload,
    );
    let datagram = buf[layout.transport_offset..].to_vec();
    assert_eq!(datagram.len(), 3000);
    let udp_server = Ipv4Addr::new(198, 51, 100, 90);
    for (off, end, more) in [(0, 1480, true), (1480, 2960, true), (2960, 3000, false)] {
        ipv4_fragment_frame(
            &mut frag,
            &l2,
            true,
            client,
            udp_server,
            IPPROTO_UDP,
            0x4242,
            off,
            more,
            &datagram[off..end],
        );
        cap.emit(&frag);
    }

    // A 1220-byte TCP segment (20-byte header + 1200 payload) in 2 fragments.
    let body = text_body(1200, 61);
    let seg = TcpSeg {
        src: sa("10.0.0.23:40001"),
        dst: sa("198.51.100.91:80"),
        seq: 0x0102_0304,
        ack: 0x0506_0708,
        flags: TCP_ACK | TCP_PSH,
        window: 64240,
        options: &[],
        payload: &body,
    };
    let layout = tcp_frame(&mut buf, &l2, true, &ip, &seg);
    let segment = buf[layout.transport_offset..].to_vec();
    assert_eq!(segment.len(), 1220);
    let tcp_server = Ipv4Addr::new(198, 51, 100, 91);
    for (off, end, more) in [(0, 600, true), (600, 1220, false)] {
        ipv4_fragment_frame(
            &mut frag,
            &l2,
            true,
            client,
            tcp_server,
            IPPROTO_TCP,
            0x4243,
            off,
            more,
            &segment[off..end],
        );
        cap.emit(&frag);
    }

    let flow = simple_http(
        &mut cap,
        Link::Ethernet,
        "10.0.0.23:40002",
        "203.0.113.92:80",
        "frag.example.com",
        "/plain",
        1000,
    );
    Scenario {
        name: "ipv4-fragments",
        linktype: LINKTYPE_ETHERNET,
        description: "First 3 frames: one UDP datagram 10.0.0.23:40000 -> 198.51.100.90:9999 of 3000 bytes (8-byte \
                      header + 2992 payload, IP id 0x4242) in three IPv4 fragments carrying 1480, 1480 and 40 \
                      bytes (offsets 0, 1480, 2960). Next 2 frames: one TCP segment 10.0.0.23:40001 -> \
                      198.51.100.91:80 (ACK|PSH, 20-byte header + 1200 payload, IP id 0x4243, no handshake) in \
                      two fragments of 600 bytes (with the TCP header) and 620 bytes. Then an ordinary HTTP GET \
                      10.0.0.23:40002 -> 203.0.113.92:80 (Content-Length 1000), the only expected flow: the \
                      fragmented traffic is not listed (a reader that does not reassemble may or may not report \
                      flows for the first fragments).",
        pcap: cap.into_bytes(),
        flows: vec![flow],
    }
}

fn midstream() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut web = TcpConn::new(
        Link::Ethernet,
        sa("10.0.0.24:50200"),
        sa("203.0.113.110:80"),
    );
    let req = HttpRequest::get("mid.example.com", "/mid");
    let resp = HttpResponse::ok("text/html", 800, 70);
    let t = exchange(&mut cap, &mut web, &req, &resp);
    web.close(&mut cap);

    let mut tls = TcpConn::new(
        Link::Ethernet,
        sa("10.0.0.24:50201"),
        sa("203.0.113.111:443"),
    );
    tls.client_send(&mut cap, &tls::app_data(300, 71));
    tls.server_send(
        &mut cap,
        &[tls::app_data(4000, 72), tls::app_data(1000, 73)].concat(),
    );
    tls.client_send(&mut cap, &tls::app_data(120, 74));
    tls.server_send(&mut cap, &tls::app_data(600, 75));
    tls.close(&mut cap);
    let expected_tls = ExpectedTls {
        app_bytes_out: 420,
        app_bytes_in: 5600,
        ..ExpectedTls::default()
    };
    // A client bound to a port below its server's (53 against 8080): the
    // ports alone would name the wrong side; the request line says.
    let mut low = TcpConn::new(Link::Ethernet, sa("10.0.0.25:53"), sa("203.0.113.112:8080"));
    let req = HttpRequest::get("low.example.com", "/from-53");
    let resp = HttpResponse::ok("text/plain", 120, 76);
    let low_t = exchange(&mut cap, &mut low, &req, &resp);
    low.close(&mut cap);
    Scenario {
        name: "midstream",
        linktype: LINKTYPE_ETHERNET,
        description: "Two connections captured without their handshakes. HTTP 10.0.0.24:50200 -> \
                      203.0.113.110:80: the capture starts with the client's GET /mid (Host mid.example.com), \
                      then 200 text/html Content-Length 800, then the close. TLS 10.0.0.24:50201 -> \
                      203.0.113.111:443: the capture starts at a record boundary in the middle of the application \
                      data: client record 300, server records 4000 + 1000, client 120, server 600, close. No \
                      ClientHello/ServerHello is in the capture, so sni/alpn/versions are unknown; the expected \
                      tls holds only the application_data byte counts (420 out, 5600 in). HTTP 10.0.0.25:53 -> \
                      203.0.113.112:8080, also without its handshake: the client's port is the lower one, and its \
                      GET /from-53 says it is the client (200 text/plain Content-Length 120, then the close).",
        pcap: cap.into_bytes(),
        flows: vec![
            web.expected(vec![t], None),
            tls.expected(Vec::new(), Some(expected_tls)),
            low.expected(vec![low_t], None),
        ],
    }
}

fn snaplen() -> Scenario {
    let mut cap = Capture::with_snaplen(LINKTYPE_ETHERNET, 96);
    let mut conn = TcpConn::new(
        Link::Ethernet,
        sa("10.0.0.25:50300"),
        sa("203.0.113.120:80"),
    );
    conn.handshake(&mut cap);
    let req = HttpRequest::get("snap.example.com", "/snap");
    let resp = HttpResponse::ok("text/html", 3000, 80);
    conn.client_send(&mut cap, &req.bytes());
    conn.server_send(&mut cap, &resp.bytes());
    conn.close(&mut cap);
    Scenario {
        name: "snaplen",
        linktype: LINKTYPE_ETHERNET,
        description: "Snaplen 96: every frame is cut to at most 96 captured bytes (the record keeps the original \
                      length). HTTP GET 10.0.0.25:50300 -> 203.0.113.120:80 (Host snap.example.com, GET /snap -> \
                      200 text/html Content-Length 3000). client_bytes/server_bytes are the frames' lengths on the wire \
                      (each record's original length), not what the snap length kept. \
                      payload_out/payload_in are the payload bytes present in the capture after the \
                      Ethernet+IPv4+TCP headers (at most 42 per data segment), not the bytes sent; http is left \
                      empty because the messages are cut (a reader may still report a partial request).",
        pcap: cap.into_bytes(),
        flows: vec![conn.expected(Vec::new(), None)],
    }
}

fn snaplen_headers() -> Scenario {
    let mut cap = Capture::with_snaplen(LINKTYPE_ETHERNET, 60);
    let mut conn = TcpConn::new(
        Link::Ethernet,
        sa("10.0.0.26:50310"),
        sa("203.0.113.121:80"),
    );
    conn.handshake(&mut cap);
    let req = HttpRequest::get("headers.example.com", "/only-headers");
    let resp = HttpResponse::ok("text/html", 2000, 81);
    conn.client_send(&mut cap, &req.bytes());
    conn.server_send(&mut cap, &resp.bytes());
    conn.close(&mut cap);
    Scenario {
        name: "snaplen-headers",
        linktype: LINKTYPE_ETHERNET,
        description: "Snaplen 60, a header-only capture: the SYN and SYN-ACK (12 bytes of TCP options, a \
                      32-byte header) are cut inside their options, and every data segment keeps 6 bytes \
                      of payload. HTTP GET 10.0.0.26:50310 -> 203.0.113.121:80 (Host headers.example.com, \
                      GET /only-headers -> 200 text/html Content-Length 2000). The connection is read from \
                      every segment's fixed header: all its packets, its history with the handshake, and \
                      client_bytes/server_bytes from the lengths on the wire; payload_out/payload_in are the \
                      payload bytes present in the capture, and the payload the snap length cut is missed \
                      (the SYNs' cut options are not payload).",
        pcap: cap.into_bytes(),
        flows: vec![conn.expected(Vec::new(), None)],
    }
}

fn snaplen_udp() -> Scenario {
    let mut cap = Capture::with_snaplen(LINKTYPE_ETHERNET, 64);
    let mut flow = UdpFlow::new(
        Link::Ethernet,
        sa("10.0.0.27:53020"),
        sa("198.51.100.53:53"),
    );
    let v4: IpAddr = "203.0.113.27".parse().expect("literal");
    // 14 + 20 + 8 bytes of headers: 22 bytes of each datagram are kept.
    flow.client_send(
        &mut cap,
        &dns::query(0x7a7a, "snapped.example.com", dns::QTYPE_A),
    );
    flow.server_send(
        &mut cap,
        &dns::response(0x7a7a, "snapped.example.com", dns::QTYPE_A, &[v4]),
    );
    // A datagram that fits: nothing cut.
    flow.client_send(&mut cap, b"short");
    Scenario {
        name: "snaplen-udp",
        linktype: LINKTYPE_ETHERNET,
        description: "Snaplen 64: DNS over UDP 10.0.0.27:53020 -> 198.51.100.53:53, a query for \
                      snapped.example.com A (37 bytes of DNS) and its answer (203.0.113.27, 53 bytes), each cut \
                      to 22 bytes of payload, then a 5-byte datagram the snap length keeps whole. \
                      client_bytes/server_bytes are the frames' lengths on the wire; payload_out/payload_in \
                      count the payload present in the capture (22 + 5 and 22), and missed_bytes what the \
                      snap length cut of it (15 + 31 = 46), as for TCP.",
        pcap: cap.into_bytes(),
        flows: vec![flow.expected()],
    }
}

fn bad_ip() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let l2 = LinkCtx::new(Link::Ethernet);
    let mut buf = Vec::new();
    let body = text_body(100, 90);
    let seg = |src: &str, dst: &str| TcpSeg {
        src: sa(src),
        dst: sa(dst),
        seq: 1000,
        ack: 2000,
        flags: TCP_ACK | TCP_PSH,
        window: 64240,
        options: &[],
        payload: &[],
    };
    let ip = IpOpts::default();
    let fix_ipv4_checksum = |f: &mut Vec<u8>| {
        f[24] = 0;
        f[25] = 0;
        let c = internet_checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
    };

    // 1. IPv4 total length larger than the frame.
    let s4 = TcpSeg {
        payload: &body,
        ..seg("10.0.0.99:6666", "203.0.113.199:80")
    };
    tcp_frame(&mut buf, &l2, true, &ip, &s4);
    let good_v4 = buf.clone();
    let mut f = good_v4.clone();
    let total = u16::from_be_bytes([f[16], f[17]]) + 200;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    fix_ipv4_checksum(&mut f);
    cap.emit(&f);

    // 2. IPv4 total length smaller than its header.
    let mut f = good_v4.clone();
    f[16..18].copy_from_slice(&12u16.to_be_bytes());
    fix_ipv4_checksum(&mut f);
    cap.emit(&f);

    // 3. IHL < 5.
    let mut f = good_v4.clone();
    f[14] = 0x43;
    fix_ipv4_checksum(&mut f);
    cap.emit(&f);

    // 4. IPv6 payload length larger than the frame.
    let s6 = TcpSeg {
        payload: &body,
        ..seg("[fd00::99]:6666", "[2001:db8::199]:80")
    };
    tcp_frame(&mut buf, &l2, true, &ip, &s6);
    let mut f = buf.clone();
    let plen = u16::from_be_bytes([f[18], f[19]]) + 300;
    f[18..20].copy_from_slice(&plen.to_be_bytes());
    cap.emit(&f);

    // 5. TCP data offset < 5 (3), TCP checksum recomputed over the result.
    let mut f = good_v4.clone();
    f[34 + 12] = 3 << 4;
    f[34 + 16] = 0;
    f[34 + 17] = 0;
    let c = transport_checksum(
        "10.0.0.99".parse().expect("literal"),
        "203.0.113.199".parse().expect("literal"),
        IPPROTO_TCP,
        &f[34..],
    );
    f[34 + 16..34 + 18].copy_from_slice(&c.to_be_bytes());
    cap.emit(&f);

    // 6. A frame that ends inside the IPv4 header (24 bytes long).
    cap.emit(&good_v4[..24]);

    // 7. A whole frame whose record is cut inside the IPv4 header (caplen 24).
    cap.emit_cut(&good_v4, 24);

    // 8. Unknown ethertype 0x88b5 (local experimental), 46 bytes of payload.
    let mut f = Vec::new();
    l2.push_header(&mut f, true, 0x88b5);
    f.extend_from_slice(&SplitMix64::new(91).bytes(46));
    cap.emit(&f);

    // 9. ARP request: who has 10.0.0.1? tell 10.0.0.99 (padded to 60 bytes).
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&l2.client_mac);
    f.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&l2.client_mac);
    f.extend_from_slice(&[10, 0, 0, 99]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[10, 0, 0, 1]);
    f.resize(60, 0);
    cap.emit(&f);

    let flow = simple_http(
        &mut cap,
        Link::Ethernet,
        "10.0.0.26:50400",
        "203.0.113.130:80",
        "good.example.com",
        "/good",
        1000,
    );
    Scenario {
        name: "bad-ip",
        linktype: LINKTYPE_ETHERNET,
        description: "First 9 frames are malformed (TCP ones 10.0.0.99:6666 -> 203.0.113.199:80 or [fd00::99]:6666 \
                      -> [2001:db8::199]:80, 100-byte payload): 1 IPv4 total length 200 larger than the frame; 2 \
                      IPv4 total length 12 (smaller than the header); 3 IPv4 IHL 3; 4 IPv6 payload length 300 \
                      larger than the frame; 5 TCP data offset 3; 6 a 24-byte frame ending inside the IPv4 header; \
                      7 a 154-byte frame whose record captures only 24 bytes; 8 unknown ethertype 0x88b5 with 46 \
                      bytes; 9 an ARP request (60 bytes). IPv4 header checksums of 1-3 are recomputed so only the \
                      named field is wrong. Then one good HTTP GET 10.0.0.26:50400 -> 203.0.113.130:80 \
                      (Content-Length 1000), the only expected flow.",
        pcap: cap.into_bytes(),
        flows: vec![flow],
    }
}

fn tcp_fastopen() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut conn = TcpConn::new(
        Link::Ethernet,
        sa("10.0.0.27:50500"),
        sa("203.0.113.140:80"),
    );
    let req = HttpRequest::get("tfo.example.com", "/fast");
    conn.handshake_fast_open(&mut cap, &req.bytes());
    let resp = HttpResponse::ok("text/html", 1200, 100);
    conn.server_send(&mut cap, &resp.bytes());
    conn.close(&mut cap);
    Scenario {
        name: "tcp-fastopen",
        linktype: LINKTYPE_ETHERNET,
        description: "TCP Fast Open: 10.0.0.27:50500 -> 203.0.113.140:80; the SYN carries a Fast Open cookie \
                      option (kind 34) and the whole GET /fast request (Host tfo.example.com); the SYN-ACK \
                      acknowledges it; then 200 text/html Content-Length 1200 and the close.",
        pcap: cap.into_bytes(),
        flows: vec![conn.expected(vec![transaction(&req, &resp)], None)],
    }
}

/// A request with only a Host header and no body.
fn bare_request(method: &str, target: &str, host: &str, extra: &[(&str, &str)]) -> HttpRequest {
    let mut headers = vec![("Host", host)];
    headers.extend_from_slice(extra);
    HttpRequest::new(method, target, "HTTP/1.1", &headers, Vec::new())
}

/// A response with a status line and the given headers, no body.
fn bare_response(status: u16, reason: &str, headers: &[(&str, &str)]) -> HttpResponse {
    HttpResponse::new("HTTP/1.1", status, reason, headers, Vec::new())
}

fn http_tunnels() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let proxy = "198.51.100.8:3128";

    // 1. Plain HTTP inside a CONNECT tunnel through a proxy.
    let mut tunnel = TcpConn::new(Link::Ethernet, sa("10.0.0.14:49500"), sa(proxy));
    tunnel.handshake(&mut cap);
    let connect = bare_request("CONNECT", "www.example.com:80", "www.example.com:80", &[]);
    let established = bare_response(200, "Connection established", &[]);
    let t1 = exchange(&mut cap, &mut tunnel, &connect, &established);
    let inner = HttpRequest::get("www.example.com", "/inside.html");
    let inner_resp = HttpResponse::ok("text/html", 2500, 14);
    let t2 = exchange(&mut cap, &mut tunnel, &inner, &inner_resp);
    tunnel.close(&mut cap);

    // 2. A WebSocket upgrade: after the 101 the frames are no HTTP.
    let mut ws = TcpConn::new(Link::Ethernet, sa("10.0.0.14:49501"), sa("203.0.113.50:80"));
    ws.handshake(&mut cap);
    let upgrade = bare_request(
        "GET",
        "/chat",
        "chat.example.com",
        &[("Upgrade", "websocket"), ("Connection", "Upgrade")],
    );
    let switching = bare_response(
        101,
        "Switching Protocols",
        &[("Upgrade", "websocket"), ("Connection", "Upgrade")],
    );
    let t3 = exchange(&mut cap, &mut ws, &upgrade, &switching);
    // A masked text frame that happens to read like a request, and a reply.
    ws.client_send(&mut cap, b"GET /not-http HTTP/1.1\r\n\r\n");
    ws.server_send(&mut cap, &[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']);
    ws.close(&mut cap);

    // 3. An h2c upgrade: the HTTP/2 preface and frames follow the 101.
    let mut h2 = TcpConn::new(Link::Ethernet, sa("10.0.0.14:49502"), sa("203.0.113.51:80"));
    h2.handshake(&mut cap);
    let up = bare_request(
        "GET",
        "/",
        "h2.example.com",
        &[
            ("Upgrade", "h2c"),
            ("Connection", "Upgrade, HTTP2-Settings"),
            ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"),
        ],
    );
    let sw = bare_response(
        101,
        "Switching Protocols",
        &[("Connection", "Upgrade"), ("Upgrade", "h2c")],
    );
    let t4 = exchange(&mut cap, &mut h2, &up, &sw);
    h2.client_send(
        &mut cap,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    );
    h2.server_send(
        &mut cap,
        &[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0],
    );
    h2.close(&mut cap);

    Scenario {
        name: "http-tunnels",
        linktype: LINKTYPE_ETHERNET,
        description: "Connection 1, 10.0.0.14:49500 -> proxy 198.51.100.8:3128: CONNECT www.example.com:80 -> 200 \
                      Connection established, then inside the tunnel GET /inside.html (Host www.example.com) -> 200 \
                      text/html Content-Length 2500: two transactions. Connection 2, 10.0.0.14:49501 -> \
                      203.0.113.50:80: GET /chat with Upgrade: websocket -> 101 Switching Protocols, then a client \
                      frame whose bytes read like a GET and a 7-byte server frame: one transaction, the frames \
                      counted as payload only. Connection 3, 10.0.0.14:49502 -> 203.0.113.51:80: GET / with \
                      Upgrade: h2c -> 101, then the HTTP/2 preface and SETTINGS frames: one transaction.",
        pcap: cap.into_bytes(),
        flows: vec![
            tunnel.expected(vec![t1, t2], None),
            ws.expected(vec![t3], None),
            h2.expected(vec![t4], None),
        ],
    }
}
