//! TCP history: which flags each side sent, in the order first seen.

use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};

/// Zeek-style connection history, held inline (no allocation): upper case
/// for the client, lower case for the server; each letter once, in order of
/// first appearance. S = SYN, H = SYN-ACK, A = pure ACK, D = data, F = FIN,
/// R = RST.
#[derive(Debug, Clone, Copy, Default)]
pub struct History {
    seen: u16,
    letters: [u8; 12],
    len: u8,
}

impl History {
    /// Records one TCP segment's flags and whether it carried payload.
    pub fn add(&mut self, from_client: bool, flags: u8, has_payload: bool) {
        if flags & SYN != 0 {
            self.push(from_client, if flags & ACK != 0 { b'H' } else { b'S' });
        } else if flags & ACK != 0 && !has_payload && flags & (FIN | RST) == 0 {
            self.push(from_client, b'A');
        }
        if has_payload {
            self.push(from_client, b'D');
        }
        if flags & FIN != 0 {
            self.push(from_client, b'F');
        }
        if flags & RST != 0 {
            self.push(from_client, b'R');
        }
    }

    fn push(&mut self, from_client: bool, letter: u8) {
        let slot = match letter {
            b'S' => 0,
            b'H' => 1,
            b'A' => 2,
            b'D' => 3,
            b'F' => 4,
            _ => 5,
        } + if from_client { 0 } else { 6 };
        let bit = 1u16 << slot;
        if self.seen & bit != 0 {
            return;
        }
        self.seen |= bit;
        let shown = if from_client {
            letter
        } else {
            letter.to_ascii_lowercase()
        };
        if let Some(cell) = self.letters.get_mut(usize::from(self.len)) {
            *cell = shown;
            self.len += 1;
        }
    }

    /// The history string, e.g. `ShADadFf`.
    pub fn as_str(&self) -> &str {
        let used = self.letters.get(..usize::from(self.len)).unwrap_or(&[]);
        std::str::from_utf8(used).unwrap_or("")
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
        assert_eq!(h.as_str(), "ShADadFf");
        assert!(h.saw_syn());
    }
}
