//! Fuzz targets of procflow: each target in `fuzz_targets/` hands its
//! input to one function of [`harness`], which runs it through the
//! sensor's code and checks the oracles.

pub mod harness;
