//! QUIC packets protected with real Initial keys (RFC 9001 5, RFC 9369
//! for version 2), so that a reader must derive the keys, remove header
//! protection and open the payload as a real endpoint would. Packets other
//! than Initials (Handshake, 1-RTT) carry pseudo-random bytes of the
//! right framing.
//!
//! The keys are derived here apart from the sensor's own QUIC reader (the
//! generator does not link it), so the two are checked against each other
//! and both against the RFCs' test vectors.

use crate::conn::UdpFlow;
use crate::expected::{ExpectedTls, Scenario};
use crate::pcap::Capture;
use crate::rng::SplitMix64;
use crate::tls::{self, ClientHelloSpec, GREASE, TLS13};
use crate::wire::{Link, LINKTYPE_ETHERNET};
use ring::aead::{self, quic as hp, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;
use std::net::SocketAddr;

/// QUIC version 1.
pub const V1: u32 = 1;
/// QUIC version 2.
pub const V2: u32 = 0x6b33_43cf;

const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];

/// Key, IV and header-protection key of one side's Initial packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    /// AEAD key.
    pub key: [u8; 16],
    /// AEAD IV.
    pub iv: [u8; 12],
    /// Header-protection key.
    pub hp: [u8; 16],
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &hkdf::Prk, label: &str, out: &mut [u8]) {
    let full = format!("tls13 {label}");
    let mut info = (out.len() as u16).to_be_bytes().to_vec();
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    prk.expand(&[&info], Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF output lengths are small");
}

/// The Initial key material of the client (`client`) or server side for
/// a client Destination Connection ID.
pub fn initial_keys(version: u32, dcid: &[u8], client: bool) -> KeyMaterial {
    let salt: &[u8] = if version == V2 { &SALT_V2 } else { &SALT_V1 };
    let initial = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(dcid);
    let mut secret = [0u8; 32];
    expand(
        &initial,
        if client { "client in" } else { "server in" },
        &mut secret,
    );
    let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &secret);
    let prefix = if version == V2 { "quicv2" } else { "quic" };
    let mut m = KeyMaterial {
        key: [0; 16],
        iv: [0; 12],
        hp: [0; 16],
    };
    expand(&prk, &format!("{prefix} key"), &mut m.key);
    expand(&prk, &format!("{prefix} iv"), &mut m.iv);
    expand(&prk, &format!("{prefix} hp"), &mut m.hp);
    m
}

/// A variable-length integer (RFC 9000 16), in its shortest form.
pub fn varint(v: u64) -> Vec<u8> {
    match v {
        0..=63 => vec![v as u8],
        64..=16_383 => (0x4000 | v as u16).to_be_bytes().to_vec(),
        16_384..=1_073_741_823 => (0x8000_0000 | v as u32).to_be_bytes().to_vec(),
        _ => (0xc000_0000_0000_0000 | v).to_be_bytes().to_vec(),
    }
}

/// A CRYPTO frame.
pub fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend(varint(offset as u64));
    f.extend(varint(data.len() as u64));
    f.extend_from_slice(data);
    f
}

/// An ACK frame acknowledging packet 0 to `largest`.
pub fn ack_frame(largest: u64) -> Vec<u8> {
    let mut f = vec![0x02];
    f.extend(varint(largest));
    f.extend(varint(0)); // delay
    f.extend(varint(0)); // extra ranges
    f.extend(varint(largest)); // first range
    f
}

/// Long-header packet kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Initial.
    Initial,
    /// Handshake.
    Handshake,
    /// Retry.
    Retry,
}

fn type_bits(version: u32, kind: Kind) -> u8 {
    let v1 = match kind {
        Kind::Initial => 0,
        Kind::Handshake => 2,
        Kind::Retry => 3,
    };
    if version == V2 {
        (v1 + 1) % 4
    } else {
        v1
    }
}

