#![no_main]
//! Fuzz target `h2`: see `procflow_fuzz::harness::h2`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::h2::run(data));
