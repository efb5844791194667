//! Recipe-tree merging, as portshaker does for ports trees: source trees
//! are brought up to date (git, rsync, a command, or a directory as it is),
//! then each target tree is merged from its ordered sources by the rules of
//! [`plan`] and switched atomically ([`target`]). Sources are all updated
//! before any target is touched, so a source that fails leaves every target
//! as it was.

pub mod config;
pub mod plan;
pub mod shconf;
pub mod target;
pub mod tree;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::cli::MergeArgs;
use crate::output::{caution, inform, say};
use config::{Config, Hook, Source, Target, Update};

/// The config file: the one given, else `<root>/etc/depot-merge.toml`, else
/// `<root>/etc/portshaker.conf` when only that exists.
pub fn config_file(given: Option<&Path>, root: &Path) -> PathBuf {
    if let Some(given) = given {
        return crate::settings::absolute(given).unwrap_or_else(|_| given.to_path_buf());
    }
    let toml = root.join("etc/depot-merge.toml");
    let conf = root.join("etc/portshaker.conf");
    if !toml.exists() && conf.exists() {
        conf
    } else {
        toml
    }
}

/// Run `depot merge`.
pub fn run(root: &Path, config: Option<&Path>, args: &MergeArgs) -> Result<i32> {
    let file = config_file(config, root);
    let config = Config::load(&file, root)?;
    for warning in &config.warnings {
        caution!("{warning}");
    }
    let targets = selected(&config, &args.targets)?;
    if let Some(unit) = &args.explain {
        return explain(&targets, unit);
    }
    let mut names: Vec<String> = Vec::new();
    for t in &targets {
        for m in &t.merge_from {
            if !names.contains(&m.source) {
                names.push(m.source.clone());
            }
        }
    }
    let sources: Vec<Source> = names.iter().map(|n| config.source(n)).collect();
    if args.dry_run {
        say!("dry run: sources are not updated and no tree is written");
    } else if !args.no_update {
        for source in &sources {
            update(&config, source, args.verbose)?;
        }
    }
    if args.update_only {
        return Ok(0);
    }
    let mut status = 0;
    for t in &targets {
        status = status.max(merge_target(&config, t, args)?);
    }
    Ok(status)
}

