//! TCP history: which flags each side sent, in the order first seen.

use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};

/// Zeek-style connection history, held inline in 8 bytes (no allocation):
/// upper case for the client, lower case for the server; each letter once,
/// in order of first appearance. S = SYN, H = SYN-ACK, A = pure ACK,
/// D = data, F = FIN, R = RST.
#[derive(Debug, Clone, Copy, Default)]
pub struct History {
    /// One bit per (side, letter) seen: bits 0-5 client, 6-11 server.
    seen: u16,
    /// The slots of `seen` in order of first appearance, a nibble each
    /// (12 slots fit in 6 bytes; how many are used is `seen`'s popcount).
    order: [u8; 6],
}

/// Letters in slot order; the server's slots are the same six, lower case.
const LETTERS: [u8; 6] = *b"SHADFR";

impl History {
    /// Records one TCP segment's flags and whether it carried payload.
    pub fn add(&mut self, from_client: bool, flags: u8, has_payload: bool) {
        if flags & SYN != 0 {
            self.push(from_client, if flags & ACK != 0 { 1 } else { 0 });
        } else if flags & ACK != 0 && !has_payload && flags & (FIN | RST) == 0 {
            self.push(from_client, 2);
        }
        if has_payload {
            self.push(from_client, 3);
        }
        if flags & FIN != 0 {
            self.push(from_client, 4);
        }
        if flags & RST != 0 {
            self.push(from_client, 5);
        }
    }

    fn push(&mut self, from_client: bool, letter: u8) {
        let slot = letter + if from_client { 0 } else { 6 };
        let bit = 1u16 << slot;
        if self.seen & bit != 0 {
            return;
        }
        let n = self.seen.count_ones() as usize;
        self.seen |= bit;
        if let Some(cell) = self.order.get_mut(n / 2) {
            *cell |= slot << (4 * (n % 2));
        }
    }

    /// The history string, e.g. `ShADadFf`.
    pub fn render(&self) -> String {
        let n = self.seen.count_ones() as usize;
        let mut s = String::with_capacity(n);
        for i in 0..n {
            let cell = self.order.get(i / 2).copied().unwrap_or(0);
            let slot = (cell >> (4 * (i % 2))) & 0xf;
            let letter = LETTERS.get(usize::from(slot % 6)).copied().unwrap_or(b'?');
            s.push(char::from(if slot < 6 {
                letter
            } else {
                letter.to_ascii_lowercase()
            }));
        }
        s
    }

    /// True once a SYN was seen from either side.
    pub fn saw_syn(&self) -> bool {
        self.seen & (1 | 1 << 1 | 1 << 6 | 1 << 7) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::PSH;

    #[test]
    fn ordinary_connection() {
        let mut h = History::default();
        h.add(true, SYN, false);
        h.add(false, SYN | ACK, false);
        h.add(true, ACK, false);
        h.add(true, ACK | PSH, true);
        h.add(false, ACK, false);
        h.add(false, ACK | PSH, true);
        h.add(true, ACK | FIN, false);
        h.add(false, ACK | FIN, false);
        h.add(true, ACK, false);
        assert_eq!(h.render(), "ShADadFf");
        assert!(h.saw_syn());
    }

    #[test]
    fn every_letter_of_both_sides_in_order() {
        let mut h = History::default();
        h.add(false, RST, true);
        h.add(true, SYN, false);
        h.add(false, SYN | ACK, false);
        h.add(true, ACK, false);
        h.add(false, ACK, false);
        h.add(true, ACK | PSH | FIN, true);
        h.add(true, RST, false);
        h.add(false, FIN | ACK, false);
        h.add(true, SYN, false);
        assert_eq!(h.render(), "drShAaDFRf");
        assert_eq!(std::mem::size_of::<History>(), 8);
    }
}
