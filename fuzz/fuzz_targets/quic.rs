#![no_main]
//! Fuzz target `quic`: see `procflow_fuzz::harness::quic`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| procflow_fuzz::harness::quic::run(data));
