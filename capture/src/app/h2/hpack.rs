//! HPACK header blocks (RFC 7541): the static table, one direction's
//! dynamic table, and the field representations. A decoder follows every
//! block its direction sends, in order: the dynamic table is shared state,
//! so a block lost to a capture gap leaves every later one unreadable.

use super::huffman::{self, HuffmanError};
use std::collections::VecDeque;

/// The static table (Appendix A): names, and values where it has them.
#[rustfmt::skip]
const STATIC: [(&str, &str); 61] = [
    (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"),
    (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"),
    (":status", "200"), (":status", "204"), (":status", "206"), (":status", "304"),
    (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""),
    ("accept", ""), ("access-control-allow-origin", ""), ("age", ""), ("allow", ""),
    ("authorization", ""), ("cache-control", ""), ("content-disposition", ""),
    ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
    ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""),
    ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""),
    ("if-match", ""), ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
    ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""),
    ("max-forwards", ""), ("proxy-authenticate", ""), ("proxy-authorization", ""),
    ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""), ("server", ""),
    ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
    ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
];

/// The dynamic table's size before any update (SETTINGS_HEADER_TABLE_SIZE's
/// initial value).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// Bytes an entry counts beyond its name and value (section 4.1).
const ENTRY_OVERHEAD: usize = 32;

/// Why a header block did not decode; its direction's later blocks are
/// then unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// The block ends inside a representation.
    Truncated,
    /// An integer past 32 bits.
    Overflow,
    /// Index 0, or past both tables.
    BadIndex,
    /// A table size update past the limit.
    TableTooLarge,
    /// A Huffman string that does not decode.
    Huffman(HuffmanError),
}

/// A dynamic table entry: name and value.
type Entry = (Box<[u8]>, Box<[u8]>);

/// One direction's decoding state.
#[derive(Debug)]
pub struct Decoder {
    /// Newest first: dynamic index 62 is the front.
    entries: VecDeque<Entry>,
    /// Sum of the entries' sizes.
    size: usize,
    /// The table's size now (the last update's).
    max: usize,
    /// What updates may ask for: the receiver's setting, within the
    /// parser's cap.
    limit: usize,
}

