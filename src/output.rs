//! The name messages start with: `depot`, or the multi-call name the binary
//! was invoked as (`pkg_info: can't find package ...`), as pkg_install's tools
//! name themselves.

use std::sync::OnceLock;

static PROGRAM: OnceLock<String> = OnceLock::new();

/// Record the name this process was invoked as (once, at start).
pub fn set_program(name: &str) {
    let _ = PROGRAM.set(name.to_owned());
}

/// The name to start messages with.
pub fn program() -> &'static str {
    PROGRAM.get().map_or("depot", String::as_str)
}

/// A message on stderr, prefixed with the program name.
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("{}: {}", $crate::output::program(), format_args!($($arg)*))
    };
}

/// A warning on stderr, prefixed with the program name.
macro_rules! caution {
    ($($arg:tt)*) => {
        eprintln!("{}: warning: {}", $crate::output::program(), format_args!($($arg)*))
    };
}

pub(crate) use {caution, say};
