//! The engine wrapper that copies frames for `--pcap-out`.

use capture::decode::LinkType;
use capture::file::{FileBlock, PacketRef};
use capture::time::Micros;
use capture::{FlowRecord, PacketEngine, Stats};
use crossbeam_channel::Sender;
use std::sync::Arc;

/// One frame, copied.
pub struct FrameCopy {
    /// Capture time.
    pub ts: Micros,
    /// Its link type.
    pub link: LinkType,
    /// Length on the wire.
    pub wire_len: u32,
    /// The captured bytes.
    pub data: Box<[u8]>,
}

/// Frames sent in one message.
const BATCH: usize = 512;

/// An engine that hands a copy of every frame to the stage before
/// processing it. Sending waits when the stage is behind (reading a file
/// loses nothing).
pub struct Tap {
    inner: Box<dyn PacketEngine>,
    tx: Sender<Vec<FrameCopy>>,
    batch: Vec<FrameCopy>,
}

impl Tap {
    /// Wraps `inner`; copies go to `tx`.
    pub fn new(inner: Box<dyn PacketEngine>, tx: Sender<Vec<FrameCopy>>) -> Self {
        Tap {
            inner,
            tx,
            batch: Vec::with_capacity(BATCH),
        }
    }

    fn copy(&mut self, link: LinkType, ts: Micros, frame: &[u8], wire_len: u32) {
        self.batch.push(FrameCopy {
            ts,
            link,
            wire_len,
            data: frame.into(),
        });
        if self.batch.len() >= BATCH {
            self.send();
        }
    }

    /// Sends what is batched (a closed stage drops it: the run is ending).
    fn send(&mut self) {
        if !self.batch.is_empty() {
            let b = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            let _ = self.tx.send(b);
        }
    }
}

impl PacketEngine for Tap {
    fn process_frame(
        &mut self,
        link: LinkType,
        ts: Micros,
        frame: &[u8],
        wire_len: u32,
        out: &mut dyn FnMut(FlowRecord),
    ) {
        self.copy(link, ts, frame, wire_len);
        self.inner.process_frame(link, ts, frame, wire_len, out);
    }

    fn process_block(
        &mut self,
        block: &Arc<FileBlock>,
        packets: &[PacketRef],
        ahead: &[capture::decode::Ahead],
        out: &mut dyn FnMut(FlowRecord),
    ) {
        for p in packets {
            self.copy(p.link, p.ts, block.frame(p), p.wire_len);
        }
        // A block's frames reach the stage before the records they end.
        self.send();
        self.inner.process_block(block, packets, ahead, out);
    }

    fn decodes_ahead(&self) -> Option<capture::decode::DecodeAhead> {
        self.inner.decodes_ahead()
    }

    fn recycler(&self) -> Option<capture::parallel::Recycler> {
        self.inner.recycler()
    }

    fn watermark(&self) -> Micros {
        self.inner.watermark()
    }

    fn finish(&mut self, out: &mut dyn FnMut(FlowRecord)) {
        self.send();
        self.inner.finish(out);
    }

    fn stats(&self) -> Stats {
        self.inner.stats()
    }
}
