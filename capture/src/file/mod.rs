//! Capture files read without libpcap: classic pcap (either byte order,
//! microsecond or nanosecond timestamps) and pcapng (every section, every
//! interface with its own link type and timestamp resolution), in large
//! reads into shared chunks.
//!
//! The reader fills a chunk (512 KiB) with one `read`, finds the packet
//! records inside, and hands the chunk (an [`Arc`]) with the packets'
//! places to the caller; a record cut by the chunk's end is carried to the
//! start of the next one. The threaded engine passes chunks to its workers
//! as they are, so a frame is copied once, from the page cache, and never
//! again. A chunk comes back to the reader for reuse when the last batch
//! holding it is done.

mod input;
mod pcap;
mod pcapng;
mod read_ahead;

use crate::decode::LinkType;
use crate::time::Micros;
use input::fill;
pub use input::{Compression, STDIN};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::source::{FileFormat, ReadOutcome, SourceError};

/// Bytes read per chunk.
pub const CHUNK_BYTES: usize = 512 << 10;
/// Largest record accepted: a bigger one is a corrupt file.
pub const MAX_RECORD: usize = 16 << 20;

/// A block of a capture file holding whole packet records.
#[derive(Debug)]
pub struct FileBlock {
    data: Vec<u8>,
    filled: usize,
}

impl FileBlock {
    fn with_capacity(n: usize) -> Self {
        FileBlock {
            data: vec![0; n],
            filled: 0,
        }
    }

    /// The bytes read into it.
    pub fn bytes(&self) -> &[u8] {
        self.data.get(..self.filled).unwrap_or(&[])
    }

    /// The frame of `p`, empty if `p` does not belong to this chunk.
    pub fn frame(&self, p: &PacketRef) -> &[u8] {
        let start = p.start as usize;
        self.bytes()
            .get(start..start + p.len as usize)
            .unwrap_or(&[])
    }
}

/// Where one packet lies in its chunk, and what its record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRef {
    /// Link type of the interface it was captured on.
    pub link: LinkType,
    /// Capture time (µs since the epoch).
    pub ts: Micros,
    /// Offset of the frame in the chunk.
    pub start: u32,
    /// Captured length.
    pub len: u32,
    /// Length on the wire.
    pub wire_len: u32,
}

/// What a record parser found at the start of a buffer.
pub(crate) enum Record {
    /// A packet, and the record's whole length.
    Packet(PacketRef, usize),
    /// A record that carries no packet (pcapng blocks other than packets),
    /// its whole length.
    Other(usize),
    /// The buffer ends inside the record, which is this long in all (when
    /// its header was read).
    Partial(Option<usize>),
    /// The record cannot be right: the file is damaged from here on.
    Corrupt(String),
}

/// The two container formats' parsers behind one interface.
enum Parser {
    Pcap(pcap::PcapParser),
    Pcapng(pcapng::PcapngParser),
}

impl Parser {
    fn next(&mut self, buf: &[u8], base: usize) -> Record {
        match self {
            Parser::Pcap(p) => p.next(buf, base),
            Parser::Pcapng(p) => p.next(buf, base),
        }
    }
}

/// An open capture file.
pub struct FileSource {
    file: Box<dyn std::io::Read + Send>,
    parser: Parser,
    /// Link type of the first interface (classic pcap: the file's).
    pub link: LinkType,
    /// Its raw link-type number.
    pub dlt: i32,
    /// The file.
    pub path: PathBuf,
    /// File size in bytes (0 when unknown: standard input, compressed).
    pub size: u64,
    /// How the file was compressed.
    pub compression: Compression,
    /// Container format.
    pub format: FileFormat,
    /// Bytes of the file before the first record (the file header).
    header_len: usize,
    /// Bytes read with the header that belong to the first records.
    head_rest: Vec<u8>,
    pool: Vec<Arc<FileBlock>>,
}

