//! Recognising a feed's format from its first bytes and lines, and a JSON
//! record's kind from its keys.

use super::fields;
use super::layouts::{LineLayout, Sniffed, LAYOUTS};
use serde_json::{Map, Value};
use std::io::{self, BufRead, Read};

/// How the input begins, once a byte-order mark and blank space are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Nothing but blank space.
    Empty,
    /// `<` not followed by a digit: an XML document (a syslog line starts
    /// `<13>`).
    Xml,
    /// Anything else: a line-based format.
    Lines,
}

/// Where the content starts.
pub(crate) struct Leading {
    pub(crate) kind: Start,
    /// Number of the line the first content byte is on; for
    /// [`Start::Empty`], the number of lines.
    pub(crate) line: u64,
}

/// A byte-order mark at the start of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bom {
    /// UTF-8: dropped.
    Utf8,
    /// UTF-16 (either order): the input is refused.
    Utf16,
    /// None.
    None,
}

/// Why a UTF-16 input is refused.
pub(crate) const UTF16: &str = "UTF-16 text: convert the export to UTF-8 first";

/// The byte-order mark `input` starts with. Only the input's first bytes
/// can be one (every reader asks here, and only there): the same bytes
/// further on are text like any other.
pub(crate) fn bom(input: &[u8]) -> Bom {
    if input.starts_with(&[0xFF, 0xFE]) || input.starts_with(&[0xFE, 0xFF]) {
        Bom::Utf16
    } else if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        Bom::Utf8
    } else {
        Bom::None
    }
}

/// The first bytes of an input, as many as a byte-order mark can have,
/// read whatever sizes the reader hands them out in (a pipe may give one
/// byte at a time).
pub(crate) struct Head {
    bytes: [u8; 3],
    len: usize,
}

impl Head {
    /// Reads up to three bytes, fewer only at the end of the input.
    pub(crate) fn read(r: &mut impl Read) -> io::Result<Head> {
        let mut head = Head {
            bytes: [0; 3],
            len: 0,
        };
        while let Some(free) = head.bytes.get_mut(head.len..).filter(|f| !f.is_empty()) {
            match r.read(free) {
                Ok(0) => break,
                Ok(n) => head.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(head)
    }

    /// The byte-order mark the input starts with.
    pub(crate) fn bom(&self) -> Bom {
        bom(self.bytes.get(..self.len).unwrap_or_default())
    }

    /// The bytes after the mark, to be read before the rest of the input.
    pub(crate) fn rest(&self) -> &[u8] {
        let skip = if self.bom() == Bom::Utf8 { 3 } else { 0 };
        self.bytes.get(skip..self.len).unwrap_or_default()
    }
}

/// Skips leading blank space (counting the lines it spans), and tells what
/// comes next, without consuming it. `marked` tells that a byte-order mark
/// was taken off before. A line is what ends at a newline or at the end of
/// the input, if it holds any byte (a mark included), as the streaming
/// reader counts them.
pub(crate) fn skip_leading(r: &mut impl BufRead, marked: bool) -> io::Result<Leading> {
    let mut line = 1u64;
    // Bytes since the last newline: the last line, if the input ends.
    let mut tail = marked;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(Leading {
                kind: Start::Empty,
                line: line - u64::from(!tail),
            });
        }
        let blank = buf
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(buf.len());
        line += buf.iter().take(blank).filter(|&&b| b == b'\n').count() as u64;
        if blank < buf.len() {
            let kind = match (buf.get(blank), buf.get(blank + 1)) {
                (Some(b'<'), Some(d)) if d.is_ascii_digit() => Start::Lines,
                (Some(b'<'), _) => Start::Xml,
                _ => Start::Lines,
            };
            // Only whole blank lines are dropped, so line numbers and
            // the first line's text stay as they are.
            let keep = buf
                .iter()
                .take(blank)
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            r.consume(keep);
            return Ok(Leading { kind, line });
        }
        if let Some(&last) = buf.last() {
            tail = last != b'\n';
        }
        r.consume(blank);
    }
}