/// The connection IDs and token of a long header.
#[derive(Debug, Clone)]
pub struct Ids<'a> {
    /// QUIC version.
    pub version: u32,
    /// Destination Connection ID.
    pub dcid: &'a [u8],
    /// Source Connection ID.
    pub scid: &'a [u8],
    /// Initial token (after a Retry).
    pub token: &'a [u8],
}

fn long_header(ids: &Ids<'_>, kind: Kind, pn_len: usize) -> Vec<u8> {
    let mut h = vec![0xc0 | type_bits(ids.version, kind) << 4 | (pn_len as u8 - 1)];
    h.extend_from_slice(&ids.version.to_be_bytes());
    h.push(ids.dcid.len() as u8);
    h.extend_from_slice(ids.dcid);
    h.push(ids.scid.len() as u8);
    h.extend_from_slice(ids.scid);
    if kind == Kind::Initial {
        h.extend(varint(ids.token.len() as u64));
        h.extend_from_slice(ids.token);
    }
    h
}

/// An Initial packet: `frames` padded with PADDING to make the packet
/// `pad_to` bytes long (if larger), sealed with `keys`, header protected.
pub fn initial(
    ids: &Ids<'_>,
    keys: &KeyMaterial,
    pn: u32,
    frames: &[u8],
    pad_to: usize,
) -> Vec<u8> {
    let pn_len = 2;
    let mut header = long_header(ids, Kind::Initial, pn_len);
    // The Length field always takes 2 bytes here.
    let fixed = header.len() + 2 + pn_len + 16;
    let mut payload = frames.to_vec();
    if fixed + payload.len() < pad_to {
        payload.resize(pad_to - fixed, 0);
    }
    let length = pn_len + payload.len() + 16;
    header.extend_from_slice(&(0x4000 | length as u16).to_be_bytes());
    let pn_offset = header.len();
    header.extend_from_slice(&(pn as u16).to_be_bytes());
    let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &keys.key).expect("key"));
    let mut nonce = keys.iv;
    for (n, p) in nonce[4..].iter_mut().zip(u64::from(pn).to_be_bytes()) {
        *n ^= p;
    }
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&header),
            &mut payload,
        )
        .expect("seal");
    let mut packet = header;
    packet.extend_from_slice(&payload);
    packet.extend_from_slice(tag.as_ref());
    let hpk = hp::HeaderProtectionKey::new(&hp::AES_128, &keys.hp).expect("hp key");
    let mask = hpk
        .new_mask(&packet[pn_offset + 4..pn_offset + 20])
        .expect("mask");
    packet[0] ^= mask[0] & 0x0f;
    for i in 0..pn_len {
        packet[pn_offset + i] ^= mask[1 + i];
    }
    packet
}

/// A Handshake packet of `len` pseudo-random protected bytes.
pub fn handshake(ids: &Ids<'_>, len: usize, seed: u64) -> Vec<u8> {
    let mut p = long_header(ids, Kind::Handshake, 2);
    p.extend_from_slice(&(0x4000 | len as u16).to_be_bytes());
    p.extend(SplitMix64::new(seed).bytes(len));
    p
}

/// A Retry packet with `token` (its integrity tag pseudo-random).
pub fn retry(ids: &Ids<'_>, token: &[u8], seed: u64) -> Vec<u8> {
    let mut p = long_header(ids, Kind::Retry, 1);
    p[0] &= 0xf0;
    p.extend_from_slice(token);
    p.extend(SplitMix64::new(seed).bytes(16));
    p
}

/// A 1-RTT (short header) packet of `len` bytes in all.
pub fn short(dcid: &[u8], len: usize, seed: u64) -> Vec<u8> {
    let mut p = vec![0x41];
    p.extend_from_slice(dcid);
    let rest = len.saturating_sub(p.len());
    p.extend(SplitMix64::new(seed).bytes(rest));
    p
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("valid socket address literal")
}

/// The ClientHello a QUIC client sends (TLS 1.3 only, ALPN `h3`).
fn hello(sni: Option<&str>, seed: u64) -> Vec<u8> {
    tls::handshake_message(
        1,
        &tls::client_hello_body(&ClientHelloSpec {
            legacy_version: 0x0303,
            sni: sni.map(str::to_string),
            alpn: vec!["h3".into()],
            supported_versions: vec![GREASE, TLS13],
            seed,
        }),
    )
}

