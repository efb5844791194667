//! One module per subcommand; each is thin and returns an exit status.

pub mod add;
pub mod admin;
pub mod audit;
pub mod build;
pub mod create;
pub mod delete;
pub mod demo;
pub mod env;
pub mod gc;
pub mod info;
pub mod install;
pub mod repo;
pub mod view;

/// A command's exit status.
pub type ExitStatus = i32;
