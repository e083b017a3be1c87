use super::*;
use pcapgen::quic::{self as gen, Ids, V1, V2};

fn hello(sni: &str) -> Vec<u8> {
    pcapgen::tls::handshake_message(
        1,
        &pcapgen::tls::client_hello_body(&pcapgen::tls::ClientHelloSpec {
            legacy_version: 0x0303,
            sni: Some(sni.into()),
            alpn: vec!["h3".into()],
            supported_versions: vec![pcapgen::tls::GREASE, pcapgen::tls::TLS13],
            seed: 5,
        }),
    )
}

fn client_initial(version: u32, dcid: &[u8], pn: u32, frames: &[u8]) -> Vec<u8> {
    let ids = Ids {
        version,
        dcid,
        scid: b"\x01\x02",
        token: b"",
    };
    gen::initial(
        &ids,
        &gen::initial_keys(version, dcid, true),
        pn,
        frames,
        1200,
    )
}

#[test]
fn the_probe_takes_initials_of_known_versions_only() {
    let v1 = client_initial(V1, b"12345678", 0, &gen::crypto_frame(0, b"x"));
    let v2 = client_initial(V2, b"12345678", 0, &gen::crypto_frame(0, b"x"));
    assert_eq!(probe(true, &v1[..16]), Probe::Yes);
    assert_eq!(probe(true, &v2[..16]), Probe::Yes);
    // Version 2 moved the types: a version 1 Initial's type bits under
    // version 2 are a Retry.
    let mut odd = v2.clone();
    odd[0] &= 0xcf;
    assert_eq!(probe(true, &odd[..16]), Probe::No);
    let mut unknown = v1;
    unknown[1..5].copy_from_slice(&[0x0a, 0x1a, 0x2a, 0x3a]);
    assert_eq!(probe(true, &unknown[..16]), Probe::No);
    assert_eq!(probe(true, b"\x41short header"), Probe::No);
}

#[test]
fn a_hello_in_two_shuffled_initials_is_read() {
    for version in [V1, V2] {
        let ch = hello("a.example.test");
        let mid = ch.len() / 2;
        let mut q = Quic::new(1 << 16);
        let dcid = [9u8; 8];
        q.datagram(
            true,
            &client_initial(version, &dcid, 0, &gen::crypto_frame(mid, &ch[mid..])),
        );
        assert_eq!(q.info.sni, None);
        q.datagram(
            true,
            &client_initial(version, &dcid, 1, &gen::crypto_frame(0, &ch[..mid])),
        );
        assert_eq!(q.info.sni.as_deref(), Some("a.example.test"));
        assert_eq!(q.info.alpn, vec!["h3".to_string()]);
        assert!(
            q.info.ja4.as_deref().is_some_and(|j| j.starts_with("q13d")),
            "{:?}",
            q.info.ja4
        );
        assert_eq!(
            (q.info.app_bytes_out, q.info.handshake_bytes_out),
            (2400, 2400)
        );
        assert_eq!((q.initials, q.undecrypted), (2, 0));
        assert_eq!(q.counters.parse_errors, 0);
    }
}

#[test]
fn damaged_or_foreign_initials_are_counted_not_read() {
    let ch = hello("b.example.test");
    let mut p = client_initial(V1, b"abcdefgh", 0, &gen::crypto_frame(0, &ch));
    let last = p.len() - 1;
    p[last] ^= 1; // the tag no longer matches
    let mut q = Quic::new(1 << 16);
    q.datagram(true, &p);
    assert_eq!((q.initials, q.undecrypted), (1, 1));
    assert_eq!(q.info.sni, None);
    // A server Initial with no client Initial seen: no keys, nothing read.
    let mut q = Quic::new(1 << 16);
    q.datagram(
        false,
        &client_initial(V1, b"abcdefgh", 0, &gen::crypto_frame(0, &ch)),
    );
    assert_eq!((q.initials, q.undecrypted, q.opened), (1, 0, 0));
    // A packet whose Length runs past the datagram ends the datagram.
    let mut cut = client_initial(V1, b"abcdefgh", 0, &gen::crypto_frame(0, &ch));
    cut.truncate(600);
    let mut q = Quic::new(1 << 16);
    q.datagram(true, &cut);
    assert_eq!(q.counters.parse_errors, 1);
    assert_eq!(
        (q.info.app_bytes_out, q.info.handshake_bytes_out),
        (600, 600)
    );
}

#[test]
fn a_hello_longer_than_the_cap_is_given_up() {
    let ch = hello("c.example.test");
    let mut q = Quic::new(100);
    q.datagram(
        true,
        &client_initial(V1, b"abcdefgh", 0, &gen::crypto_frame(0, &ch)),
    );
    assert_eq!(q.info.sni, None);
    assert_eq!(q.counters.parse_errors, 1);
    assert!(q.crypto[0].done);
}

#[test]
fn short_headers_and_zero_rtt_are_application_bytes() {
    let mut q = Quic::new(1 << 16);
    q.datagram(true, &gen::short(b"\x05\x06", 300, 1));
    // A 0-RTT long header (type 1 in version 1) with 20 bytes after Length.
    let mut z = vec![0xd0, 0, 0, 0, 1, 2, 0xaa, 0xbb, 0];
    z.push(20);
    z.extend([0u8; 20]);
    q.datagram(true, &z);
    assert_eq!(q.info.app_bytes_out, 300 + z.len() as u64);
    assert_eq!(q.info.handshake_bytes_out, 0);
}

#[test]
fn crypto_pieces_merge_in_any_order() {
    let mut c = Crypto::default();
    let msg = [1u8, 0, 0, 6, 10, 11, 12, 13, 14, 15];
    assert_eq!(c.take(6, &msg[6..], 64), Ok(None));
    assert_eq!(c.take(2, &msg[2..5], 64), Ok(None));
    assert_eq!(c.take(4, &msg[4..8], 64), Ok(None));
    assert_eq!(c.pieces, vec![(2, 10)]);
    assert_eq!(c.take(0, &msg[..3], 64), Ok(Some(msg.to_vec())));
    assert_eq!(Crypto::default().take(60, &[0; 10], 64), Err(()));
}

#[test]
fn packet_numbers_are_decoded_near_the_expected_one() {
    // RFC 9000 A.3: largest 0xa82f30ea, truncated 0x9b32 (16 bits).
    assert_eq!(packet_number(Some(0xa82f_30ea), 0x9b32, 16), 0xa82f_9b32);
    assert_eq!(packet_number(None, 0, 16), 0);
    assert_eq!(packet_number(Some(0xff), 0x01, 8), 0x101);
}

#[test]
fn varints_of_every_length() {
    assert_eq!(varint(&[0x25]), Some((37, &[][..])));
    assert_eq!(varint(&[0x7b, 0xbd, 9]), Some((15_293, &[9u8][..])));
    assert_eq!(
        varint(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]),
        Some((151_288_809_941_952_652, &[][..]))
    );
    assert_eq!(varint(&[0x80, 1]), None);
}
