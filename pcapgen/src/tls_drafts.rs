//! The tls-drafts scenario: connections that negotiated a draft of TLS
//! 1.3, whose ServerHello has the drafts' own form (the version in the
//! hello, no session id, no compression method), as browsers and servers
//! of 2016 to 2018 spoke it and some embedded stacks still do.

use crate::conn::TcpConn;
use crate::expected::{ExpectedFlow, ExpectedTls, Scenario};
use crate::pcap::Capture;
use crate::tls::{self, ClientHelloSpec, TLS12};
use crate::wire::{Link, LINKTYPE_ETHERNET};
use std::net::SocketAddr;

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("valid socket address literal")
}

/// One connection: a ClientHello offering `version` and TLS 1.2, the
/// draft ServerHello choosing it, then 1,200 bytes of encrypted handshake
/// and 400 of response from the server and 300 of request from the client.
fn connection(
    cap: &mut Capture,
    client: &str,
    version: u16,
    name: &str,
    seed: u64,
) -> ExpectedFlow {
    let mut conn = TcpConn::new(Link::Ethernet, sa(client), sa("203.0.113.130:443"));
    conn.handshake(cap);
    let spec = ClientHelloSpec {
        legacy_version: TLS12,
        sni: Some("draft.example.com".to_string()),
        alpn: Vec::new(),
        supported_versions: vec![version, TLS12],
        seed,
    };
    conn.client_send(cap, &tls::client_hello(&spec));
    let hello = tls::record(
        tls::CT_HANDSHAKE,
        tls::TLS10,
        &tls::draft_server_hello(version, 0x1301, seed + 1),
    );
    let flight = [hello, tls::app_data(1200, seed + 2)].concat();
    conn.server_send(cap, &flight);
    conn.client_send(cap, &tls::app_data(300, seed + 3));
    conn.server_send(cap, &tls::app_data(400, seed + 4));
    conn.close(cap);
    conn.expected(
        Vec::new(),
        Some(ExpectedTls {
            sni: Some("draft.example.com".to_string()),
            alpn: Vec::new(),
            client_versions: vec![name.to_string(), "TLS 1.2".to_string()],
            version: Some(name.to_string()),
            app_bytes_out: 300,
            app_bytes_in: 1600,
        }),
    )
}

/// The scenario.
pub fn tls_drafts() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let flows = vec![
        connection(&mut cap, "10.0.0.60:50600", 0x7f12, "TLS 1.3 draft 18", 60),
        connection(&mut cap, "10.0.0.61:50610", 0x7f13, "TLS 1.3 draft 19", 70),
        connection(&mut cap, "10.0.0.62:50620", 0x7f15, "TLS 1.3 draft 21", 80),
    ];
    Scenario {
        name: "tls-drafts",
        linktype: LINKTYPE_ETHERNET,
        description: "Three TLS connections to 203.0.113.130:443 (server name draft.example.com) that \
                      negotiated a draft of TLS 1.3: drafts 18, 19 and 21 (0x7f12, 0x7f13, 0x7f15), each \
                      offered in supported_versions beside TLS 1.2. The ServerHello has the drafts' form: the \
                      version in the hello, no session id, no compression method, a key share (codepoint \
                      40). Then 1,200 bytes of encrypted handshake and 400 bytes of response from the \
                      server, 300 bytes of request from the client, as application data.",
        pcap: cap.into_bytes(),
        flows,
    }
}
