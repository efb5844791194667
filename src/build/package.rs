//! After install: check the staging area (nothing outside PREFIX, the
//! recipe's PLIST if it has one); the package phase: packing list, metadata
//! (`+BUILD_INFO` with the recipe hash, the dependencies built against,
//! REQUIRES and PROVIDES) and the archive in `PACKAGES/All`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::{Build, DependKind};
use crate::package::archive::Compression;
use crate::package::pack::{PackageSpec, plist_from_dir, write_package};
use crate::package::plist::{Command, Entry, PackingList};

/// `+BUILD_INFO` variable holding the recipe's content hash.
pub const RECIPE_HASH: &str = "RECIPE_HASH";
/// `+BUILD_INFO` variable, repeated: a PKGNAME the package was built against.
pub const BUILT_WITH: &str = "BUILT_WITH";

/// Everything the install phase put into DESTDIR must be under PREFIX, and
/// match the recipe's PLIST when it has one.
pub fn check_staging(build: &Build<'_>) -> Result<()> {
    let destdir = build.destdir();
    let staged = build.staged_prefix();
    let mut outside = Vec::new();
    for entry in walkdir::WalkDir::new(&destdir).min_depth(1) {
        let entry = entry?;
        let p = entry.path();
        if p.starts_with(&staged) || (entry.file_type().is_dir() && staged.starts_with(p)) {
            continue;
        }
        outside.push(format!(
            "/{}",
            p.strip_prefix(&destdir).unwrap_or(p).display()
        ));
    }
    if !outside.is_empty() {
        outside.truncate(20);
        bail!(
            "the install put files outside PREFIX ({}); a package holds only its own depot dir:\n  {}",
            build.prefix().display(),
            outside.join("\n  ")
        );
    }
    let installed = installed_paths(&staged)?;
    if installed.is_empty() {
        bail!(
            "the install put nothing into PREFIX ({}); does the install step honour DESTDIR?",
            build.prefix().display()
        );
    }
    let plist_file = build.recipe.dir.join("PLIST");
    if plist_file.is_file() {
        let text = fs_err::read_to_string(&plist_file)?;
        let expected: BTreeSet<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('@') && !l.starts_with('#'))
            .map(|l| substitute(build, l))
            .collect();
        let missing: Vec<&String> = expected.difference(&installed).collect();
        let extra: Vec<&String> = installed.difference(&expected).collect();
        if !missing.is_empty() || !extra.is_empty() {
            let mut message = format!(
                "{} does not match what was installed:",
                plist_file.display()
            );
            for m in missing.iter().take(20) {
                let _ = write!(message, "\n  in PLIST, not installed: {m}");
            }
            for e in extra.iter().take(20) {
                let _ = write!(message, "\n  installed, not in PLIST: {e}");
            }
            message.push_str("\n(`depot build print-plist` prints what was installed)");
            bail!(message);
        }
    }
    Ok(())
}

/// `${PKGNAME}`, `${PKGVERSION}`, `${PKGBASE}` in PLIST lines.
fn substitute(build: &Build<'_>, line: &str) -> String {
    line.replace("${PKGNAME}", &build.recipe.pkgname)
        .replace("${PKGVERSION}", build.recipe.pkgversion())
        .replace("${PKGBASE}", build.recipe.pkgbase())
}

/// Files and symlinks under the staged prefix, relative to it.
fn installed_paths(staged: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for entry in walkdir::WalkDir::new(staged).min_depth(1) {
        let entry = entry?;
        if !entry.file_type().is_dir() {
            out.insert(
                entry
                    .path()
                    .strip_prefix(staged)
                    .unwrap_or(entry.path())
                    .display()
                    .to_string(),
            );
        }
    }
    Ok(out)
}

/// The packing list of the staged files (`print-plist`).
pub fn packing_list(build: &Build<'_>) -> Result<PackingList> {
    let staged = build.staged_prefix();
    if !staged.is_dir() {
        bail!(
            "{} has not been installed into its staging area yet; run `depot build install` first",
            build.recipe.pkgname
        );
    }
    plist_from_dir(&staged, &build.prefix().display().to_string())
}