/// The targets named on the command line, or all of them.
fn selected<'a>(config: &'a Config, names: &[String]) -> Result<Vec<&'a Target>> {
    if names.is_empty() {
        return Ok(config.targets.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            config
                .targets
                .iter()
                .find(|t| t.name == *n)
                .with_context(|| {
                    format!(
                        "{}: no target {} (the targets are: {})",
                        config.file.display(),
                        crate::quote::name(n),
                        config
                            .targets
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        })
        .collect()
}

/// Run a hook; its failure is an error quoting the end of its output.
fn hook(config: &Config, hook: Option<&Hook>, what: &str, env: &[(&str, &Path)]) -> Result<()> {
    let Some(hook) = hook else {
        return Ok(());
    };
    let mut command = Command::new("/bin/sh");
    match hook {
        Hook::Shell(text) => {
            command.arg("-c").arg(text);
        }
        Hook::Function { conf, name } => {
            command
                .arg("-c")
                .arg(format!(". \"$0\" && {name}"))
                .arg(conf);
        }
    }
    // Hooks, like update commands, run in the mirror base dir.
    fs_err::create_dir_all(&config.mirror_base_dir)?;
    command.current_dir(&config.mirror_base_dir);
    for (k, v) in env {
        command.env(k, v);
    }
    run_captured(&mut command, what, false)
}

/// Run `command`, keeping its output; a failure quotes the output's end.
fn run_captured(command: &mut Command, what: &str, verbose: bool) -> Result<()> {
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot run {}", command.get_program().display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if verbose && !text.trim().is_empty() {
        eprint!("{}", crate::quote::message(&text));
    }
    if out.status.success() {
        return Ok(());
    }
    let tail: Vec<&str> = text.lines().rev().take(20).collect();
    let mut shown = String::new();
    for line in tail.iter().rev() {
        let _ = writeln!(shown, "  {}", crate::quote::excerpt(line, 200));
    }
    bail!(
        "{what} failed ({}){}",
        out.status,
        if shown.is_empty() {
            " without output".to_owned()
        } else {
            format!(":\n{}", shown.trim_end())
        }
    )
}

/// Bring one source up to date (pre_update, the update, post_update).
fn update(config: &Config, source: &Source, verbose: bool) -> Result<()> {
    let name = &source.name;
    let dir = &source.dir;
    let env = [
        ("DEPOT_MERGE_SOURCE", Path::new(name.as_str())),
        ("DEPOT_MERGE_DIR", dir.as_path()),
    ];
    let stop = |e: anyhow::Error| {
        e.context(format!(
            "source {name} could not be updated; no target was touched"
        ))
    };
    hook(
        config,
        source.pre_update.as_ref(),
        &format!("source {name}: pre_update"),
        &env,
    )
    .map_err(stop)?;
    let what = format!("source {name}: update");
    match &source.update {
        Update::Nothing => {}
        Update::Git { url, branch } => {
            inform!("updating {name} (git {url})");
            if dir.join(".git").exists() {
                let mut fetch = Command::new("git");
                fetch
                    .arg("-C")
                    .arg(dir)
                    .args(["fetch", "--quiet", "origin"])
                    .arg(branch.as_deref().unwrap_or("HEAD"));
                run_captured(&mut fetch, &format!("{what}: git fetch"), verbose).map_err(stop)?;
                let mut reset = Command::new("git");
                reset
                    .arg("-C")
                    .arg(dir)
                    .args(["reset", "--quiet", "--hard", "FETCH_HEAD"]);
                run_captured(&mut reset, &format!("{what}: git reset"), verbose).map_err(stop)?;
                let mut clean = Command::new("git");
                clean.arg("-C").arg(dir).args(["clean", "-qfdx"]);
                run_captured(&mut clean, &format!("{what}: git clean"), verbose).map_err(stop)?;
            } else {
                if dir.exists() {
                    return Err(stop(anyhow::anyhow!(
                        "{} exists and is not a git checkout: move it away so that it can be cloned",
                        dir.display()
                    )));
                }
                let partial = dir.with_extension("partial");
                crate::linking::remove_tree(&partial)?;
                if let Some(parent) = dir.parent() {
                    fs_err::create_dir_all(parent)?;
                }
                let mut clone = Command::new("git");
                clone.args(["clone", "--quiet"]);
                if let Some(b) = branch {
                    clone.args(["--branch", b]);
                }
                clone.arg(url).arg(&partial);
                let cloned = run_captured(&mut clone, &format!("{what}: git clone"), verbose);
                if let Err(e) = cloned {
                    let _ = crate::linking::remove_tree(&partial);
                    return Err(stop(e));
                }
                fs_err::rename(&partial, dir)?;
            }
        }
        Update::Rsync { from } => {
            inform!("updating {name} (rsync {from})");
            fs_err::create_dir_all(dir)?;
            let mut rsync = Command::new("rsync");
            rsync
                .args(["-a", "--delete", "--exclude", ".git"])
                .arg(format!("{}/", from.trim_end_matches('/')))
                .arg(format!("{}/", dir.display()));
            run_captured(&mut rsync, &format!("{what}: rsync"), verbose).map_err(stop)?;
        }
        Update::Command(text) => {
            inform!("updating {name}");
            fs_err::create_dir_all(&config.mirror_base_dir)?;
            let mut command = Command::new("/bin/sh");
            command
                .arg("-c")
                .arg(text)
                .current_dir(&config.mirror_base_dir);
            for (k, v) in env {
                command.env(k, v);
            }
            run_captured(&mut command, &what, verbose).map_err(stop)?;
        }
    }
    hook(
        config,
        source.post_update.as_ref(),
        &format!("source {name}: post_update"),
        &env,
    )
    .map_err(stop)
}

/// The revision of a git checkout, for the record.
fn revision(dir: &Path) -> Option<String> {
    if !dir.join(".git").exists() {
        return None;
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Merge one target: plan, report, and (unless a dry run, or conflicts with
/// `fail_on_conflict`) write and switch.
fn merge_target(config: &Config, t: &Target, args: &MergeArgs) -> Result<i32> {
    let place = target::Place::of(&t.tree)?;
    let sources: Vec<(String, config::Flag, PathBuf)> = t
        .merge_from
        .iter()
        .map(|m| (m.source.clone(), m.flag, config.source(&m.source).dir))
        .collect();
    let _lock = if args.dry_run {
        None
    } else {
        Some(place.lock(&t.name)?)
    };
    let current = place.current()?;
    let read = tree::read_sources(&sources)
        .with_context(|| format!("target {}: reading its sources", t.name))?;
    let plan = plan::plan(&read).with_context(|| format!("target {}", t.name))?;
    let records = read
        .iter()
        .map(|s| target::SourceRecord {
            name: format!("{}{}", s.name, s.flag.suffix()),
            dir: s.root.display().to_string(),
            revision: revision(&s.root),
        })
        .collect();
    let next_generation = current.as_ref().map_or(1, |(n, _)| n + 1);
    let manifest = target::manifest_of(&t.name, next_generation, records, &plan);
    let changes = target::changes(&plan, current.as_ref().map(|(_, m)| m));
    if args.dry_run || args.verbose {
        print_origins(t, &manifest);
    }
    for c in &plan.conflicts {
        let text = format!(
            "conflict in {}: {}{} and {} differ in {}; {}",
            t.name,
            c.unit,
            c.pkgname
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default(),
            c.other,
            c.files.join(", "),
            if t.fail_on_conflict {
                "fail_on_conflict is set".to_owned()
            } else {
                format!(
                    "kept {}'s (mark the later source with `!` to take it)",
                    c.kept
                )
            }
        );
        if args.dry_run {
            println!("{text}");
        } else {
            caution!("{text}");
        }
    }
    if t.fail_on_conflict && !plan.conflicts.is_empty() {
        if args.dry_run {
            return Ok(1);
        }
        bail!(
            "target {}: {} conflict(s) and fail_on_conflict is set: {} was not touched",
            t.name,
            plan.conflicts.len(),
            t.tree.display()
        );
    }
    if args.dry_run {
        return Ok(0);
    }
    let env = [
        ("DEPOT_MERGE_TARGET", Path::new(t.name.as_str())),
        ("DEPOT_MERGE_TREE", t.tree.as_path()),
    ];
    hook(
        config,
        t.pre_merge.as_ref(),
        &format!("target {}: pre_merge", t.name),
        &env,
    )
    .with_context(|| format!("{} was not touched", t.tree.display()))?;
    let unchanged = current
        .as_ref()
        .is_some_and(|(_, m)| target::same_as(m, &manifest, &plan));
    if unchanged {
        inform!(
            "{}: {} unchanged ({} units)",
            t.name,
            t.tree.display(),
            plan.units.len()
        );
    } else {
        let written = place.write(&plan, manifest, current.as_ref())?;
        let recipes = written
            .units
            .values()
            .filter(|u| u.kind == tree::Kind::Recipe)
            .count();
        inform!(
            "{}: {} is generation {}: {recipes} recipe(s); {} new, {} changed, {} removed, {} unchanged",
            t.name,
            t.tree.display(),
            written.generation,
            changes.new.len(),
            changes.changed.len(),
            changes.removed.len(),
            changes.same
        );
        for (label, list) in [
            ("new", &changes.new),
            ("changed", &changes.changed),
            ("removed", &changes.removed),
        ] {
            for key in list {
                let origin = written
                    .units
                    .get(key)
                    .map(|u| format!(" from {}", describe(u)))
                    .unwrap_or_default();
                inform!("  {label} {key}{origin}");
            }
        }
    }
    hook(
        config,
        t.post_merge.as_ref(),
        &format!("target {}: post_merge", t.name),
        &env,
    )?;
    Ok(0)
}

/// `local (hello-2.10nb1)`, with the `+` sources that added files.
fn describe(unit: &target::UnitRecord) -> String {
    let mut out = unit.origin.clone();
    if let Some(p) = &unit.pkgname {
        let _ = write!(out, " ({p})");
    }
    let mut overlays: Vec<&str> = unit
        .files
        .values()
        .map(|f| f.source.as_str())
        .filter(|s| *s != unit.origin)
        .collect();
    overlays.sort_unstable();
    overlays.dedup();
    for o in overlays {
        let _ = write!(out, " + {o}");
    }
    out
}

/// Every unit's origin, one a line (`depot merge -n`).
fn print_origins(t: &Target, manifest: &target::Manifest) {
    println!("target {} ({}):", t.name, t.tree.display());
    let width = manifest.units.keys().map(String::len).max().unwrap_or(0);
    for (key, unit) in &manifest.units {
        let mut line = format!("  {key:width$}  {}", unit.origin);
        if let Some(p) = &unit.pkgname {
            let _ = write!(line, " ({p})");
        }
        for note in &unit.notes {
            let _ = write!(line, "; {note}");
        }
        println!("{line}");
    }
}

/// `depot merge --explain category/name`: where the unit in each target
/// came from, file by file.
fn explain(targets: &[&Target], unit: &str) -> Result<i32> {
    let unit = unit.trim_end_matches('/');
    if unit
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        bail!(
            "{}: name a recipe as category/name",
            crate::quote::name(unit)
        );
    }
    let mut found = false;
    for t in targets {
        let place = target::Place::of(&t.tree)?;
        let Some((generation, manifest)) = place.current()? else {
            say!("{}: {} has not been merged yet", t.name, t.tree.display());
            continue;
        };
        let Some(record) = manifest.units.get(unit) else {
            println!(
                "{}: no {unit} in {} (generation {generation})",
                t.name,
                t.tree.display()
            );
            continue;
        };
        found = true;
        println!(
            "{}: {unit} in {} (generation {generation})",
            t.name,
            t.tree.display()
        );
        println!("  from: {}", describe(record));
        if let Some(hash) = &record.recipe_hash {
            println!("  recipe hash: {hash}");
        }
        for note in &record.notes {
            println!("  {note}");
        }
        for (rel, f) in &record.files {
            let short = rel.strip_prefix(&format!("{unit}/")).unwrap_or(rel);
            println!(
                "  {short}  {}  {}",
                f.source,
                &f.sha256[..f.sha256.len().min(12)]
            );
        }
    }
    if !found {
        bail!("{unit} is in no merged target");
    }
    Ok(0)
}