fn fail(path: &Path, reason: impl Into<String>) -> SourceError {
    SourceError {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

impl FileSource {
    /// Opens a capture file (`-`: standard input; gzip or zstd
    /// compressed, too), with a clear reason when it cannot be used.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let input::Input {
            reader: mut file,
            size,
            compression,
        } = input::open(path).map_err(|r| fail(path, r))?;
        let mut head = [0u8; 4096];
        let got = fill(&mut file, &mut head).map_err(|e| fail(path, e.to_string()))?;
        let head = head.get(..got).unwrap_or(&[]);
        let (parser, link, dlt, header_len, format) = match head.get(..4) {
            Some([0x0a, 0x0d, 0x0d, 0x0a]) => {
                // The section header is read again as the first block.
                let (p, dlt) = pcapng::PcapngParser::open(head).map_err(|r| fail(path, r))?;
                (
                    Parser::Pcapng(p),
                    LinkType::from_dlt(dlt),
                    dlt,
                    0,
                    FileFormat::Pcapng,
                )
            }
            Some(_) if got >= 4 && pcap::is_magic(head) => {
                let (p, dlt) = pcap::PcapParser::open(head).map_err(|r| fail(path, r))?;
                (
                    Parser::Pcap(p),
                    LinkType::from_dlt(dlt),
                    dlt,
                    24,
                    FileFormat::Pcap,
                )
            }
            _ if got == 0 => return Err(fail(path, "empty input, not a capture")),
            _ if got < 4 => return Err(fail(path, "too short to be a capture")),
            _ if compression == Compression::None => {
                return Err(fail(
                    path,
                    "not a pcap or pcapng capture (unknown magic number)",
                ))
            }
            _ => {
                return Err(fail(
                    path,
                    format!(
                        "{} data, but not a pcap or pcapng capture inside (unknown magic number)",
                        compression.name()
                    ),
                ))
            }
        };
        // The bytes read past the file header are the first records: kept,
        // not read again, so a pipe (which cannot seek back) reads the same.
        let head_rest = head.get(header_len..).unwrap_or(&[]).to_vec();
        Ok(FileSource {
            file,
            parser,
            link,
            dlt,
            path: path.to_path_buf(),
            size,
            compression,
            format,
            header_len,
            head_rest,
            pool: Vec::new(),
        })
    }

    /// A chunk no batch holds any more, or a new one.
    fn free_chunk(&mut self, min: usize) -> Arc<FileBlock> {
        if let Some(i) = self
            .pool
            .iter()
            .position(|c| Arc::strong_count(c) == 1 && c.data.len() >= min)
        {
            return self.pool.swap_remove(i);
        }
        Arc::new(FileBlock::with_capacity(min.max(CHUNK_BYTES)))
    }

    /// Calls `f(chunk, packets)` for every chunk of the file, in file
    /// order; `packets` lists the packets whose frames lie in `chunk`.
    /// Reading stops at the end of the file, at a cut, or at the first
    /// corrupt record, which the outcome tells, or when `f` returns false.
    pub fn for_each_chunk(
        &mut self,
        mut f: impl FnMut(&Arc<FileBlock>, &[PacketRef]) -> bool,
    ) -> ReadOutcome {
        let mut out = ReadOutcome {
            offset: self.header_len as u64,
            ..ReadOutcome::default()
        };
        let mut packets: Vec<PacketRef> = Vec::with_capacity(2048);
        // Bytes of a record cut by the previous chunk's end, and the whole
        // record's length when known.
        let mut carry: Vec<u8> = std::mem::take(&mut self.head_rest);
        let mut need: Option<usize> = None;
        loop {
            let want = need.map_or(CHUNK_BYTES, |n| n.max(CHUNK_BYTES));
            let mut chunk = self.free_chunk(want);
            let Some(c) = Arc::get_mut(&mut chunk) else {
                // Only the pool held it: cannot happen; read no further.
                break;
            };
            let Some(dst) = c.data.get_mut(..carry.len()) else {
                break;
            };
            dst.copy_from_slice(&carry);
            let start = carry.len();
            let read = match fill(&mut self.file, c.data.get_mut(start..).unwrap_or(&mut [])) {
                Ok(n) => n,
                Err(e) => {
                    out.truncated = Some(format!("read error: {e}"));
                    break;
                }
            };
            c.filled = start + read;
            let eof = c.filled < c.data.len();
            carry.clear();
            need = None;
            packets.clear();
            let mut pos = 0usize;
            let mut stop: Option<String> = None;
            let bytes = c.data.get(..c.filled).unwrap_or(&[]);
            while pos < bytes.len() {
                match self.parser.next(bytes.get(pos..).unwrap_or(&[]), pos) {
                    Record::Packet(p, len) => {
                        packets.push(p);
                        out.packets += 1;
                        pos += len;
                    }
                    Record::Other(len) => pos += len,
                    Record::Partial(total) => {
                        if total.is_some_and(|t| t > MAX_RECORD) {
                            stop = Some("truncated dump file; record longer than 16 MiB".into());
                        } else {
                            need = total;
                            carry.extend_from_slice(bytes.get(pos..).unwrap_or(&[]));
                        }
                        break;
                    }
                    Record::Corrupt(why) => {
                        stop = Some(why);
                        break;
                    }
                }
            }
            out.offset += pos as u64;
            let go_on = packets.is_empty() || f(&chunk, &packets);
            self.pool.push(chunk);
            if !go_on {
                break;
            }
            if let Some(why) = stop {
                out.truncated = Some(why);
                break;
            }
            if eof {
                if !carry.is_empty() {
                    out.truncated = Some(format!(
                        "truncated dump file; tried to read a record of {} bytes, only got {}",
                        need.map_or_else(|| "more".to_string(), |n| n.to_string()),
                        carry.len()
                    ));
                }
                break;
            }
        }
        out
    }

    /// Calls `f(link, timestamp, frame, wire_length)` for every packet.
    pub fn for_each(&mut self, mut f: impl FnMut(LinkType, Micros, &[u8], u32)) -> ReadOutcome {
        self.for_each_chunk(|chunk, packets| {
            for p in packets {
                f(p.link, p.ts, chunk.frame(p), p.wire_len);
            }
            true
        })
    }
}

#[cfg(test)]
mod tests;