/// What a QUIC flow's TLS facts must say: every datagram's bytes are
/// application bytes.
fn expected_tls(sni: Option<&str>, flow: &UdpFlow) -> ExpectedTls {
    let e = flow.expected();
    ExpectedTls {
        sni: sni.map(str::to_string),
        alpn: vec!["h3".into()],
        client_versions: vec!["TLS 1.3".into()],
        version: Some("TLS 1.3".into()),
        app_bytes_out: e.payload_out,
        app_bytes_in: e.payload_in,
    }
}

/// Client and server of one exchange, with their connection IDs.
struct Endpoints {
    version: u32,
    odcid: Vec<u8>,
    client_cid: Vec<u8>,
    server_cid: Vec<u8>,
}

impl Endpoints {
    fn ids<'a>(&'a self, to_server: bool, dcid: &'a [u8], token: &'a [u8]) -> Ids<'a> {
        Ids {
            version: self.version,
            dcid,
            scid: if to_server {
                &self.client_cid
            } else {
                &self.server_cid
            },
            token,
        }
    }
}

/// One HTTP/3 upload: the ClientHello in two Initial packets (its CRYPTO
/// frames in reverse order, as browsers shuffle them), the server's
/// Initial (ServerHello, cipher `cipher`) coalesced with a Handshake
/// packet, then `up` 1-RTT datagrams of 1,200 bytes up and one small
/// acknowledgement down for each. `retry`: the server first answers with a
/// Retry, and the client starts again with the server's new ID.
fn upload(
    cap: &mut Capture,
    flow: &mut UdpFlow,
    e: &Endpoints,
    sni: Option<&str>,
    (cipher, up, retry): (u16, usize, bool),
) {
    let ch = hello(sni, u64::from(e.version) ^ up as u64);
    let mut dcid = e.odcid.clone();
    let mut token = Vec::new();
    if retry {
        let first = crypto_frame(0, &ch);
        let keys = initial_keys(e.version, &dcid, true);
        flow.client_send(
            cap,
            &initial(&e.ids(true, &dcid, &[]), &keys, 0, &first, 1200),
        );
        token = b"retry-token-0123456789".to_vec();
        let r = self::retry(&e.ids(false, &e.client_cid, &[]), &token, 7);
        flow.server_send(cap, &r);
        dcid = e.server_cid.clone();
    }
    let ckeys = initial_keys(e.version, &dcid, true);
    let skeys = initial_keys(e.version, &dcid, false);
    let half = ch.len() / 2;
    // Packet 0 holds the second half, packet 1 the first.
    let p0 = crypto_frame(half, &ch[half..]);
    let p1 = crypto_frame(0, &ch[..half]);
    let pn0 = u32::from(retry);
    let ids = e.ids(true, &dcid, &token);
    flow.client_send(cap, &initial(&ids, &ckeys, pn0, &p0, 1200));
    flow.client_send(cap, &initial(&ids, &ckeys, pn0 + 1, &p1, 1200));
    let sh = tls::server_hello(cipher, Some(TLS13), &[], 11);
    let mut frames = ack_frame(u64::from(pn0 + 1));
    frames.extend(crypto_frame(0, &sh));
    let sids = e.ids(false, &e.client_cid, &[]);
    let mut d = initial(&sids, &skeys, 0, &frames, 0);
    d.extend(handshake(&sids, 900, 12));
    flow.server_send(cap, &d);
    for i in 0..up {
        flow.client_send(cap, &short(&e.server_cid, 1200, 100 + i as u64));
        flow.server_send(cap, &short(&e.client_cid, 40, 200 + i as u64));
    }
}

/// One flow of the scenario.
struct Case {
    version: u32,
    sni: Option<&'static str>,
    cipher: u16,
    up: usize,
    retry: bool,
    client: &'static str,
}

