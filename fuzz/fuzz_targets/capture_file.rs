#![no_main]
//! Fuzz target `capture_file`: see `procflow_fuzz::harness::capture_file`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::capture_file::run(data));
