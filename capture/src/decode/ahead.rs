//! Frames decoded ahead of the engine, on the thread that read them.
//!
//! With one worker the engine runs on one thread, and packet by packet its
//! work is the whole run's: the thread that reads the file, and the stage
//! that writes records, wait on it most of the time. The reading thread
//! decodes each frame of a block as it reads it (a fifth of the engine's
//! work on a packet), and the engine takes the packet as decoded. A
//! decoded packet borrows its payload from the frame; decoded ahead, the
//! payload is named by its place in the frame instead, and found again in
//! the same frame by [`Ahead::packet`].

use super::{decode_with, DecodeError, LinkType, Packet, Tunnels};
use crate::lookahead::{Hint, Placement};

/// What the reading thread needs to decode frames ahead for an engine:
/// the tunnels it opens, and where it files flows.
#[derive(Debug, Clone, Default)]
pub struct DecodeAhead {
    /// The tunnels to decode with.
    pub tunnels: Tunnels,
    /// Where the engine files each flow.
    pub placement: Placement,
}

/// One frame decoded ahead: its packet, or why it is none.
#[derive(Debug, Clone, Copy)]
pub struct Ahead(Result<Placed, DecodeError>);

/// A packet whose payload is named by place.
#[derive(Debug, Clone, Copy)]
struct Placed {
    /// The packet, its payload left empty.
    pkt: Packet<'static>,
    /// Where its payload starts in the frame.
    at: u32,
    /// Its length.
    len: u32,
    /// Where its flow is filed.
    hint: Hint,
}

impl Ahead {
    /// Decodes `frame` (of link type `link`) as [`decode_with`] does,
    /// and places its flow if `place`.
    pub fn decode(link: LinkType, frame: &[u8], how: &DecodeAhead, place: bool) -> Ahead {
        Ahead(decode_with(link, frame, &how.tunnels).map(|pkt| {
            // The payload is a part of the frame: its place is the
            // distance between the two starts.
            let at = (pkt.payload.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
            Placed {
                pkt: Packet {
                    payload: &[],
                    ..pkt
                },
                at: u32::try_from(at).unwrap_or(u32::MAX),
                len: u32::try_from(pkt.payload.len()).unwrap_or(0),
                hint: if place {
                    how.placement.of(&pkt)
                } else {
                    Hint::default()
                },
            }
        }))
    }

    /// Where the packet's flow is filed; none if the frame is no packet.
    pub fn hint(&self) -> Hint {
        self.0.as_ref().map_or_else(|_| Hint::default(), |p| p.hint)
    }

    /// The packet of `frame`, the frame this was decoded from.
    pub fn packet<'a>(&self, frame: &'a [u8]) -> Result<Packet<'a>, DecodeError> {
        let placed = self.0?;
        let (at, len) = (placed.at as usize, placed.len as usize);
        Ok(Packet {
            payload: frame.get(at..at + len).unwrap_or(&[]),
            ..placed.pkt
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame of the project's captures decodes ahead to the packet
    /// (or error) it decodes to in place.
    #[test]
    fn decoded_ahead_is_decoded_in_place() {
        let files = crate::test_captures::every_capture("decoded_ahead_is_decoded_in_place");
        let tunnels = Tunnels::default();
        let how = DecodeAhead::default();
        let mut frames = 0;
        for f in &files {
            let Ok(mut src) = crate::file::FileSource::open(f) else {
                continue;
            };
            src.for_each(|link, _, frame, _| {
                let ahead = Ahead::decode(link, frame, &how, true);
                assert_eq!(
                    ahead.packet(frame),
                    decode_with(link, frame, &tunnels),
                    "{}",
                    f.display()
                );
                frames += 1;
            });
        }
        assert!(frames > 1000, "{frames} frames");
    }

    /// A frame decoded ahead takes 144 bytes (its flow's place among
    /// them): a block's list of them is at most about 1 MiB (a 512 KiB
    /// block of the smallest frames, 76 bytes with their record header),
    /// and the lists are bounded as the blocks in flight are.
    #[test]
    fn a_frame_decoded_ahead_stays_small() {
        let size = std::mem::size_of::<Ahead>();
        assert!(size <= 144, "{size} bytes");
    }

    /// The engine writes the same records from a file read with its
    /// frames decoded ahead (and their flows placed there) as from the
    /// frames handed to it one by one, with one shard or three.
    #[test]
    fn records_are_the_same_decoded_ahead() {
        use crate::packets::{PacketEngine, PacketSource, Reading};
        use crate::{Engine, FlowConfig};
        let files = crate::test_captures::every_capture("records_are_the_same_decoded_ahead");
        let mut records = 0;
        for (f, shards) in files.iter().flat_map(|f| [(f, 1), (f, 3)]) {
            let Ok(mut src) = crate::file::FileSource::open(f) else {
                continue;
            };
            let mut engine = Engine::new(FlowConfig::default(), shards);
            assert!(engine.decodes_ahead().is_some());
            let mut want = Vec::new();
            src.for_each(|link, ts, frame, wire| {
                engine.process_frame(link, ts, frame, wire, &mut |r| want.push(r.to_json()));
            });
            engine.finish(&mut |r| want.push(r.to_json()));
            let Ok(mut src) = crate::file::FileSource::open(f) else {
                continue;
            };
            // Placed from the first flow on, as a large table's are.
            let mut engine = Engine::new(FlowConfig::default(), shards).place_from(0);
            let mut got = Vec::new();
            src.read_into(&mut engine, &mut |r| {
                if let Reading::Record(r) = r {
                    got.push(r.to_json());
                }
                true
            });
            engine.finish(&mut |r| got.push(r.to_json()));
            assert_eq!(got, want, "{} ({shards} shards)", f.display());
            records += got.len();
        }
        assert!(records > 50, "{records} records");
    }
}
