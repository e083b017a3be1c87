//! The first handshake message of each side, whole, whatever carried it
//! (TLS records on TCP, CRYPTO frames of QUIC Initial packets): what a
//! ClientHello offers (server name, ALPN, versions, JA4) and what a
//! ServerHello chose (version, cipher suite, ALPN).

use super::ja4::{self, is_grease, Carrier, HelloFacts};
use super::tls::{version_name, TlsCounters};
use model::flow::TlsInfo;
use tls_parser::{
    parse_dtls_message_handshake, parse_tls_extensions, parse_tls_message_handshake, ClientHello,
    DTLSMessage, DTLSMessageHandshakeBody, TlsCipherSuite, TlsExtension, TlsMessage,
    TlsMessageHandshake,
};

/// Bytes a whole handshake message takes (4-byte header included), once
/// its header is there.
pub fn message_len(buf: &[u8]) -> Option<usize> {
    let &[_, a, b, c] = buf.get(..4)? else {
        return None;
    };
    Some(4 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c)))
}

/// Reads one whole handshake message, as TLS frames it, into `info`;
/// `carrier` is what carried it (JA4's first letter).
pub fn read(info: &mut TlsInfo, counters: &mut TlsCounters, msg: &[u8], carrier: Carrier) {
    if let Some((version, cipher, ext)) = draft_server_hello(msg) {
        server_hello(info, version, cipher, ext);
        return;
    }
    match parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) => {
            counters.client_hellos += 1;
            client_hello(info, counters, &ch, carrier);
        }
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) => {
            server_hello(info, sh.version.0, sh.cipher.0, sh.ext);
        }
        // TLS 1.3 drafts put their version in the hello itself.
        Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHelloV13Draft18(sh)))) => {
            server_hello(info, sh.version.0, sh.cipher.0, sh.ext);
        }
        Ok(_) => {}
        Err(_) => counters.parse_errors += 1,
    }
}

/// Reads one whole DTLS handshake message (its 12-byte header, then the
/// body) into `info`.
pub fn read_dtls(info: &mut TlsInfo, counters: &mut TlsCounters, msg: &[u8]) {
    match parse_dtls_message_handshake(msg) {
        Ok((_, DTLSMessage::Handshake(hs))) => match hs.body {
            DTLSMessageHandshakeBody::ClientHello(ch) => {
                counters.client_hellos += 1;
                client_hello(info, counters, &ch, Carrier::Dtls);
            }
            DTLSMessageHandshakeBody::ServerHello(sh) => {
                server_hello(info, sh.version.0, sh.cipher.0, sh.ext);
            }
            _ => {}
        },
        Ok(_) => {}
        Err(_) => counters.parse_errors += 1,
    }
}

fn client_hello<'a>(
    info: &mut TlsInfo,
    counters: &mut TlsCounters,
    ch: &impl ClientHello<'a>,
    carrier: Carrier,
) {
    let mut facts = HelloFacts {
        legacy_version: ch.version().0,
        ciphers: ch.ciphers().iter().map(|c| c.0).collect(),
        extensions: ch.ext().map(extension_types).unwrap_or_default(),
        ..HelloFacts::default()
    };
    if let Some(ext) = ch.ext() {
        match parse_tls_extensions(ext) {
            Ok((_, exts)) => {
                for e in exts {
                    match e {
                        TlsExtension::SNI(names) => {
                            if let Some((_, name)) = names.first() {
                                info.sni = Some(String::from_utf8_lossy(name).into_owned());
                            }
                        }
                        TlsExtension::ALPN(protos) => {
                            facts.first_alpn = protos.first().map(|p| p.to_vec());
                            info.alpn = protos
                                .iter()
                                .map(|p| String::from_utf8_lossy(p).into_owned())
                                .collect();
                        }
                        TlsExtension::SupportedVersions(vs) => {
                            facts.versions = vs.iter().map(|v| v.0).collect();
                        }
                        TlsExtension::SignatureAlgorithms(algs) => {
                            facts.signature_algorithms = algs;
                        }
                        _ => {}
                    }
                }
            }
            Err(_) => counters.parse_errors += 1,
        }
    }
    let mut offered: Vec<u16> = facts
        .versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect();
    if offered.is_empty() {
        offered.push(ch.version().0);
    }
    info.client_versions = offered.into_iter().map(version_name).collect();
    info.ja4 = Some(ja4::fingerprint(&facts, carrier));
}

/// Extension types in the order offered, read from the raw list (every
/// type, also those the parser does not know).
fn extension_types(mut raw: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    while let [t0, t1, l0, l1, rest @ ..] = raw {
        out.push(u16::from_be_bytes([*t0, *t1]));
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        raw = rest.get(len..).unwrap_or_default();
    }
    out
}

/// A ServerHello of TLS 1.3 drafts up to 21 (0x7f00 to 0x7f15, and the
/// early drafts' 0x0304 in the hello itself), whose hello has no session
/// id and no compression method (draft 22 put them back, with 0x0303 in
/// the hello): its version, cipher suite and extensions, when `msg` is
/// one. The parser crate reads draft 18's only.
fn draft_server_hello(msg: &[u8]) -> Option<(u16, u16, Option<&[u8]>)> {
    let [2, _, _, _, hi, lo, rest @ ..] = msg else {
        return None;
    };
    let version = u16::from_be_bytes([*hi, *lo]);
    if !matches!(version, 0x7f00..=0x7f15 | 0x0304) {
        return None;
    }
    let cipher = u16::from_be_bytes(rest.get(32..34)?.try_into().ok()?);
    let ext = match rest.get(34..36) {
        Some(&[hi, lo]) => Some(rest.get(36..36 + usize::from(u16::from_be_bytes([hi, lo])))?),
        _ => None,
    };
    Some((version, cipher, ext))
}

/// The version, cipher suite and ALPN protocol a ServerHello chose: its
/// version, or the one its supported_versions extension names.
fn server_hello(info: &mut TlsInfo, version: u16, cipher: u16, ext: Option<&[u8]>) {
    let mut chosen = version;
    if let Some(Ok((_, exts))) = ext.map(parse_tls_extensions) {
        for e in exts {
            match e {
                TlsExtension::SupportedVersions(vs) => {
                    if let Some(v) = vs.first() {
                        chosen = v.0;
                    }
                }
                TlsExtension::ALPN(protos) => {
                    info.alpn_chosen = protos
                        .first()
                        .map(|p| String::from_utf8_lossy(p).into_owned());
                }
                _ => {}
            }
        }
    }
    info.version = Some(version_name(chosen));
    info.cipher = Some(match TlsCipherSuite::from_id(cipher) {
        Some(s) => s.name.to_string(),
        None => format!("0x{cipher:04x}"),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_types_in_order_and_a_cut_list_ends() {
        let raw = [0x00, 0x00, 0x00, 0x01, 0xaa, 0x00, 0x10, 0x00, 0x00, 0xfe];
        assert_eq!(extension_types(&raw), vec![0x0000, 0x0010]);
        assert_eq!(extension_types(&[0x00, 0x2b, 0x00, 0x09]), vec![0x002b]);
        assert!(extension_types(&[0x00]).is_empty());
    }

    #[test]
    fn message_length_from_the_header() {
        assert_eq!(message_len(&[1, 0, 1, 2, 9]), Some(4 + 258));
        assert_eq!(message_len(&[1, 0, 1]), None);
    }
}
