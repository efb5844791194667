//! Packing a package: complete a packing list with checksums and the metadata
//! entries, then write the archive in pkg_install's order. Used by
//! `depot create` (both forms) and by anything that builds packages.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use md5::Digest as _;

use super::archive::{Compression, METADATA_ORDER, PackageWriter};
use super::meta;
use super::plist::{Command, Entry, MD5_HEADER, PackingList, SHA256_HEADER, SYMLINK_HEADER};

/// Everything needed to write a package.
#[derive(Debug, Clone, Default)]
pub struct PackageSpec {
    /// The packing list as given (files, @cwd, @pkgdep, ...). `@name` is added if missing.
    pub plist: PackingList,
    /// The PKGNAME (used for `@name` when the list has none).
    pub pkgname: String,
    /// `+COMMENT`.
    pub comment: String,
    /// `+DESC`.
    pub description: String,
    /// Read files for the prefix from here instead of the `@cwd` directory (pkg_create -p).
    pub source_prefix: Option<PathBuf>,
    /// Record this prefix instead (pkg_create -I).
    pub real_prefix: Option<String>,
    /// Optional metadata files by name (`+INSTALL`, `+DISPLAY`, ...).
    pub metadata: Vec<(String, Vec<u8>)>,
    /// `+BUILD_INFO` text; the variables pkg_add requires are added if missing.
    pub build_info: String,
    /// Check that symlinks are relative and stay inside the prefix (pkg_create -l).
    pub relative_links: bool,
}

fn hash_file(path: &Path) -> Result<(String, String, u64)> {
    let mut file = fs_err::File::open(path)?;
    let mut md5 = md5::Md5::new();
    let mut sha = sha2::Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        md5.update(&buffer[..n]);
        sha.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((
        hex::encode(md5.finalize()),
        hex::encode(sha.finalize()),
        size,
    ))
}

/// The on-disk source of a packing list entry.
fn source_of(spec: &PackageSpec, prefix: Option<&str>, cwd: &str, name: &str) -> PathBuf {
    match (&spec.source_prefix, prefix) {
        (Some(src), Some(prefix)) if cwd == prefix => src.join(name),
        (Some(src), Some(prefix)) if cwd.starts_with(&format!("{prefix}/")) => {
            src.join(&cwd[prefix.len() + 1..]).join(name)
        }
        _ => Path::new(cwd).join(name),
    }
}

