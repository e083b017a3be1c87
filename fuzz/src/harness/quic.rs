//! The QUIC parser on datagrams of both directions. Random bytes never
//! open under the Initial keys, so the input is mostly plaintext: its
//! pieces become the frames of client and server Initials sealed with the
//! real keys (the fuzzer explores frames, CRYPTO offsets and hellos), and
//! some pieces go in raw (it explores the header parser).
//!
//! Oracle: the application bytes counted each way are exactly the bytes
//! of the datagrams given that way, and the handshake part never exceeds
//! them.

use super::split::{pieces, Control};
use capture::internals::quic::Quic;
use pcapgen::quic::{initial, initial_keys, Ids, V1, V2};

/// Runs one input.
pub fn run(data: &[u8]) {
    let (mut ctl, data) = Control::take(data, 12);
    let flags = ctl.byte();
    let version = if flags & 1 == 0 { V1 } else { V2 };
    let dcid = [ctl.byte(), ctl.byte(), 0x5a, 0xa5, 0, 1, 2, 3];
    let parts = pieces(data, &mut ctl, 6);
    let [client_keys, server_keys] =
        [true, false].map(|client| initial_keys(version, &dcid, client));
    let max_hello = 64 + 64 * usize::from(ctl.byte());
    let mut q = Quic::new(max_hello);
    let mut given = [0u64; 2];
    for (i, part) in parts.iter().enumerate() {
        let to_server = i == 0 || (flags >> (i % 7 + 1)) & 1 == 0;
        let raw = i > 0 && ctl.byte() & 3 == 0;
        let datagram = if raw {
            part.to_vec()
        } else {
            let ids = Ids {
                version,
                dcid: if to_server { &dcid } else { b"\x01\x02" },
                scid: b"\x03",
                token: b"",
            };
            let (keys, pad) = if to_server {
                (&client_keys, 1200)
            } else {
                (&server_keys, 0)
            };
            initial(&ids, keys, i as u32, part, pad)
        };
        let [out, back] = &mut given;
        *(if to_server { out } else { back }) += datagram.len() as u64;
        q.datagram(to_server, &datagram);
    }
    let t = q.info();
    assert_eq!(t.app_bytes_out, given[0], "bytes out");
    assert_eq!(t.app_bytes_in, given[1], "bytes in");
    assert!(t.handshake_bytes_out <= t.app_bytes_out);
    assert!(t.handshake_bytes_in <= t.app_bytes_in);
}
