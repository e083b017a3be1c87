//! The one face every packet engine shows its callers: frames (or whole
//! blocks of a capture file) in, flow records out. The engine on the
//! reading thread ([`crate::Engine`]) and the threaded one
//! ([`crate::parallel::ParallelEngine`]) both implement it, so a reader
//! (capture files, libpcap, live interfaces) drives either without
//! knowing which.

use crate::decode::{Ahead, DecodeAhead, LinkType};
use crate::file::{FileBlock, PacketRef};
use crate::time::Micros;
use crate::{FlowRecord, Stats};
use std::sync::Arc;

/// A packet engine.
pub trait PacketEngine: Send {
    /// Processes one captured frame; `wire_len` is its length on the wire.
    fn process_frame(
        &mut self,
        link: LinkType,
        ts: Micros,
        frame: &[u8],
        wire_len: u32,
        out: &mut dyn FnMut(FlowRecord),
    );

    /// Processes the packets of one block of a capture file, in order.
    /// `ahead` is empty, or holds each packet decoded ahead, when the
    /// engine asked for that ([`PacketEngine::decodes_ahead`]).
    fn process_block(
        &mut self,
        block: &Arc<FileBlock>,
        packets: &[PacketRef],
        ahead: &[Ahead],
        out: &mut dyn FnMut(FlowRecord),
    );

    /// How to decode frames (the tunnels) and place their flows, when the
    /// engine takes the frames of a block decoded ahead of it by the
    /// thread that read them (when its own thread would otherwise do all
    /// the work); `None` when it decodes them itself.
    fn decodes_ahead(&self) -> Option<DecodeAhead> {
        None
    }

    /// Where the caller gives back records it is done with, when the
    /// engine wants them freed on the threads that wrote them; `None`
    /// when they are best freed where the caller is (an engine on the
    /// caller's thread).
    fn recycler(&self) -> Option<crate::parallel::Recycler> {
        None
    }

    /// Packet time up to which every flow due to end has been handed out.
    fn watermark(&self) -> Micros;

    /// Ends every flow still open and hands out its record.
    fn finish(&mut self, out: &mut dyn FnMut(FlowRecord));

    /// The counters so far.
    fn stats(&self) -> Stats;
}

/// The engine for `threads` worker threads: with one or none, the engine
/// runs on the caller's thread, in `shards` shards.
pub fn engine(cfg: crate::FlowConfig, threads: usize, shards: usize) -> Box<dyn PacketEngine> {
    if threads <= 1 {
        Box::new(crate::Engine::new(cfg, shards))
    } else {
        Box::new(crate::parallel::ParallelEngine::new(cfg, threads))
    }
}

/// Packets between two [`Reading::Progress`] of a [`PacketSource`].
pub const PROGRESS_EVERY: u64 = 4096;

/// What a packet source hands its caller as it reads.
// Passed by value to a callback and never stored: boxing the record would
// only add an allocation per flow.
#[allow(clippy::large_enum_variant)]
pub enum Reading {
    /// A flow ended.
    Record(FlowRecord),
    /// Every [`PROGRESS_EVERY`] packets: how far reading has come.
    Progress(Progress),
}

/// How far a source has read.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Packets read from this source so far.
    pub packets: u64,
    /// Bytes of the source read so far (an estimate where the reader
    /// cannot tell).
    pub bytes: u64,
    /// The engine's [`PacketEngine::watermark`] now: every flow that ended
    /// by it has been handed out.
    pub watermark: Micros,
}

/// A source of packets that reads itself into an engine: a capture file
/// through procflow's own reader or through libpcap.
pub trait PacketSource: Send {
    /// The file it reads.
    fn path(&self) -> &std::path::Path;
    /// Its size in bytes.
    fn size(&self) -> u64;
    /// The raw link-type number of its (first) interface.
    fn dlt(&self) -> i32;
    /// Reads every packet into `engine`, in order. `emit` takes the
    /// records the engine hands out and the progress; reading stops early
    /// when it answers `false` to a progress. Says how reading ended.
    fn read_into(
        &mut self,
        engine: &mut dyn PacketEngine,
        emit: &mut dyn FnMut(Reading) -> bool,
    ) -> crate::source::ReadOutcome;
}

/// The readers a capture file can be opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// procflow's own, in large chunks handed to the workers as they are.
    File,
    /// libpcap's.
    Libpcap,
}

/// Opens `path` with `reader`. A capture whose (first) link type is not
/// supported is refused: pcapng may mix link types, and frames of another
/// unsupported interface are only counted.
pub fn open(
    path: &std::path::Path,
    reader: Reader,
) -> Result<Box<dyn PacketSource>, crate::source::SourceError> {
    let src: Box<dyn PacketSource> = match reader {
        Reader::File => {
            let s = crate::file::FileSource::open(path)?;
            if !s.link.is_supported() {
                return Err(unsupported(path, s.dlt));
            }
            Box::new(s)
        }
        Reader::Libpcap => {
            let s = crate::source::OfflineSource::open(path)?;
            if !s.link.is_supported() {
                return Err(unsupported(path, s.dlt));
            }
            Box::new(s)
        }
    };
    Ok(src)
}

fn unsupported(path: &std::path::Path, dlt: i32) -> crate::source::SourceError {
    crate::source::SourceError {
        path: path.display().to_string(),
        reason: format!("link type {dlt} is not supported"),
    }
}
