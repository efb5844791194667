//! `depot build` and `depot bin-install`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::ExitStatus;
use crate::build::bin_install::{Installer, binpkg_sites};
use crate::build::{self, Build, BuildSettings, PHASES, Recipe, Terminal, fetch};
use crate::cli::{BinInstallArgs, BuildArgs};
use crate::linking::DEFAULT_VIEW;
use crate::settings::Settings;

/// Targets that are not phases.
const TARGETS: &[&str] = &[
    "clean",
    "show-distfiles",
    "show-depends",
    "makesum",
    "makepatchsum",
    "print-plist",
];

fn is_target(word: &str) -> bool {
    PHASES.contains(&word) || TARGETS.contains(&word)
}

/// `[RECIPE_DIR] [TARGET]`: a lone word that names a target (and is not a
/// directory) is the target, as `make fetch` in a pkgsrc directory.
fn split_args(args: &[String]) -> Result<(PathBuf, String)> {
    match args {
        [] => Ok((PathBuf::from("."), "package".to_owned())),
        [one] if is_target(one) && !Path::new(one).join("recipe.toml").exists() => {
            Ok((PathBuf::from("."), one.clone()))
        }
        [one] => Ok((PathBuf::from(one), "package".to_owned())),
        [dir, target] if is_target(target) => Ok((PathBuf::from(dir), target.clone())),
        [_, target] => bail!(
            "unknown target {}; the phases are {} and the other targets {}",
            crate::quote::name(target),
            PHASES.join(", "),
            TARGETS.join(", ")
        ),
        _ => bail!("expected at most a recipe directory and a target"),
    }
}

/// Run `depot build`.
pub fn run(settings: &Settings, args: &BuildArgs) -> Result<ExitStatus> {
    let (dir, target) = split_args(&args.args)?;
    let recipe = Recipe::load(&dir)?;
    let build_settings = BuildSettings::from_env(settings)?;
    let reporter = Terminal { quiet: args.quiet };
    let installer = Installer {
        settings,
        build: &build_settings,
        reporter: &reporter,
        binpkg_sites: Vec::new(),
        remote: None,
        view: Some(DEFAULT_VIEW.to_owned()),
    };
    match target.as_str() {
        "show-distfiles" => {
            for file in recipe.distfiles().iter().chain(&recipe.file.patchfiles) {
                println!("{file}");
            }
            return Ok(0);
        }
        "show-depends" => {
            let (resolved, _) = installer.resolve(&recipe)?;
            for d in &recipe.depends {
                let kind = match d.kind {
                    build::DependKind::Run => "depends",
                    build::DependKind::Build => "build_depends",
                    build::DependKind::Tool => "tool_depends",
                };
                let state = resolved
                    .iter()
                    .find(|r| r.pattern == d.pattern)
                    .map_or_else(|| "not installed".to_owned(), |r| r.pkgname.clone());
                println!("{kind}\t{}\t{}\t{state}", d.pattern, d.recipe.display());
            }
            return Ok(0);
        }
        _ => {}
    }
    let (deps, missing) = installer.resolve(&recipe)?;
    let needs_deps = !matches!(
        target.as_str(),
        "clean" | "fetch" | "checksum" | "makesum" | "makepatchsum" | "extract" | "patch"
    );
    if needs_deps && !missing.is_empty() {
        return Err(Installer::missing_error(&recipe, &missing));
    }
    let build = Build {
        recipe: &recipe,
        settings: &build_settings,
        deps: &deps,
        reporter: &reporter,
    };
    match target.as_str() {
        "clean" => build::clean(&build)?,
        "makesum" | "makepatchsum" => {
            if target == "makesum" {
                build::run(&build, "fetch")?;
            }
            let path = fetch::makesum(&build, target == "makepatchsum")?;
            if !args.quiet {
                crate::output::say!("wrote {}", path.display());
            }
        }
        "print-plist" => {
            print!("{}", build::package::packing_list(&build)?.to_text());
        }
        phase => {
            let outcome = build::run(&build, phase)?;
            if args.verbose {
                for (phase, took) in &outcome.ran {
                    crate::output::say!("{phase:>10} {:8.3} s", took.as_secs_f64());
                }
            }
            if let Some(file) = &outcome.package {
                if !args.quiet {
                    crate::output::say!("{}: {}", recipe.pkgname, file.display());
                }
                if args.install {
                    installer.install(file, false)?;
                }
            } else if args.install {
                bail!("--install needs the package phase (it is the default target)");
            }
        }
    }
    Ok(0)
}

/// Run `depot bin-install`.
pub fn run_bin_install(settings: &Settings, args: &BinInstallArgs) -> Result<ExitStatus> {
    let build_settings = BuildSettings::from_env(settings)?;
    let reporter = Terminal { quiet: args.quiet };
    let (local_sites, remote) = binpkg_sites(settings, &reporter)?;
    let installer = Installer {
        settings,
        build: &build_settings,
        reporter: &reporter,
        binpkg_sites: local_sites,
        remote,
        view: args.target.chosen(),
    };
    let dirs = if args.dirs.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.dirs.clone()
    };
    for dir in dirs {
        let pkgname = installer.bin_install(&dir, false, &mut Vec::new())?;
        if !args.quiet {
            crate::output::say!("{pkgname} is installed");
        }
    }
    Ok(0)
}
