//! Captures in: offline pcap and pcapng files through libpcap.
//!
//! This is the only module that touches libpcap; everything after it sees
//! a link type, a timestamp and frame bytes.

use crate::decode::LinkType;
use crate::time::Micros;
use pcap::{Capture, Offline};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A capture that cannot be used at all.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct SourceError {
    /// The file.
    pub path: String,
    /// What is wrong with it, in one line.
    pub reason: String,
}

/// Which container the file is, from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Classic libpcap format (24-byte header, 16-byte record headers).
    Pcap,
    /// pcapng.
    Pcapng,
}

/// An open offline capture.
pub struct OfflineSource {
    cap: Capture<Offline>,
    /// Link type of its frames.
    pub link: LinkType,
    /// Raw link-type number.
    pub dlt: i32,
    /// The file.
    pub path: PathBuf,
    /// File size in bytes.
    pub size: u64,
    /// Container format.
    pub format: FileFormat,
}

/// How reading a capture ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Packets read.
    pub packets: u64,
    /// Bytes of the file consumed (exact for classic pcap, an estimate for
    /// pcapng).
    pub offset: u64,
    /// Set when the file ended in the middle of a packet or a block:
    /// libpcap's words.
    pub truncated: Option<String>,
}

fn fail(path: &Path, reason: impl Into<String>) -> SourceError {
    SourceError {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

impl OfflineSource {
    /// Opens a capture file, with a clear reason when it cannot be used.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let meta = std::fs::metadata(path).map_err(|e| fail(path, e.to_string()))?;
        if meta.is_dir() {
            return Err(fail(path, "is a directory, not a capture file"));
        }
        if meta.len() == 0 {
            return Err(fail(path, "empty file, not a capture"));
        }
        let mut magic = [0u8; 4];
        let got = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut magic))
            .map_err(|e| fail(path, e.to_string()))?;
        let format = match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => FileFormat::Pcapng,
            [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d] => FileFormat::Pcap,
            _ if got < 4 => return Err(fail(path, "too short to be a capture")),
            _ => {
                return Err(fail(
                    path,
                    "not a pcap or pcapng capture (unknown magic number)",
                ))
            }
        };
        let cap = Capture::from_file(path)
            .map_err(|e| fail(path, format!("cannot read capture: {e}")))?;
        let dlt = cap.get_datalink().0;
        Ok(OfflineSource {
            cap,
            link: LinkType::from_dlt(dlt),
            dlt,
            path: path.to_path_buf(),
            size: meta.len(),
            format,
        })
    }

    /// Calls `f(timestamp, frame, wire_length)` for every packet, in file
    /// order. Reading stops at the end of the file or where it is cut.
    pub fn for_each(&mut self, mut f: impl FnMut(Micros, &[u8], u32)) -> ReadOutcome {
        self.for_each_until(|ts, frame, wire| {
            f(ts, frame, wire);
            true
        })
    }

    /// As [`OfflineSource::for_each`], stopping after the first packet for
    /// which `f` returns false.
    pub fn for_each_until(&mut self, mut f: impl FnMut(Micros, &[u8], u32) -> bool) -> ReadOutcome {
        let mut out = ReadOutcome {
            offset: 24,
            ..ReadOutcome::default()
        };
        if self.format == FileFormat::Pcapng {
            out.offset = 0;
        }
        loop {
            match self.cap.next_packet() {
                Ok(p) => {
                    let h = p.header;
                    let secs = u64::try_from(h.ts.tv_sec).unwrap_or(0);
                    let frac = u64::try_from(h.ts.tv_usec).unwrap_or(0);
                    out.packets += 1;
                    // A pcapng enhanced packet block is 32 bytes plus padded data.
                    out.offset += match self.format {
                        FileFormat::Pcap => 16 + u64::from(h.caplen),
                        FileFormat::Pcapng => 32 + u64::from(h.caplen).next_multiple_of(4),
                    };
                    let go_on = f(crate::time::from_parts(secs, frac), p.data, h.len);
                    if !go_on {
                        break;
                    }
                }
                Err(pcap::Error::NoMorePackets) => break,
                Err(e) => {
                    out.truncated = Some(e.to_string());
                    break;
                }
            }
        }
        out
    }
}

impl crate::packets::PacketSource for OfflineSource {
    fn path(&self) -> &Path {
        &self.path
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn dlt(&self) -> i32 {
        self.dlt
    }

    fn read_into(
        &mut self,
        engine: &mut dyn crate::packets::PacketEngine,
        emit: &mut dyn FnMut(crate::packets::Reading) -> bool,
    ) -> ReadOutcome {
        use crate::packets::{Progress, Reading, PROGRESS_EVERY};
        let link = self.link;
        let (mut packets, mut bytes) = (0u64, 0u64);
        let mut next = PROGRESS_EVERY;
        self.for_each_until(|ts, frame, wire_len| {
            engine.process_frame(link, ts, frame, wire_len, &mut |r| {
                emit(Reading::Record(r));
            });
            packets += 1;
            // libpcap does not say where it is in the file: a record
            // header and the frame are the estimate.
            bytes += 16 + frame.len() as u64;
            if packets < next {
                return true;
            }
            next = packets + PROGRESS_EVERY;
            emit(Reading::Progress(Progress {
                packets,
                bytes,
                watermark: engine.watermark(),
            }))
        })
    }
}
