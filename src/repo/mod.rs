//! Finding package files: `PKG_PATH` directories and pkg_install's best-match rule.

use std::path::{Path, PathBuf};

use crate::package::pattern;

/// File name suffixes of binary packages, in preference order.
pub const SUFFIXES: &[&str] = &[
    ".tgz", ".tbz", ".txz", ".tzst", ".tar", ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst",
];

/// The PKGNAME a package file name stands for, if it has a package suffix.
pub fn pkgname_of_file(file_name: &str) -> Option<&str> {
    SUFFIXES.iter().find_map(|s| file_name.strip_suffix(s))
}

/// A directory (PKG_PATH entry), with `file://` stripped.
pub fn local_dir(entry: &str) -> PathBuf {
    PathBuf::from(entry.strip_prefix("file://").unwrap_or(entry))
}

/// Every package file in `dir` as (PKGNAME, path), sorted by name.
pub fn list_packages(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = read
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            pkgname_of_file(&name).map(|p| (p.to_owned(), e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The best package file for `pattern` across `dirs` (searched in order; on equal
/// versions the first found wins), as pkg_install's `find_best_package`.
pub fn find_best(dirs: &[PathBuf], pattern: &str) -> Option<(String, PathBuf)> {
    let mut best: Option<(String, PathBuf)> = None;
    for dir in dirs {
        for (pkgname, path) in list_packages(dir) {
            if pattern::beats(pattern, best.as_ref().map(|(n, _)| n.as_str()), &pkgname) {
                best = Some((pkgname, path));
            }
        }
    }
    best
}