/// What one of the first lines says about the file.
pub(crate) enum Sniff {
    /// Blank.
    Blank,
    /// A record of a known layout.
    Known(&'static LineLayout),
    /// Not text.
    Binary,
    /// Text of no known format, and why.
    Unknown(String),
}

/// Looks at one of the first lines: the first layout of [`LAYOUTS`] that
/// knows it.
pub(crate) fn sniff(line: &[u8]) -> Sniff {
    let t = line.trim_ascii();
    if t.is_empty() {
        return Sniff::Blank;
    }
    if t.contains(&0) || std::str::from_utf8(t).is_err() {
        return Sniff::Binary;
    }
    for layout in LAYOUTS {
        match (layout.sniff)(t) {
            Sniffed::Yes => return Sniff::Known(layout),
            Sniffed::Unknown(why) => return Sniff::Unknown(why),
            Sniffed::No => {}
        }
    }
    let start: String = String::from_utf8_lossy(t).chars().take(40).collect();
    Sniff::Unknown(format!("starts {start:?}"))
}

/// True when the line holds a Windows/Sysmon event as XML.
pub(crate) fn has_event_xml(t: &[u8]) -> bool {
    contains(t, b"<Event") && contains(t, b"</Event>")
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The bad-line reason for a JSON record of no known kind.
pub(crate) fn unknown_record(o: &Map<String, Value>) -> String {
    let keys: Vec<&str> = o.keys().take(6).map(String::as_str).collect();
    let more = if o.len() > keys.len() { ", ..." } else { "" };
    format!(
        "unknown record (keys {}{more})",
        fields::quote(&keys.join(", "))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(input: &[u8]) -> (Start, u64, Vec<u8>) {
        let mut input = input;
        let head = Head::read(&mut input).unwrap();
        let mut r = head.rest().chain(input);
        let l = skip_leading(&mut r, head.bom() == Bom::Utf8).unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        (l.kind, l.line, rest)
    }

    /// Hands out one byte per read, as a pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(dst)) => {
                    *dst = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn marks_read_whole_from_a_trickle() {
        for (input, mark) in [
            (&b"\xFE\xFF\x00{"[..], Bom::Utf16),
            (b"\xFF\xFE{\x00", Bom::Utf16),
            (b"\xEF\xBB\xBF{}", Bom::Utf8),
            (b"\xEF\xBB", Bom::None),
            (b"\xFE", Bom::None),
            (b"", Bom::None),
        ] {
            assert_eq!(
                Head::read(&mut Trickle(input)).unwrap().bom(),
                mark,
                "{input:?}"
            );
        }
        let head = Head::read(&mut Trickle(b"\xEF\xBB\xBF{}")).unwrap();
        assert_eq!(head.rest(), b"");
        let head = Head::read(&mut Trickle(b"{}\n")).unwrap();
        assert_eq!(head.rest(), b"{}\n");
    }

    #[test]
    fn leading_bytes() {
        assert_eq!(start(b"").0, Start::Empty);
        assert_eq!(start(b" \n\n  ").0, Start::Empty);
        assert_eq!(start(b"\xEF\xBB\xBF").1, 1);
        let (k, line, rest) = start(b"\xEF\xBB\xBF\n\n  <Events>");
        assert_eq!((k, line, rest), (Start::Xml, 3, b"  <Events>".to_vec()));
        assert_eq!(start(b"<13>Oct 11 host sysmon: <Event>").0, Start::Lines);
        assert_eq!(start(b"{\"ts\":1}").1, 1);
    }

    #[test]
    fn first_lines() {
        let known = |line: &[u8]| match sniff(line) {
            Sniff::Known(l) => l.name,
            _ => "none",
        };
        assert_eq!(known(br#"{"ts":"1","dst_ip":"1.2.3.4"}"#), "jsonl");
        assert_eq!(known(b"type=EOE msg=audit(1.2:3):"), "auditd");
        assert_eq!(
            known(b"Oct 11 h sysmon: <Event><System/></Event>"),
            "sysmon"
        );
        assert!(matches!(sniff(b"\x00\x01garbage"), Sniff::Binary));
        assert!(matches!(sniff(b"\xC3\x28"), Sniff::Binary));
        match sniff(br#"{"a":1}"#) {
            Sniff::Unknown(why) => assert_eq!(why, "unknown record (keys \"a\")"),
            _ => panic!("unknown"),
        }
        assert!(matches!(sniff(b"hello"), Sniff::Unknown(_)));
    }
}
