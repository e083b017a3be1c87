//! procflow's capture reader as a [`PacketSource`]: the file is read ahead
//! on a thread of its own, so the copy from the page cache overlaps the
//! work on what was read, and whole blocks go to the engine as they are.

use super::{FileBlock, FileSource, PacketRef, ReadOutcome};
use crate::decode::Ahead;
use crate::packets::{PacketEngine, PacketSource, Progress, Reading, PROGRESS_EVERY};
use crossbeam_channel::bounded;
use std::path::Path;
use std::sync::Arc;

/// Blocks read ahead of the engine.
const READ_AHEAD: usize = 4;

/// A block's frames, and each decoded ahead when the engine asked for it
/// (else none). Sent with the block and back again, to be filled anew.
#[derive(Default)]
struct Lists {
    packets: Vec<PacketRef>,
    ahead: Vec<Ahead>,
}

impl PacketSource for FileSource {
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
        engine: &mut dyn PacketEngine,
        emit: &mut dyn FnMut(Reading) -> bool,
    ) -> ReadOutcome {
        let (tx, rx) = bounded::<(Arc<FileBlock>, Lists)>(READ_AHEAD);
        let (back, spare) = bounded::<Lists>(READ_AHEAD + 2);
        let decode = engine.decodes_ahead();
        std::thread::scope(|scope| {
            let reader = std::thread::Builder::new()
                .name("procflow-read".into())
                .spawn_scoped(scope, move || {
                    self.for_each_chunk(|chunk, packets| {
                        let mut lists: Lists = spare.try_recv().unwrap_or_default();
                        lists.packets.clear();
                        lists.packets.extend_from_slice(packets);
                        lists.ahead.clear();
                        if let Some(how) = &decode {
                            let place = how.placement.wanted();
                            lists.ahead.extend(
                                packets
                                    .iter()
                                    .map(|p| Ahead::decode(p.link, chunk.frame(p), how, place)),
                            );
                        }
                        // The receiver goes away when reading stops early.
                        tx.send((Arc::clone(chunk), lists)).is_ok()
                    })
                });
            let reader = match reader {
                Ok(r) => r,
                Err(e) => {
                    return ReadOutcome {
                        truncated: Some(format!("cannot start the reading thread: {e}")),
                        ..ReadOutcome::default()
                    }
                }
            };
            let (mut packets_read, mut bytes_read) = (0u64, 0u64);
            let mut next = PROGRESS_EVERY;
            for (block, lists) in rx {
                engine.process_block(&block, &lists.packets, &lists.ahead, &mut |r| {
                    emit(Reading::Record(r));
                });
                packets_read += lists.packets.len() as u64;
                bytes_read += block.bytes().len() as u64;
                let _ = back.try_send(lists);
                if packets_read >= next {
                    next = packets_read + PROGRESS_EVERY;
                    let go_on = emit(Reading::Progress(Progress {
                        packets: packets_read,
                        bytes: bytes_read,
                        watermark: engine.watermark(),
                    }));
                    if !go_on {
                        break;
                    }
                }
            }
            reader.join().unwrap_or_else(|_| ReadOutcome {
                truncated: Some("the reading thread failed".to_string()),
                ..ReadOutcome::default()
            })
        })
    }
}
