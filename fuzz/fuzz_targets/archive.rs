#![no_main]
//! Fuzz target: see `depot::fuzzing::archive`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::fuzzing::archive(data));
