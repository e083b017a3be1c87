//! DTLS on UDP (RFC 6347, RFC 9147), hand-built as [`crate::tls`] builds
//! TLS: records with their 13-byte headers, handshake messages in
//! fragments, and pseudo-random bytes where the peers would encrypt.

use crate::conn::UdpFlow;
use crate::expected::{ExpectedTls, Scenario};
use crate::pcap::Capture;
use crate::rng::SplitMix64;
use crate::tls::{self, ClientHelloSpec};
use crate::wire::{Link, LINKTYPE_ETHERNET};
use std::net::SocketAddr;

/// DTLS 1.0, 1.2 and 1.3 on the wire.
pub const DTLS10: u16 = 0xfeff;
/// DTLS 1.2.
pub const DTLS12: u16 = 0xfefd;
/// DTLS 1.3.
pub const DTLS13: u16 = 0xfefc;

const CT_HANDSHAKE: u8 = 22;
const CT_APPLICATION_DATA: u8 = 23;

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

/// One record: type, version, epoch, 48-bit sequence number, length, body.
pub fn record(content: u8, version: u16, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&epoch.to_be_bytes());
    r.extend_from_slice(&seq.to_be_bytes()[2..]);
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// One fragment of handshake message `kind` (whole body `body`, message
/// sequence `seq`): bytes `range` of it after the 12-byte header.
pub fn fragment(kind: u8, seq: u16, body: &[u8], range: std::ops::Range<usize>) -> Vec<u8> {
    let u24 = |n: usize| (n as u32).to_be_bytes()[1..].to_vec();
    let mut f = vec![kind];
    f.extend(u24(body.len()));
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend(u24(range.start));
    f.extend(u24(range.len()));
    f.extend_from_slice(&body[range]);
    f
}

/// A DTLS ClientHello body: TLS's with a cookie after the session id.
pub fn client_hello_body(spec: &ClientHelloSpec, cookie: &[u8]) -> Vec<u8> {
    let tls = tls::client_hello_body(spec);
    let sid_end = 35 + usize::from(tls[34]);
    let mut b = tls[..sid_end].to_vec();
    b.push(cookie.len() as u8);
    b.extend_from_slice(cookie);
    b.extend_from_slice(&tls[sid_end..]);
    b
}

/// A ServerHello body choosing `cipher`, its hello version `version`;
/// with `selected` a supported_versions extension naming it (DTLS 1.3).
pub fn server_hello_body(version: u16, cipher: u16, selected: Option<u16>, seed: u64) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&SplitMix64::new(seed).bytes(32));
    b.push(0); // no session id
    b.extend_from_slice(&cipher.to_be_bytes());
    b.push(0);
    let mut ext = Vec::new();
    if let Some(v) = selected {
        ext.extend_from_slice(&[0x00, 0x2b, 0x00, 0x02]);
        ext.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&ext);
    b
}

/// A STUN Binding request or success response (RFC 5389), 20 bytes of
/// header and a 12-byte XOR-MAPPED-ADDRESS: what WebRTC peers exchange on
/// the DTLS flow before it.
fn stun(response: bool, seed: u64) -> Vec<u8> {
    let mut m = if response {
        vec![0x01, 0x01]
    } else {
        vec![0x00, 0x01]
    };
    m.extend_from_slice(&[0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42]);
    m.extend_from_slice(&SplitMix64::new(seed).bytes(12));
    m.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0x1f, 0x90, 1, 2, 3, 4]);
    m
}

/// An SRTP packet (version 2, first byte 0x80) of `len` bytes.
fn srtp(len: usize, seed: u64) -> Vec<u8> {
    let mut p = vec![0x80, 0x6f];
    p.extend_from_slice(&SplitMix64::new(seed).bytes(len - 2));
    p
}

