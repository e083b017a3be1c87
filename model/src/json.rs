//! A JSON object writer for the records written by the million: keys are
//! literals written as they are, strings are escaped the way serde_json
//! escapes them, integers and IPv4 addresses are written digit by digit.
//! The output is byte for byte what serde_json gives for the same
//! structure (the tests of the records check it), at a fraction of the
//! cost of going through the serializer for every field.

use std::io::Write;
use std::net::IpAddr;

/// One JSON object being written into a buffer; [`JsonObject::end`]
/// closes it.
pub struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> JsonObject<'a> {
    /// Opens an object at the end of `out`.
    pub fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, first: true }
    }

    /// Writes `"key":`. Keys are the program's own literals: plain ASCII
    /// without quotes or backslashes, so they need no escaping.
    #[inline(always)]
    fn key(&mut self, key: &str) {
        debug_assert!(key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'));
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A string member.
    #[inline(always)]
    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        string(self.out, value);
    }

    /// A string member the program wrote itself, with nothing to escape
    /// by construction (a timestamp, a name from a fixed list): written
    /// without the scan for bytes to escape.
    #[inline(always)]
    pub fn plain(&mut self, key: &str, value: &'static str) {
        self.plain_text(key, value);
    }

    /// [`JsonObject::plain`] for a timestamp's text.
    pub fn time(&mut self, key: &str, value: crate::time::Rfc3339) {
        self.key(key);
        self.out.push(b'"');
        self.out.extend_from_slice(value.as_bytes());
        self.out.push(b'"');
    }

    #[inline(always)]
    fn plain_text(&mut self, key: &str, value: &str) {
        debug_assert!(value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'));
        self.key(key);
        self.out.push(b'"');
        self.out.extend_from_slice(value.as_bytes());
        self.out.push(b'"');
    }

    /// A string member, left out when `None`.
    #[inline(always)]
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    /// An unsigned integer member.
    #[inline(always)]
    pub fn u64(&mut self, key: &str, value: u64) {
        self.key(key);
        uint(self.out, value);
    }

    /// A boolean member.
    #[inline(always)]
    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// An address member, as its text.
    pub fn ip(&mut self, key: &str, value: IpAddr) {
        self.key(key);
        self.out.push(b'"');
        match value {
            // Into a buffer of its own, then one copy: four `uint`s were
            // 550 instructions an address, a twentieth of a record.
            IpAddr::V4(a) => {
                let mut text = [0u8; 15];
                let mut len = 0;
                for (i, octet) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        put(&mut text, &mut len, b'.');
                    }
                    if octet >= 100 {
                        put(&mut text, &mut len, b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        put(&mut text, &mut len, b'0' + octet / 10 % 10);
                    }
                    put(&mut text, &mut len, b'0' + octet % 10);
                }
                self.out.extend_from_slice(text.get(..len).unwrap_or(&[]));
            }
            // The standard text (compressed zeros, mapped forms): rare
            // enough for the formatting machinery. Writing to a Vec cannot
            // fail.
            IpAddr::V6(a) => {
                let _ = write!(self.out, "{a}");
            }
        }
        self.out.push(b'"');
    }

    /// A member of any JSON value, as serde_json writes it.
    pub fn value(&mut self, key: &str, value: &serde_json::Value) {
        self.key(key);
        // Writing into a Vec cannot fail; a value serde_json built is valid.
        let _ = serde_json::to_writer(&mut *self.out, value);
    }

    /// An array of strings.
    pub fn strs(&mut self, key: &str, values: &[String]) {
        self.key(key);
        self.out.push(b'[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            string(self.out, v);
        }
        self.out.push(b']');
    }

    /// A nested object member; close it with [`JsonObject::end`] before
    /// writing the next member of this one.
    pub fn object(&mut self, key: &str) -> JsonObject<'_> {
        self.key(key);
        JsonObject::begin(self.out)
    }

    /// An array of objects, each written by `item`.
    pub fn objects<T>(&mut self, key: &str, items: &[T], item: impl Fn(&T, &mut JsonObject<'_>)) {
        self.key(key);
        self.out.push(b'[');
        for (i, t) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            let mut o = JsonObject::begin(self.out);
            item(t, &mut o);
            o.end();
        }
        self.out.push(b']');
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Appends `b` to the text in `buf` (`len` bytes so far).
#[inline(always)]
fn put(buf: &mut [u8], len: &mut usize, b: u8) {
    if let Some(slot) = buf.get_mut(*len) {
        *slot = b;
        *len += 1;
    }
}

/// Writes `n` in decimal (two digits a step, without the formatting
/// machinery).
#[inline(always)]
fn uint(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Whether `bytes` holds a byte JSON escapes (a control character, `"`
/// or `\\`), eight bytes a step: records' strings are short and almost
/// never hold one.
#[inline(always)]
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether some byte of `w` is below `n` (n <= 128): the borrow of the
    // subtraction reaches the high bit of such a byte. A false "yes" only
    // sends the string down the escaping path, which finds nothing.
    let below = |w: u64, n: u64| w.wrapping_sub(n * ONES) & !w & HIGH != 0;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            return true;
        };
        let w = u64::from_le_bytes(word);
        if below(w, 0x20)
            || below(w ^ (u64::from(b'"') * ONES), 1)
            || below(w ^ (u64::from(b'\\') * ONES), 1)
        {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Writes `s` as a JSON string, escaped as serde_json escapes: `"` and
/// `\` with a backslash, control characters as `\b \t \n \f \r` or
/// `\u00xx`; everything else, non-ASCII included, as it is.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(bytes.get(start..i).unwrap_or(&[]));
        start = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
                out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
            }
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or(&[]));
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_that_needs_escaping_is_found_wherever_it_is() {
        for special in (0u8..0x20).chain([b'"', b'\\', 0x7f, b' ', b'~']) {
            for at in 0..20 {
                let mut s: Vec<u8> = (0..20).map(|i| b'a' + i).collect();
                s[at] = special;
                let s = String::from_utf8(s).unwrap_or_default();
                let mut out = Vec::new();
                string(&mut out, &s);
                assert_eq!(
                    String::from_utf8(out).unwrap_or_default(),
                    serde_json::to_string(&s).unwrap_or_default(),
                    "byte {special:#x} at {at}"
                );
            }
        }
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        let mut all = String::new();
        for c in (0u32..0x80).chain([0xe9, 0x2028, 0x1f600]) {
            all.push(char::from_u32(c).unwrap_or('?'));
        }
        for s in ["", "plain", "C:\\Program Files\\x.exe", "say \"hi\"", &all] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap_or_default(),
                serde_json::to_string(s).unwrap_or_default()
            );
        }
    }

    #[test]
    fn addresses_read_as_the_standard_text() {
        for a in [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [10, 0, 100, 9],
            [1, 20, 199, 250],
            [99, 100, 101, 110],
        ] {
            let ip = IpAddr::from(a);
            let mut out = Vec::new();
            let mut o = JsonObject::begin(&mut out);
            o.ip("ip", ip);
            o.end();
            assert_eq!(
                String::from_utf8(out).unwrap_or_default(),
                format!("{{\"ip\":\"{ip}\"}}")
            );
        }
    }

    #[test]
    fn plain_strings_are_written_as_they_are() {
        let mut out = Vec::new();
        let mut o = JsonObject::begin(&mut out);
        o.plain("reason", "end_of_input");
        o.time("start", crate::time::Rfc3339::new(1_700_000_000_123_456));
        o.end();
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            r#"{"reason":"end_of_input","start":"2023-11-14T22:13:20.123456Z"}"#
        );
    }

    #[test]
    fn members_and_nesting() {
        let mut out = Vec::new();
        let mut o = JsonObject::begin(&mut out);
        o.u64("zero", 0);
        o.u64("max", u64::MAX);
        o.bool("yes", true);
        o.ip("v4", "192.0.2.10".parse().unwrap_or(IpAddr::from([0; 4])));
        o.ip("v6", "2001:db8::1".parse().unwrap_or(IpAddr::from([0; 4])));
        o.opt_str("none", None);
        let mut inner = o.object("in");
        inner.strs("list", &["a".to_string(), "b\n".to_string()]);
        inner.end();
        o.objects("arr", &[1u64, 22], |n, x| x.u64("n", *n));
        o.objects("empty", &[] as &[u64], |n, x| x.u64("n", *n));
        o.end();
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            r#"{"zero":0,"max":18446744073709551615,"yes":true,"v4":"192.0.2.10","v6":"2001:db8::1","in":{"list":["a","b\n"]},"arr":[{"n":1},{"n":22}],"empty":[]}"#
        );
    }
}