/// `YYYY-MM-DD HH:MM:SS +0000`, pkgsrc's BUILD_DATE.
pub fn build_date(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// `+BUILD_INFO` for the package.
fn build_info(build: &Build<'_>, shlibs: &super::shlibs::Shlibs) -> String {
    let recipe = build.recipe;
    let mut out = String::new();
    for (key, value) in crate::package::meta::host_build_info() {
        let _ = writeln!(out, "{key}={value}");
    }
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(out, "{k}={v}");
    };
    line("PKGPATH", &recipe.pkgpath);
    line("CATEGORIES", &recipe.file.categories.join(" "));
    if let Some(h) = &recipe.file.homepage {
        line("HOMEPAGE", h);
    }
    if let Some(l) = &recipe.file.license {
        line("LICENSE", l);
    }
    if let Some(m) = &recipe.file.maintainer {
        line("MAINTAINER", m);
    }
    line("BUILD_DATE", &build_date(std::time::SystemTime::now()));
    line("LOCALBASE", &build.settings.root.display().to_string());
    line(
        "DEPOTBASE",
        &build.settings.root.join("packages").display().to_string(),
    );
    line(RECIPE_HASH, &recipe.hash);
    let mut built_with: Vec<&str> = build.deps.iter().map(|d| d.pkgname.as_str()).collect();
    built_with.sort_unstable();
    built_with.dedup();
    for dep in built_with {
        line(BUILT_WITH, dep);
    }
    for r in &shlibs.requires {
        line("REQUIRES", r);
    }
    for p in &shlibs.provides {
        line("PROVIDES", p);
    }
    out
}

/// The package phase: write `PACKAGES/All/<PKGNAME>.tgz` (through a
/// temporary file, so no partial package is ever there) and the category links.
pub fn package(build: &Build<'_>) -> Result<PathBuf> {
    let recipe = build.recipe;
    let staged = build.staged_prefix();
    let allowed: Vec<PathBuf> = build.deps.iter().map(|d| d.depot_dir.clone()).collect();
    let shlibs = super::shlibs::scan(&staged, &build.prefix(), &build.settings.root, &allowed)?;
    for (file, lib) in &shlibs.unresolved {
        build.reporter.note(
            &recipe.pkgname,
            &format!("{file} needs {lib}, which is found nowhere (not recorded in REQUIRES)"),
        );
    }
    let files = packing_list(build)?;
    let mut plist = PackingList::default();
    plist.push(Command::Name, recipe.pkgname.clone());
    let mut seen = BTreeSet::new();
    for dep in build.deps.iter().filter(|d| d.kind == DependKind::Run) {
        plist.push(Command::BldDep, dep.pkgname.clone());
        plist.push(Command::PkgDep, dep.pattern.clone());
        seen.insert(dep.pkgname.clone());
    }
    for dep in build.deps.iter().filter(|d| d.kind != DependKind::Run) {
        if seen.insert(dep.pkgname.clone()) {
            plist.push(Command::BldDep, dep.pkgname.clone());
        }
    }
    plist.entries.extend(
        files
            .entries
            .into_iter()
            .filter(|e| !matches!(e, Entry::Command(Command::Name, _))),
    );
    let description = match fs_err::read_to_string(recipe.dir.join("DESCR")) {
        Ok(text) => text,
        Err(_) => recipe.file.comment.clone(),
    };
    let spec = PackageSpec {
        plist,
        pkgname: recipe.pkgname.clone(),
        comment: recipe.file.comment.clone(),
        description,
        source_prefix: Some(staged),
        real_prefix: None,
        metadata: Vec::new(),
        build_info: build_info(build, &shlibs),
        relative_links: false,
    };
    let out = build.settings.package_file(&recipe.pkgname);
    let all = out.parent().map(Path::to_path_buf).unwrap_or_default();
    fs_err::create_dir_all(&all)?;
    let tmp = all.join(format!(
        ".{}.tgz.tmp-{}",
        recipe.pkgname,
        std::process::id()
    ));
    let written = write_package(&spec, &tmp, Compression::Gzip).and_then(|_| {
        fs_err::File::open(&tmp)?.sync_all()?;
        fs_err::rename(&tmp, &out)?;
        Ok(())
    });
    if let Err(e) = written {
        let _ = fs_err::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", out.display()));
    }
    for category in &recipe.file.categories {
        let dir = build.settings.packages.join(category);
        fs_err::create_dir_all(&dir)?;
        let link = dir.join(format!("{}.tgz", recipe.pkgname));
        let _ = fs_err::remove_file(&link);
        std::os::unix::fs::symlink(format!("../All/{}.tgz", recipe.pkgname), &link)
            .with_context(|| format!("cannot link {}", link.display()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_date_is_civil_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(build_date(t), "2023-11-14 22:13:20 +0000");
        assert_eq!(
            build_date(std::time::UNIX_EPOCH),
            "1970-01-01 00:00:00 +0000"
        );
    }
}
