#![no_main]
//! Fuzz target: see `depot::fuzzing::summary`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::fuzzing::summary(data));
