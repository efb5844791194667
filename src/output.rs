//! The name messages start with: `depot`, or the multi-call name the binary
//! was invoked as (`pkg_info: can't find package ...`), as pkg_install's tools
//! name themselves.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

static PROGRAM: OnceLock<String> = OnceLock::new();
static QUIET: AtomicBool = AtomicBool::new(false);
static VERBOSE: AtomicU8 = AtomicU8::new(0);

/// Record the global `-q` and `-v` (once, at start): `-q` also stops
/// progress bars.
pub fn set_verbosity(quiet: bool, verbose: u8) {
    QUIET.store(quiet, Ordering::Relaxed);
    VERBOSE.store(verbose, Ordering::Relaxed);
    if quiet {
        crate::progress::quiet();
    }
}

/// `-q` was given: no confirmations, no progress.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// How many `-v` were given.
pub fn verbose() -> u8 {
    VERBOSE.load(Ordering::Relaxed)
}

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

/// A confirmation on stdout (what a command did), unless `-q`.
macro_rules! tell {
    ($($arg:tt)*) => {
        if !$crate::output::quiet() {
            println!($($arg)*)
        }
    };
}

/// A message on stderr about what is being done, unless `-q`.
macro_rules! inform {
    ($($arg:tt)*) => {
        if !$crate::output::quiet() {
            eprintln!("{}: {}", $crate::output::program(), format_args!($($arg)*))
        }
    };
}

/// A step's detail on stderr, with `-v` only.
macro_rules! detail {
    ($($arg:tt)*) => {
        if $crate::output::verbose() > 0 {
            eprintln!("{}: {}", $crate::output::program(), format_args!($($arg)*))
        }
    };
}

pub(crate) use {caution, detail, inform, say, tell};

thread_local! {
    /// The steps of a plan (`add -n`, `delete -n`, `gc -n`) while `--json`
    /// collects them instead of printing their lines.
    static PLAN: std::cell::RefCell<Option<Vec<serde_json::Value>>> =
        const { std::cell::RefCell::new(None) };
}

/// From now on, plan steps are collected for [`print_plan`], not printed.
pub fn collect_plan() {
    PLAN.with(|p| *p.borrow_mut() = Some(Vec::new()));
}

/// One step of a plan: its line on stdout, or, when collecting, `step`.
pub fn plan_step(line: &str, step: serde_json::Value) {
    // Done steps (not a dry run's plan) are confirmations: `-q` drops them.
    let done = step.get("done") == Some(&serde_json::Value::Bool(true));
    let collected = PLAN.with(|p| {
        p.borrow_mut()
            .as_mut()
            .map(|steps| steps.push(step))
            .is_some()
    });
    if !(collected || done && quiet()) {
        println!("{line}");
    }
}

/// Print the collected steps as a JSON array (nothing when not collecting).
pub fn print_plan() -> anyhow::Result<()> {
    if let Some(steps) = PLAN.with(|p| p.borrow_mut().take()) {
        println!("{}", serde_json::to_string_pretty(&steps)?);
    }
    Ok(())
}
