#![no_main]
//! Fuzz target `dtls`: see `procflow_fuzz::harness::dtls`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::dtls::run(data));
