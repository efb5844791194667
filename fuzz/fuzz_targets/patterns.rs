#![no_main]
//! Fuzz target: see `depot::fuzzing::patterns`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::fuzzing::patterns(data));
