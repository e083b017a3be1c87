//! `--pcap-out DIR`: the packets behind each alert, one pcap per alert,
//! with no second pass over the input. A [`Tap`] around the engine copies
//! every frame on the reading thread and sends the copies, in batches, to
//! the stage thread; there a [`FrameStore`] keeps them, bounded by
//! `--pcap-out-memory` (oldest dropped first, counted), until the windows
//! they belong to are judged. Each alert then gets a pcap of the stored
//! frames of exactly its flows.

mod store;
mod tap;

pub use store::FrameStore;
pub use tap::{FrameCopy, Tap};
