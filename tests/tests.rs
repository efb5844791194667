//! Integration tests: the real binary on temporary roots.
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests fail loudly on purpose and use std::fs directly"
)]

mod util;

mod add;
mod admin;
mod audit;
mod bad_input;
mod build;
mod bulk;
mod create;
mod delete;
mod ecosystem;
mod fuzz_regressions;
mod info;
mod install;
mod json;
mod lock;
mod merge;
mod nodes;
mod readers;
mod relocate;
mod repo;
mod roundtrip;
mod sshd;
mod views;
