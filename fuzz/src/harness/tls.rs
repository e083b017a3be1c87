//! The TLS record parser on two streams cut into chunks and interleaved,
//! both driven by the input (the layout of the HTTP target).
//!
//! Oracle: application-data bytes counted each way never exceed the bytes
//! that direction was given.

use super::split::{pieces, Control};
use capture::internals::tls::Tls;

/// Tolerated over-count per direction: none, application data is counted
/// as it arrives (gaps aside, which this target does not make).
pub const KNOWN_OVERCOUNT: u64 = 0;

/// Runs one input.
pub fn run(data: &[u8]) {
    let (mut ctl, data) = Control::take(data, 8);
    let at = data.len() * usize::from(ctl.byte()) / 256;
    let (out, inn) = data.split_at(at.min(data.len()));
    let outs = pieces(out, &mut ctl, 3);
    let ins = pieces(inn, &mut ctl, 3);
    let order = ctl.byte();
    let max_hello = 64 + 64 * usize::from(order & 0x3f);
    let mut t = Tls::new(max_hello);
    let (mut i, mut j, mut step) = (0, 0, 0u32);
    while i < outs.len() || j < ins.len() {
        let server_turn = j < ins.len() && (i >= outs.len() || order >> (step % 8) & 1 == 1);
        step += 1;
        if server_turn {
            j += 1;
            t.data(false, ins.get(j - 1).copied().unwrap_or_default());
        } else {
            i += 1;
            t.data(true, outs.get(i - 1).copied().unwrap_or_default());
        }
    }
    let (o, n) = (t.info.app_bytes_out, t.info.app_bytes_in);
    assert!(
        o <= out.len() as u64 + KNOWN_OVERCOUNT,
        "app bytes out {o} > given {}",
        out.len()
    );
    assert!(
        n <= inn.len() as u64 + KNOWN_OVERCOUNT,
        "app bytes in {n} > given {}",
        inn.len()
    );
}
