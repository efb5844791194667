#![no_main]
//! Fuzz target: see `depot::fuzzing::recipe`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::fuzzing::recipe(data));
