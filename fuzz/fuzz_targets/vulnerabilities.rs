#![no_main]
//! Fuzz target: see `depot::fuzzing::vulnerabilities`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::fuzzing::vulnerabilities(data));
