//! Finding package files: `PKG_PATH` directories and pkg_install's best-match rule;
//! indexing a directory of them ([`index`]).

pub mod catalog;
pub mod download;
pub mod index;
pub mod remote;
pub mod resolve;
pub mod sign;
pub mod site;

use std::os::unix::ffi::OsStringExt as _;
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

/// A directory (PKG_PATH entry): a path, or a `file://` URL.
pub fn local_dir(entry: &str) -> PathBuf {
    match file_url_path(entry) {
        Some(Ok(path)) => path,
        _ => PathBuf::from(entry),
    }
}

/// The local path of a `file://` URL (`None` if `spec` is not one): the host
/// must be empty or `localhost` (RFC 8089), and `%XX` escapes are decoded.
pub fn file_url_path(spec: &str) -> Option<anyhow::Result<PathBuf>> {
    let rest = spec.strip_prefix("file://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) || path.is_empty() {
        return Some(Err(anyhow::anyhow!(
            "{}: a file:// URL names a file on this machine: file:///path or file://localhost/path",
            crate::quote::name(spec)
        )));
    }
    let mut bytes = Vec::with_capacity(path.len());
    let mut raw = path.bytes();
    while let Some(b) = raw.next() {
        let decoded = if b == b'%' {
            let high = raw.next().and_then(|h| char::from(h).to_digit(16));
            let low = raw.next().and_then(|l| char::from(l).to_digit(16));
            match (high, low) {
                (Some(h), Some(l)) => (h * 16 + l) as u8,
                _ => {
                    return Some(Err(anyhow::anyhow!(
                        "{}: bad %-escape in the URL",
                        crate::quote::name(spec)
                    )));
                }
            }
        } else {
            b
        };
        bytes.push(decoded);
    }
    Some(Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes))))
}

/// What a file that is not a regular file is, for a message.
pub fn describe_file_type(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory (give the package files in it, or add it to PKG_PATH)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// The PKGBASEs of the package files in `dirs` that `pattern` matches.
pub fn matching_bases(dirs: &[PathBuf], pattern: &str) -> Vec<String> {
    let mut bases: Vec<String> = dirs
        .iter()
        .flat_map(|d| list_packages(d))
        .filter(|(pkgname, _)| pattern::pkg_match(pattern, pkgname))
        .filter_map(|(pkgname, _)| pattern::split_pkgname(&pkgname).map(|(b, _)| b.to_owned()))
        .collect();
    bases.sort();
    bases.dedup();
    bases
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
