//! Upload: the packages of the last bulk (built or up to date) copied to
//! `<target>/All`, each through a temporary name and a rename, then the
//! summary written last by `repo index` (itself replaced by rename), so a
//! reader never sees a summary naming a package that is not there yet.
//!
//! A target `[user@]host[:port]:path` is on another machine (as rsync reads
//! it: a colon before any slash). The packages are gathered (hard links) in
//! `<bulk>/upload/All`, indexed there, and sent by rsync over ssh in two
//! passes: the packages, then the summary. rsync writes each file under a
//! temporary name and renames it (`--delay-updates`: all of a pass at its
//! end), so a reader of the remote repository sees the old summary until the
//! new one, and every package it names, are in place. The remote summary lists
//! the packages of this bulk (as pbulk's upload, which indexes its own
//! packages and sends them); other files already there are left alone.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};

use super::Bulk;
use super::nodes::{self, Dest, Ssh};
use crate::build::BuildSettings;

/// Where the packages go.
#[derive(Debug)]
pub enum Target {
    /// A directory on this machine.
    Local(PathBuf),
    /// `path` on another machine, reached by ssh.
    Remote { dest: Dest, path: String },
}

impl Target {
    /// A directory, or `[user@]host[:port]:path` (a colon before any slash):
    /// checked before a bulk starts, so a mistyped target does not wait for
    /// the end of the builds to fail.
    pub fn parse(target: &Path) -> Result<Target> {
        let local = || Ok(Target::Local(target.to_owned()));
        let Some(text) = target.to_str() else {
            return local();
        };
        let Some((host, rest)) = text.split_once(':') else {
            return local();
        };
        if host.is_empty() || host.contains('/') {
            return local();
        }
        let (login, path) = match rest.split_once(':') {
            Some((port, path)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                (format!("{host}:{port}"), path)
            }
            _ => (host.to_owned(), rest),
        };
        if path.is_empty() {
            bail!(
                "upload target {text}: give the repository directory after the host ([user@]host[:port]:path)"
            );
        }
        let dest = Dest::parse(&login).map_err(|e| {
            anyhow!("upload target {text}: {e}; give a directory or [user@]host[:port]:path")
        })?;
        Ok(Target::Remote {
            dest,
            path: path.to_owned(),
        })
    }
}

/// Run `depot bulk upload TARGET`.
pub fn run(bulk: &Bulk, packages: &[pkgdb::BulkPackage], target: &Target) -> Result<()> {
    let files = package_files(bulk, packages)?;
    match target {
        Target::Local(dir) => local(&files, dir),
        Target::Remote { dest, path } => remote(bulk, &files, dest, path),
    }
}

/// The package files of the packages built or up to date.
fn package_files(bulk: &Bulk, packages: &[pkgdb::BulkPackage]) -> Result<Vec<PathBuf>> {
    let build_settings = BuildSettings::from_env(&bulk.settings)?;
    let mut files = Vec::new();
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
        files.push(file);
    }
    Ok(files)
}

fn file_name(file: &Path) -> Result<OsString> {
    Ok(file
        .file_name()
        .context("a package file has no name")?
        .to_owned())
}

/// Copy `files` to `<dir>/All` (those not there yet), then index it.
fn local(files: &[PathBuf], dir: &Path) -> Result<()> {
    let all = dir.join("All");
    fs_err::create_dir_all(&all)
        .with_context(|| format!("cannot make the upload directory {}", all.display()))?;
    let mut copied = 0;
    let mut kept = 0;
    for file in files {
        if place(file, &all, false)? {
            copied += 1;
        } else {
            kept += 1;
        }
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

/// Gather `files` in `<bulk>/upload/All` (exactly those), index them there,
/// and send them, then the summary, to `dest:path/All` by rsync.
fn remote(bulk: &Bulk, files: &[PathBuf], dest: &Dest, path: &str) -> Result<()> {
    let stage = bulk.dir.join("upload").join("All");
    fs_err::create_dir_all(&stage)?;
    let wanted: BTreeSet<OsString> = files.iter().map(|f| file_name(f)).collect::<Result<_>>()?;
    for entry in fs_err::read_dir(&stage)? {
        let name = entry?.file_name();
        let package = crate::repo::pkgname_of_file(&name.to_string_lossy()).is_some();
        if package && !wanted.contains(&name) {
            fs_err::remove_file(stage.join(&name))?;
        }
    }
    for file in files {
        place(file, &stage, true)?;
    }
    let report = crate::repo::index::index(&stage, None)
        .with_context(|| format!("writing the summary of {}", stage.display()))?;
    let all = Path::new(path).join("All");
    let shown = format!("{}:{}", dest.login(), all.display());
    let who = format!("upload to {shown}");
    let ssh = Ssh::new()?;
    let sent = (|| -> Result<()> {
        nodes::run_as(
            ssh.command(
                dest,
                &["mkdir".into(), "-p".into(), all.display().to_string()],
            ),
            &who,
        )?;
        let target = format!("{}/", Ssh::remote_path(dest, &all));
        // The packages first, the summary last: each pass renames its files
        // into place at its end.
        nodes::run_as(
            ssh.rsync_with(
                dest,
                &["--exclude=pkg_summary.*", "--exclude=.*"],
                &[format!("{}/", stage.display())],
                &target,
            ),
            &who,
        )?;
        let summaries: Vec<String> = crate::repo::index::SUMMARY_FILES
            .iter()
            .map(|f| stage.join(f).display().to_string())
            .collect();
        nodes::run_as(ssh.rsync(dest, &summaries, &target), &who)?;
        Ok(())
    })();
    ssh.close_dests([dest]);
    sent.with_context(|| {
        format!(
            "the upload to {shown} did not complete; the repository there still has its old summary, run `depot bulk upload` again"
        )
    })?;
    crate::output::inform!(
        "uploaded to {shown} by rsync: pkg_summary lists {}",
        report.packages
    );
    Ok(())
}

/// Put `file` into `dir` under its own name unless a copy is there already
/// ([`same_file`]): through a temporary name and a rename, as a hard link
/// when `link` (and the file system allows it), else a copy. Whether it wrote.
fn place(file: &Path, dir: &Path, link: bool) -> Result<bool> {
    let name = file_name(file)?;
    let at = dir.join(&name);
    if at.is_file() && same_file(file, &at)? {
        return Ok(false);
    }
    let temp = dir.join(format!(".{}.part", name.to_string_lossy()));
    let _ = std::fs::remove_file(&temp);
    if !(link && std::fs::hard_link(file, &temp).is_ok()) {
        fs_err::copy(file, &temp)?;
    }
    fs_err::rename(&temp, &at)?;
    Ok(true)
}

/// Whether `copy` is a copy of `file` made after it was last written: the
/// same size and not older (a rebuilt package is newer than its upload).
fn same_file(file: &Path, copy: &Path) -> Result<bool> {
    let (ma, mb) = (fs_err::metadata(file)?, fs_err::metadata(copy)?);
    Ok(ma.len() == mb.len() && mb.modified()? >= ma.modified()?)
}
