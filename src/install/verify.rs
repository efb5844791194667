//! Checking installed files against their database rows: content (sha256),
//! symlink targets, modes. [`verify_file`] is what `delete` runs before it
//! removes anything and `admin check` runs on everything; [`settle_mark`]
//! records when an install's files were all written, so that `delete` can
//! trust a file nothing has touched since without reading it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use pkgdb::{FileKind, FileRow};

/// A file whose content no longer matches the database.
#[derive(Debug)]
pub struct Problem {
    /// The file's path in the depot dir.
    pub path: PathBuf,
    /// What is wrong.
    pub what: String,
}

/// A file's ctime in nanoseconds since the epoch.
fn ctime_ns(meta: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    nanoseconds(meta.ctime(), meta.ctime_nsec())
}

/// Seconds and nanoseconds as nanoseconds since the epoch.
fn nanoseconds(seconds: i64, nanos: i64) -> i64 {
    seconds.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Mark the moment a package's files are all written: the ctime of a file made
/// (and removed) in `dir` right after them, by the same file system clock at
/// the same granularity. A file whose ctime is older has not been touched since;
/// any later change (a write, chmod, link, rename over) stamps it this or later.
pub fn settle_mark(dir: &Path) -> Result<i64> {
    let marker = dir.join(".depot-settled");
    let file = fs_err::File::create(&marker)?;
    let stamp = ctime_ns(&file.metadata()?);
    drop(file);
    fs_err::remove_file(&marker)?;
    Ok(stamp)
}

/// How a file is verified.
#[derive(Debug, Clone, Copy)]
pub struct Verify {
    /// Compare permission, set-id and sticky bits too.
    pub modes: bool,
    /// Trust a file of the recorded size whose ctime is older than this (see
    /// [`settle_mark`]) without reading it; `None`: read all.
    pub settled_ns: Option<i64>,
}

/// Verify `files` of the depot dir `depot_dir` on all cores, a directory (or a
/// few hundred of its files) at a time: a file's status comes from `fstatat`
/// relative to a handle on its directory, not a walk of its whole path, and
/// only a file that may have changed (or is not a regular file trusted by
/// `how.settled_ns`) goes through [`verify_file`]. Calls `each` once per file;
/// returns the problems in the order of `files`.
pub fn verify_files(
    depot_dir: &Path,
    files: &[FileRow],
    how: Verify,
    each: &(dyn Fn() + Sync),
) -> Vec<Problem> {
    use rayon::prelude::*;
    const PER_TASK: usize = 256;
    let mut by_dir: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, f) in files.iter().enumerate() {
        let (parent, _) = super::parent_and_name(&f.path);
        by_dir.entry(parent).or_default().push(i);
    }
    let tasks: Vec<(&str, &[usize])> = by_dir
        .iter()
        .flat_map(|(parent, members)| members.chunks(PER_TASK).map(move |c| (*parent, c)))
        .collect();
    let mut found: Vec<(usize, Problem)> = tasks
        .par_iter()
        .flat_map_iter(|(parent, members)| {
            let handle = how
                .settled_ns
                .and_then(|_| super::directory_handle(&depot_dir.join(parent)).ok());
            members.iter().filter_map(move |&i| {
                each();
                let file = &files[i];
                if handle.as_ref().is_some_and(|h| unchanged(h, file, how)) {
                    return None;
                }
                verify_file(depot_dir, file, how).map(|p| (i, p))
            })
        })
        .collect();
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().map(|(_, p)| p).collect()
}

/// Whether a regular file, looked at by name relative to its directory, is as
/// installed by the measure of [`Verify::settled_ns`]: the recorded size, a
/// ctime older than the mark, and (with `how.modes`) the recorded mode.
fn unchanged(dir: &rustix::fd::OwnedFd, file: &FileRow, how: Verify) -> bool {
    if file.kind != FileKind::File || file.sha256.is_none() || how.settled_ns.is_none() {
        return false;
    }
    let (_, name) = super::parent_and_name(&file.path);
    let Ok(st) = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) else {
        return false;
    };
    let ctime = nanoseconds(st.st_ctime, i64::try_from(st.st_ctime_nsec).unwrap_or(0));
    rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
        && untouched(
            file,
            how,
            u64::try_from(st.st_size).unwrap_or(u64::MAX),
            ctime,
        )
        && (!how.modes || file.mode == 0 || st.st_mode & 0o7777 == file.mode)
}

/// Whether a file of `size` bytes and ctime `ctime_ns` is as installed by the
/// measure of [`Verify::settled_ns`]: its recorded size, and nothing has touched
/// its inode since the install settled.
fn untouched(file: &FileRow, how: Verify, size: u64, ctime_ns: i64) -> bool {
    how.settled_ns
        .is_some_and(|settled| size == file.size && ctime_ns < settled)
}

/// Compare one installed file with its database row: its content (sha256) or
/// symlink target, and per `how` its permission, set-id and sticky bits.
pub fn verify_file(depot_dir: &Path, file: &FileRow, how: Verify) -> Option<Problem> {
    use sha2::Digest as _;
    let modes = how.modes;
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
            let actual_mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
            let mode_problem = || {
                (modes && file.mode != 0 && actual_mode != file.mode).then(|| Problem {
                    path: path.clone(),
                    what: format!(
                        "mode changed (recorded {:04o}, found {actual_mode:04o})",
                        file.mode
                    ),
                })
            };
            let Some(expected) = &file.sha256 else {
                return mode_problem();
            };
            // Unchanged since install (nothing touched the inode): no need to read it.
            if untouched(file, how, meta.len(), ctime_ns(&meta)) {
                return mode_problem();
            }
            match fs_err::File::open(&path).and_then(|mut f| {
                let mut h = sha2::Sha256::new();
                std::io::copy(&mut f, &mut h)?;
                Ok(hex::encode(h.finalize()))
            }) {
                Ok(actual) if actual == *expected => mode_problem(),
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
