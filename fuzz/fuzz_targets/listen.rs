#![no_main]
//! Fuzz target `listen`: see `procflow_fuzz::harness::listen`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::listen::run(data));
