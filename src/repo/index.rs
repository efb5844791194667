//! `depot repo index`: a directory of package files gets its pkg_summary(5)
//! (`pkg_summary.gz` and `pkg_summary.zst`), written incrementally and
//! replaced atomically.
//!
//! A record is what `depot info -X` prints for the file, with
//! `FILE_CKSUM=sha256 <hex>` after `FILE_SIZE`. Which files are unchanged is
//! kept in `.pkg_summary.state` beside the summaries (name, size, mtime in
//! nanoseconds and inode of each file indexed): a file that matches its line
//! there keeps its record from the previous summary and is not read again.
//! Anything else (a new file, a replaced one, a state or summary that cannot be
//! read) is read and hashed.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{Read as _, Write as IoWrite};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// The summaries written, gzip first.
pub const SUMMARY_FILES: &[&str] = &["pkg_summary.gz", "pkg_summary.zst"];
const STATE_FILE: &str = ".pkg_summary.state";

/// What an index run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IndexReport {
    /// Package files in the summary.
    pub packages: usize,
    /// Of those, how many were read (new or changed).
    pub read: usize,
    /// Records of files that are gone.
    pub dropped: usize,
}

/// A package file's identity for the incremental check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
    inode: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            inode: meta.ino(),
        }
    }
}

/// Index the package files in `dir`; with `sign`, sign the summary with that
/// secret key (`pkg_summary.minisig`), else remove a signature that would no
/// longer match.
pub fn index(dir: &Path, sign: Option<&Path>) -> Result<IndexReport> {
    let files = package_files(dir)?;
    let previous = previous_records(dir);
    let state = read_state(dir);
    let mut records = BTreeMap::new();
    let mut stamps = Vec::new();
    let mut report = IndexReport::default();
    // Read what changed in parallel: hashing is most of the work.
    let fresh: Vec<(String, Result<String>)> = {
        use rayon::prelude::*;
        files
            .par_iter()
            .filter(|(name, stamp, _)| {
                state.get(name) != Some(stamp) || !previous.contains_key(name)
            })
            .map(|(name, _, path)| (name.clone(), record_of(path)))
            .collect()
    };
    let mut fresh: HashMap<String, Result<String>> = fresh.into_iter().collect();
    for (name, stamp, _) in &files {
        let record = match fresh.remove(name) {
            Some(record) => {
                report.read += 1;
                record?
            }
            None => previous.get(name).cloned().unwrap_or_default(),
        };
        records.insert(name.clone(), record);
        stamps.push((name.clone(), *stamp));
    }
    report.packages = records.len();
    report.dropped = previous
        .keys()
        .filter(|n| !records.contains_key(*n))
        .count();
    let text: String = records.into_values().collect();
    let signature_path = dir.join(super::site::SIGNATURE_FILE);
    // Signed before anything is written: a bad key leaves the directory as it was.
    if let Some(key) = sign {
        let signature = super::sign::sign(
            text.as_bytes(),
            key,
            &format!(
                "pkg_summary of {} packages, signed {}",
                report.packages,
                pkgdb::now()
            ),
        )?;
        write_summaries(dir, text.as_bytes())?;
        replace_file(&signature_path, signature.as_bytes())?;
    } else {
        write_summaries(dir, text.as_bytes())?;
        // A signature of an older summary would no longer match.
        match fs_err::remove_file(&signature_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    write_state(dir, &stamps)?;
    Ok(report)
}

/// The package files directly in `dir`, by name, with their stamps.
fn package_files(dir: &Path) -> Result<Vec<(String, Stamp, PathBuf)>> {
    let entries = fs_err::read_dir(dir).with_context(|| {
        format!(
            "cannot index {}: give the directory holding the package files (a repository's All/)",
            dir.display()
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if super::pkgname_of_file(&name).is_none() || name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = fs_err::metadata(&path)?;
        if meta.is_file() {
            files.push((name, Stamp::of(&meta), path));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

fn record_of(path: &Path) -> Result<String> {
    let (hex, _) = crate::build::recipe::hash_file(path)?;
    crate::commands::info::file_summary(path, Some(&hex))
        .with_context(|| format!("cannot index {}", path.display()))
}

/// The records of the summary in `dir`, by FILE_NAME (empty if there is none
/// or it cannot be read: then every file is read again).
fn previous_records(dir: &Path) -> HashMap<String, String> {
    let mut text = String::new();
    let read = std::fs::File::open(dir.join("pkg_summary.zst"))
        .ok()
        .and_then(|f| zstd::Decoder::new(f).ok())
        .is_some_and(|mut d| d.read_to_string(&mut text).is_ok());
    if !read {
        return HashMap::new();
    }
    crate::package::summary::records(&text)
        .into_iter()
        .filter_map(|record| {
            let name = record
                .lines()
                .find_map(|l| l.strip_prefix("FILE_NAME="))?
                .to_owned();
            Some((name, record.to_owned()))
        })
        .collect()
}

fn read_state(dir: &Path) -> HashMap<String, Stamp> {
    let Ok(text) = fs_err::read_to_string(dir.join(STATE_FILE)) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next()?.to_owned();
            let stamp = Stamp {
                size: fields.next()?.parse().ok()?,
                mtime_ns: fields.next()?.parse().ok()?,
                inode: fields.next()?.parse().ok()?,
            };
            Some((name, stamp))
        })
        .collect()
}

fn write_state(dir: &Path, stamps: &[(String, Stamp)]) -> Result<()> {
    let mut text = String::new();
    for (name, s) in stamps {
        let _ = writeln!(text, "{name}	{}	{}	{}", s.size, s.mtime_ns, s.inode);
    }
    replace_file(&dir.join(STATE_FILE), text.as_bytes())
}

fn write_summaries(dir: &Path, text: &[u8]) -> Result<()> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    IoWrite::write_all(&mut gz, text)?;
    replace_file(&dir.join(SUMMARY_FILES[0]), &gz.finish()?)?;
    let zst = zstd::encode_all(text, 19)?;
    replace_file(&dir.join(SUMMARY_FILES[1]), &zst)?;
    // The renames are durable once the directory is.
    fs_err::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Write `bytes` to a temporary name beside `path`, fsync, and rename over it:
/// a reader sees the old file or the new one, never part of one.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = fs_err::File::create(&tmp)?;
        IoWrite::write_all(&mut file, bytes)?;
        file.sync_all()?;
        fs_err::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}
