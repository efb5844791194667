//! `depot delete`: verify, run deinstall steps, take the package out of views and
//! the database in one transaction, then remove its depot dir.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use pkgdb::{FileKind, FileRow, PackageRow, Queries, ViewQueries};

use super::verify::{Problem, Verify, verify_files};
use super::{Context, TRASH_PREFIX, scripts};
use crate::linking::{self, DEFAULT_VIEW};
use crate::output;
use crate::package::pattern;
use crate::package::plist::{Command, PackingList};
use crate::requirements;

/// How `delete` behaves.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// -A: also delete automatic packages no longer required.
    pub autoremove: bool,
    /// -D: skip +DEINSTALL.
    pub no_scripts: bool,
    /// -f count.
    pub force: u8,
    /// -F: arguments are files.
    pub by_file: bool,
    /// -k: keep going.
    pub keep_going: bool,
    /// -N/-O: unregister only.
    pub unregister_only: bool,
    /// -n.
    pub dry_run: bool,
    /// -R: also delete dependencies no longer required.
    pub recursive_depends: bool,
    /// -r: also delete dependents.
    pub recursive: bool,
    /// -v.
    pub verbose: bool,
    /// Take packages out of named views too.
    pub remove_from_views: bool,
}

/// A package's `+DEINSTALL` from the database, in a temporary file to run.
fn script_from_database(ctx: &Context, package_id: i64) -> Result<Option<tempfile::NamedTempFile>> {
    let Some(content) = ctx.db.metadata(package_id, "+DEINSTALL")? else {
        return Ok(None);
    };
    let mut file = tempfile::NamedTempFile::new()?;
    std::io::Write::write_all(&mut file, &content)?;
    Ok(Some(file))
}

/// Remove a depot dir (already renamed out of the way): its files in parallel,
/// one directory per thread with each unlink relative to an open handle on it
/// (the kernel locks a directory while an entry goes), then the directories.
fn remove_depot_dir(dir: &Path, files: &[FileRow]) -> Result<()> {
    use rayon::prelude::*;
    let mut groups: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
    for f in files.iter().filter(|f| f.kind != FileKind::Dir) {
        let (parent, name) = super::parent_and_name(&f.path);
        groups.entry(parent).or_default().push(name);
    }
    let groups: Vec<(&str, Vec<&str>)> = groups.into_iter().collect();
    groups.par_iter().for_each(|(parent, names)| {
        let Ok(handle) = super::directory_handle(&dir.join(parent)) else {
            return;
        };
        for name in names {
            // What cannot go here (a changed file type, say) goes below.
            let _ = rustix::fs::unlinkat(&handle, *name, rustix::fs::AtFlags::empty());
        }
    });
    // The directories, metadata files and anything the package's scripts made.
    linking::remove_tree(dir)
}

/// Remove an imported package's files from its prefix as pkg_delete does: the
/// unchanged ones (changed ones too with `force`), then the directories that
/// leaves empty, up to the prefix. Failures are warnings: the package is
/// already unregistered.
fn remove_imported_files(prefix: &Path, files: &[FileRow], problems: &[Problem], force: bool) {
    let changed: std::collections::HashSet<&Path> =
        problems.iter().map(|p| p.path.as_path()).collect();
    let mut dirs = BTreeSet::new();
    for f in files {
        let path = prefix.join(&f.path);
        let mut parent = path.parent();
        while let Some(p) = parent.filter(|p| p.starts_with(prefix) && *p != prefix) {
            dirs.insert(p.to_owned());
            parent = p.parent();
        }
        if f.kind == FileKind::Dir {
            dirs.insert(path);
            continue;
        }
        if changed.contains(path.as_path()) && !force {
            output::say!(
                "kept {}: changed since it was installed (delete it by hand, or use -f)",
                path.display()
            );
            continue;
        }
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            output::caution!("cannot remove {}: {e}", path.display());
        }
    }
    // Deepest first; a directory that is not empty stays.
    for dir in dirs.iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// One line per view: the generations that go with `pkgname`.
