//! Chunked transfer coding, decoded as a stream: counts data bytes, never
//! copies them.

/// Where the decoder is inside the chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex size: `digits` significant ones (leading zeros are
    /// free), `any` once a digit was read, `ext` once past the digits and
    /// into what the line holds after them (an extension, or the junk a
    /// lenient client passes over: `f,` and `fx` are 15 to Zeek, libhtp
    /// and the browsers that take them).
    Size {
        value: u64,
        digits: u8,
        any: bool,
        ext: bool,
    },
    /// Chunk data bytes left.
    Data(u64),
    /// The CRLF after chunk data; `cr` once the CR was read.
    DataEnd { cr: bool },
    /// Trailer section: `line` bytes into the current line.
    Trailer { line: u64 },
}

/// Chunked body decoder.
#[derive(Debug, Clone, Copy)]
pub struct Chunked {
    state: State,
    /// A size line was read whole: the body is chunked coding.
    started: bool,
}

/// The state before a size line.
const SIZE: State = State::Size {
    value: 0,
    digits: 0,
    any: false,
    ext: false,
};

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: SIZE,
            started: false,
        }
    }
}

/// Outcome of one step.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkedStep {
    /// `used` bytes consumed, `data` of them chunk data; body not over yet.
    Progress { used: usize, data: u64 },
    /// The body ended after `used` bytes.
    Done { used: usize, data: u64 },
    /// Not chunked coding from the size line that starts `used` bytes in
    /// (the bytes before it, `data` of them chunk data, were good).
    Invalid { used: usize, data: u64 },
}

impl Chunked {
    /// Consumes as much of `input` as belongs to the body, handing each
    /// run of chunk data to `on_data`.
    #[inline]
    pub fn step(&mut self, input: &[u8], mut on_data: impl FnMut(&[u8])) -> ChunkedStep {
        let mut used = 0usize;
        let mut data = 0u64;
        // Where the size line being read started in `input`.
        let mut line = 0usize;
        let invalid = |line: usize, data: u64| ChunkedStep::Invalid { used: line, data };
        while let Some(rest) = input.get(used..) {
            if rest.is_empty() {
                break;
            }
            match &mut self.state {
                State::Data(left) => {
                    let n = (*left).min(rest.len() as u64);
                    on_data(rest.get(..n as usize).unwrap_or(&[]));
                    *left -= n;
                    used += n as usize;
                    data += n;
                    if *left == 0 {
                        self.state = State::DataEnd { cr: false };
                    }
                }
                State::Size {
                    value,
                    digits,
                    any,
                    ext,
                } => {
                    let b = rest.first().copied().unwrap_or(0);
                    used += 1;
                    match b {
                        // A blank line where a size belongs is passed over.
                        b'\n' if !*any && !*ext => line = used,
                        b'\n' => {
                            if !*any {
                                return invalid(line, data);
                            }
                            self.started = true;
                            self.state = if *value == 0 {
                                State::Trailer { line: 0 }
                            } else {
                                State::Data(*value)
                            };
                        }
                        _ if *ext => {}
                        b'\r' | b' ' | b'\t' => {}
                        b';' => *ext = true,
                        _ => match (b as char).to_digit(16) {
                            Some(d) => {
                                // 16 significant hex digits are a size no
                                // body has (and 17 overflow): not a size.
                                if *digits >= 15 {
                                    return invalid(line, data);
                                }
                                *value = *value * 16 + u64::from(d);
                                *digits += u8::from(*value > 0);
                                *any = true;
                            }
                            None if *any => *ext = true,
                            None => return invalid(line, data),
                        },
                    }
                }
                State::DataEnd { cr } => {
                    let b = rest.first().copied().unwrap_or(0);
                    used += 1;
                    match b {
                        b'\r' if !*cr => *cr = true,
                        b'\n' => {
                            self.state = SIZE;
                            line = used;
                        }
                        _ => return invalid(used - 1, data),
                    }
                }
                State::Trailer { line } => {
                    let b = rest.first().copied().unwrap_or(0);
                    used += 1;
                    match b {
                        b'\n' if *line == 0 => return ChunkedStep::Done { used, data },
                        b'\n' => *line = 0,
                        b'\r' => {}
                        _ => *line += 1,
                    }
                }
            }
        }
        ChunkedStep::Progress { used, data }
    }

    /// True once a whole size line was read: the body is chunked coding
    /// (an invalid first size says it was not).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Skips `len` missing bytes if they fall inside chunk data; false when
    /// the gap hits framing and the decoder cannot know where it is.
    pub fn skip(&mut self, len: u64) -> bool {
        match &mut self.state {
            State::Data(left) if len < *left => {
                *left -= len;
                true
            }
            State::Data(left) if len == *left => {
                self.state = State::DataEnd { cr: false };
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Chunked {
        /// A step whose data goes nowhere.
        fn step_all(&mut self, input: &[u8]) -> ChunkedStep {
            self.step(input, |_| {})
        }
    }

    /// The data handed on is the chunks' data, in order.
    #[test]
    fn hands_on_the_data() {
        let mut got = Vec::new();
        let mut c = Chunked::default();
        let step = c.step(b"3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n", |d: &[u8]| {
            got.extend_from_slice(d)
        });
        assert_eq!(step, ChunkedStep::Done { used: 22, data: 5 });
        assert_eq!(got, b"abcde");
    }

    #[test]
    fn decodes_across_any_split() {
        let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let body_len = body.len() - 4;
        for split in 0..body.len() {
            let mut c = Chunked::default();
            let (a, b) = body.split_at(split);
            let (mut used, mut data) = (0, 0);
            match c.step_all(a) {
                ChunkedStep::Progress { used: u, data: d } => {
                    used += u;
                    data += d;
                    match c.step_all(b) {
                        ChunkedStep::Done { used: u, data: d } => {
                            used += u;
                            data += d;
                        }
                        other => panic!("split {split}: {other:?}"),
                    }
                }
                ChunkedStep::Done { used: u, data: d } => {
                    used += u;
                    data += d;
                }
                ChunkedStep::Invalid { .. } => panic!("split {split}: invalid"),
            }
            assert_eq!(used, body_len, "split {split}");
            assert_eq!(data, 4 + 5 + 14, "split {split}");
        }
    }

    #[test]
    fn rejects_non_hex_size() {
        let none = ChunkedStep::Invalid { used: 0, data: 0 };
        assert_eq!(Chunked::default().step_all(b"zz\r\n"), none);
        assert_eq!(Chunked::default().step_all(b";x\r\n"), none);
        // The good chunk before a bad size is counted.
        assert_eq!(
            Chunked::default().step_all(b"4\r\nabcd\r\nzz\r\n"),
            ChunkedStep::Invalid { used: 9, data: 4 }
        );
        assert!(!Chunked::default().started());
    }

    /// What lenient clients take: junk after the digits, blank lines before
    /// a size, a final size of twenty zeros.
    #[test]
    fn reads_sizes_as_lenient_clients_do() {
        let body =
            b"f,\r\nX5O!P%@AP[4\\PZX\r\n\n5\x00\r\nabcde\r\n00000000000000000000\r\n\r\nNEXT";
        let mut c = Chunked::default();
        assert_eq!(
            c.step_all(body),
            ChunkedStep::Done {
                used: body.len() - 4,
                data: 20
            }
        );
        assert!(c.started());
        // Sixteen significant digits are still refused.
        assert_eq!(
            Chunked::default().step_all(b"1000000000000000\r\n"),
            ChunkedStep::Invalid { used: 0, data: 0 }
        );
    }
}
