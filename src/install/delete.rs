//! `depot delete`: verify, run deinstall steps, take the package out of views and
//! the database in one transaction, then remove its depot dir.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use pkgdb::{FileKind, FileRow, PackageRow, Queries, ViewQueries};

use super::{Context, TRASH_PREFIX, scripts};
use crate::linking::{self, DEFAULT_VIEW};
use crate::package::plist::{Command, PackingList};

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

/// A file whose content no longer matches the database.
#[derive(Debug)]
pub struct Problem {
    /// The file's path in the depot dir.
    pub path: PathBuf,
    /// What is wrong.
    pub what: String,
}

/// Compare one installed file with its database row.
pub fn verify_file(depot_dir: &Path, file: &FileRow) -> Option<Problem> {
    use sha2::Digest as _;
    let path = depot_dir.join(&file.path);
    let problem = |what: String| {
        Some(Problem {
            path: path.clone(),
            what,
        })
    };
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return problem("missing".to_owned());
    };
    match file.kind {
        FileKind::File => {
            if !meta.file_type().is_file() {
                return problem("is no longer a regular file".to_owned());
            }
            let Some(expected) = &file.sha256 else {
                return None;
            };
            match fs_err::File::open(&path).and_then(|mut f| {
                let mut h = sha2::Sha256::new();
                std::io::copy(&mut f, &mut h)?;
                Ok(hex::encode(h.finalize()))
            }) {
                Ok(actual) if actual == *expected => None,
                Ok(actual) => problem(format!(
                    "sha256 mismatch (recorded {expected}, found {actual})"
                )),
                Err(e) => problem(format!("unreadable: {e}")),
            }
        }
        FileKind::Symlink => {
            let target = std::fs::read_link(&path)
                .ok()
                .map(|t| t.to_string_lossy().into_owned());
            if !meta.file_type().is_symlink() {
                problem("is no longer a symlink".to_owned())
            } else if target != file.target {
                problem(format!(
                    "symlink target changed (recorded {}, found {})",
                    file.target.as_deref().unwrap_or(""),
                    target.unwrap_or_default()
                ))
            } else {
                None
            }
        }
        FileKind::Dir => (!meta.is_dir()).then(|| Problem {
            path: path.clone(),
            what: "is no longer a directory".to_owned(),
        }),
    }
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
    if options.recursive {
        // Dependents first, transitively.
        let mut i = 0;
        while i < targets.len() {
            for name in ctx.db.required_by(targets[i].id)? {
                if !targets.iter().any(|t| t.pkgname == name)
                    && let Some(p) = ctx.db.package(&name)?
                {
                    targets.push(p);
                }
            }
            i += 1;
        }
        targets.reverse();
    }
    let deleting: BTreeSet<String> = targets.iter().map(|t| t.pkgname.clone()).collect();
    let mut failed = false;
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    // What the deleted packages depended on: candidates for -A / -R.
    let mut needed: BTreeSet<String> = BTreeSet::new();
    for target in &targets {
        let deps = ctx.db.dependencies(target.id)?;
        match delete_one(ctx, target, &deleting, options) {
            Ok(()) => {
                deleted.insert(target.pkgname.clone());
                needed.extend(deps.into_iter().filter_map(|d| d.resolved));
            }
            Err(e) if options.keep_going => {
                eprintln!("depot: {e:#}");
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
                    || !ctx.db.required_by(p.id)?.is_empty()
                {
                    continue;
                }
                let deps = ctx.db.dependencies(p.id)?;
                delete_one(ctx, &p, &BTreeSet::new(), options)?;
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
    if failed {
        bail!("some packages could not be deleted");
    }
    Ok(())
}

fn delete_one(
    ctx: &mut Context,
    target: &PackageRow,
    deleting: &BTreeSet<String>,
    options: &DeleteOptions,
) -> Result<()> {
    let pkgname = &target.pkgname;
    let required: Vec<String> = ctx
        .db
        .required_by(target.id)?
        .into_iter()
        .filter(|r| !deleting.contains(r))
        .collect();
    if !required.is_empty() && options.force < 2 {
        bail!(
            "{pkgname} is required by other packages: {}; delete them first (or use -r to delete them too, -ff to delete anyway)",
            required.join(", ")
        );
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
    let files = ctx.db.files(target.id)?;
    if !options.unregister_only {
        let problems: Vec<Problem> = files
            .iter()
            .filter_map(|f| verify_file(&depot_dir, f))
            .collect();
        if !problems.is_empty() && options.force == 0 {
            let mut msg = format!(
                "{pkgname}: {} file(s) changed since install; nothing was deleted:",
                problems.len()
            );
            for p in &problems {
                let _ = write!(msg, "\n  {}: {}", p.path.display(), p.what);
            }
            msg.push_str("\ncopy away what you need, then delete with -f");
            bail!(msg);
        }
    }
    if options.dry_run {
        println!("would delete {pkgname}");
        return Ok(());
    }
    let contents = ctx
        .db
        .metadata(target.id, "+CONTENTS")?
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .unwrap_or_default();
    let (plist, _) = PackingList::parse(&contents);
    let settings = ctx.settings.clone();
    if !options.unregister_only && !options.no_scripts && depot_dir.is_dir() {
        let script = depot_dir.join("+DEINSTALL");
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
            eprintln!("depot: warning: {e:#}; deleting anyway (-f)");
        }
    }
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
    let committed = ctx.db.transaction(|tx| -> Result<Vec<(String, i64)>> {
        for change in &changes {
            change.record(tx)?;
        }
        let forgotten = tx.forget_generations_holding(target.id)?;
        tx.delete_package(target.id)?;
        Ok(forgotten)
    });
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
        change.switch(&settings)?;
    }
    for (view, number) in forgotten {
        linking::remove_tree(&linking::generations_dir(&settings, &view).join(number.to_string()))?;
    }
    let packages = settings.packages_dir();
    if !options.unregister_only && depot_dir.starts_with(&packages) && depot_dir.exists() {
        let trash = packages.join(format!("{TRASH_PREFIX}{pkgname}-{}", std::process::id()));
        fs_err::rename(&depot_dir, &trash)?;
        linking::remove_tree(&trash)?;
    }
    if options.verbose {
        println!("depot: deleted {pkgname}");
    }
    Ok(())
}
