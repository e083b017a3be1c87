//! A body's Content-Encoding undone, to count its decoded length (Zeek
//! logs body lengths so): gzip (and x-gzip) and deflate, zlib-wrapped or
//! raw as some servers send it. The output is counted and dropped.
//!
//! A decoder holds miniz_oxide's state and 32 KiB window (about 43 KiB)
//! only while its body is read. The process holds at most
//! [`set_max_decoders`] of them at once, whatever the threads; a body
//! that finds none free is counted and left undecoded. Decoding stops at
//! [`MAX_DECODED`] bytes of output a body, which bounds the work a small
//! compressed body can ask for.

use flate2::{Decompress, FlushDecompress, Status};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Decoders alive in the process.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// At most this many at once.
static MAX: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_DECODERS);

/// Decoders alive at once unless configured.
pub const DEFAULT_MAX_DECODERS: usize = 256;

/// Output past which a body is no longer decoded (its length then is not
/// known).
pub const MAX_DECODED: u64 = 64 << 20;

/// Sets how many bodies the process decodes at once (0: none).
pub fn set_max_decoders(n: usize) {
    MAX.store(n, Ordering::Relaxed);
}

/// The codings undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
}

impl Coding {
    /// The coding a Content-Encoding value names, when it is one coding
    /// this module undoes (`identity`, `br`, or several: `None`).
    pub fn from_header(value: &[u8]) -> Option<Coding> {
        let v = value.trim_ascii();
        if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Some(Coding::Gzip)
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Some(Coding::Deflate)
        } else {
            None
        }
    }
}

/// Where the decoder is in its input.
#[derive(Debug)]
enum Stage {
    /// Reading a gzip header (RFC 1952).
    GzipHeader(GzipHeader),
    /// A deflate coding's first byte: a zlib header or raw deflate?
    Sniff,
    /// The compressed data.
    Data(Decompress),
    /// The stream ended (what follows, a gzip trailer, is not counted).
    Done,
    /// The data broke, or the output passed [`MAX_DECODED`].
    Stopped,
}

/// A body being decoded. Holding one holds a place of the process's
/// budget, given back when it is dropped.
#[derive(Debug)]
pub struct Inflate {
    stage: Stage,
    /// Bytes of output.
    out: u64,
    /// The length is still to be trusted (no break, no cap).
    whole: bool,
}

impl Inflate {
    /// A decoder for a body of `coding`, if the budget has a place.
    pub fn start(coding: Coding) -> Option<Inflate> {
        let max = MAX.load(Ordering::Relaxed);
        if LIVE.fetch_add(1, Ordering::Relaxed) >= max {
            LIVE.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Inflate {
            stage: match coding {
                Coding::Gzip => Stage::GzipHeader(GzipHeader::default()),
                Coding::Deflate => Stage::Sniff,
            },
            out: 0,
            whole: true,
        })
    }

    /// The decoded length so far, while it can be trusted.
    pub fn decoded(&self) -> Option<u64> {
        self.whole.then_some(self.out)
    }

    /// Takes the next bytes of the (de-chunked) body.
    pub fn feed(&mut self, mut input: &[u8]) {
        // Output lands here and is dropped: only its length counts.
        let mut sink = [0u8; 8192];
        // The last call filled the sink: more output may be waiting.
        let mut full = false;
        while !input.is_empty() || full {
            match &mut self.stage {
                Stage::GzipHeader(h) => match h.step(input) {
                    Some(used) => {
                        input = input.get(used..).unwrap_or(&[]);
                        if h.done() {
                            self.stage = Stage::Data(Decompress::new(false));
                        }
                    }
                    None => self.stop(),
                },
                Stage::Sniff => {
                    // RFC 1950: CM 8 and a window of at most 32 KiB.
                    let zlib = input.first().is_some_and(|b| b & 0x0f == 8 && b >> 4 <= 7);
                    self.stage = Stage::Data(Decompress::new(zlib));
                }
                Stage::Data(z) => {
                    let (in0, out0) = (z.total_in(), z.total_out());
                    let status = z.decompress(input, &mut sink, FlushDecompress::None);
                    let used = usize::try_from(z.total_in() - in0).unwrap_or(input.len());
                    let made = z.total_out() - out0;
                    self.out += made;
                    input = input.get(used..).unwrap_or(&[]);
                    full = made == sink.len() as u64;
                    match status {
                        Ok(Status::StreamEnd) => self.stage = Stage::Done,
                        Ok(_) if self.out > MAX_DECODED => self.stop(),
                        Ok(_) if used == 0 && made == 0 => return,
                        Ok(_) => {}
                        Err(_) => self.stop(),
                    }
                }
                Stage::Done | Stage::Stopped => return,
            }
        }
    }

    /// Broken data or too much output: no length to trust, and the
    /// decoder's memory goes at once.
    fn stop(&mut self) {
        self.whole = false;
        self.stage = Stage::Stopped;
    }
}

