//! The HTTP/1.x stream parser on two streams cut into chunks and
//! interleaved, both driven by the input.
//!
//! Input: 8 control bytes, then the data. Control byte 0 splits the data
//! into the client's stream and the server's; bytes 1-6 cut each stream
//! into up to four chunks; byte 7 picks the interleaving. Oracles: what a
//! transaction counts never exceeds what its direction was given; body
//! bytes never exceed message bytes; the transaction cap holds; an upgrade
//! offset lies inside its chunk; the parser as flows hold it when their
//! shard is full (packed between messages, unpacked on the next bytes)
//! reads exactly what the whole parser reads.

use super::split::{pieces, Control};
use capture::app::parser::{self, StreamParser, Verdict};
use capture::internals::http::{read_back, Http, HttpLimits};

const LIMITS: HttpLimits = HttpLimits {
    max_transactions: 8,
    max_header_bytes: 512,
    max_field_len: 32,
};

/// Runs one input.
pub fn run(data: &[u8]) {
    let (mut ctl, data) = Control::take(data, 8);
    let at = data.len() * usize::from(ctl.byte()) / 256;
    let (req, resp) = data.split_at(at.min(data.len()));
    let reqs = pieces(req, &mut ctl, 3);
    let resps = pieces(resp, &mut ctl, 3);
    let order = ctl.byte();
    let mut h = Http::new(LIMITS);
    // As a flow holds it: swapped for its packing between messages.
    let mut flow: Box<dyn StreamParser> = Box::new(Http::new(LIMITS));
    let mut given = [0u64; 2];
    let (mut i, mut j, mut step) = (0, 0, 0u32);
    while i < reqs.len() || j < resps.len() {
        // Bit `step` of the order byte: the server's turn when set.
        let server_turn = j < resps.len() && (i >= reqs.len() || order >> (step % 8) & 1 == 1);
        step += 1;
        let (to_server, chunk) = if server_turn {
            j += 1;
            (false, resps.get(j - 1).copied().unwrap_or_default())
        } else {
            i += 1;
            (true, reqs.get(i - 1).copied().unwrap_or_default())
        };
        let [out, inn] = &mut given;
        let given_here = if to_server { out } else { inn };
        let verdict = h.data(to_server, chunk);
        parser::expand(&mut flow);
        assert_eq!(flow.data(to_server, chunk), verdict);
        parser::compact(&mut flow);
        match verdict {
            Verdict::Continue => *given_here += chunk.len() as u64,
            Verdict::Handover(off) => {
                assert!(
                    off <= chunk.len(),
                    "upgrade offset {off} past {}",
                    chunk.len()
                );
                *given_here += off as u64;
                // What follows is another protocol: the HTTP parser is done.
                break;
            }
        }
    }
    h.finish();
    flow.finish();
    check(&h, given);
    let (a, txs) = read_back(&*flow).expect("an HTTP parser");
    assert_eq!(txs, h.transactions(), "packed and whole differ");
    let b = h.counters;
    assert_eq!(
        (a.transactions, a.parse_errors, a.dropped),
        (b.transactions, b.parse_errors, b.dropped)
    );
}

fn check(h: &Http, given: [u64; 2]) {
    assert!(h.txs().len() <= LIMITS.max_transactions, "cap not held");
    assert!(h.counters.transactions as usize >= h.txs().len());
    let [to_server, to_client] = given;
    let req: u64 = h.txs().iter().map(|t| t.request_bytes).sum();
    let resp: u64 = h.txs().iter().map(|t| t.response_bytes).sum();
    assert!(req <= to_server, "request bytes {req} > given {to_server}");
    assert!(
        resp <= to_client,
        "response bytes {resp} > given {to_client}"
    );
    for t in &h.transactions() {
        assert!(t.request_body_bytes <= t.request_bytes, "{t:?}");
        assert!(t.response_body_bytes <= t.response_bytes, "{t:?}");
        let fields = [
            t.method.as_deref(),
            t.host.as_deref(),
            t.uri.as_deref(),
            t.user_agent.as_deref(),
            t.content_type.as_deref(),
        ];
        for s in fields.into_iter().flatten() {
            // Fields are cut to the cap in bytes, then made valid UTF-8
            // (a cut character may become one U+FFFD, 3 bytes).
            assert!(
                s.len() <= LIMITS.max_field_len * 3,
                "field over the cap: {s:?}"
            );
        }
    }
}
