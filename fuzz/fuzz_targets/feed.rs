#![no_main]
//! Fuzz target `feed`: see `procflow_fuzz::harness::feed`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::feed::run(data));
