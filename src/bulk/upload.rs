//! Upload: the packages of the last bulk (built or up to date) copied to
//! `<target>/All`, each through a temporary name and a rename, then the
//! summary written last by `repo index` (itself replaced by rename), so a
//! reader never sees a summary naming a package that is not there yet.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::Bulk;
use crate::build::BuildSettings;

/// Run `depot bulk upload TARGET`.
pub fn run(bulk: &Bulk, packages: &[pkgdb::BulkPackage], target: &Path) -> Result<()> {
    let build_settings = BuildSettings::from_env(&bulk.settings)?;
    let all = target.join("All");
    fs_err::create_dir_all(&all)
        .with_context(|| format!("cannot make the upload directory {}", all.display()))?;
    let mut copied = 0;
    let mut kept = 0;
    for p in packages {
        if !matches!(p.status.as_deref(), Some("built" | "up-to-date")) {
            continue;
        }
        let file = build_settings.package_file(&p.pkgname);
        if !file.is_file() {
            bail!(
                "{}: its package {} is gone; run `depot bulk build` again",
                p.pkgname,
                file.display()
            );
        }
        let name = file.file_name().context("a package file has no name")?;
        let dest = all.join(name);
        if dest.is_file() && same_file(&file, &dest)? {
            kept += 1;
            continue;
        }
        let temp = all.join(format!(".{}.part", name.to_string_lossy()));
        fs_err::copy(&file, &temp)?;
        fs_err::rename(&temp, &dest)?;
        copied += 1;
    }
    let report = crate::repo::index::index(&all, None)
        .with_context(|| format!("writing the summary of {}", all.display()))?;
    crate::output::inform!(
        "uploaded to {}: {copied} packages copied, {kept} already there; pkg_summary lists {}",
        all.display(),
        report.packages
    );
    Ok(())
}

/// Whether `copy` is a copy of `file` made after it was last written: the
/// same size and not older (a rebuilt package is newer than its upload).
fn same_file(file: &Path, copy: &Path) -> Result<bool> {
    let (ma, mb) = (fs_err::metadata(file)?, fs_err::metadata(copy)?);
    Ok(ma.len() == mb.len() && mb.modified()? >= ma.modified()?)
}
