//! Lines of a feed, each at most a fixed length, read without ever holding
//! more than one line: a longer line is reported and skipped, not buffered.

use std::io::{self, BufRead, Read};

/// One line read.
pub(crate) enum Line<'a> {
    /// The line's bytes, without its `\n` / `\r\n`.
    Text(&'a [u8]),
    /// The line was longer than the cap; its bytes were dropped.
    TooLong,
}

/// Reads lines of at most `max` bytes.
pub(crate) struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
    /// Number of the line last returned (1-based); lines before the reader
    /// started count too when given to [`Lines::new`].
    pub(crate) number: u64,
}

impl<R: BufRead> Lines<R> {
    /// A reader whose first line is number `first`.
    pub(crate) fn new(inner: R, max: usize, first: u64) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            max,
            number: first.saturating_sub(1),
        }
    }

    /// The next line and its number, or `None` at the end of input.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        self.buf.clear();
        let limit = u64::try_from(self.max)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let n = (&mut self.inner)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        } else if self.buf.len() > self.max {
            self.skip_rest()?;
            return Ok(Some((self.number, Line::TooLong)));
        }
        Ok(Some((self.number, Line::Text(&self.buf))))
    }

    /// Drops input up to and including the next `\n`.
    fn skip_rest(&mut self) -> io::Result<()> {
        loop {
            let (used, done) = {
                let buf = match self.inner.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if buf.is_empty() {
                    return Ok(());
                }
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => (i + 1, true),
                    None => (buf.len(), false),
                }
            };
            self.inner.consume(used);
            if done {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<(u64, Option<String>)> {
        let mut r = Lines::new(input, max, 1);
        let mut out = Vec::new();
        while let Some((no, l)) = r.next_line().unwrap() {
            let text = match l {
                Line::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                Line::TooLong => None,
            };
            out.push((no, text));
        }
        out
    }

    #[test]
    fn long_lines_are_dropped_and_reading_goes_on() {
        let got = all(b"abc\r\n0123456789\nxy\n\nlast", 5);
        assert_eq!(
            got,
            vec![
                (1, Some("abc".into())),
                (2, None),
                (3, Some("xy".into())),
                (4, Some(String::new())),
                (5, Some("last".into())),
            ]
        );
        // Exactly the cap is fine, with or without the newline.
        assert_eq!(all(b"12345\n12345", 5).len(), 2);
        assert_eq!(all(b"123456", 5), vec![(1, None)]);
    }
}
