#![no_main]
//! Fuzz target `config`: see `procflow_fuzz::harness::config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::config::run(data));
