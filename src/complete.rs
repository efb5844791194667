//! Shell completions (clap_complete's dynamic engine): `depot completions
//! bash|zsh|fish` prints a script that asks the binary itself for
//! candidates, so package names (for `info`, `delete`, `view add`…) and view
//! names (for `view …`, `env`, `run`, `shell`) come from the database of the
//! root the command line names (`--root`, `DEPOT_ROOT`, or the default).

use std::path::PathBuf;

use clap_complete::{ArgValueCandidates, CompletionCandidate};
use pkgdb::Queries as _;

/// The environment variable that turns the binary into its own completer.
pub const VAR: &str = "_DEPOT_COMPLETE";

/// Answer a completion request and exit, when the shell made one.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(<crate::cli::Cli as clap::CommandFactory>::command)
        .var(VAR)
        .complete();
}

/// Installed package names (PKGNAMEs and PKGBASEs).
pub fn packages() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Some(db) = database() else {
            return Vec::new();
        };
        let mut names = std::collections::BTreeSet::new();
        for p in db.packages().unwrap_or_default() {
            if let Some((base, _)) = crate::package::pattern::split_pkgname(&p.pkgname) {
                names.insert(base.to_owned());
            }
            names.insert(p.pkgname);
        }
        names.into_iter().map(CompletionCandidate::new).collect()
    })
}

/// View names.
pub fn views() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Some(db) = database() else {
            return Vec::new();
        };
        let mut names: Vec<String> = db
            .views()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect();
        if !names.iter().any(|n| n == crate::linking::DEFAULT_VIEW) {
            names.push(crate::linking::DEFAULT_VIEW.to_owned());
        }
        names.into_iter().map(CompletionCandidate::new).collect()
    })
}

/// The database of the root the words being completed name.
fn database() -> Option<pkgdb::Database> {
    let words: Vec<String> = std::env::args().collect();
    let given = |long: &str, short: Option<&str>| {
        words.iter().enumerate().find_map(|(i, w)| {
            if w == long || short.is_some_and(|s| s == w) {
                words.get(i + 1).cloned()
            } else {
                w.strip_prefix(&format!("{long}=")).map(str::to_owned)
            }
        })
    };
    let root = given("--root", None)
        .or_else(|| std::env::var("DEPOT_ROOT").ok())
        .unwrap_or_else(|| crate::settings::DEFAULT_ROOT.to_owned());
    let dbdir = given("--pkg-dbdir", Some("-K"))
        .or_else(|| std::env::var("PKG_DBDIR").ok())
        .map_or_else(|| PathBuf::from(&root).join("pkgdb"), PathBuf::from);
    pkgdb::Database::open_read(&dbdir).ok()
}

/// `depot completions SHELL`: the script to source (or install).
pub fn script(shell: crate::cli::CompletionShell) -> anyhow::Result<i32> {
    let exe = std::env::current_exe()?;
    let exe = exe.to_string_lossy();
    let mut out = std::io::stdout().lock();
    let shell: &dyn clap_complete::env::EnvCompleter = match shell {
        crate::cli::CompletionShell::Bash => &clap_complete::env::Bash,
        crate::cli::CompletionShell::Zsh => &clap_complete::env::Zsh,
        crate::cli::CompletionShell::Fish => &clap_complete::env::Fish,
    };
    shell.write_registration(VAR, "depot", "depot", &exe, &mut out)?;
    Ok(0)
}
