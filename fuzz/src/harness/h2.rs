//! The HTTP/2 stream parser on two streams cut into chunks, interleaved,
//! with a gap or two, all driven by the input.
//!
//! Input: 9 control bytes, then the data. Control byte 0 splits the data
//! into the client's frames (the preface is put before them, so the
//! fuzzer starts past it) and the server's; bytes 1-6 cut each stream
//! into up to four chunks; byte 7 picks the interleaving; byte 8, when not
//! zero, turns one chunk of each side into a gap of its length. Oracles:
//! a transaction's bytes never exceed what its direction was given (data
//! and gaps), body bytes never exceed message bytes, the transaction cap
//! holds.

use super::split::{pieces, Control};
use capture::internals::h2::{H2, PREFACE};
use capture::internals::http::HttpLimits;

const LIMITS: HttpLimits = HttpLimits {
    max_transactions: 8,
    max_header_bytes: 512,
    max_field_len: 32,
};

/// Runs one input.
pub fn run(data: &[u8]) {
    let (mut ctl, data) = Control::take(data, 9);
    let at = data.len() * usize::from(ctl.byte()) / 256;
    let (req, resp) = data.split_at(at.min(data.len()));
    let mut client = PREFACE.to_vec();
    client.extend_from_slice(req);
    let reqs = pieces(&client, &mut ctl, 3);
    let resps = pieces(resp, &mut ctl, 3);
    let order = ctl.byte();
    let gap_at = usize::from(ctl.byte());
    let mut h = H2::new(LIMITS);
    let mut given = [0u64; 2];
    let (mut i, mut j, mut step) = (0, 0, 0u32);
    while i < reqs.len() || j < resps.len() {
        let server_turn = j < resps.len() && (i >= reqs.len() || order >> (step % 8) & 1 == 1);
        step += 1;
        let (to_server, index, chunk) = if server_turn {
            j += 1;
            (false, j, resps.get(j - 1).copied().unwrap_or_default())
        } else {
            i += 1;
            (true, i, reqs.get(i - 1).copied().unwrap_or_default())
        };
        if gap_at != 0 && index == gap_at % 4 + 1 {
            h.gap(to_server, chunk.len() as u64);
        } else {
            h.data(to_server, chunk);
        }
        if let Some(g) = given.get_mut(usize::from(!to_server)) {
            *g += chunk.len() as u64;
        }
    }
    let t = h.transactions();
    assert!(t.len() <= LIMITS.max_transactions, "cap not held");
    let req: u64 = t.iter().map(|t| t.request_bytes).sum();
    let resp: u64 = t.iter().map(|t| t.response_bytes).sum();
    let [to_server, to_client] = given;
    assert!(req <= to_server, "request bytes {req} > given {to_server}");
    assert!(
        resp <= to_client,
        "response bytes {resp} > given {to_client}"
    );
    for t in t {
        assert!(t.request_body_bytes <= t.request_bytes, "{t:?}");
        assert!(t.response_body_bytes <= t.response_bytes, "{t:?}");
        for f in [&t.host, &t.uri, &t.user_agent, &t.content_type] {
            assert!(f
                .as_ref()
                .is_none_or(|s| s.len() <= 3 * LIMITS.max_field_len));
        }
    }
}
