//! The DTLS parser on datagrams of both directions. The input names a
//! server name and cuts a ClientHello carrying it into fragments, sent
//! in an order, some twice, the input decides; then its pieces go in as
//! raw datagrams, handshake records or application data.
//!
//! Oracles: the hello is read, whatever the order of its fragments, and
//! only once (the datagrams after it change nothing of it); application
//! bytes counted each way never exceed the datagram bytes given that way.

use super::split::{pieces, Control};
use capture::internals::dtls::Dtls;
use pcapgen::dtls::{client_hello_body, fragment, record, DTLS12};
use pcapgen::tls::ClientHelloSpec;

/// Runs one input.
pub fn run(data: &[u8]) {
    let (mut ctl, data) = Control::take(data, 24);
    let name: String = data
        .iter()
        .take(40)
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    let spec = ClientHelloSpec {
        legacy_version: DTLS12,
        sni: Some(format!("{name}.example")),
        alpn: Vec::new(),
        supported_versions: Vec::new(),
        seed: u64::from(ctl.byte()),
    };
    let body = client_hello_body(&spec, &[]);
    let mut d = Dtls::new(1 << 16);
    let to_server = ctl.byte() & 1 == 0;
    // At most 16 fragments (as many pieces as the parser keeps apart), in
    // an order the input picks.
    let shortest = body.len() / 16 + 1;
    let mut frags: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let len = (usize::from(ctl.byte()) + shortest).min(body.len() - at);
        frags.push((at, at + len));
        at += len;
    }
    let n = frags.len();
    for i in 0..n {
        let j = usize::from(ctl.byte()) % n;
        frags.swap(i, j);
    }
    let mut given = [0u64; 2];
    let mut count = |up: bool, n: usize| {
        let [out, back] = &mut given;
        *(if up { out } else { back }) += n as u64;
    };
    for (i, &(s, e)) in frags.iter().enumerate() {
        let datagram = record(22, DTLS12, 0, i as u64, &fragment(1, 0, &body, s..e));
        count(to_server, datagram.len());
        d.datagram(to_server, &datagram);
        if ctl.byte() & 3 == 0 {
            d.datagram(to_server, &datagram);
            count(to_server, datagram.len());
        }
    }
    let read = d.info().clone();
    assert_eq!(read.sni, spec.sni, "the hello from its fragments");
    for (i, part) in pieces(data, &mut ctl, 8).into_iter().enumerate() {
        let dir = ctl.byte();
        let datagram = match dir >> 6 {
            0 => part.to_vec(),
            1 => record(22, DTLS12, 0, 100 + i as u64, part),
            2 => record(23, DTLS12, 1, i as u64, part),
            _ => {
                let mut u = vec![0x2c | (dir & 0x13)];
                u.extend_from_slice(part);
                u
            }
        };
        let up = dir & 1 == 0;
        count(up, datagram.len());
        d.datagram(up, &datagram);
    }
    let t = d.info();
    assert_eq!(t.sni, read.sni, "a hello is read once");
    assert_eq!(t.client_versions, read.client_versions);
    let [out, back] = given;
    assert!(t.app_bytes_out <= out, "bytes out");
    assert!(t.app_bytes_in <= back, "bytes in");
}
