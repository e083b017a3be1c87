use super::*;
use pcapgen::dtls::{fragment, DTLS12};

/// A DTLS 1.2 record, as the generator builds them.
fn record(content: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
    pcapgen::dtls::record(content, DTLS12, epoch, 1, body)
}

/// A DTLS ClientHello body: version 1.2, a random, no session id, a
/// cookie, two cipher suites, null compression, then a server name and
/// supported_versions (DTLS 1.3 and 1.2).
fn client_hello(cookie: &[u8], sni: &str) -> Vec<u8> {
    let mut b = vec![0xfe, 0xfd];
    b.extend_from_slice(&[0x11; 32]);
    b.push(0);
    b.push(cookie.len() as u8);
    b.extend_from_slice(cookie);
    b.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2b, 1, 0]);
    let mut name = vec![0];
    name.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    name.extend_from_slice(sni.as_bytes());
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&((name.len() + 2) as u16).to_be_bytes());
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(&name);
    ext.extend_from_slice(&[0, 0x2b, 0, 5, 4, 0xfe, 0xfc, 0xfe, 0xfd]);
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&ext);
    b
}

fn server_hello(selected: u16) -> Vec<u8> {
    let mut b = vec![0xfe, 0xfd];
    b.extend_from_slice(&[0x22; 32]);
    b.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2]);
    b.extend_from_slice(&selected.to_be_bytes());
    b
}

fn one_record_hello(kind: u8, body: &[u8]) -> Vec<u8> {
    record(
        CONTENT_HANDSHAKE,
        0,
        &fragment(kind, 0, body, 0..body.len()),
    )
}

#[test]
fn the_probe_takes_hellos_of_dtls_versions_only() {
    let ch = one_record_hello(CLIENT_HELLO, &client_hello(&[], "a.example"));
    assert_eq!(probe(true, &ch), Probe::Yes);
    assert_eq!(probe(false, &ch), Probe::Yes);
    // TLS's version, a later epoch, application data, a record longer than
    // the datagram, a STUN message: no.
    let mut tls = ch.clone();
    tls[1..3].copy_from_slice(&[3, 3]);
    assert_eq!(probe(true, &tls), Probe::No);
    let mut epoch = ch.clone();
    epoch[4] = 1;
    assert_eq!(probe(true, &epoch), Probe::No);
    assert_eq!(
        probe(true, &record(CONTENT_APPLICATION_DATA, 0, &[0; 20])),
        Probe::No
    );
    // Application data of a later epoch filling the datagram: a flow whose
    // handshake the capture missed. Not when the datagram holds more.
    let app = record(CONTENT_APPLICATION_DATA, 1, &[0; 20]);
    assert_eq!(probe(true, &app), Probe::Yes);
    assert_eq!(probe(true, &[app.clone(), vec![0]].concat()), Probe::No);
    assert_eq!(probe(true, &ch[..ch.len() - 1]), Probe::No);
    assert_eq!(
        probe(true, &[0, 1, 0, 0x0c, 0x21, 0x12, 0xa4, 0x42]),
        Probe::No
    );
}

#[test]
fn hellos_give_the_names_versions_and_fingerprint() {
    let mut d = Dtls::new(1 << 16);
    d.datagram(
        true,
        &one_record_hello(CLIENT_HELLO, &client_hello(&[], "vpn.example.net")),
    );
    d.datagram(
        false,
        &one_record_hello(SERVER_HELLO, &server_hello(0xfefc)),
    );
    assert_eq!(d.info.sni.as_deref(), Some("vpn.example.net"));
    assert_eq!(d.info.client_versions, vec!["DTLS 1.3", "DTLS 1.2"]);
    assert_eq!(d.info.version.as_deref(), Some("DTLS 1.3"));
    assert_eq!(d.info.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    // `d`, the highest version offered (1.3, though its number is lower),
    // a server name, 2 ciphers, 2 extensions, no ALPN.
    let ja4 = d.info.ja4.as_deref().unwrap_or("");
    assert!(ja4.starts_with("dd3d020200_"), "{ja4}");
    assert_eq!((d.counters.client_hellos, d.counters.parse_errors), (1, 0));
}

#[test]
fn a_cookie_does_not_change_the_hello_read() {
    let read = |cookie: &[u8]| {
        let mut d = Dtls::new(1 << 16);
        d.datagram(
            true,
            &one_record_hello(CLIENT_HELLO, &client_hello(cookie, "c.example")),
        );
        d.info
    };
    let (plain, cookied) = (read(&[]), read(&[0xab; 32]));
    assert_eq!(plain.sni.as_deref(), Some("c.example"));
    assert_eq!(plain, cookied);
}

/// A hello in three fragments over three datagrams, in any order, one sent
/// twice, is read once whole; a hello sent again later is not read again.
#[test]
fn fragments_in_any_order_make_one_hello() {
    let body = client_hello(&[7; 8], "frag.example");
    let n = body.len();
    let parts = [0..20, 20..50, 50..n];
    for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
        let mut d = Dtls::new(1 << 16);
        for (i, &p) in order.iter().enumerate() {
            let frag = record(
                CONTENT_HANDSHAKE,
                0,
                &fragment(1, 0, &body, parts[p].clone()),
            );
            d.datagram(true, &frag);
            if i == 0 {
                d.datagram(true, &frag);
            }
            assert_eq!(d.info.sni.is_some(), i == 2, "{order:?} after {i}");
        }
        d.datagram(
            true,
            &one_record_hello(CLIENT_HELLO, &client_hello(&[], "again.example")),
        );
        assert_eq!(d.info.sni.as_deref(), Some("frag.example"));
        assert_eq!((d.counters.client_hellos, d.counters.parse_errors), (1, 0));
    }
}

