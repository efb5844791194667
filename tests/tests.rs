//! Integration tests: the real binary on temporary roots.

mod util;

mod add;
mod admin;
mod bad_input;
mod create;
mod delete;
mod info;
mod roundtrip;
mod views;
