//! Hand-built TLS records and handshake messages (structure only; the
//! "encrypted" parts are pseudo-random bytes).

use crate::rng::SplitMix64;

/// Record content type: change_cipher_spec.
pub const CT_CHANGE_CIPHER_SPEC: u8 = 20;
/// Record content type: alert.
pub const CT_ALERT: u8 = 21;
/// Record content type: handshake.
pub const CT_HANDSHAKE: u8 = 22;
/// Record content type: application_data.
pub const CT_APPLICATION_DATA: u8 = 23;

/// Protocol version TLS 1.0 (used as the ClientHello record version).
pub const TLS10: u16 = 0x0301;
/// Protocol version TLS 1.2.
pub const TLS12: u16 = 0x0303;
/// Protocol version TLS 1.3.
pub const TLS13: u16 = 0x0304;
/// A GREASE value (RFC 8701) that readers must ignore.
pub const GREASE: u16 = 0x0a0a;

/// Human name of a protocol version (`"TLS 1.2"`), `None` for others.
pub fn version_name(v: u16) -> Option<String> {
    let n = match v {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => return None,
    };
    Some(n.to_string())
}

fn push_u16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn push_u24(v: &mut Vec<u8>, x: usize) {
    assert!(x < 1 << 24);
    v.extend_from_slice(&(x as u32).to_be_bytes()[1..]);
}

/// `len` as a u16 length prefix followed by `body`.
fn vec16(body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 2);
    push_u16(&mut v, body.len() as u16);
    v.extend_from_slice(body);
    v
}

fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    push_u16(&mut v, kind);
    v.extend_from_slice(&vec16(body));
    v
}

/// One TLS record: 5-byte header (type, version, length) + payload.
pub fn record(content_type: u8, version: u16, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= 16384 + 2048, "record too long");
    let mut v = Vec::with_capacity(payload.len() + 5);
    v.push(content_type);
    push_u16(&mut v, version);
    push_u16(&mut v, payload.len() as u16);
    v.extend_from_slice(payload);
    v
}

/// One handshake message: type, u24 length, body.
pub fn handshake_message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 4);
    v.push(msg_type);
    push_u24(&mut v, body.len());
    v.extend_from_slice(body);
    v
}

/// A change_cipher_spec record (6 bytes).
pub fn change_cipher_spec() -> Vec<u8> {
    record(CT_CHANGE_CIPHER_SPEC, TLS12, &[1])
}

/// An application_data record with `len` pseudo-random payload bytes.
pub fn app_data(len: usize, seed: u64) -> Vec<u8> {
    record(
        CT_APPLICATION_DATA,
        TLS12,
        &SplitMix64::new(seed).bytes(len),
    )
}

/// What goes into a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHelloSpec {
    /// legacy_version field (0x0303 for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// server_name extension, if any.
    pub sni: Option<String>,
    /// ALPN protocol names (extension omitted when empty).
    pub alpn: Vec<String>,
    /// supported_versions extension contents (omitted when empty). GREASE
    /// values may be included.
    pub supported_versions: Vec<u16>,
    /// Seed of the random, session id and key share bytes.
    pub seed: u64,
}

/// The body of a ClientHello handshake message.
pub fn client_hello_body(spec: &ClientHelloSpec) -> Vec<u8> {
    let mut r = SplitMix64::new(spec.seed);
    let tls13 = spec.supported_versions.contains(&TLS13);
    let mut b = Vec::new();
    push_u16(&mut b, spec.legacy_version);
    b.extend_from_slice(&r.bytes(32)); // random
    if tls13 {
        b.push(32);
        b.extend_from_slice(&r.bytes(32)); // middlebox-compat session id
    } else {
        b.push(0);
    }
    let suites: &[u16] = if tls13 {
        &[
            GREASE, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
        ]
    } else {
        &[
            0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0x009c, 0x009d, 0x002f, 0x0035,
        ]
    };
    let mut s = Vec::new();
    for &x in suites {
        push_u16(&mut s, x);
    }
    b.extend_from_slice(&vec16(&s));
    b.extend_from_slice(&[1, 0]); // compression methods: null

    let mut ext = Vec::new();
    if let Some(name) = &spec.sni {
        let mut entry = vec![0u8]; // host_name
        entry.extend_from_slice(&vec16(name.as_bytes()));
        ext.extend_from_slice(&extension(0, &vec16(&entry)));
    }
    ext.extend_from_slice(&extension(0x0017, &[])); // extended_master_secret
    ext.extend_from_slice(&extension(0xff01, &[0])); // renegotiation_info
    let mut groups = Vec::new();
    for g in [0x001d, 0x0017, 0x0018] {
        push_u16(&mut groups, g);
    }
    ext.extend_from_slice(&extension(10, &vec16(&groups))); // supported_groups
    ext.extend_from_slice(&extension(11, &[1, 0])); // ec_point_formats
    if !spec.alpn.is_empty() {
        let mut list = Vec::new();
        for p in &spec.alpn {
            list.push(p.len() as u8);
            list.extend_from_slice(p.as_bytes());
        }
        ext.extend_from_slice(&extension(16, &vec16(&list)));
    }
    let mut sigs = Vec::new();
    for a in [
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ] {
        push_u16(&mut sigs, a);
    }
    ext.extend_from_slice(&extension(13, &vec16(&sigs))); // signature_algorithms
    if !spec.supported_versions.is_empty() {
        let mut sv = vec![(spec.supported_versions.len() * 2) as u8];
        for &v in &spec.supported_versions {
            push_u16(&mut sv, v);
        }
        ext.extend_from_slice(&extension(43, &sv));
    }
    if tls13 {
        ext.extend_from_slice(&extension(45, &[1, 1])); // psk_key_exchange_modes
        let mut share = Vec::new();
        push_u16(&mut share, 0x001d);
        share.extend_from_slice(&vec16(&r.bytes(32)));
        ext.extend_from_slice(&extension(51, &vec16(&share))); // key_share
    }
    b.extend_from_slice(&vec16(&ext));
    b
}

