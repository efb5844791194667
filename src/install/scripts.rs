//! Running `+INSTALL`/`+DEINSTALL` scripts and `@exec`/`@unexec` commands.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::package::plist::{self, Entry, PackingList};
use crate::settings::Settings;

/// The environment pkg_install gives scripts, pointed at the depot dir.
fn environment(
    settings: &Settings,
    pkgname: &str,
    depot_dir: &Path,
) -> Vec<(&'static str, String)> {
    vec![
        ("PKG_PREFIX", depot_dir.display().to_string()),
        ("PKG_METADATA_DIR", depot_dir.display().to_string()),
        ("PKG_DBDIR", settings.dbdir.display().to_string()),
        ("LOCALBASE", settings.root.display().to_string()),
        ("PKGNAME", pkgname.to_owned()),
    ]
}

/// Run `script PKGNAME PHASE` (for example `+INSTALL foo-1.0 PRE-INSTALL`) in `cwd`.
pub fn run_script(
    settings: &Settings,
    script: &Path,
    pkgname: &str,
    phase: &str,
    depot_dir: &Path,
    cwd: &Path,
) -> Result<()> {
    if !script.exists() {
        return Ok(());
    }
    let status = Command::new("/bin/sh")
        .arg(script)
        .arg(pkgname)
        .arg(phase)
        .envs(environment(settings, pkgname, depot_dir))
        .current_dir(cwd)
        .status()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !status.success() {
        bail!(
            "{pkgname}: {} {phase} failed ({status})",
            script
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
    }
    Ok(())
}

/// Run every `@exec` (or `@unexec`) of the packing list with `%F %D %B %f` expanded,
/// `%D` being the depot dir.
pub fn run_commands(
    settings: &Settings,
    plist: &PackingList,
    which: plist::Command,
    pkgname: &str,
    depot_dir: &Path,
) -> Result<()> {
    let dir = depot_dir.display().to_string();
    let mut last_file = String::new();
    for entry in &plist.entries {
        match entry {
            Entry::File(name) => last_file.clone_from(name),
            Entry::Command(c, command) if *c == which => {
                let expanded = plist::format_command(command, &dir, &last_file);
                let status = Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&expanded)
                    .envs(environment(settings, pkgname, depot_dir))
                    .current_dir(depot_dir)
                    .status()
                    .with_context(|| format!("cannot run `{expanded}`"))?;
                if !status.success() {
                    bail!(
                        "{pkgname}: @{} `{expanded}` failed ({status})",
                        which.word()
                    );
                }
            }
            Entry::Command(..) => {}
        }
    }
    Ok(())
}