impl Drop for Inflate {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A gzip member's header, read past field by field.
#[derive(Debug, Default)]
struct GzipHeader {
    /// Bytes of the fixed 10 read.
    fixed: u8,
    /// Its flags.
    flags: u8,
    /// The optional part being read.
    part: Part,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Still in the fixed part.
    #[default]
    Fixed,
    /// FEXTRA's length, `have` of its 2 bytes read (`lo` the first).
    ExtraLen { have: u8, lo: u8 },
    /// FEXTRA's bytes left.
    Extra(u16),
    /// FNAME, to its zero byte.
    Name,
    /// FCOMMENT, to its zero byte.
    Comment,
    /// FHCRC's bytes left.
    Crc(u8),
    /// The header is over.
    Done,
}

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

impl GzipHeader {
    fn done(&self) -> bool {
        self.part == Part::Done
    }

    /// The part after `from`, as the flags say (they come in this order:
    /// extra field, name, comment, header CRC).
    fn next(&self, from: Part) -> Part {
        let rank = match from {
            Part::Fixed => 0,
            Part::ExtraLen { .. } | Part::Extra(_) => 1,
            Part::Name => 2,
            Part::Comment => 3,
            Part::Crc(_) | Part::Done => 4,
        };
        let parts = [
            (1, FEXTRA, Part::ExtraLen { have: 0, lo: 0 }),
            (2, FNAME, Part::Name),
            (3, FCOMMENT, Part::Comment),
            (4, FHCRC, Part::Crc(2)),
        ];
        parts
            .iter()
            .find(|(r, flag, _)| *r > rank && self.flags & flag != 0)
            .map_or(Part::Done, |(_, _, p)| *p)
    }

    /// Reads header bytes from `input`; how many it used (all it could
    /// take, or up to the header's end), `None` when it is no gzip header.
    fn step(&mut self, input: &[u8]) -> Option<usize> {
        let mut used = 0;
        for &b in input {
            if self.part == Part::Done {
                break;
            }
            used += 1;
            self.part = match self.part {
                Part::Fixed => {
                    // ID1, ID2, CM 8 (deflate), then the flags.
                    let ok = match self.fixed {
                        0 => b == 0x1f,
                        1 => b == 0x8b,
                        2 => b == 8,
                        3 => {
                            self.flags = b;
                            true
                        }
                        _ => true,
                    };
                    if !ok {
                        return None;
                    }
                    self.fixed += 1;
                    if self.fixed == 10 {
                        self.next(Part::Fixed)
                    } else {
                        Part::Fixed
                    }
                }
                Part::ExtraLen { have: 0, .. } => Part::ExtraLen { have: 1, lo: b },
                Part::ExtraLen { lo, .. } => match u16::from_le_bytes([lo, b]) {
                    0 => self.next(Part::Extra(0)),
                    n => Part::Extra(n),
                },
                Part::Extra(left) if left > 1 => Part::Extra(left - 1),
                Part::Extra(_) => self.next(Part::Extra(0)),
                Part::Name if b == 0 => self.next(Part::Name),
                Part::Comment if b == 0 => self.next(Part::Comment),
                Part::Crc(left) if left > 1 => Part::Crc(left - 1),
                Part::Crc(_) => Part::Done,
                other => other,
            };
        }
        Some(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::{Compression, GzBuilder};
    use std::io::Write;

    fn text() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| format!("line {i} of a body that compresses well\n").into_bytes())
            .collect()
    }

    /// Fed in pieces of every size from 1 byte up: the same length.
    fn decoded(coding: Coding, body: &[u8]) -> Vec<Option<u64>> {
        [1, 7, 100, 1460, body.len()]
            .iter()
            .map(|&n| {
                let mut d = Inflate::start(coding).expect("a decoder");
                for piece in body.chunks(n) {
                    d.feed(piece);
                }
                d.decoded()
            })
            .collect()
    }

    #[test]
    fn gzip_zlib_and_raw_deflate_decode_to_their_length() {
        let plain = text();
        let want = Some(plain.len() as u64);
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&plain).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert!(decoded(Coding::Gzip, &gz).iter().all(|d| *d == want));
        // Every optional header field.
        let mut named = GzBuilder::new()
            .filename("body.txt")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .write(Vec::new(), Compression::fast());
        named.write_all(&plain).expect("gzip");
        let named = named.finish().expect("gzip");
        assert!(decoded(Coding::Gzip, &named).iter().all(|d| *d == want));
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&plain).expect("zlib");
        let z = z.finish().expect("zlib");
        assert!(decoded(Coding::Deflate, &z).iter().all(|d| *d == want));
        let mut raw = DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(&plain).expect("deflate");
        let raw = raw.finish().expect("deflate");
        assert!(decoded(Coding::Deflate, &raw).iter().all(|d| *d == want));
    }

    #[test]
    fn broken_data_leaves_no_length() {
        let mut d = Inflate::start(Coding::Gzip).expect("a decoder");
        d.feed(b"not gzip at all");
        assert_eq!(d.decoded(), None);
        let mut d = Inflate::start(Coding::Deflate).expect("a decoder");
        d.feed(&[0x78, 0x9c, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(d.decoded(), None);
    }

    #[test]
    fn codings_from_headers() {
        assert_eq!(Coding::from_header(b" GZIP "), Some(Coding::Gzip));
        assert_eq!(Coding::from_header(b"x-gzip"), Some(Coding::Gzip));
        assert_eq!(Coding::from_header(b"deflate"), Some(Coding::Deflate));
        assert_eq!(Coding::from_header(b"br"), None);
        assert_eq!(Coding::from_header(b"gzip, deflate"), None);
    }
}
