//! JA4, the TLS client fingerprint (FoxIO's JA4 TLS client method, BSD
//! 3-Clause): `{t|q|d}{version}{d|i}{ciphers}{extensions}{alpn}_{cipher
//! hash}_{extension hash}`, GREASE left out everywhere.
//!
//! Part a says what the hello is: the transport (`t` TCP, `q` QUIC, `d`
//! DTLS), the highest offered version, whether a server name was given,
//! the cipher and extension counts (two digits, at most 99) and the first
//! and last characters of the first ALPN value. Parts b and c are the first 12 hex
//! digits of the SHA-256 of the sorted cipher list and of the sorted
//! extension list (server name and ALPN taken out) followed by the
//! signature algorithms in the order offered.

use ring::digest::{digest, SHA256};
use std::fmt::Write;

/// What JA4 reads from a ClientHello.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HelloFacts {
    /// The hello's own (legacy) version.
    pub legacy_version: u16,
    /// Cipher suites, in the order offered.
    pub ciphers: Vec<u16>,
    /// Extension types, in the order offered.
    pub extensions: Vec<u16>,
    /// supported_versions, if the extension was there.
    pub versions: Vec<u16>,
    /// The first ALPN value's bytes.
    pub first_alpn: Option<Vec<u8>>,
    /// signature_algorithms, in the order offered.
    pub signature_algorithms: Vec<u16>,
}

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_ALPN: u16 = 0x0010;

/// GREASE values (RFC 8701): `0x?a?a` with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// What carried a hello: JA4's first letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// TLS records on TCP.
    Tcp,
    /// QUIC CRYPTO frames.
    Quic,
    /// DTLS records on UDP.
    Dtls,
}

impl Carrier {
    fn letter(self) -> char {
        match self {
            Carrier::Tcp => 't',
            Carrier::Quic => 'q',
            Carrier::Dtls => 'd',
        }
    }
}

/// The fingerprint of a hello `carrier` carried.
pub fn fingerprint(h: &HelloFacts, carrier: Carrier) -> String {
    let mut ciphers: Vec<u16> = h
        .ciphers
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .collect();
    let exts: Vec<u16> = h
        .extensions
        .iter()
        .copied()
        .filter(|e| !is_grease(*e))
        .collect();
    let version = h
        .versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max_by_key(|v| rank(*v))
        .unwrap_or(h.legacy_version);
    let mut out = String::with_capacity(36);
    out.push(carrier.letter());
    out.push_str(version_code(version));
    out.push(if exts.contains(&EXT_SERVER_NAME) {
        'd'
    } else {
        'i'
    });
    let _ = write!(out, "{:02}{:02}", ciphers.len().min(99), exts.len().min(99));
    out.push_str(&alpn_code(h.first_alpn.as_deref()));
    ciphers.sort_unstable();
    out.push('_');
    out.push_str(&hash12(&hex_list(&ciphers)));
    let mut sorted: Vec<u16> = exts
        .into_iter()
        .filter(|e| *e != EXT_SERVER_NAME && *e != EXT_ALPN)
        .collect();
    sorted.sort_unstable();
    let mut c = hex_list(&sorted);
    if !h.signature_algorithms.is_empty() {
        c.push('_');
        c.push_str(&hex_list(&h.signature_algorithms));
    }
    out.push('_');
    out.push_str(&hash12(&c));
    out
}

/// A version's place among all: DTLS numbers count down (DTLS 1.3 is
/// 0xfefc, 1.2 0xfefd), so each ranks as the TLS version it follows.
fn rank(v: u16) -> u16 {
    match v {
        0xfeff => 0x0302,
        0xfefd => 0x0303,
        0xfefc => 0x0304,
        other => other,
    }
}

fn version_code(v: u16) -> &'static str {
    match v {
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 | 0x0002 => "s2",
        0x0100 => "s1",
        _ => "00",
    }
}

/// First and last characters of the first ALPN value: as they are when
/// both are ASCII letters or digits, else the first and last hex digits
/// of the whole value; `00` without one.
fn alpn_code(alpn: Option<&[u8]>) -> String {
    let Some(v) = alpn.filter(|v| !v.is_empty()) else {
        return "00".into();
    };
    let (first, last) = (v.first().copied(), v.last().copied());
    match (first, last) {
        (Some(f), Some(l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {
            format!("{}{}", char::from(f), char::from(l))
        }
        (Some(f), Some(l)) => format!("{:x}{:x}", f >> 4, l & 0x0f),
        _ => "00".into(),
    }
}

/// Four lower-case hex digits per value, comma separated.
fn hex_list(v: &[u16]) -> String {
    let mut s = String::with_capacity(v.len() * 5);
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{x:04x}");
    }
    s
}

/// The first 12 hex digits of the SHA-256 of `s`; twelve zeros for an
/// empty list.
fn hash12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".into();
    }
    let d = digest(&SHA256, s.as_bytes());
    let mut out = String::with_capacity(12);
    for b in d.as_ref().iter().take(6) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the JA4 description: 15 ciphers, 16
    /// extensions, ALPN h2, eight signature algorithms, GREASE added.
    fn example() -> HelloFacts {
        HelloFacts {
            legacy_version: 0x0303,
            ciphers: vec![
                0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0xdada, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005,
                0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0x1a1a,
            ],
            versions: vec![0x7a7a, 0x0304, 0x0303],
            first_alpn: Some(b"h2".to_vec()),
            signature_algorithms: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
        }
    }

    #[test]
    fn the_described_example() {
        assert_eq!(
            fingerprint(&example(), Carrier::Tcp),
            "t13d1516h2_8daaf6152771_e5627efa2ab1"
        );
    }

    #[test]
    fn without_signature_algorithms_the_list_ends_without_underscore() {
        let mut h = example();
        h.signature_algorithms.clear();
        assert_eq!(
            fingerprint(&h, Carrier::Quic),
            "q13d1516h2_8daaf6152771_6d807ffa2a79"
        );
    }

    #[test]
    fn part_a_edges() {
        let h = HelloFacts {
            legacy_version: 0x0301,
            ..HelloFacts::default()
        };
        assert_eq!(
            fingerprint(&h, Carrier::Tcp),
            "t10i000000_000000000000_000000000000"
        );
        assert_eq!(alpn_code(Some(b"http/1.1")), "h1");
        assert_eq!(alpn_code(Some(b"h")), "hh");
        assert_eq!(alpn_code(Some(&[0xab, 0xcd])), "ad");
        assert_eq!(alpn_code(Some(b"")), "00");
        assert_eq!(version_code(0x7f12), "00");
    }
}