/// Write `spec` to `out`. Returns the final `+CONTENTS` text.
pub fn write_package(spec: &PackageSpec, out: &Path, compression: Compression) -> Result<String> {
    let prefix = spec.plist.prefix().map(str::to_owned);
    // Pass 1: the completed packing list, with checksums bound to each file.
    let mut plist = PackingList::default();
    if spec.plist.name().is_none() {
        plist.push(Command::Name, spec.pkgname.clone());
    }
    let mut cwd = ".".to_owned();
    let mut sources: Vec<(String, PathBuf, std::fs::Metadata)> = Vec::new();
    let mut ignore_next = false;
    let mut size_pkg = 0u64;
    for entry in &spec.plist.entries {
        match entry {
            Entry::Command(Command::Comment, text)
                if text.starts_with(MD5_HEADER)
                    || text.starts_with(SHA256_HEADER)
                    || text.starts_with(SYMLINK_HEADER) =>
            {
                // Regenerated below.
            }
            Entry::Command(Command::Cwd, dir) => {
                cwd.clone_from(dir);
                let written = match (&spec.real_prefix, &prefix) {
                    (Some(real), Some(p)) if dir == p => real.clone(),
                    _ => dir.clone(),
                };
                plist.push(Command::Cwd, written);
            }
            Entry::Command(c @ (Command::Ignore | Command::IgnoreInst), arg) => {
                ignore_next = true;
                plist.entries.push(Entry::Command(*c, arg.clone()));
            }
            Entry::File(name) => {
                plist.push_file(name.clone());
                if std::mem::take(&mut ignore_next) {
                    continue;
                }
                let source = source_of(spec, prefix.as_deref(), &cwd, name);
                let stat = fs_err::symlink_metadata(&source).with_context(|| {
                    format!(
                        "+CONTENTS lists {name}, but {} cannot be read",
                        source.display()
                    )
                })?;
                if stat.file_type().is_symlink() {
                    let target = fs_err::read_link(&source)?.to_string_lossy().into_owned();
                    if spec.relative_links && (target.starts_with('/') || escapes(name, &target)) {
                        bail!("symlink {name} -> {target} is absolute or leaves the prefix (-l)");
                    }
                    plist.push(Command::Comment, format!("{SYMLINK_HEADER}{target}"));
                } else if stat.is_file() {
                    let (md5, sha256, size) = hash_file(&source)?;
                    size_pkg += size;
                    plist.push(Command::Comment, format!("{MD5_HEADER}{md5}"));
                    plist.push(Command::Comment, format!("{SHA256_HEADER}{sha256}"));
                } else {
                    bail!(
                        "{name} ({}) is not a regular file or symlink; list directories with @pkgdir",
                        source.display()
                    );
                }
                sources.push((name.clone(), source, stat));
            }
            other @ Entry::Command(..) => plist.entries.push(other.clone()),
        }
    }

    // Metadata entries, as pkg_create's pkg_build appends them.
    let mut metadata: Vec<(String, Vec<u8>)> = vec![
        (
            "+COMMENT".to_owned(),
            ensure_newline(spec.comment.as_bytes()),
        ),
        (
            "+DESC".to_owned(),
            ensure_newline(spec.description.as_bytes()),
        ),
    ];
    metadata.extend(spec.metadata.iter().cloned());
    metadata.push((
        "+BUILD_INFO".to_owned(),
        meta::complete_build_info(&spec.build_info).into_bytes(),
    ));
    if !metadata.iter().any(|(n, _)| n == "+SIZE_PKG") {
        metadata.push(("+SIZE_PKG".to_owned(), format!("{size_pkg}\n").into_bytes()));
    }
    for (name, _) in &metadata {
        if !METADATA_ORDER.contains(&name.as_str()) {
            bail!("unknown metadata file {name}");
        }
    }
    metadata.sort_by_key(|(n, _)| METADATA_ORDER.iter().position(|o| o == n));
    plist.push(Command::Cwd, ".");
    for (name, _) in &metadata {
        plist.push(Command::Ignore, "");
        plist.push_file(name.clone());
        if name == "+DISPLAY" {
            plist.push(Command::Display, "+DISPLAY");
        }
    }
    let contents = plist.to_text();

    // Pass 2: the archive.
    let mut writer = PackageWriter::create(out, compression)?;
    writer.append_bytes("+CONTENTS", 0o644, contents.as_bytes())?;
    for (name, content) in &metadata {
        let mode = if name == "+INSTALL" || name == "+DEINSTALL" {
            0o555
        } else {
            0o444
        };
        writer.append_bytes(name, mode, content)?;
    }
    let mut seen: HashMap<(u64, u64), String> = HashMap::new();
    for (name, source, stat) in &sources {
        if stat.file_type().is_symlink() {
            let target = fs_err::read_link(source)?;
            writer.append_symlink(name, &target.to_string_lossy())?;
            continue;
        }
        let mode = stat.mode() & 0o7777;
        if stat.nlink() > 1 {
            let key = (stat.dev(), stat.ino());
            if let Some(first) = seen.get(&key) {
                writer.append_hardlink(name, mode, first)?;
                continue;
            }
            seen.insert(key, name.clone());
        }
        writer.append_file(name, mode, source)?;
    }
    writer.finish()?;
    Ok(contents)
}

fn ensure_newline(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    if !v.ends_with(b"\n") {
        v.push(b'\n');
    }
    v
}

fn escapes(name: &str, target: &str) -> bool {
    let mut depth: i64 = name.matches('/').count() as i64;
    for c in target.split('/') {
        match c {
            ".." => depth -= 1,
            "" | "." => {}
            _ => depth += 1,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// A packing list for every file, symlink and empty directory under `dir`, sorted,
/// with `@cwd prefix` first.
pub fn plist_from_dir(dir: &Path, prefix: &str) -> Result<PackingList> {
    let mut plist = PackingList::default();
    plist.push(Command::Cwd, prefix);
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => bail!("--from-dir {}: not a directory", dir.display()),
        Err(e) => bail!("--from-dir {}: {e}", dir.display()),
    }
    let walker = walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name();
    for entry in walker {
        // walkdir's error names the path and then its cause, which repeats it.
        let entry = entry.map_err(|e| {
            let at = e.path().unwrap_or(dir).display().to_string();
            match e.into_io_error() {
                Some(io) => anyhow::anyhow!("cannot read {at}: {io}"),
                None => anyhow::anyhow!("cannot read {at}: a symlink loop"),
            }
        })?;
        let rel = entry
            .path()
            .strip_prefix(dir)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ft = entry.file_type();
        if ft.is_dir() {
            let empty = fs_err::read_dir(entry.path())?.next().is_none();
            if empty {
                plist.push(Command::PkgDir, rel);
            }
        } else if ft.is_file() || ft.is_symlink() {
            if rel.starts_with('+') {
                bail!(
                    "{}: files named +... are reserved for metadata",
                    entry.path().display()
                );
            }
            plist.push_file(rel);
        } else {
            bail!(
                "{} is a device node, socket or FIFO; packages may not contain them",
                entry.path().display()
            );
        }
    }
    Ok(plist)
}
