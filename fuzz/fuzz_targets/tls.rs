#![no_main]
//! Fuzz target `tls`: see `procflow_fuzz::harness::tls`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::tls::run(data));
