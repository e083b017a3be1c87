//! Cutting bytes that arrive in pieces (a socket, a growing file) into
//! lines of at most a fixed length, holding at most one partial line.
//!
//! The same lines as the file reader's: a line is the bytes before a `\n`,
//! without a `\r` just before it; a line longer than the cap (its `\r`
//! included) is dropped and reported once its `\n` arrives; the bytes after
//! the last `\n` are the last line when the input ends.

use std::ops::ControlFlow;

/// One piece of input cut by a [`LineSplitter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A line's bytes, without its `\n` / `\r\n`.
    Line(&'a [u8]),
    /// A line longer than the cap; its bytes were dropped.
    TooLong,
}

/// What the splitter is doing with the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Gathering it.
    Gather,
    /// It is over the cap: dropping its bytes, to report it at its end.
    TooLong,
    /// Dropping its bytes silently (the rest of a line that began before
    /// the reader did).
    Discard,
}

/// Cuts pushed bytes into lines of at most `max` bytes.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    state: State,
}

impl LineSplitter {
    /// A splitter for lines of at most `max` bytes. It never holds more
    /// than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max,
            state: State::Gather,
        }
    }

    /// The longest line taken, in bytes.
    pub fn max_line(&self) -> usize {
        self.max
    }

    /// Bytes of the current, unfinished line held.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Drops, without reporting it, whatever comes up to the next `\n`:
    /// for a reader that starts in the middle of a line.
    pub fn discard_partial(&mut self) {
        self.buf.clear();
        self.state = State::Discard;
    }

    /// Takes the next bytes of the input, giving `f` every line they
    /// complete, in order. When `f` breaks, the rest of `bytes` is dropped
    /// and the break is returned.
    pub fn push(
        &mut self,
        mut bytes: &[u8],
        f: &mut dyn FnMut(Piece<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        while !bytes.is_empty() {
            let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
                self.gather(bytes);
                return ControlFlow::Continue(());
            };
            let head = bytes.get(..nl).unwrap_or_default();
            bytes = bytes.get(nl + 1..).unwrap_or_default();
            let state = std::mem::replace(&mut self.state, State::Gather);
            match state {
                State::Discard => {}
                State::TooLong => f(Piece::TooLong)?,
                State::Gather if self.buf.len().saturating_add(head.len()) > self.max => {
                    self.buf.clear();
                    f(Piece::TooLong)?;
                }
                State::Gather if self.buf.is_empty() => f(Piece::Line(strip_cr(head)))?,
                State::Gather => {
                    self.buf.extend_from_slice(head);
                    let r = f(Piece::Line(strip_cr(&self.buf)));
                    self.buf.clear();
                    r?;
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// The input has ended: gives `f` what is left as the last line, and
    /// starts afresh.
    pub fn finish(&mut self, f: &mut dyn FnMut(Piece<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        let state = std::mem::replace(&mut self.state, State::Gather);
        let r = match state {
            State::TooLong => f(Piece::TooLong),
            State::Gather if !self.buf.is_empty() => f(Piece::Line(&self.buf)),
            _ => ControlFlow::Continue(()),
        };
        self.buf.clear();
        r
    }

    fn gather(&mut self, bytes: &[u8]) {
        if self.state != State::Gather {
            return;
        }
        if self.buf.len().saturating_add(bytes.len()) > self.max {
            self.buf.clear();
            self.state = State::TooLong;
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::feed::lines::{Line, Lines};

    fn split(chunks: &[&[u8]], max: usize) -> Vec<Option<String>> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        let mut f = |p: Piece<'_>| {
            out.push(match p {
                Piece::Line(t) => Some(String::from_utf8_lossy(t).into_owned()),
                Piece::TooLong => None,
            });
            ControlFlow::Continue(())
        };
        for c in chunks {
            let _ = s.push(c, &mut f);
            assert!(s.pending() <= max);
        }
        let _ = s.finish(&mut f);
        out
    }

    fn pulled(input: &[u8], max: usize) -> Vec<Option<String>> {
        let mut r = Lines::new(input, max, 1);
        let mut out = Vec::new();
        while let Some((_, l)) = r.next_line().unwrap() {
            out.push(match l {
                Line::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                Line::TooLong => None,
            });
        }
        out
    }

    /// Whatever the input and however it is cut, the same lines as the
    /// file reader's.
    #[test]
    fn same_lines_as_the_file_reader_at_every_split_point() {
        let inputs: [&[u8]; 9] = [
            b"abc\r\n0123456789\nxy\n\nlast",
            b"12345\n12345",
            b"123456",
            b"1234\r\n12345\r\n",
            b"\n\n\r\n",
            b"",
            b"abcdefgh\r",
            b"ab\rcd\n123456789012\n12",
            b"last\r",
        ];
        for input in inputs {
            let want = pulled(input, 5);
            assert_eq!(split(&[input], 5), want, "{input:?}");
            for at in 0..=input.len() {
                let (a, b) = input.split_at(at);
                assert_eq!(split(&[a, b], 5), want, "{input:?} cut at {at}");
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(split(&bytes, 5), want, "{input:?} byte by byte");
        }
    }

    #[test]
    fn a_partial_first_line_can_be_discarded() {
        let mut s = LineSplitter::new(100);
        s.discard_partial();
        let mut got = Vec::new();
        let _ = s.push(b"tail of a line\nwhole\npart", &mut |p| {
            got.push(format!("{p:?}"));
            ControlFlow::Continue(())
        });
        assert_eq!(got, vec![format!("{:?}", Piece::Line(b"whole"))]);
        assert_eq!(s.pending(), 4);
    }

    #[test]
    fn a_break_stops_at_that_line() {
        let mut s = LineSplitter::new(100);
        let mut n = 0;
        let r = s.push(b"a\nb\nc\n", &mut |_| {
            n += 1;
            if n == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!((r, n), (ControlFlow::Break(()), 2));
    }
}
