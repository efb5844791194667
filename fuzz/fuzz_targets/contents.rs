#![no_main]
//! Fuzz target: see `depot::fuzzing::contents`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::fuzzing::contents(data));
