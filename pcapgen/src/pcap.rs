//! Classic pcap file writing.
//!
//! Format: 24-byte global header (magic `0xa1b2c3d4` written little-endian,
//! version 2.4, microsecond timestamps), then per packet a 16-byte record
//! header (seconds, microseconds, captured length, original length, all
//! little-endian u32) followed by the captured bytes.

use std::io::{self, Write};

/// The pcap magic number for microsecond timestamps.
pub const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
/// The default snapshot length.
pub const DEFAULT_SNAPLEN: u32 = 65535;
/// Timestamp of the first packet of every scenario: 1 700 000 000 s, in µs.
pub const START_TIME_US: u64 = 1_700_000_000 * 1_000_000;
/// How far the scenario clock advances after each packet (1 ms).
pub const PACKET_SPACING_US: u64 = 1_000;

/// Writes a classic little-endian pcap stream.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header (linktype and snaplen as given) and returns
    /// the writer.
    pub fn new(mut w: W, linktype: u32, snaplen: u32) -> io::Result<Self> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&PCAP_MAGIC.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (8..12) and sigfigs (12..16) stay zero.
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&linktype.to_le_bytes());
        w.write_all(&h)?;
        Ok(Self { w, snaplen })
    }

    /// The snapshot length declared in the global header.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Writes one packet. Frames longer than the snaplen are cut to it (the
    /// record keeps the original length). Returns the captured length.
    pub fn write_packet(&mut self, ts_micros: u64, frame: &[u8]) -> io::Result<usize> {
        let caplen = frame.len().min(self.snaplen as usize);
        self.write_packet_cut(ts_micros, frame, caplen)?;
        Ok(caplen)
    }

    /// Writes the first `caplen` bytes of `frame`, recording `frame.len()` as
    /// the original length. `caplen` is clamped to the frame length.
    pub fn write_packet_cut(
        &mut self,
        ts_micros: u64,
        frame: &[u8],
        caplen: usize,
    ) -> io::Result<()> {
        let caplen = caplen.min(frame.len());
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts_micros / 1_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts_micros % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(&frame[..caplen])
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// One packet record read back by [`records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Timestamp in microseconds.
    pub ts_us: u64,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Length on the wire.
    pub orig_len: u32,
}

/// The packet records of a classic little-endian, microsecond pcap stream
/// as [`PcapWriter`] writes it (what [`Capture::into_bytes`] returns), for
/// tests and benchmarks that hand frames to a reader without a file.
/// Reading stops at the first incomplete record.
pub fn records(pcap: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut at = 24;
    std::iter::from_fn(move || {
        let h = pcap.get(at..at + 16)?;
        let word = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
        let caplen = word(8) as usize;
        let data = pcap.get(at + 16..at + 16 + caplen)?;
        at += 16 + caplen;
        Some(Record {
            ts_us: u64::from(word(0)) * 1_000_000 + u64::from(word(4)),
            data,
            orig_len: word(12),
        })
    })
}

/// An in-memory capture with the scenario clock: every emitted packet is
/// stamped with the current time, then the clock advances by 1 ms.
///
/// Connections ([`crate::TcpConn`], [`crate::UdpFlow`]) emit into a shared
/// `Capture`, so packets of several connections interleave in the order they
/// were emitted.
#[derive(Debug)]
pub struct Capture {
    writer: PcapWriter<Sink>,
    linktype: u32,
    clock_us: u64,
    packets: u64,
}

impl Capture {
    /// A capture with the default snaplen (65535).
    pub fn new(linktype: u32) -> Self {
        Self::with_snaplen(linktype, DEFAULT_SNAPLEN)
    }

    /// A capture whose frames are cut to `snaplen` bytes.
    pub fn with_snaplen(linktype: u32, snaplen: u32) -> Self {
        let writer = PcapWriter::new(Sink::Memory(Vec::new()), linktype, snaplen)
            .expect("writing to a Vec cannot fail");
        Self {
            writer,
            linktype,
            clock_us: START_TIME_US,
            packets: 0,
        }
    }

    /// A capture written straight to `path` (for captures too large to
    /// hold in memory); end it with [`Capture::finish_file`].
    pub fn to_file(linktype: u32, path: &std::path::Path) -> io::Result<Self> {
        let file = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        Ok(Self {
            writer: PcapWriter::new(Sink::File(file), linktype, DEFAULT_SNAPLEN)?,
            linktype,
            clock_us: START_TIME_US,
            packets: 0,
        })
    }

    /// Flushes a capture made by [`Capture::to_file`].
    pub fn finish_file(self) -> io::Result<()> {
        match self.writer.into_inner()? {
            Sink::File(mut f) => f.flush(),
            Sink::Memory(_) => Ok(()),
        }
    }

    /// The link type of the capture.
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// The timestamp the next packet will get.
    pub fn now_us(&self) -> u64 {
        self.clock_us
    }

    /// Moves the clock forward (idle time between packets).
    pub fn advance_us(&mut self, us: u64) {
        self.clock_us += us;
    }

    /// Packets emitted so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Writes one frame (cut to the snaplen) and returns its captured length.
    pub fn emit(&mut self, frame: &[u8]) -> usize {
        let n = self
            .writer
            .write_packet(self.clock_us, frame)
            .expect("writing the capture failed (disk full?)");
        self.tick();
        n
    }

    /// Writes the first `caplen` bytes of a frame (original length kept) and
    /// returns the captured length.
    pub fn emit_cut(&mut self, frame: &[u8], caplen: usize) -> usize {
        let caplen = caplen.min(frame.len()).min(self.writer.snaplen() as usize);
        self.writer
            .write_packet_cut(self.clock_us, frame, caplen)
            .expect("writing the capture failed (disk full?)");
        self.tick();
        caplen
    }

    fn tick(&mut self) {
        self.clock_us += PACKET_SPACING_US;
        self.packets += 1;
    }

    /// The finished pcap file (empty for a capture written to a file).
    pub fn into_bytes(self) -> Vec<u8> {
        match self
            .writer
            .into_inner()
            .expect("writing to a Vec cannot fail")
        {
            Sink::Memory(v) => v,
            Sink::File(_) => Vec::new(),
        }
    }
}

/// Where a [`Capture`] goes.
#[derive(Debug)]
enum Sink {
    Memory(Vec<u8>),
    File(io::BufWriter<std::fs::File>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Memory(v) => v.write(buf),
            Sink::File(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Memory(_) => Ok(()),
            Sink::File(f) => f.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new(), 1, 96).unwrap();
        assert_eq!(w.write_packet(1_500_000, &[7u8; 100]).unwrap(), 96);
        w.write_packet_cut(2_000_001, &[1, 2, 3, 4], 2).unwrap();
        let b = w.into_inner().unwrap();
        assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&b[4..8], &[2, 0, 4, 0]);
        assert_eq!(&b[16..24], &[96, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(
            &b[24..40],
            &[1, 0, 0, 0, 0x20, 0xa1, 0x07, 0, 96, 0, 0, 0, 100, 0, 0, 0]
        );
        let second = 24 + 16 + 96;
        assert_eq!(
            &b[second..second + 16],
            &[2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0]
        );
        assert_eq!(&b[second + 16..], &[1, 2]);
        let back: Vec<Record<'_>> = records(&b).collect();
        assert_eq!(back.len(), 2);
        assert_eq!(
            (back[0].ts_us, back[0].data.len(), back[0].orig_len),
            (1_500_000, 96, 100)
        );
        assert_eq!(
            (back[1].ts_us, back[1].data, back[1].orig_len),
            (2_000_001, &[1u8, 2][..], 4)
        );
    }
}
