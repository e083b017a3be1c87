//! Where a capture's bytes come from: a file or standard input (`-`),
//! either one possibly compressed with gzip or zstd. Compression is told
//! by the first bytes, not by the name, so `capture.pcap.gz` renamed or a
//! compressed stream on a pipe reads the same.

use std::io::Read;
use std::path::Path;

/// How a capture's bytes were compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (RFC 1952), members concatenated as `cat a.gz b.gz` makes them.
    Gzip,
    /// Zstandard frames.
    Zstd,
}

impl Compression {
    /// Lower-case name, as reports give it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// An opened input: its decompressed bytes, and its size when known.
pub(crate) struct Input {
    /// The capture's bytes, decompressed.
    pub reader: Box<dyn Read + Send>,
    /// Bytes the reader will give, when known before reading (a plain
    /// file); 0 for standard input and compressed files.
    pub size: u64,
    /// How the bytes were compressed.
    pub compression: Compression,
}

/// The name that reads standard input.
pub const STDIN: &str = "-";

/// Reads until `buf` is full or the input ends; the bytes read.
pub(crate) fn fill(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Opens `path` (`-`: standard input), decompressing what its first bytes
/// say is compressed. The reason when it cannot be used.
pub(crate) fn open(path: &Path) -> Result<Input, String> {
    let (mut raw, size): (Box<dyn Read + Send>, u64) = if path.as_os_str() == STDIN {
        (Box::new(std::io::stdin()), 0)
    } else {
        let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if meta.is_dir() {
            return Err("is a directory, not a capture file".into());
        }
        // A pipe or FIFO has no length: only an empty regular file is
        // known empty before reading.
        if meta.is_file() && meta.len() == 0 {
            return Err("empty file, not a capture".into());
        }
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        (Box::new(file), meta.len())
    };
    let mut magic = [0u8; 4];
    let got = fill(&mut raw, &mut magic).map_err(|e| e.to_string())?;
    // The sniffed bytes go back in front: a pipe cannot seek back.
    let head = std::io::Cursor::new(magic.get(..got).unwrap_or_default().to_vec());
    let whole = head.chain(raw);
    let input = match (got, magic) {
        (2.., [0x1f, 0x8b, ..]) => Input {
            reader: Box::new(flate2::read::MultiGzDecoder::new(whole)),
            size: 0,
            compression: Compression::Gzip,
        },
        (4, [0x28, 0xb5, 0x2f, 0xfd]) => Input {
            reader: Box::new(
                zstd::stream::read::Decoder::new(whole).map_err(|e| format!("zstd input: {e}"))?,
            ),
            size: 0,
            compression: Compression::Zstd,
        },
        _ => Input {
            reader: Box::new(whole),
            size,
            compression: Compression::None,
        },
    };
    Ok(input)
}