/// Handshake fragments of one message coalesced in one record, and records
/// coalesced in one datagram, each read.
#[test]
fn coalesced_records_and_fragments_are_each_read() {
    let ch = client_hello(&[], "co.example");
    let mut two = fragment(1, 0, &ch, 0..10);
    two.extend(fragment(1, 0, &ch, 10..ch.len()));
    let mut datagram = record(CONTENT_HANDSHAKE, 0, &two);
    datagram.extend(record(CONTENT_APPLICATION_DATA, 1, &[5; 33]));
    let mut d = Dtls::new(1 << 16);
    d.datagram(true, &datagram);
    assert_eq!(d.info.sni.as_deref(), Some("co.example"));
    assert_eq!(d.info.app_bytes_out, 33);
}

#[test]
fn application_bytes_in_both_header_forms() {
    let mut d = Dtls::new(1 << 16);
    d.datagram(true, &record(CONTENT_APPLICATION_DATA, 1, &[1; 100]));
    // Unified header with a 16-bit sequence number and a length, then a
    // second one without a length (to the end of the datagram).
    let mut u = vec![0x2e, 0, 1, 0, 40];
    u.extend_from_slice(&[2; 40]);
    u.extend_from_slice(&[0x23, 9]);
    u.extend_from_slice(&[3; 70]);
    d.datagram(false, &u);
    // With a connection id: the rest of the datagram.
    let mut cid = vec![0x3c, 1, 2, 3, 4];
    cid.extend_from_slice(&[4; 20]);
    d.datagram(false, &cid);
    assert_eq!(
        (d.info.app_bytes_out, d.info.app_bytes_in),
        (100, 40 + 70 + 24)
    );
    // Of them, epoch 2's (0x2e: its low bits 2) are the encrypted handshake.
    assert_eq!(
        (d.info.handshake_bytes_out, d.info.handshake_bytes_in),
        (0, 40)
    );
    // STUN and SRTP datagrams on the flow are passed over.
    d.datagram(true, &[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
    d.datagram(true, &[0x80, 0x6f, 1, 2, 3]);
    assert_eq!(d.info.app_bytes_out, 100);
    assert_eq!(d.counters.parse_errors, 0);
}

#[test]
fn bad_and_oversized_hellos_are_counted_not_read() {
    // A fragment past the message's stated length.
    let ch = client_hello(&[], "bad.example");
    let mut bad = fragment(1, 0, &ch, 0..ch.len());
    bad[3] = 10; // total length 10, fragment longer
    let mut d = Dtls::new(1 << 16);
    d.datagram(true, &record(CONTENT_HANDSHAKE, 0, &bad));
    assert_eq!((d.info.sni.is_none(), d.counters.parse_errors), (true, 1));
    // Over the hello cap.
    let mut d = Dtls::new(64);
    d.datagram(true, &one_record_hello(CLIENT_HELLO, &ch));
    assert_eq!((d.info.sni.is_none(), d.counters.parse_errors), (true, 1));
    // A fragment header cut short, a record cut by the capture.
    let mut d = Dtls::new(1 << 16);
    d.datagram(true, &record(CONTENT_HANDSHAKE, 0, &[1, 0, 0]));
    assert_eq!(d.counters.parse_errors, 1);
    let whole = one_record_hello(CLIENT_HELLO, &ch);
    d.datagram(false, &whole[..40]);
    assert!(d.info.sni.is_none());
}

/// Every cut and every byte value of a hello's datagram: no panic.
#[test]
fn any_datagram_is_read_without_panic() {
    let whole = one_record_hello(CLIENT_HELLO, &client_hello(&[1; 4], "x.example"));
    for cut in 0..whole.len() {
        let mut d = Dtls::new(1 << 16);
        d.datagram(true, &whole[..cut]);
    }
    for i in 0..whole.len() {
        for v in [0u8, 1, 0x7f, 0xff] {
            let mut m = whole.clone();
            m[i] = v;
            let mut d = Dtls::new(1 << 16);
            d.datagram(true, &m);
            d.datagram(false, &m);
        }
    }
}
