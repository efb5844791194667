#![no_main]
//! Fuzz target: see `depot::fuzzing::merge_config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::fuzzing::merge_config(data));