/// A whole ClientHello record (record version 0x0301).
pub fn client_hello(spec: &ClientHelloSpec) -> Vec<u8> {
    record(
        CT_HANDSHAKE,
        TLS10,
        &handshake_message(1, &client_hello_body(spec)),
    )
}

/// A ServerHello handshake message. With `selected_version` the
/// supported_versions extension (and a key share) is added, as in TLS 1.3;
/// without, a TLS 1.2 ServerHello with renegotiation_info.
pub fn server_hello(
    cipher: u16,
    selected_version: Option<u16>,
    session_id: &[u8],
    seed: u64,
) -> Vec<u8> {
    let mut r = SplitMix64::new(seed);
    let mut b = Vec::new();
    push_u16(&mut b, TLS12);
    b.extend_from_slice(&r.bytes(32));
    b.push(session_id.len() as u8);
    b.extend_from_slice(session_id);
    push_u16(&mut b, cipher);
    b.push(0);
    let mut ext = Vec::new();
    if let Some(v) = selected_version {
        ext.extend_from_slice(&extension(43, &v.to_be_bytes()));
        let mut share = Vec::new();
        push_u16(&mut share, 0x001d);
        share.extend_from_slice(&vec16(&r.bytes(32)));
        ext.extend_from_slice(&extension(51, &share));
    } else {
        ext.extend_from_slice(&extension(0xff01, &[0]));
        ext.extend_from_slice(&extension(0x0017, &[]));
    }
    b.extend_from_slice(&vec16(&ext));
    handshake_message(2, &b)
}

/// A ServerHello of the TLS 1.3 drafts up to 21: `version` in the hello
/// itself (0x7f00 + draft, or the early drafts' 0x0304), then the random,
/// the cipher suite and the extensions (a key share, codepoint 40 as the
/// drafts had it), with no session id and no compression method.
pub fn draft_server_hello(version: u16, cipher: u16, seed: u64) -> Vec<u8> {
    let mut r = SplitMix64::new(seed);
    let mut b = Vec::new();
    push_u16(&mut b, version);
    b.extend_from_slice(&r.bytes(32));
    push_u16(&mut b, cipher);
    let mut share = Vec::new();
    push_u16(&mut share, 0x001d);
    share.extend_from_slice(&vec16(&r.bytes(32)));
    b.extend_from_slice(&vec16(&extension(40, &share)));
    handshake_message(2, &b)
}

/// A Certificate handshake message with one fake certificate of
/// `cert_len` bytes.
pub fn certificate(cert_len: usize, seed: u64) -> Vec<u8> {
    let mut cert = vec![0x30, 0x82];
    push_u16(&mut cert, (cert_len - 4) as u16);
    cert.extend_from_slice(&SplitMix64::new(seed).bytes(cert_len - 4));
    let mut list = Vec::new();
    push_u24(&mut list, cert.len());
    list.extend_from_slice(&cert);
    let mut body = Vec::new();
    push_u24(&mut body, list.len());
    body.extend_from_slice(&list);
    handshake_message(11, &body)
}

/// A ServerHelloDone handshake message.
pub fn server_hello_done() -> Vec<u8> {
    handshake_message(14, &[])
}

/// A ClientKeyExchange handshake message with an ECDHE public key.
pub fn client_key_exchange(seed: u64) -> Vec<u8> {
    let mut body = vec![32u8];
    body.extend_from_slice(&SplitMix64::new(seed).bytes(32));
    handshake_message(16, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_lengths_are_consistent() {
        let ch = client_hello(&ClientHelloSpec {
            legacy_version: TLS12,
            sni: Some("a.example".into()),
            alpn: vec!["h2".into()],
            supported_versions: vec![GREASE, TLS13, TLS12],
            seed: 1,
        });
        assert_eq!(ch[0], CT_HANDSHAKE);
        let rec_len = u16::from_be_bytes([ch[3], ch[4]]) as usize;
        assert_eq!(rec_len + 5, ch.len());
        assert_eq!(ch[5], 1);
        let hs_len = u32::from_be_bytes([0, ch[6], ch[7], ch[8]]) as usize;
        assert_eq!(hs_len + 4, rec_len);
    }
}
