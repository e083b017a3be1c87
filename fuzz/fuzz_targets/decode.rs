#![no_main]
//! Fuzz target `decode`: see `procflow_fuzz::harness::decode`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::decode::run(data));