impl Decoder {
    /// A decoder whose table may grow to at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Decoder {
            entries: VecDeque::new(),
            size: 0,
            max: DEFAULT_TABLE_SIZE.min(cap),
            limit: DEFAULT_TABLE_SIZE.min(cap),
        }
    }

    /// The receiver announced SETTINGS_HEADER_TABLE_SIZE: the most an
    /// update may ask for (kept within `cap`).
    pub fn set_limit(&mut self, announced: usize, cap: usize) {
        self.limit = announced.min(cap);
        // An encoder may use the announced size without an update.
        self.max = self.limit;
        self.evict();
    }

    /// Decodes one whole header block, calling `field` with each name and
    /// value in order; strings are cut to `max_string` bytes.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_string: usize,
        field: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let mut r = Reader { data: block, at: 0 };
        let mut name = Vec::new();
        let mut value = Vec::new();
        while let Some(first) = r.peek() {
            if first & 0x80 != 0 {
                let index = r.int(7)?;
                let (n, v) = self.entry(index)?;
                field(n, v);
            } else if first & 0xe0 == 0x20 {
                let size = r.int(5)? as usize;
                if size > self.limit {
                    return Err(HpackError::TableTooLarge);
                }
                self.max = size;
                self.evict();
            } else {
                // Literals: with incremental indexing (01), without (0000)
                // or never indexed (0001).
                let indexing = first & 0xc0 == 0x40;
                let index = r.int(if indexing { 6 } else { 4 })?;
                name.clear();
                value.clear();
                if index == 0 {
                    r.string(&mut name, max_string)?;
                } else {
                    let (n, _) = self.entry(index)?;
                    name.extend_from_slice(n.get(..max_string).unwrap_or(n));
                }
                r.string(&mut value, max_string)?;
                field(&name, &value);
                if indexing {
                    self.insert(&name, &value);
                }
            }
        }
        Ok(())
    }

    fn entry(&self, index: u32) -> Result<(&[u8], &[u8]), HpackError> {
        let i = index as usize;
        if let Some((n, v)) = i.checked_sub(1).and_then(|i| STATIC.get(i)) {
            return Ok((n.as_bytes(), v.as_bytes()));
        }
        i.checked_sub(STATIC.len() + 1)
            .and_then(|d| self.entries.get(d))
            .map(|(n, v)| (&n[..], &v[..]))
            .ok_or(HpackError::BadIndex)
    }

    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max {
            // Section 4.4: an entry larger than the table empties it.
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.entries.push_front((name.into(), value.into()));
        self.size += size;
        self.evict();
    }

    fn evict(&mut self) {
        while self.size > self.max {
            let Some((n, v)) = self.entries.pop_back() else {
                self.size = 0;
                break;
            };
            self.size -= n.len() + v.len() + ENTRY_OVERHEAD;
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.at).copied()
    }

    fn byte(&mut self) -> Result<u8, HpackError> {
        let b = self.peek().ok_or(HpackError::Truncated)?;
        self.at += 1;
        Ok(b)
    }

    /// An integer with an `n`-bit prefix (section 5.1).
    fn int(&mut self, n: u32) -> Result<u32, HpackError> {
        let mask = (1u32 << n) - 1;
        let mut v = u32::from(self.byte()?) & mask;
        if v < mask {
            return Ok(v);
        }
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            let part = u32::from(b & 0x7f)
                .checked_shl(shift)
                .filter(|p| p >> shift == u32::from(b & 0x7f))
                .ok_or(HpackError::Overflow)?;
            v = v.checked_add(part).ok_or(HpackError::Overflow)?;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 28 {
                return Err(HpackError::Overflow);
            }
        }
    }

    /// A string literal (section 5.2) onto `out`, cut to `cap` bytes.
    fn string(&mut self, out: &mut Vec<u8>, cap: usize) -> Result<(), HpackError> {
        let huffman = self.peek().is_some_and(|b| b & 0x80 != 0);
        let len = self.int(7)? as usize;
        let end = self.at.checked_add(len).ok_or(HpackError::Truncated)?;
        let raw = self.data.get(self.at..end).ok_or(HpackError::Truncated)?;
        self.at = end;
        if !huffman {
            out.extend_from_slice(raw.get(..cap).unwrap_or(raw));
            return Ok(());
        }
        match huffman::decode(raw, out, cap) {
            // A long value is kept cut, as HTTP/1.x fields are.
            Ok(()) | Err(HuffmanError::TooLong) => Ok(()),
            Err(e) => Err(HpackError::Huffman(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn fields(d: &mut Decoder, block: &str) -> Result<Vec<(String, String)>, HpackError> {
        let mut out = Vec::new();
        d.decode(&hex(block), 1024, &mut |n, v| {
            out.push((
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ))
        })?;
        Ok(out)
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_appendix_requests_with_huffman_decode_in_turn() {
        // RFC 7541 C.4: three requests on one connection.
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        let first = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ];
        assert_eq!(
            fields(&mut d, "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
            Ok(pairs(&first))
        );
        assert_eq!(d.size, 57);
        let mut second = first.to_vec();
        second.push(("cache-control", "no-cache"));
        assert_eq!(
            fields(&mut d, "8286 84be 5886 a8eb 1064 9cbf"),
            Ok(pairs(&second))
        );
        assert_eq!(d.size, 110);
        let third = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ];
        assert_eq!(
            fields(
                &mut d,
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"
            ),
            Ok(pairs(&third))
        );
        assert_eq!(d.size, 164);
        assert_eq!(d.entries.len(), 3);
    }

    #[test]
    fn the_appendix_responses_evict_at_256_bytes() {
        // RFC 7541 C.5: a table of 256 bytes, literals without Huffman.
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        d.set_limit(256, DEFAULT_TABLE_SIZE);
        let block = "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 \
                     7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 \
                     3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d";
        let got = fields(&mut d, block).unwrap();
        assert_eq!(got[0], (":status".into(), "302".into()));
        assert_eq!(got[3].1, "https://www.example.com");
        assert_eq!(d.size, 222);
        // 307 replaces 302, which is evicted.
        let got = fields(&mut d, "4803 3330 37c1 c0bf").unwrap();
        assert_eq!(got[0].1, "307");
        assert_eq!(got[1].1, "private");
        assert_eq!(d.size, 222);
        assert_eq!(d.entries.len(), 4);
    }

    #[test]
    fn broken_blocks_are_errors_not_panics() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        assert_eq!(fields(&mut d, "80"), Err(HpackError::BadIndex));
        assert_eq!(fields(&mut d, "be"), Err(HpackError::BadIndex));
        assert_eq!(fields(&mut d, "41"), Err(HpackError::Truncated));
        assert_eq!(fields(&mut d, "410a 6162"), Err(HpackError::Truncated));
        assert_eq!(
            fields(&mut d, "ff ff ff ff ff 7f"),
            Err(HpackError::Overflow)
        );
        // Updates to 4,097 and to 4,096 bytes (31 + 98 + 31 * 128).
        assert_eq!(fields(&mut d, "3fe2 1f"), Err(HpackError::TableTooLarge));
        assert_eq!(fields(&mut d, "3fe1 1f"), Ok(vec![]));
        assert_eq!(
            fields(&mut d, "0081 ff81 00"),
            Err(HpackError::Huffman(HuffmanError::BadPadding))
        );
        // Size update to zero empties the table.
        fields(&mut d, "4001 6101 62").unwrap();
        assert_eq!(d.entries.len(), 1);
        fields(&mut d, "20").unwrap();
        assert_eq!((d.entries.len(), d.size), (0, 0));
    }
}