/// A WebRTC media flow: STUN checks, then a DTLS 1.2 handshake whose
/// ClientHello comes from the side that answered the checks (DTLS roles
/// are their own), sent twice (the second time with the cookie of a
/// HelloVerifyRequest, in two fragments, the second first), the server's
/// flight in one datagram of three records, application data, and SRTP.
fn webrtc(cap: &mut Capture) -> (UdpFlow, ExpectedTls) {
    let mut flow = UdpFlow::new(
        Link::Ethernet,
        sa("10.0.0.50:51462"),
        sa("203.0.113.50:43044"),
    );
    flow.client_send(cap, &stun(false, 1));
    flow.server_send(cap, &stun(true, 2));
    flow.server_send(cap, &stun(false, 3));
    flow.client_send(cap, &stun(true, 4));
    let spec = ClientHelloSpec {
        legacy_version: DTLS12,
        sni: None,
        alpn: vec!["webrtc".into()],
        supported_versions: Vec::new(),
        seed: 50,
    };
    // The DTLS client is the flow's server: its hellos go to the client.
    let first = client_hello_body(&spec, &[]);
    flow.server_send(
        cap,
        &record(
            CT_HANDSHAKE,
            DTLS10,
            0,
            0,
            &fragment(1, 0, &first, 0..first.len()),
        ),
    );
    let mut verify = DTLS12.to_be_bytes().to_vec();
    verify.push(16);
    verify.extend_from_slice(&[0xc0; 16]);
    flow.client_send(
        cap,
        &record(
            CT_HANDSHAKE,
            DTLS10,
            0,
            0,
            &fragment(3, 0, &verify, 0..verify.len()),
        ),
    );
    let second = client_hello_body(&spec, &[0xc0; 16]);
    let half = second.len() / 2;
    flow.server_send(
        cap,
        &record(
            CT_HANDSHAKE,
            DTLS10,
            0,
            2,
            &fragment(1, 1, &second, half..second.len()),
        ),
    );
    flow.server_send(
        cap,
        &record(
            CT_HANDSHAKE,
            DTLS10,
            0,
            1,
            &fragment(1, 1, &second, 0..half),
        ),
    );
    let hello = server_hello_body(DTLS12, 0xc02b, None, 51);
    let cert = SplitMix64::new(52).bytes(300);
    let mut flight = record(
        CT_HANDSHAKE,
        DTLS12,
        0,
        1,
        &fragment(2, 1, &hello, 0..hello.len()),
    );
    flight.extend(record(
        CT_HANDSHAKE,
        DTLS12,
        0,
        2,
        &fragment(11, 2, &cert, 0..300),
    ));
    flight.extend(record(
        CT_HANDSHAKE,
        DTLS12,
        0,
        3,
        &fragment(14, 3, &[], 0..0),
    ));
    flow.client_send(cap, &flight);
    // The client's key exchange and Finished (the latter encrypted, epoch 1).
    let mut keys = record(20, DTLS12, 0, 3, &[1]);
    keys.extend(record(
        CT_HANDSHAKE,
        DTLS12,
        1,
        0,
        &SplitMix64::new(53).bytes(40),
    ));
    flow.server_send(cap, &keys);
    // Application data: the DTLS client (the flow's server) sends 2 x 120
    // bytes, the DTLS server (the flow's client) 64; SRTP both ways.
    flow.server_send(cap, &record(CT_APPLICATION_DATA, DTLS12, 1, 1, &[7; 120]));
    flow.server_send(cap, &record(CT_APPLICATION_DATA, DTLS12, 1, 2, &[7; 120]));
    flow.client_send(cap, &record(CT_APPLICATION_DATA, DTLS12, 1, 1, &[9; 64]));
    flow.client_send(cap, &srtp(200, 54));
    flow.server_send(cap, &srtp(180, 55));
    let tls = ExpectedTls {
        sni: None,
        alpn: vec!["webrtc".into()],
        client_versions: vec!["DTLS 1.2".into()],
        version: Some("DTLS 1.2".into()),
        app_bytes_out: 64,
        app_bytes_in: 240,
    };
    (flow, tls)
}

