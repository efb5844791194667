//! `depot admin` / `pkg_admin`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use pkgdb::{Database, DependencyKind, FileKind, FileRow, NewDependency, NewPackage, Queries};

use super::ExitStatus;
use crate::cli::{AdminAction, AdminArgs};
use crate::install::Context;
use crate::install::verify::{Verify, verify_files};
use crate::output;
use crate::package::pattern;
use crate::package::plist::{Command, Entry, PackingList};
use crate::repo;
use crate::settings::Settings;

/// Run `depot admin`.
pub fn run(settings: Settings, args: &AdminArgs) -> Result<ExitStatus> {
    match &args.action {
        AdminAction::Pmatch {
            pattern: p,
            package,
        } => {
            pattern::warn_if_malformed(p);
            Ok(i32::from(!pattern::pkg_match(p, package)))
        }
        AdminAction::Check { packages, json } => check(&settings, packages, *json),
        AdminAction::Findbest { patterns } => {
            let dirs: Vec<PathBuf> = settings
                .pkg_path
                .iter()
                .map(|e| repo::local_dir(e))
                .collect();
            let mut status = 0;
            for p in patterns {
                match repo::find_best(&dirs, p) {
                    Some((_, file)) => println!("{}", file.display()),
                    None => status = 1,
                }
            }
            Ok(status)
        }
        AdminAction::Lsall { dir_pattern, json } | AdminAction::Lsbest { dir_pattern, json } => {
            let best_only = matches!(args.action, AdminAction::Lsbest { .. });
            let (dir, p) = dir_pattern
                .rsplit_once('/')
                .unwrap_or((".", dir_pattern.as_str()));
            let dir = if dir.is_empty() { "/" } else { dir };
            let found: Vec<(String, PathBuf)> = if best_only {
                repo::find_best(&[PathBuf::from(dir)], p)
                    .into_iter()
                    .collect()
            } else {
                repo::list_packages(Path::new(dir))
                    .into_iter()
                    .filter(|(name, _)| pattern::pkg_match(p, name))
                    .collect()
            };
            if *json {
                let out: Vec<serde_json::Value> = found
                    .iter()
                    .map(|(name, file)| {
                        serde_json::json!({"pkgname": name, "file": file.display().to_string()})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for (_, file) in &found {
                    println!("{}", file.display());
                }
            }
            Ok(0)
        }
        AdminAction::RebuildTree => {
            let mut ctx = Context::writer_recovering(settings)?;
            rebuild_tree(&mut ctx)?;
            ctx.finish();
            Ok(0)
        }
        AdminAction::Set {
            assignment,
            packages,
        } => {
            let (var, value) = assignment
                .split_once('=')
                .with_context(|| format!("{assignment}: expected VAR=VALUE, e.g. automatic=YES"))?;
            let on = matches!(value.to_ascii_lowercase().as_str(), "yes" | "true" | "1");
            set_flag(settings, var, on, packages)
        }
        AdminAction::Unset { variable, packages } => set_flag(settings, variable, false, packages),
        AdminAction::Import { dir } => {
            let mut ctx = Context::writer(settings)?;
            let status = import(&mut ctx, dir)?;
            ctx.finish();
            Ok(status)
        }
        AdminAction::Export { dir } => export(&settings, dir),
        AdminAction::FetchPkgVulnerabilities { .. }
        | AdminAction::CheckPkgVulnerabilities { .. }
        | AdminAction::Audit { .. }
        | AdminAction::AuditPkg { .. }
        | AdminAction::AuditBatch { .. }
        | AdminAction::AuditHistory { .. } => {
            super::audit::run_admin(&settings, &args.action, args.quiet, args.verbose > 0)
        }
    }
}

fn set_flag(settings: Settings, var: &str, on: bool, packages: &[String]) -> Result<ExitStatus> {
    let mut ctx = Context::writer(settings)?;
    let mut rows = Vec::new();
    for p in packages {
        rows.extend(crate::owners::resolve(&ctx.settings, &ctx.db, p, false)?);
    }
    ctx.db.transaction(|tx| -> Result<()> {
        for row in &rows {
            match var {
                "automatic" => tx.set_automatic(row.id, on)?,
                "keep" => tx.set_keep(row.id, on)?,
                other => bail!("unknown variable {other}: depot knows automatic and keep"),
            }
        }
        Ok(())
    })?;
    ctx.finish();
    Ok(0)
}

fn check(settings: &Settings, packages: &[String], json: bool) -> Result<ExitStatus> {
    let db = Database::open_read(&settings.dbdir)?;
    let rows = if packages.is_empty() {
        db.packages()?
    } else {
        let mut rows = Vec::new();
        for p in packages {
            rows.extend(crate::owners::resolve(settings, &db, p, false)?);
        }
        rows
    };
    let mut problems: Vec<(String, String, String)> = Vec::new();
    let mut files_checked = 0usize;
    // Not a problem of any installed package (the exit status says those):
    // what an interrupted run left, which the next writer removes.
    let leftovers = crate::install::leftovers(settings);
    for row in &rows {
        let dir = settings.package_dir(&row.depot_dir);
        if !dir.is_dir() {
            problems.push((
                row.pkgname.clone(),
                dir.display().to_string(),
                "depot dir is missing".to_owned(),
            ));
            continue;
        }
        let files = db.files(row.id)?;
        files_checked += files.len();
        let how = Verify {
            modes: true,
            settled_ns: None,
        };
        for p in verify_files(&dir, &files, how, &|| {}) {
            problems.push((row.pkgname.clone(), p.path.display().to_string(), p.what));
        }
    }
    if json {
        let out = serde_json::json!({
            "packages": rows.len(),
            "files": files_checked,
            "problems": problems
                .iter()
                .map(|(pkgname, path, what)| serde_json::json!({"pkgname": pkgname, "path": path, "problem": what}))
                .collect::<Vec<_>>(),
            "leftovers": leftovers.iter().map(|l| l.display().to_string()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(i32::from(!problems.is_empty()));
    }
    for leftover in &leftovers {
        println!(
            "{}: left by an interrupted run; the next command that changes the root removes it",
            leftover.display()
        );
    }
    for (pkgname, path, what) in &problems {
        if what == "depot dir is missing" {
            println!("{pkgname}: depot dir {path} is missing");
        } else {
            println!("{pkgname}: {path}: {what}");
        }
    }
    output::say!(
        "checked {} package(s), {files_checked} file(s): {}",
        rows.len(),
        if problems.is_empty() {
            "all good".to_owned()
        } else {
            format!("{} problem(s)", problems.len())
        }
    );
    Ok(i32::from(!problems.is_empty()))
}

fn rebuild_tree(ctx: &mut Context) -> Result<()> {
    let installed = ctx.db.pkgnames()?;
    let mut updates = Vec::new();
    for p in ctx.db.packages()? {
        for d in ctx.db.dependencies(p.id)? {
            let best = match d.kind {
                DependencyKind::Run => {
                    pattern::find_best(&d.pattern, installed.iter().map(String::as_str))
                        .map(str::to_owned)
                }
                DependencyKind::Build => installed.iter().find(|i| **i == d.pattern).cloned(),
            };
            updates.push((p.id, d.pattern, best));
        }
    }
    ctx.db.transaction(|tx| -> Result<()> {
        for (id, pattern_text, best) in &updates {
            tx.resolve_dependency(*id, pattern_text, best.as_deref())?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Read a pkg_install PKG_DBDIR: one directory per package holding +CONTENTS and friends.
fn import(ctx: &mut Context, dir: &Path) -> Result<ExitStatus> {
    let mut entries: Vec<PathBuf> = fs_err::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("+CONTENTS").is_file())
        .collect();
    entries.sort();
    if entries.is_empty() {
        bail!(
            "{}: no package directories (with +CONTENTS) found; is this a pkg_install PKG_DBDIR?",
            dir.display()
        );
    }
    let mut records = Vec::new();
    for pkg_dir in &entries {
        let dirname = pkg_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut metadata = Vec::new();
        for e in fs_err::read_dir(pkg_dir)?.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('+')
                && name != "+REQUIRED_BY"
                && name != "+INSTALLED_INFO"
                && e.path().is_file()
            {
                metadata.push((name, fs_err::read(e.path())?));
            }
        }
        metadata.sort();
        let text = |n: &str| {
            metadata
                .iter()
                .find(|(m, _)| m == n)
                .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
                .unwrap_or_default()
        };
        let (plist, _) = PackingList::parse(&text("+CONTENTS"));
        let pkgname = plist.name().map_or(dirname.clone(), str::to_owned);
        let (name, version) = pattern::split_pkgname(&pkgname)
            .with_context(|| format!("{}: bad package name {pkgname}", pkg_dir.display()))?;
        let prefix = plist.prefix().unwrap_or("/usr/pkg").to_owned();
        let installed_info =
            fs_err::read_to_string(pkg_dir.join("+INSTALLED_INFO")).unwrap_or_default();
        let automatic = crate::package::meta::build_info_var(&installed_info, "automatic")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        let mut files = Vec::new();
        for f in plist.files().into_iter().filter(|f| !f.ignored) {
            let rel = crate::install::extract::depot_path(&pkgname, &prefix, &f.cwd, &f.name)?;
            let on_disk = Path::new(&prefix).join(&rel);
            // The mode on disk, for a regular file; 0 (not checked) otherwise.
            let mut mode = 0;
            let (kind, sha256, size, target) = match std::fs::symlink_metadata(&on_disk) {
                Ok(m) if m.file_type().is_symlink() => (
                    FileKind::Symlink,
                    None,
                    0,
                    std::fs::read_link(&on_disk)
                        .ok()
                        .map(|t| t.to_string_lossy().into_owned()),
                ),
                Ok(m) if m.is_file() => {
                    use sha2::Digest as _;
                    let sha = fs_err::read(&on_disk)
                        .ok()
                        .map(|b| hex::encode(sha2::Sha256::digest(&b)));
                    mode = std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777;
                    (FileKind::File, sha, m.len(), None)
                }
                _ => (
                    if f.symlink.is_some() {
                        FileKind::Symlink
                    } else {
                        FileKind::File
                    },
                    None,
                    0,
                    f.symlink.clone(),
                ),
            };
            files.push(FileRow {
                path: rel,
                kind,
                sha256,
                md5: f.md5.clone(),
                mode,
                size,
                target,
            });
        }
        let size: u64 = files.iter().map(|f| f.size).sum();
        records.push(NewPackage {
            pkgname: pkgname.clone(),
            name: name.to_owned(),
            version: version.to_owned(),
            comment: text("+COMMENT").trim_end().to_owned(),
            description: text("+DESC"),
            prefix: prefix.clone(),
            // Imported packages stay where pkg_install put them: their prefix is their depot dir.
            depot_dir: prefix,
            build_info: text("+BUILD_INFO"),
            size_pkg: size as i64,
            size_all: size as i64,
            automatic,
            // Files pkg_install wrote, long ago: always read them to verify.
            settled_ns: None,
            metadata,
            files,
            dependencies: plist
                .dependencies()
                .into_iter()
                .map(|d| NewDependency {
                    kind: if d.build_only {
                        DependencyKind::Build
                    } else {
                        DependencyKind::Run
                    },
                    pattern: d.pattern,
                    built_with: d.built_with,
                    resolved: None,
                })
                .collect(),
            conflicts: plist.all(Command::PkgCfl).map(str::to_owned).collect(),
        });
    }
    let existing = ctx.db.pkgnames()?;
    let count = records.len();
    ctx.db.transaction(|tx| -> Result<()> {
        for r in &records {
            if existing.contains(&r.pkgname) {
                output::say!("{} is already in the database; skipped", r.pkgname);
                continue;
            }
            tx.insert_package(r)?;
        }
        Ok(())
    })?;
    rebuild_tree(ctx)?;
    println!("imported {count} package(s) from {}", dir.display());
    Ok(0)
}

/// Write a pkg_install PKG_DBDIR tree from the database. `@cwd` is pointed at each
/// package's depot dir so pkg_install's tools find the files.
fn export(settings: &Settings, dir: &Path) -> Result<ExitStatus> {
    let db = Database::open_read(&settings.dbdir)?;
    fs_err::create_dir_all(dir)?;
    for row in db.packages()? {
        let pkg_dir = dir.join(&row.pkgname);
        fs_err::create_dir_all(&pkg_dir)?;
        for (name, content) in db.all_metadata(row.id)? {
            let content = if name == "+CONTENTS" {
                let (mut plist, _) = PackingList::parse(&String::from_utf8_lossy(&content));
                let prefix = row.prefix.clone();
                let depot_dir = settings.package_dir(&row.depot_dir).display().to_string();
                for e in &mut plist.entries {
                    if let Entry::Command(Command::Cwd, d) = e {
                        if *d == prefix {
                            d.clone_from(&depot_dir);
                        } else if let Some(rest) = d.strip_prefix(&format!("{prefix}/")) {
                            *d = format!("{depot_dir}/{rest}");
                        }
                    }
                }
                plist.to_text().into_bytes()
            } else {
                content
            };
            fs_err::write(pkg_dir.join(&name), content)?;
        }
        let required = db.required_by(row.id)?;
        if !required.is_empty() {
            fs_err::write(
                pkg_dir.join("+REQUIRED_BY"),
                format!("{}\n", required.join("\n")),
            )?;
        }
        if row.automatic {
            fs_err::write(pkg_dir.join("+INSTALLED_INFO"), "automatic=yes\n")?;
        }
    }
    Ok(0)
}
