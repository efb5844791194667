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
    let collected = PLAN.with(|p| {
        p.borrow_mut()
            .as_mut()
            .map(|steps| steps.push(step))
            .is_some()
    });
    if !collected {
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
