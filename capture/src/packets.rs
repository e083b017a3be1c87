//! The one face every packet engine shows its callers: frames (or whole
//! blocks of a capture file) in, flow records out. The engine on the
//! reading thread ([`crate::Engine`]) and the threaded one
//! ([`crate::parallel::ParallelEngine`]) both implement it, so a reader
//! (capture files, libpcap, live interfaces) drives either without
//! knowing which.

use crate::decode::LinkType;
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
    fn process_block(
        &mut self,
        block: &Arc<FileBlock>,
        packets: &[PacketRef],
        out: &mut dyn FnMut(FlowRecord),
    );

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
