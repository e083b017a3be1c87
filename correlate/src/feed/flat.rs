//! A scanner for the common shape of a feed line: one flat JSON object of
//! strings, integers, booleans and nulls. It reads such a line in one pass
//! with no allocation but for strings that carry escapes, and gives up
//! (returns `false`) on anything else: nested values, fractions and
//! exponents, `\u` escapes, or JSON it does not find well formed. The
//! caller then reads the line with serde_json, which also words the
//! errors; so this scanner never has to be right about a line it refuses,
//! only about those it accepts.

use std::borrow::Cow;

/// One scalar as the line spells it: strings unescaped, integers and
/// booleans in their JSON text, `None` for null.
pub(crate) type Scalar<'a> = Option<Cow<'a, str>>;

/// Calls `member(key, value)` for every member of a flat object, in
/// order; false when the line is not one this scanner reads.
pub(crate) fn scan<'a>(line: &'a [u8], member: &mut dyn FnMut(&'a str, Scalar<'a>)) -> bool {
    let Ok(text) = std::str::from_utf8(line) else {
        return false;
    };
    let mut s = Scanner { text, at: 0 };
    s.ws();
    if !s.eat(b'{') {
        return false;
    }
    s.ws();
    if !s.eat(b'}') {
        loop {
            let Some(Cow::Borrowed(key)) = s.string() else {
                // A key with escapes: leave it to serde_json.
                return false;
            };
            s.ws();
            if !s.eat(b':') {
                return false;
            }
            s.ws();
            let Some(value) = s.value() else {
                return false;
            };
            member(key, value);
            s.ws();
            if s.eat(b',') {
                s.ws();
                continue;
            }
            if s.eat(b'}') {
                break;
            }
            return false;
        }
    }
    s.ws();
    s.at == text.len()
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.at..).unwrap_or(&[])
    }

    /// A value: `Some(scalar)`, or `None` when this scanner does not read
    /// it.
    fn value(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b't' => self.literal("true").map(|t| Some(Cow::Borrowed(t))),
            b'f' => self.literal("false").map(|t| Some(Cow::Borrowed(t))),
            b'n' => self.literal("null").map(|_| None),
            b'-' | b'0'..=b'9' => self.integer().map(|t| Some(Cow::Borrowed(t))),
            _ => None,
        }
    }

    fn literal(&mut self, word: &'static str) -> Option<&'static str> {
        if self.rest().starts_with(word.as_bytes()) {
            self.at += word.len();
            Some(word)
        } else {
            None
        }
    }

    /// An integer as serde_json would print it back: no leading zeros, no
    /// `-0`, at most 18 digits (so it fits either integer type).
    fn integer(&mut self) -> Option<&'a str> {
        let start = self.at;
        self.eat(b'-');
        let digits = self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let first = self.peek();
        self.at += digits;
        let text = self.text.get(start..self.at)?;
        let lone_zero_ok = first != Some(b'0') || digits == 1;
        if digits == 0 || digits > 18 || !lone_zero_ok || text == "-0" {
            return None;
        }
        // A fraction or an exponent: serde_json's spelling of floats.
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(text)
    }

    /// A string after its opening quote is next; borrowed when it has no
    /// escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        let plain = self
            .rest()
            .iter()
            .take_while(|&&b| b != b'"' && b != b'\\' && b >= 0x20)
            .count();
        self.at += plain;
        match self.peek()? {
            b'"' => {
                let s = self.text.get(start..self.at)?;
                self.at += 1;
                Some(Cow::Borrowed(s))
            }
            b'\\' => {
                // Room for the whole string at once: its unescaped text is
                // never longer than its escaped one.
                let mut owned = String::with_capacity(plain + self.escaped_len());
                owned.push_str(self.text.get(start..self.at)?);
                self.escaped(&mut owned)?;
                Some(Cow::Owned(owned))
            }
            // A raw control character: not JSON.
            _ => None,
        }
    }

    /// Bytes from here to the string's closing quote (or the line's end).
    fn escaped_len(&self) -> usize {
        let rest = self.rest();
        let mut i = 0;
        while let Some(&b) = rest.get(i) {
            match b {
                b'"' => break,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        i.min(rest.len())
    }

    /// The rest of a string that has escapes, from its first backslash.
    fn escaped(&mut self, out: &mut String) -> Option<()> {
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => {
                    self.at += 1;
                    let c = match self.peek()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        // `\u` escapes (and surrogate pairs): serde_json's.
                        _ => return None,
                    };
                    self.at += 1;
                    out.push(c);
                }
                b if b < 0x20 => return None,
                _ => {
                    let run = self
                        .rest()
                        .iter()
                        .take_while(|&&b| b != b'"' && b != b'\\' && b >= 0x20)
                        .count();
                    out.push_str(self.text.get(self.at..self.at + run)?);
                    self.at += run;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(line: &str) -> Option<Vec<(String, Option<String>)>> {
        let mut v = Vec::new();
        let ok = scan(line.as_bytes(), &mut |k, x| {
            v.push((k.to_string(), x.map(|c| c.into_owned())))
        });
        ok.then_some(v)
    }

    #[test]
    fn reads_flat_objects() {
        let m = members(
            " {\"a\" : \"x\\\\y \\\"q\\\" \\/ \\t\", \"n\":-42,\"z\":0,\"t\":true,\"f\":false,\"u\":null,\"é\":\"ü\"}\r\n",
        )
        .unwrap_or_default();
        let want = [
            ("a", Some("x\\y \"q\" / \t")),
            ("n", Some("-42")),
            ("z", Some("0")),
            ("t", Some("true")),
            ("f", Some("false")),
            ("u", None),
            ("é", Some("ü")),
        ];
        assert_eq!(m.len(), want.len());
        for ((k, v), (wk, wv)) in m.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_deref()), (wk, wv));
        }
        assert_eq!(members("{}"), Some(vec![]));
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        for line in [
            "",
            "[]",
            "{\"a\":1",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{\"a\":1} x",
            "{\"a\":{\"b\":1}}",
            "{\"a\":[1]}",
            "{\"a\":1.5}",
            "{\"a\":1e3}",
            "{\"a\":-0}",
            "{\"a\":007}",
            "{\"a\":1234567890123456789}",
            "{\"a\":\"\\u0041\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"tab\there\"}",
            "{\"k\\n\":1}",
            "{\"a\":tru}",
            "{\"a\":\"open}",
            "{a:1}",
        ] {
            assert_eq!(members(line), None, "{line:?}");
        }
        assert!(!scan(b"{\"a\":\"\xff\"}", &mut |_, _| {}));
    }
}
