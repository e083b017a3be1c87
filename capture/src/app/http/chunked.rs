//! Chunked transfer coding, decoded as a stream: counts data bytes, never
//! copies them.

/// Where the decoder is inside the chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex size; `ext` once past `;` (extensions are skipped).
    Size { value: u64, digits: u8, ext: bool },
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
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: State::Size {
                value: 0,
                digits: 0,
                ext: false,
            },
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
    /// Not chunked coding.
    Invalid,
}

impl Chunked {
    /// Consumes as much of `input` as belongs to the body.
    pub fn step(&mut self, input: &[u8]) -> ChunkedStep {
        let mut used = 0usize;
        let mut data = 0u64;
        while let Some(rest) = input.get(used..) {
            if rest.is_empty() {
                break;
            }
            match &mut self.state {
                State::Data(left) => {
                    let n = (*left).min(rest.len() as u64);
                    *left -= n;
                    used += n as usize;
                    data += n;
                    if *left == 0 {
                        self.state = State::DataEnd { cr: false };
                    }
                }
                State::Size { value, digits, ext } => {
                    let b = rest.first().copied().unwrap_or(0);
                    used += 1;
                    match b {
                        b'\n' => {
                            if *digits == 0 {
                                return ChunkedStep::Invalid;
                            }
                            self.state = if *value == 0 {
                                State::Trailer { line: 0 }
                            } else {
                                State::Data(*value)
                            };
                        }
                        _ if *ext => {}
                        b'\r' | b' ' | b'\t' => {}
                        b';' => *ext = true,
                        _ => {
                            let Some(d) = (b as char).to_digit(16) else {
                                return ChunkedStep::Invalid;
                            };
                            // 16 hex digits overflow u64: not a real size.
                            if *digits >= 15 {
                                return ChunkedStep::Invalid;
                            }
                            *value = *value * 16 + u64::from(d);
                            *digits += 1;
                        }
                    }
                }
                State::DataEnd { cr } => {
                    let b = rest.first().copied().unwrap_or(0);
                    used += 1;
                    match b {
                        b'\r' if !*cr => *cr = true,
                        b'\n' => {
                            self.state = State::Size {
                                value: 0,
                                digits: 0,
                                ext: false,
                            }
                        }
                        _ => return ChunkedStep::Invalid,
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

    #[test]
    fn decodes_across_any_split() {
        let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let body_len = body.len() - 4;
        for split in 0..body.len() {
            let mut c = Chunked::default();
            let (a, b) = body.split_at(split);
            let (mut used, mut data) = (0, 0);
            match c.step(a) {
                ChunkedStep::Progress { used: u, data: d } => {
                    used += u;
                    data += d;
                    match c.step(b) {
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
                ChunkedStep::Invalid => panic!("split {split}: invalid"),
            }
            assert_eq!(used, body_len, "split {split}");
            assert_eq!(data, 4 + 5 + 14, "split {split}");
        }
    }

    #[test]
    fn rejects_non_hex_size() {
        assert_eq!(Chunked::default().step(b"zz\r\n"), ChunkedStep::Invalid);
    }
}
