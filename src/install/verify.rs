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
    meta.ctime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.ctime_nsec())
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
            if let Some(settled) = how.settled_ns
                && meta.len() == file.size
                && ctime_ns(&meta) < settled
            {
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
