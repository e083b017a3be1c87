#![no_main]
//! Fuzz target `http`: see `procflow_fuzz::harness::http`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::http::run(data));
