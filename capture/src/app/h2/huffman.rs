//! HPACK's static Huffman code (RFC 7541 section 5.2 and Appendix B).
//!
//! The code is canonical: within one length, codes run in symbol order,
//! and each length's first code follows the last of the shorter ones. So
//! the 257 code lengths are the whole table; the codes are derived from
//! them, and the derivation is checked against the appendix's two ends
//! (`'0'` is `00000`, EOS thirty ones) and its worked examples.

/// Code length in bits of each symbol: the 256 octets, then EOS.
#[rustfmt::skip]
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
     6, 10, 10, 12, 13,  6,  8, 11, 10, 10,  8, 11,  8,  6,  6,  6, // ' ' ..
     5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8, 15,  6, 12, 10, // '0' ..
    13,  6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, // '@' ..
     7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8, 13, 19, 13, 14,  6, // 'P' ..
    15,  5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5, // '`' ..
     6,  7,  6,  5,  5,  6,  7,  7,  7,  7,  7, 15, 11, 14, 13, 28, // 'p' ..
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
    30, // EOS
];

const SHORTEST: usize = 5;
const LONGEST: usize = 30;
const EOS: u16 = 256;

/// What decoding needs, derived from [`LENGTHS`]: per length, how many
/// codes have it and the first of them; the symbols in code order.
struct Canonical {
    count: [u32; LONGEST + 1],
    first: [u32; LONGEST + 1],
    /// Where each length's symbols start in `symbols`.
    offset: [u16; LONGEST + 1],
    symbols: [u16; 257],
}

// Evaluated while compiling, over the constant table: an index out of
// range fails the build, never a run.
#[allow(clippy::indexing_slicing)]
const fn canonical() -> Canonical {
    let mut count = [0u32; LONGEST + 1];
    let mut s = 0;
    while s < 257 {
        count[LENGTHS[s] as usize] += 1;
        s += 1;
    }
    let mut first = [0u32; LONGEST + 1];
    let mut offset = [0u16; LONGEST + 1];
    let mut code = 0u32;
    let mut at = 0u16;
    let mut len = 1;
    while len <= LONGEST {
        first[len] = code;
        offset[len] = at;
        code = (code + count[len]) << 1;
        at += count[len] as u16;
        len += 1;
    }
    let mut symbols = [0u16; 257];
    let mut next = offset;
    let mut s = 0;
    while s < 257 {
        let l = LENGTHS[s] as usize;
        symbols[next[l] as usize] = s as u16;
        next[l] += 1;
        s += 1;
    }
    Canonical {
        count,
        first,
        offset,
        symbols,
    }
}

static CODE: Canonical = canonical();

/// Why a Huffman string did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanError {
    /// A code no symbol has, or EOS inside the string.
    BadCode,
    /// The padding is longer than 7 bits or not all ones.
    BadPadding,
    /// The decoded string would pass the cap.
    TooLong,
}

/// Decodes `input` onto the end of `out`, at most `cap` octets of it.
pub fn decode(input: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), HuffmanError> {
    let mut code = 0u32;
    let mut len = 0usize;
    // Whether every bit since the last symbol was a one (padding is EOS's
    // leading ones).
    let mut ones = true;
    let mut written = 0;
    for byte in input {
        for shift in (0..8).rev() {
            let bit = u32::from(byte >> shift) & 1;
            code = (code << 1) | bit;
            len += 1;
            ones &= bit == 1;
            if len < SHORTEST {
                continue;
            }
            let (Some(&count), Some(&first), Some(&offset)) = (
                CODE.count.get(len),
                CODE.first.get(len),
                CODE.offset.get(len),
            ) else {
                return Err(HuffmanError::BadCode);
            };
            if code.wrapping_sub(first) < count {
                let at = usize::from(offset) + (code - first) as usize;
                let sym = CODE.symbols.get(at).copied().unwrap_or(EOS);
                if sym == EOS {
                    return Err(HuffmanError::BadCode);
                }
                if written == cap {
                    return Err(HuffmanError::TooLong);
                }
                out.push(sym as u8);
                written += 1;
                (code, len, ones) = (0, 0, true);
            } else if len == LONGEST {
                return Err(HuffmanError::BadCode);
            }
        }
    }
    if len > 7 || !ones {
        return Err(HuffmanError::BadPadding);
    }
    Ok(())
}