/// A DTLS 1.3 tunnel: a ClientHello offering 1.3 and 1.2 with a server
/// name, a ServerHello choosing 1.3 (its hello version 1.2's), then
/// records with RFC 9147's unified header: the client's encrypted
/// handshake with a length, two of application data without (each to the
/// end of its datagram).
fn dtls13(cap: &mut Capture) -> (UdpFlow, ExpectedTls) {
    let mut flow = UdpFlow::new(
        Link::Ethernet,
        sa("10.0.0.51:40001"),
        sa("198.51.100.51:4433"),
    );
    let spec = ClientHelloSpec {
        legacy_version: DTLS12,
        sni: Some("vpn.example.net".into()),
        alpn: Vec::new(),
        supported_versions: vec![DTLS13, DTLS12],
        seed: 60,
    };
    let ch = client_hello_body(&spec, &[]);
    flow.client_send(
        cap,
        &record(
            CT_HANDSHAKE,
            DTLS12,
            0,
            0,
            &fragment(1, 0, &ch, 0..ch.len()),
        ),
    );
    let sh = server_hello_body(DTLS12, 0x1301, Some(DTLS13), 61);
    flow.server_send(
        cap,
        &record(
            CT_HANDSHAKE,
            DTLS12,
            0,
            0,
            &fragment(2, 0, &sh, 0..sh.len()),
        ),
    );
    // 0x2e: 001 C=0 S=1 L=1 epoch 2 (the client's encrypted handshake, its
    // Finished), a 16-bit sequence number, a length.
    let mut up = vec![0x2e, 0x00, 0x01, 0x00, 0x50];
    up.extend_from_slice(&SplitMix64::new(62).bytes(80));
    flow.client_send(cap, &up);
    // 0x23: C=0 S=0 L=0 epoch 3 (application data), an 8-bit sequence
    // number, to the end.
    let mut down = vec![0x23, 0x02];
    down.extend_from_slice(&SplitMix64::new(63).bytes(500));
    flow.server_send(cap, &down);
    let mut down2 = vec![0x23, 0x03];
    down2.extend_from_slice(&SplitMix64::new(64).bytes(300));
    flow.server_send(cap, &down2);
    let tls = ExpectedTls {
        sni: Some("vpn.example.net".into()),
        alpn: Vec::new(),
        client_versions: vec!["DTLS 1.3".into(), "DTLS 1.2".into()],
        version: Some("DTLS 1.3".into()),
        app_bytes_out: 80,
        app_bytes_in: 800,
    };
    (flow, tls)
}

/// The DTLS scenario.
pub fn dtls() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut flows = Vec::new();
    for make in [webrtc, dtls13] {
        let (flow, tls) = make(&mut cap);
        let mut x = flow.expected();
        x.tls = Some(tls);
        flows.push(x);
    }
    Scenario {
        name: "dtls",
        linktype: LINKTYPE_ETHERNET,
        description: "DTLS on UDP. 10.0.0.50:51462 <-> 203.0.113.50:43044, a WebRTC media flow: two STUN \
                      Binding checks, then a DTLS 1.2 handshake whose client is 203.0.113.50 (the side that \
                      answered the first check): a ClientHello (ALPN webrtc, no server name), a \
                      HelloVerifyRequest, the ClientHello again with the cookie in two fragments sent second \
                      half first, the ServerHello (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) with a Certificate \
                      and ServerHelloDone in one datagram, the key exchange and an encrypted Finished; then \
                      application data (2 x 120 bytes from 203.0.113.50, 64 bytes from 10.0.0.50) and one \
                      SRTP packet each way. 10.0.0.51:40001 -> 198.51.100.51:4433: DTLS 1.3, server name \
                      vpn.example.net, offered DTLS 1.3 and 1.2, chosen 1.3 (supported_versions), then \
                      records with the unified header: 80 bytes up (with a length field; epoch 2, the \
                      client's encrypted handshake), 500 and 300 down (without, each to the end of its \
                      datagram; epoch 3). app_bytes_* are the application-data \
                      records' bodies by the flow's orientation (client = the first sender).",
        pcap: cap.into_bytes(),
        flows,
    }
}