fn forgotten_lines<'a>(
    generations: impl IntoIterator<Item = (&'a str, i64)>,
    pkgname: &str,
) -> Vec<(&'a str, Vec<i64>, String)> {
    let mut by_view: Vec<(&str, Vec<i64>)> = Vec::new();
    for (view, number) in generations {
        match by_view.last_mut() {
            Some((v, numbers)) if *v == view => numbers.push(number),
            _ => by_view.push((view, vec![number])),
        }
    }
    by_view
        .into_iter()
        .map(|(view, numbers)| {
            let line = format!(
                "generation{} {} of view {view}, which held {pkgname} and cannot be restored without it",
                if numbers.len() == 1 { "" } else { "s" },
                numbers
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            (view, numbers, line)
        })
        .collect()
}

/// Delete the packages named by `specs`.
pub fn delete(ctx: &mut Context, specs: &[String], options: &DeleteOptions) -> Result<()> {
    let mut targets: Vec<PackageRow> = Vec::new();
    for spec in specs {
        for p in crate::owners::resolve(&ctx.settings, &ctx.db, spec, options.by_file)? {
            if !targets.iter().any(|t| t.id == p.id) {
                targets.push(p);
            }
        }
    }
    // Who would be left without a dependency, globally or in a view: with -r they
    // go too (dependants first, transitively); otherwise that refuses the whole
    // delete before anything is touched, unless forced with -ff.
    let mut blocking = requirements::dependants_blocking(&ctx.db, &targets)?;
    if options.recursive {
        while !blocking.is_empty() {
            for b in &blocking {
                if !targets.iter().any(|t| t.pkgname == b.pkgname)
                    && let Some(p) = ctx.db.package(&b.pkgname)?
                {
                    targets.push(p);
                }
            }
            blocking = requirements::dependants_blocking(&ctx.db, &targets)?;
        }
        targets.reverse();
    }
    if !blocking.is_empty() {
        let names: Vec<&str> = targets.iter().map(|t| t.pkgname.as_str()).collect();
        let mut msg = format!(
            "cannot delete {}: required by packages that would be left without it:",
            names.join(", ")
        );
        for b in &blocking {
            let _ = write!(msg, "\n  {b}");
        }
        if options.force < 2 {
            msg.push_str("\nnothing was deleted; delete those too with -r, or anyway with -ff");
            bail!(msg);
        }
        output::caution!("{msg}\ndeleting anyway (-ff)");
    }
    let mut trash: Vec<Trash> = Vec::new();
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    let outcome = delete_targets(ctx, &targets, options, &mut trash, &mut deleted);
    // Whatever went before an error stays deleted: its dependants are resolved
    // again and its files go, as after a run without one.
    let resolved = if !options.dry_run && !deleted.is_empty() {
        reresolve(ctx)
    } else {
        Ok(())
    };
    // The files go while the database writes its changes back (two cores,
    // two kinds of work); the rows are already gone, so a crash here leaves
    // only `.trash-*` directories in `packages/.work`, which the next writer removes.
    let removal = std::thread::spawn(move || -> Result<()> {
        for (dir, files) in trash {
            remove_depot_dir(&dir, &files)?;
        }
        Ok(())
    });
    ctx.db.checkpoint();
    removal
        .join()
        .map_err(|_| anyhow::anyhow!("removing the deleted packages' files failed"))??;
    super::tidy_work_dir(&ctx.settings);
    crate::profile::phase("removed");
    let failed = outcome?;
    resolved?;
    if failed {
        bail!("some packages could not be deleted");
    }
    Ok(())
}

/// Delete `targets` in order, then (with -A or -R) what they needed and
/// nothing needs any more. Depot dirs go to `trash`; names to `deleted`.
/// Returns whether a package failed under -k.
fn delete_targets(
    ctx: &mut Context,
    targets: &[PackageRow],
    options: &DeleteOptions,
    trash: &mut Vec<Trash>,
    deleted: &mut BTreeSet<String>,
) -> Result<bool> {
    let deleting: BTreeSet<String> = targets.iter().map(|t| t.pkgname.clone()).collect();
    let mut failed = false;
    // What the deleted packages depended on: candidates for -A / -R.
    let mut needed: BTreeSet<String> = BTreeSet::new();
    for target in targets {
        let deps = ctx.db.dependencies(target.id)?;
        match delete_one(ctx, target, &deleting, options, trash) {
            Ok(()) => {
                deleted.insert(target.pkgname.clone());
                needed.extend(deps.into_iter().filter_map(|d| d.resolved));
            }
            Err(e) if options.keep_going => {
                output::say!("{e:#}");
                failed = true;
            }
            Err(e) => return Err(e),
        }
    }
    if options.recursive_depends || options.autoremove {
        loop {
            let mut progress = false;
            for name in needed.clone() {
                let Some(p) = ctx.db.package(&name)? else {
                    continue;
                };
                if !(options.recursive_depends || p.automatic)
                    || !requirements::required_by(&ctx.db, &p)?.is_empty()
                {
                    continue;
                }
                let deps = ctx.db.dependencies(p.id)?;
                delete_one(ctx, &p, &BTreeSet::new(), options, trash)?;
                needed.remove(&name);
                needed.extend(deps.into_iter().filter_map(|d| d.resolved));
                deleted.insert(name);
                progress = true;
            }
            if !progress {
                break;
            }
        }
    }
    Ok(failed)
}

/// Point dependencies that resolved to a deleted package at the best installed
/// package that still satisfies them, if any.
fn reresolve(ctx: &mut Context) -> Result<()> {
    let installed = ctx.db.pkgnames()?;
    let unresolved = ctx.db.unresolved_dependencies()?;
    ctx.db.transaction(|tx| -> Result<()> {
        for (package_id, dep) in &unresolved {
            if let Some(best) = pattern::find_best(dep, installed.iter().map(String::as_str)) {
                tx.resolve_dependency(*package_id, dep, Some(best))?;
            }
        }
        Ok(())
    })
}

/// Whether a packing list has a line starting with `command` (any case), found
/// without decoding it: a package of 20,000 files has a 3 MB packing list.
fn has_command(contents: &[u8], command: &[u8]) -> bool {
    let Some(&first) = command.first() else {
        return false;
    };
    memchr::memchr_iter(first, contents).any(|at| {
        (at == 0 || contents[at - 1] == b'\n')
            && contents
                .get(at..at + command.len())
                .is_some_and(|word| word.eq_ignore_ascii_case(command))
    })
}

/// A depot dir renamed out of the way, with the files it holds: removed at the
/// end of the command.
type Trash = (PathBuf, Vec<FileRow>);

fn delete_one(
    ctx: &mut Context,
    target: &PackageRow,
    deleting: &BTreeSet<String>,
    options: &DeleteOptions,
    trash: &mut Vec<Trash>,
) -> Result<()> {
    let pkgname = &target.pkgname;
    if deleting.is_empty() {
        // Removed as no longer needed (-A, -R): only if nothing needs it now.
        let blocking = requirements::dependants_blocking(&ctx.db, std::slice::from_ref(target))?;
        if let Some(b) = blocking.first() {
            bail!("{pkgname} is still needed: {b}");
        }
    }
    let holding: Vec<String> = ctx
        .db
        .views_holding(target.id)?
        .into_iter()
        .filter(|v| v != DEFAULT_VIEW)
        .collect();
    if !holding.is_empty() && !options.remove_from_views {
        bail!(
            "{pkgname} is still in view(s) {}; remove it there first (depot view remove VIEW {pkgname}) or pass --remove-from-views",
            holding.join(", ")
        );
    }
    let depot_dir = ctx.settings.package_dir(&target.depot_dir);
    // Imported from pkg_install: its files are in a prefix shared with others.
    let imported = !depot_dir.starts_with(ctx.settings.packages_dir());
    crate::profile::phase("delete: checked");
    let files = ctx.db.files(target.id)?;
    crate::profile::phase("delete: files loaded");
    let verify = || -> Vec<Problem> {
        let progress =
            crate::progress::Progress::new(&format!("checking {pkgname}"), files.len() as u64, 0);
        let problems = verify_files(
            &depot_dir,
            &files,
            Verify {
                modes: false,
                settled_ns: target.settled_ns,
            },
            &|| progress.file(0),
        );
        progress.finish();
        problems
    };
    // pkg_delete keeps an imported package's changed files and deletes the
    // rest; a depot dir goes whole or not at all.
    let refusal = |problems: &[Problem]| -> Option<anyhow::Error> {
        if problems.is_empty() || options.force > 0 || imported {
            return None;
        }
        let mut msg = format!(
            "{pkgname}: {} file(s) changed since install; nothing was deleted:",
            problems.len()
        );
        for p in problems {
            let _ = write!(msg, "\n  {}: {}", p.path.display(), p.what);
        }
        msg.push_str("\ncopy away what you need, then delete with -f");
        Some(anyhow::anyhow!(msg))
    };
    // Without deinstall steps (the usual case) the verification runs while the
    // database deletes the rows, in a transaction that commits only if every
    // file checks out; otherwise it goes first, before any script runs.
    // The depot dir's own copy reads faster than a large value from the database.
    let contents = match fs_err::read(depot_dir.join("+CONTENTS")) {
        Ok(bytes) if !imported => bytes,
        _ => ctx.db.metadata(target.id, "+CONTENTS")?.unwrap_or_default(),
    };
    // Parsed only for its @unexec commands (a large packing list takes a while).
    let has_unexec = has_command(&contents, b"@unexec");
    crate::profile::phase("delete: packing list read");
    let no_steps = !imported && !has_unexec && !depot_dir.join("+DEINSTALL").exists();
    let overlap = no_steps && !options.unregister_only && !options.dry_run;
    let mut problems: Vec<Problem> = Vec::new();
    if !options.unregister_only && !overlap {
        problems = verify();
        crate::profile::phase("verified");
        if let Some(refused) = refusal(&problems) {
            return Err(refused);
        }
    }
    let forgettable = ctx.db.generations_holding(target.id)?;
    if options.dry_run {
        crate::output::plan_step(
            &format!("would delete {pkgname}"),
            serde_json::json!({"action": "delete", "pkgname": pkgname}),
        );
        let lines = forgotten_lines(
            forgettable.iter().map(|(_, view, n)| (view.as_str(), *n)),
            pkgname,
        );
        for (view, generations, line) in lines {
            crate::output::plan_step(
                &format!("would forget {line}"),
                serde_json::json!({
                    "action": "forget",
                    "pkgname": pkgname,
                    "view": view,
                    "generations": generations,
                }),
            );
        }
        return Ok(());
    }
    let plist = if has_unexec {
        PackingList::parse(&String::from_utf8_lossy(&contents)).0
    } else {
        PackingList::default()
    };
    let settings = ctx.settings.clone();
    // An imported package's scripts are in the database, not in its prefix.
    let script_copy = if imported {
        script_from_database(ctx, target.id)?
    } else {
        None
    };
    if !options.unregister_only && !options.no_scripts && depot_dir.is_dir() {
        let script = script_copy
            .as_ref()
            .map_or_else(|| depot_dir.join("+DEINSTALL"), |t| t.path().to_owned());
        let run = scripts::run_script(
            &settings,
            &script,
            pkgname,
            "DEINSTALL",
            &depot_dir,
            &depot_dir,
        )
        .and_then(|()| {
            scripts::run_commands(&settings, &plist, Command::Unexec, pkgname, &depot_dir)
        })
        .and_then(|()| {
            scripts::run_script(
                &settings,
                &script,
                pkgname,
                "POST-DEINSTALL",
                &depot_dir,
                &depot_dir,
            )
        });
        if let Err(e) = run {
            if options.force == 0 {
                return Err(e.context(format!(
                    "{pkgname} was not deleted; use -f to delete anyway"
                )));
            }
            output::caution!("{e:#}; deleting anyway (-f)");
        }
    }
    crate::profile::phase("delete: scripts run");
    // Views that hold it get a new generation without it.
    let mut changes = Vec::new();
    for view in ctx.db.views_holding(target.id)? {
        let members: Vec<_> = linking::current_members(&ctx.db, &view)?
            .into_iter()
            .filter(|m| m.pkgname != *pkgname)
            .collect();
        changes.push(linking::prepare(
            &settings,
            &ctx.db,
            &view,
            members,
            None,
            &format!("delete {pkgname}"),
        )?);
    }
    // The new generations go in first; then the older generations that hold the
    // package are forgotten (they could not be restored without it), then the row.
    let committed = std::thread::scope(|scope| {
        let pending = overlap.then(|| scope.spawn(verify));
        ctx.db.transaction(|tx| -> Result<Vec<(String, i64)>> {
            for change in &changes {
                change.record(tx)?;
            }
            let forgotten = tx.forget_generations_holding(target.id)?;
            tx.delete_package(target.id)?;
            crate::profile::phase("delete: rows deleted");
            if let Some(pending) = pending {
                let found = pending
                    .join()
                    .map_err(|_| anyhow::anyhow!("{pkgname}: verifying its files failed"))?;
                crate::profile::phase("verified");
                if let Some(refused) = refusal(&found) {
                    return Err(refused);
                }
            }
            Ok(forgotten)
        })
    });
    crate::profile::phase("recorded");
    let forgotten = match committed {
        Ok(forgotten) => forgotten,
        Err(e) => {
            for change in changes {
                change.abandon();
            }
            return Err(e);
        }
    };
    for change in &changes {
        change.settle(&settings, &mut ctx.db)?;
    }
    for (_, _, line) in forgotten_lines(forgotten.iter().map(|(v, n)| (v.as_str(), *n)), pkgname) {
        output::say!("forgot {line}");
    }
    for (view, number) in forgotten {
        linking::remove_generation(&settings, &view, number)?;
    }
    if !options.unregister_only && imported {
        remove_imported_files(&depot_dir, &files, &problems, options.force > 0);
    } else if !options.unregister_only && depot_dir.exists() {
        let trash_dir = super::make_work_dir(&settings)?
            .join(format!("{TRASH_PREFIX}{pkgname}-{}", std::process::id()));
        fs_err::rename(&depot_dir, &trash_dir)?;
        trash.push((trash_dir, files));
    }
    if options.verbose {
        println!("{}: deleted {pkgname}", output::program());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::has_command;

    #[test]
    fn a_command_counts_only_at_the_start_of_a_line() {
        assert!(has_command(b"@unexec rm x\n", b"@unexec"));
        assert!(has_command(b"bin/a\n@UnExec rm x", b"@unexec"));
        assert!(!has_command(
            b"bin/a@unexec\n@comment @unexec\n",
            b"@unexec"
        ));
        assert!(!has_command(b"bin/a\n@unexe", b"@unexec"));
        assert!(!has_command(b"", b"@unexec"));
    }
}
