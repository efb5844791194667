#![no_main]
//! Fuzz target: see `depot::fuzzing::build_info`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::fuzzing::build_info(data));
