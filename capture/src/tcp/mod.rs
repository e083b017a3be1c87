//! TCP stream reassembly, one [`Stream`] per direction.

pub mod reassembly;
pub mod seq;

pub use reassembly::{Chunk, Stream, StreamLimits};
