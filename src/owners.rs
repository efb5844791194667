//! Which installed packages an argument names: a PKGNAME, a pattern, or (for
//! `-F`) a file path, whether in a depot dir, in a view, or relative to the root.

use std::path::Path;

use anyhow::{Result, bail};
use pkgdb::{Database, PackageRow, Queries};

use crate::package::pattern;
use crate::settings::Settings;

/// The packages owning `path`: a depot path, a view path (followed through its
/// links), or a path relative to the root.
pub fn owners_of_path(settings: &Settings, db: &Database, path: &str) -> Result<Vec<String>> {
    // The root may be reached through a symlink: compare with both spellings.
    let packages = settings.packages_dir();
    let mut package_dirs = vec![packages.clone()];
    package_dirs.extend(
        packages
            .canonicalize()
            .ok()
            .filter(|real| *real != packages),
    );
    let absolute = std::path::absolute(path)?;
    let mut candidates = vec![absolute.clone()];
    if let Ok(real) = absolute.canonicalize() {
        candidates.push(real);
    } else if let Some(parent) = absolute.parent()
        && let Ok(real_parent) = parent.canonicalize()
        && let Some(name) = absolute.file_name()
    {
        candidates.push(real_parent.join(name));
    }
    for candidate in &candidates {
        for rest in package_dirs
            .iter()
            .filter_map(|p| candidate.strip_prefix(p).ok())
        {
            let mut parts = rest.components();
            if let Some(pkg) = parts.next() {
                let pkgname = pkg.as_os_str().to_string_lossy().into_owned();
                let rel = parts.as_path().to_string_lossy().into_owned();
                if db.owns(&pkgname, &rel)? {
                    return Ok(vec![pkgname]);
                }
            }
        }
        // Packages kept outside packages/ (imported from pkg_install).
        if let Some((pkgname, _)) = db.package_containing(&candidate.to_string_lossy())? {
            return Ok(vec![pkgname]);
        }
    }
    if let Ok(rel) = absolute.strip_prefix(&settings.root) {
        let owners = db.owners(&rel.to_string_lossy())?;
        if !owners.is_empty() {
            return Ok(owners);
        }
    }
    if !Path::new(path).is_absolute() {
        return Ok(db.owners(path)?);
    }
    Ok(Vec::new())
}

/// Resolve an argument to installed packages: an exact PKGNAME, else every package the
/// pattern matches, or with `by_file` the packages owning that file.
pub fn resolve(
    settings: &Settings,
    db: &Database,
    spec: &str,
    by_file: bool,
) -> Result<Vec<PackageRow>> {
    if by_file {
        let owners = owners_of_path(settings, db, spec)?;
        if owners.is_empty() {
            bail!("{spec}: no installed package owns this file");
        }
        let mut out = Vec::new();
        for o in owners {
            out.extend(db.package(&o)?);
        }
        return Ok(out);
    }
    let matches = installed_matching(db, spec)?;
    if matches.is_empty() {
        bail!("{spec}: no such package installed (see `depot info` for what is installed)");
    }
    Ok(matches)
}

/// The installed packages an argument names: the one with that exact PKGNAME, else
/// every package the pattern matches (possibly none).
pub fn installed_matching(db: &Database, spec: &str) -> Result<Vec<PackageRow>> {
    if let Some(p) = db.package(spec)? {
        return Ok(vec![p]);
    }
    pattern::warn_if_malformed(spec);
    Ok(db
        .packages()?
        .into_iter()
        .filter(|p| pattern::pkg_match(spec, &p.pkgname))
        .collect())
}
