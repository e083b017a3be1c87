//! The line-protocols scenario: text protocols whose commands look like
//! HTTP request lines up to the target (SMTP, FTP, POP3, IRC, SIP, RTSP),
//! beside HTTP requests with a WebDAV method and with a method of no
//! registry. A reader must name only the last two HTTP.

use crate::conn::TcpConn;
use crate::expected::{ExpectedFlow, Scenario};
use crate::http::{transaction, HttpRequest, HttpResponse};
use crate::pcap::Capture;
use crate::wire::{Link, LINKTYPE_ETHERNET};
use std::net::SocketAddr;

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("valid socket address literal")
}

/// A connection where the two sides take turns: `turns` alternate
/// starting with the server when `server_first`.
fn dialogue(
    cap: &mut Capture,
    client: &str,
    server: &str,
    server_first: bool,
    turns: &[&[u8]],
) -> ExpectedFlow {
    let mut conn = TcpConn::new(Link::Ethernet, sa(client), sa(server));
    conn.handshake(cap);
    for (i, line) in turns.iter().enumerate() {
        if (i % 2 == 0) == server_first {
            conn.server_send(cap, line);
        } else {
            conn.client_send(cap, line);
        }
    }
    conn.close(cap);
    conn.expected(Vec::new(), None)
}

/// One HTTP exchange on its own connection.
fn http(
    cap: &mut Capture,
    client: &str,
    server: &str,
    req: &HttpRequest,
    resp: &HttpResponse,
) -> ExpectedFlow {
    let mut conn = TcpConn::new(Link::Ethernet, sa(client), sa(server));
    conn.handshake(cap);
    conn.client_send(cap, &req.bytes());
    conn.server_send(cap, &resp.bytes());
    conn.close(cap);
    conn.expected(vec![transaction(req, resp)], None)
}

/// The scenario.
pub fn line_protocols() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let smtp = dialogue(
        &mut cap,
        "10.0.0.50:50500",
        "203.0.113.150:25",
        true,
        &[
            b"220 mail.example.com ESMTP\r\n",
            b"EHLO client.example.com\r\n",
            b"250-mail.example.com\r\n250 SIZE 10240000\r\n",
            b"MAIL FROM:<alice@example.com>\r\n",
            b"250 OK\r\n",
            b"QUIT\r\n",
            b"221 Bye\r\n",
        ],
    );
    let ftp = dialogue(
        &mut cap,
        "10.0.0.51:50510",
        "203.0.113.151:21",
        true,
        &[
            b"220 FTP ready\r\n",
            b"USER anonymous\r\n",
            b"331 Password required\r\n",
            b"PASS guest@\r\n",
            b"230 Logged in\r\n",
            b"CWD /pub\r\n",
            b"250 OK\r\n",
        ],
    );
    let pop3 = dialogue(
        &mut cap,
        "10.0.0.52:50520",
        "203.0.113.152:110",
        true,
        &[
            b"+OK POP3 ready\r\n",
            b"USER bob\r\n",
            b"+OK\r\n",
            b"STAT\r\n",
            b"+OK 2 320\r\n",
        ],
    );
    let irc = dialogue(
        &mut cap,
        "10.0.0.53:50530",
        "203.0.113.153:6667",
        false,
        &[
            b"NICK guest\r\nUSER guest 0 * :Guest\r\n",
            b":irc.example.net 001 guest :Welcome\r\n",
        ],
    );
    let sip = dialogue(
        &mut cap,
        "10.0.0.54:50540",
        "203.0.113.154:5060",
        false,
        &[
            b"OPTIONS sip:bob@example.com SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            b"SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ],
    );
    let rtsp = dialogue(
        &mut cap,
        "10.0.0.55:50550",
        "203.0.113.155:554",
        false,
        &[
            b"DESCRIBE rtsp://cam.example.com/live RTSP/1.0\r\nCSeq: 2\r\n\r\n",
            b"RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n",
        ],
    );
    let dav_req = HttpRequest::new(
        "PROPFIND",
        "/dav/",
        "HTTP/1.1",
        &[("Host", "dav.example.com"), ("Depth", "1")],
        Vec::new(),
    );
    let dav_resp = HttpResponse::new(
        "HTTP/1.1",
        207,
        "Multi-Status",
        &[
            ("Content-Type", "application/xml"),
            ("Content-Length", "12"),
        ],
        b"<multistatus".to_vec(),
    );
    let dav = http(
        &mut cap,
        "10.0.0.56:50560",
        "203.0.113.156:80",
        &dav_req,
        &dav_resp,
    );
    let ping_req = HttpRequest::new(
        "PING",
        "/health",
        "HTTP/1.1",
        &[("Host", "app.example.com")],
        Vec::new(),
    );
    let ping_resp = HttpResponse::new(
        "HTTP/1.1",
        200,
        "OK",
        &[("Content-Type", "text/plain"), ("Content-Length", "2")],
        b"ok".to_vec(),
    );
    let ping = http(
        &mut cap,
        "10.0.0.57:50570",
        "203.0.113.157:8080",
        &ping_req,
        &ping_resp,
    );
    Scenario {
        name: "line-protocols",
        linktype: LINKTYPE_ETHERNET,
        description: "Text protocols that are not HTTP, each on its own connection (handshake, the turns, \
                      close): SMTP 10.0.0.50 -> 203.0.113.150:25 (banner, EHLO, MAIL FROM, QUIT), FTP \
                      10.0.0.51 -> 203.0.113.151:21 (USER, PASS, CWD), POP3 10.0.0.52 -> 203.0.113.152:110 \
                      (USER, STAT), IRC 10.0.0.53 -> 203.0.113.153:6667 (NICK and USER first), SIP over TCP \
                      10.0.0.54 -> 203.0.113.154:5060 (OPTIONS sip:... SIP/2.0, SIP/2.0 200), RTSP 10.0.0.55 -> \
                      203.0.113.155:554 (DESCRIBE rtsp://... RTSP/1.0, RTSP/1.0 200): no HTTP transaction, no \
                      protocol named. Then HTTP: PROPFIND /dav/ to 203.0.113.156:80 answered 207 (12-byte \
                      body), and PING /health HTTP/1.1, a method of no registry, to 203.0.113.157:8080 \
                      answered 200 (2-byte body).",
        pcap: cap.into_bytes(),
        flows: vec![smtp, ftp, pop3, irc, sip, rtsp, dav, ping],
    }
}