/// QUIC flows, every Initial sealed with its real keys: version 1 with a
/// server name, version 2 without one, version 1 after a Retry.
pub fn quic() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut flows = Vec::new();
    let case = |version, sni, cipher, up, retry, client| Case {
        version,
        sni,
        cipher,
        up,
        retry,
        client,
    };
    let cases = [
        case(
            V1,
            Some("upload.example.test"),
            0x1301,
            6,
            false,
            "10.0.0.40:50443",
        ),
        case(V2, None, 0x1302, 2, false, "10.0.0.41:50444"),
        case(
            V1,
            Some("retry.example.test"),
            0x1303,
            1,
            true,
            "10.0.0.42:50445",
        ),
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let Case {
            version,
            sni,
            cipher,
            up,
            retry,
            client,
        } = c;
        let mut flow = UdpFlow::new(Link::Ethernet, sa(client), sa("203.0.113.43:443"));
        let e = Endpoints {
            version,
            odcid: vec![0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, i as u8],
            client_cid: vec![0xc1, i as u8, 0x01, 0x02],
            server_cid: vec![0x5e, i as u8, 0x0a, 0x0b, 0x0c],
        };
        upload(&mut cap, &mut flow, &e, sni, (cipher, up, retry));
        let mut x = flow.expected();
        x.tls = Some(expected_tls(sni, &flow));
        flows.push(x);
    }
    Scenario {
        name: "quic",
        linktype: LINKTYPE_ETHERNET,
        description: "QUIC to 203.0.113.43:443, Initial packets sealed with the keys of RFC 9001 / RFC 9369: \
                      10.0.0.40:50443 version 1, SNI upload.example.test, ALPN h3, the ClientHello in two \
                      Initials (CRYPTO frames in reverse order), the server's Initial (ServerHello, \
                      TLS_AES_128_GCM_SHA256) coalesced with a 900-byte Handshake packet, then 6 short-header \
                      datagrams of 1,200 bytes up, 40 down; 10.0.0.41:50444 version 2, no SNI, \
                      TLS_AES_256_GCM_SHA384, 2 datagrams up; 10.0.0.42:50445 version 1 answered first by a \
                      Retry, then the same exchange keyed by the server's new connection ID, \
                      TLS_CHACHA20_POLY1305_SHA256, 1 datagram up. Every datagram counts as TLS application \
                      bytes.",
        pcap: cap.into_bytes(),
        flows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// RFC 9001 A.1 and RFC 9369 A.1: the keys for DCID 0x8394c8f03e515708.
    #[test]
    fn keys_of_the_rfc_examples() {
        let dcid = hex("8394c8f03e515708");
        let c = initial_keys(V1, &dcid, true);
        assert_eq!(c.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(c.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(c.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
        let s = initial_keys(V1, &dcid, false);
        assert_eq!(s.key.to_vec(), hex("cf3a5331653c364c88f0f379b6067e37"));
        assert_eq!(s.hp.to_vec(), hex("c206b8d9b9f0f37644430b490eeaa314"));
        let c2 = initial_keys(V2, &dcid, true);
        assert_eq!(c2.key.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(c2.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        assert_eq!(c2.hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
    }

    #[test]
    fn varints_take_their_shortest_form() {
        assert_eq!(varint(37), vec![0x25]);
        assert_eq!(varint(15_293), vec![0x7b, 0xbd]);
        assert_eq!(varint(494_878_333), vec![0x9d, 0x7f, 0x3e, 0x7d]);
    }

    #[test]
    fn a_client_initial_is_padded_to_1200() {
        let keys = initial_keys(V1, b"abcdefgh", true);
        let ids = Ids {
            version: V1,
            dcid: b"abcdefgh",
            scid: b"",
            token: b"",
        };
        let p = initial(&ids, &keys, 0, &crypto_frame(0, b"hello"), 1200);
        assert_eq!(p.len(), 1200);
        assert_eq!(p[0] & 0xf0, 0xc0);
    }
}
