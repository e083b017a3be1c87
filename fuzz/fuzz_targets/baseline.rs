#![no_main]
//! Fuzz target `baseline`: see `procflow_fuzz::harness::baseline`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::baseline::run(data));