/// Encodes `s`, padded with ones to an octet (for tests).
#[cfg(test)]
pub fn encode(s: &[u8], out: &mut Vec<u8>) {
    let mut acc = 0u64;
    let mut bits = 0u32;
    for &b in s {
        let (code, len) = code_of(u16::from(b));
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        let pad = 8 - bits;
        out.push(((acc << pad) as u8) | ((1u8 << pad) - 1));
    }
}

/// A symbol's code and its length.
#[cfg(test)]
fn code_of(sym: u16) -> (u32, u8) {
    let len = LENGTHS.get(usize::from(sym)).copied().unwrap_or(0);
    let l = usize::from(len);
    let (Some(&first), Some(&offset), Some(&count)) =
        (CODE.first.get(l), CODE.offset.get(l), CODE.count.get(l))
    else {
        return (0, 0);
    };
    let within = CODE
        .symbols
        .iter()
        .skip(usize::from(offset))
        .take(count as usize)
        .position(|s| *s == sym)
        .unwrap_or(0);
    (first + within as u32, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_derived_code_meets_the_appendix_at_both_ends() {
        assert_eq!(code_of(u16::from(b'0')), (0b00000, 5));
        assert_eq!(code_of(u16::from(b'a')), (0b00011, 5));
        assert_eq!(code_of(0), (0x1ff8, 13));
        assert_eq!(code_of(EOS), (0x3fff_ffff, 30));
        // A complete code: the lengths' Kraft sum is exactly one.
        let kraft: u64 = LENGTHS.iter().map(|l| 1u64 << (30 - l)).sum();
        assert_eq!(kraft, 1 << 30);
    }

    #[test]
    fn the_appendix_examples_decode() {
        // RFC 7541 C.4.1-C.4.3 and C.6.1.
        for (coded, text) in [
            ("f1e3c2e5f23a6ba0ab90f4ff", "www.example.com"),
            ("a8eb10649cbf", "no-cache"),
            ("25a849e95ba97d7f", "custom-key"),
            ("25a849e95bb8e8b4bf", "custom-value"),
            ("6402", "302"),
            ("aec3771a4b", "private"),
            (
                "d07abe941054d444a8200595040b8166e082a62d1bff",
                "Mon, 21 Oct 2013 20:13:21 GMT",
            ),
            (
                "9d29ad171863c78f0b97c8e9ae82ae43d3",
                "https://www.example.com",
            ),
        ] {
            let mut out = Vec::new();
            assert_eq!(decode(&hex(coded), &mut out, 100), Ok(()), "{text}");
            assert_eq!(out, text.as_bytes());
            let mut back = Vec::new();
            encode(text.as_bytes(), &mut back);
            assert_eq!(back, hex(coded), "{text}");
        }
    }

    #[test]
    fn every_octet_round_trips_and_bad_strings_are_refused() {
        let all: Vec<u8> = (0..=255).collect();
        let mut coded = Vec::new();
        encode(&all, &mut coded);
        let mut out = Vec::new();
        assert_eq!(decode(&coded, &mut out, 256), Ok(()));
        assert_eq!(out, all);
        out.clear();
        assert_eq!(decode(&coded, &mut out, 255), Err(HuffmanError::TooLong));
        // Thirty ones: EOS itself.
        let mut out = Vec::new();
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xfc], &mut out, 9),
            Err(HuffmanError::BadCode)
        );
        // 'a' (00011) padded with zeros, then with a whole octet of ones.
        assert_eq!(decode(&[0x18], &mut out, 9), Err(HuffmanError::BadPadding));
        assert_eq!(
            decode(&[0x1f, 0xff], &mut out, 9),
            Err(HuffmanError::BadPadding)
        );
        assert_eq!(decode(&[], &mut out, 9), Ok(()));
    }
}
