//! `depot env`, `depot run`, `depot shell`: use a view by PATH.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use pkgdb::{Database, ViewQueries};

use super::ExitStatus;
use crate::cli::{EnvArgs, RunArgs, Shell, ShellArgs};
use crate::linking::DEFAULT_VIEW;
use crate::output;
use crate::settings::Settings;

/// The directory users see a view at: the root for the default view.
pub fn view_dir(settings: &Settings, name: &str) -> PathBuf {
    if name == DEFAULT_VIEW {
        settings.root.clone()
    } else {
        settings.views_dir().join(name)
    }
}

fn check_view(settings: &Settings, name: &str) -> Result<PathBuf> {
    let db = Database::open_read(&settings.dbdir)?;
    if name != DEFAULT_VIEW && db.view(name)?.is_none() {
        bail!(
            "no view named {name}; `depot view list` shows the views, `depot view create {name}` makes one"
        );
    }
    Ok(view_dir(settings, name))
}

/// The directories of the view at `dir` that each variable gets.
fn view_dirs(dir: &Path) -> [(&'static str, [PathBuf; 2]); 4] {
    [
        ("PATH", [dir.join("bin"), dir.join("sbin")]),
        ("MANPATH", [dir.join("share/man"), dir.join("man")]),
        ("INFOPATH", [dir.join("share/info"), dir.join("info")]),
        (
            "PKG_CONFIG_PATH",
            [dir.join("lib/pkgconfig"), dir.join("share/pkgconfig")],
        ),
    ]
}

/// Each variable's new value: the view's directories first, then the current value
/// without the directories of any view of this root, so switching views does not pile up.
fn variables(settings: &Settings, dir: &Path) -> Vec<(&'static str, String)> {
    let default_view = view_dirs(&settings.root);
    let ours = |entry: &str| {
        let p = Path::new(entry);
        p.starts_with(settings.views_dir())
            || default_view
                .iter()
                .any(|(_, dirs)| dirs.iter().any(|d| d == p))
    };
    view_dirs(dir)
        .into_iter()
        .map(|(var, dirs)| {
            let mut all: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            all.extend(
                std::env::var(var)
                    .unwrap_or_default()
                    .split(':')
                    .filter(|e| !e.is_empty() && !ours(e))
                    .map(str::to_owned),
            );
            let mut value = all.join(":");
            // MANPATH: a trailing empty entry keeps the system's default search path.
            if var == "MANPATH" {
                value.push(':');
            }
            (var, value)
        })
        .collect()
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Run `depot env`.
pub fn run_env(settings: &Settings, args: &EnvArgs) -> Result<ExitStatus> {
    let name = args.name.as_deref().unwrap_or(DEFAULT_VIEW);
    let dir = check_view(settings, name)?;
    for (var, value) in variables(settings, &dir) {
        match args.shell {
            Shell::Sh | Shell::Bash | Shell::Zsh => {
                println!("{var}={}; export {var};", quote(&value));
            }
            Shell::Fish => {
                let parts: Vec<String> = value.split(':').map(quote).collect();
                println!("set -gx {var} {};", parts.join(" "));
            }
        }
    }
    Ok(0)
}

fn command_in_view(
    settings: &Settings,
    name: &str,
    program: &str,
) -> Result<std::process::Command> {
    let dir = check_view(settings, name)?;
    let mut command = std::process::Command::new(program);
    for (var, value) in variables(settings, &dir) {
        command.env(var, value);
    }
    command.env("DEPOT_VIEW", name);
    Ok(command)
}

/// Run `depot run VIEW -- CMD...`.
pub fn run_run(settings: &Settings, args: &RunArgs) -> Result<ExitStatus> {
    let (program, rest) = args.command.split_first().context("no command given")?;
    let mut command = command_in_view(settings, &args.name, program)?;
    let status = command
        .args(rest)
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    Ok(status.code().unwrap_or(1))
}

/// Run `depot shell VIEW`.
pub fn run_shell(settings: &Settings, args: &ShellArgs) -> Result<ExitStatus> {
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_owned());
    let mut command = command_in_view(settings, &args.name, &shell)?;
    output::say!("entering view {} (exit the shell to leave)", args.name);
    let status = command
        .status()
        .with_context(|| format!("cannot start {shell}"))?;
    Ok(status.code().unwrap_or(1))
}
