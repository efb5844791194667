//! Unpacking a package's payload into a staging directory, in exactly
//! `+CONTENTS` order, with every entry confined and every checksum verified.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use md5::Digest as _;
use pkgdb::{FileKind, FileRow};

use crate::output;
use crate::package::archive::{self, Metadata};
use crate::package::plist::{Command, PackingList};

/// Bounds on what one package may contain (invariant 6).
const MAX_ENTRIES: usize = 2_000_000;
const MAX_NAME: usize = 4096;
const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024 * 1024;

/// Where a packing list entry goes inside the depot dir, relative to it.
pub fn depot_path(pkgname: &str, prefix: &str, cwd: &str, name: &str) -> Result<String> {
    let base = if cwd == prefix {
        String::new()
    } else if let Some(rest) = cwd.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
        format!("{rest}/")
    } else {
        bail!(
            "{pkgname}: +CONTENTS entry {name} is under @cwd {cwd}, outside the package prefix {prefix}; depot installs a package into its own depot dir and cannot place files elsewhere"
        );
    };
    let path = format!("{base}{name}");
    check_relative(pkgname, &path)?;
    Ok(path)
}

/// Reject absolute paths, `..`, empty names and names that would shadow metadata.
pub fn check_relative(pkgname: &str, path: &str) -> Result<()> {
    if path.is_empty() || path.len() > MAX_NAME {
        bail!("{pkgname}: entry name {path:?} is empty or too long");
    }
    let p = Path::new(path);
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => bail!(
                "{pkgname}: entry {path} contains `..`; refusing a package that writes outside its depot dir"
            ),
            Component::RootDir | Component::Prefix(_) => {
                bail!(
                    "{pkgname}: entry {path} is an absolute path; refusing a package that writes outside its depot dir"
                )
            }
        }
    }
    if path.starts_with('+') {
        bail!("{pkgname}: payload entry {path} would shadow a metadata file");
    }
    Ok(())
}

/// Resolve a symlink target lexically against the link's directory; `None` if it escapes.
fn confined_target(link: &str, target: &str) -> Option<PathBuf> {
    if target.starts_with('/') {
        return None;
    }
    let mut stack: Vec<&std::ffi::OsStr> = Vec::new();
    let parent = Path::new(link).parent().unwrap_or(Path::new(""));
    for c in parent.components().chain(Path::new(target).components()) {
        match c {
            Component::Normal(n) => stack.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                stack.pop()?;
            }
            _ => return None,
        }
    }
    Some(stack.iter().collect())
}

/// Unpack `package` into `dest` (which must not exist). `metadata` is the
/// package's metadata as read before (`archive::read_metadata`) and `plist` its
/// parsed `+CONTENTS`; the archive's metadata entries must still be those, and
/// the metadata files written to `dest` are these. Each file, symlink and
/// directory goes to `on_file` as its row (path relative to the depot dir), in
/// `+CONTENTS` order. Returns the bytes of its regular files. `opened` is
/// `package` opened before (its payload may be decompressing already); `None`
/// opens it here. On error `dest` may be partly written; the caller removes it.
pub fn extract(
    package: &Path,
    opened: Option<archive::TarReader>,
    pkgname: &str,
    metadata: &Metadata,
    plist: &PackingList,
    dest: &Path,
    on_file: &mut dyn FnMut(FileRow) -> Result<()>,
) -> Result<u64> {
    let mut tar = match opened {
        Some(tar) => tar,
        None => archive::open_tar(package)?,
    };
    let mut entries = tar
        .entries()
        .with_context(|| format!("{}: cannot read archive", package.display()))?;
    let first = archive::skip_metadata_entries(package, &mut entries, metadata)?;
    fs_err::create_dir(dest)?;
    for (name, content) in &metadata.files {
        let mode = if name == "+INSTALL" || name == "+DEINSTALL" {
            0o555
        } else {
            0o444
        };
        write_new(&dest.join(name), mode, content)?;
    }

    let prefix = plist.prefix().unwrap_or("").to_owned();
    let items: Vec<_> = plist.files().into_iter().filter(|f| !f.ignored).collect();
    if items.len() > MAX_ENTRIES {
        bail!(
            "{pkgname}: +CONTENTS lists {} files, more than depot accepts ({MAX_ENTRIES})",
            items.len()
        );
    }
    let total_bytes = metadata
        .text("+SIZE_PKG")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let progress = crate::progress::Progress::new(
        &format!("adding {pkgname}"),
        items.len() as u64,
        total_bytes,
    );
    let mut dirs = Dirs::new(dest);
    // The sha256 of each item that is a regular file, for hard links to it.
    let mut sha256s: Vec<Option<[u8; 32]>> = Vec::with_capacity(items.len());
    let mut size = 0u64;
    let mut buffer = vec![0u8; 128 * 1024];
    let mut next = first.map(Ok);

    // The staging dir starts empty, so an entry that already exists there is
    // listed twice: creating it fails, and `duplicate` says so.
    let duplicate = |rel: &str, e: std::io::Error| -> anyhow::Error {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{pkgname}: duplicate entry {}: +CONTENTS lists it twice; the package is malformed",
                crate::quote::name(rel)
            )
        } else {
            anyhow::Error::from(e).context(format!("cannot create {rel} in {}", dest.display()))
        }
    };
    for (index, item) in items.iter().enumerate() {
        let rel = depot_path(pkgname, &prefix, &item.cwd, &item.name)?;
        let entry = match next.take().or_else(|| entries.next()) {
            Some(entry) => entry.map_err(|e| {
                anyhow::anyhow!(
                    "{pkgname}: the archive {} is corrupt or truncated (while looking for {}: {}); download or rebuild the package",
                    package.display(),
                    item.name,
                    archive::tar_error(&e)
                )
            })?,
            None => bail!(
                "{pkgname}: the archive ends before {}, which +CONTENTS lists; the package is truncated or incomplete",
                item.name
            ),
        };
        let mut entry = entry;
        let matches = {
            let raw = entry.path_bytes();
            raw.strip_prefix(b"./".as_slice()).unwrap_or(&raw) == item.name.as_bytes()
        };
        if !matches {
            let name = archive::entry_name(&entry)?;
            if name.starts_with('/') || name.split('/').any(|c| c == "..") {
                bail!("{pkgname}: archive entry {name} has an absolute path or `..`; refusing it");
            }
            bail!(
                "{pkgname}: payload out of +CONTENTS order: expected {}, found {name}; the package was not made by pkg_create or depot create",
                item.name
            );
        }
        let (parent, file_name) = super::parent_and_name(&rel);
        let header_mode = entry.header().mode().unwrap_or(0o644);
        let mut sha256_of_file = None;
        let row = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let length = entry.size();
                if length > MAX_FILE_SIZE {
                    bail!("{pkgname}: {rel} is larger than depot accepts");
                }
                let mode = installed_mode(pkgname, &rel, header_mode, item.mode.as_deref());
                // A set-id file is written as 0600 and given its mode at the end
                // (writing to it would clear the set-id bits); others get theirs
                // at creation, which the open descriptor may still write through.
                let set_id = mode & 0o7000 != 0;
                let fd = rustix::fs::openat(
                    dirs.open(parent)?,
                    file_name,
                    rustix::fs::OFlags::WRONLY
                        | rustix::fs::OFlags::CREATE
                        | rustix::fs::OFlags::EXCL
                        | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::from_raw_mode(if set_id { 0o600 } else { mode }),
                )
                .map_err(|e| duplicate(&rel, e.into()))?;
                let mut out = std::fs::File::from(fd);
                let mut md5 = md5::Md5::new();
                let mut sha = sha2::Sha256::new();
                let mut written = 0u64;
                loop {
                    let n = entry.read(&mut buffer).with_context(|| {
                        format!("{pkgname}: cannot read {rel} from the archive: it is corrupt or truncated")
                    })?;
                    if n == 0 {
                        break;
                    }
                    md5.update(&buffer[..n]);
                    sha.update(&buffer[..n]);
                    out.write_all(&buffer[..n])
                        .with_context(|| format!("cannot write {}", dest.join(&rel).display()))?;
                    written += n as u64;
                }
                if written != length {
                    bail!(
                        "{pkgname}: {rel} is truncated in the archive ({written} of {length} bytes)"
                    );
                }
                if set_id {
                    out.set_permissions(std::fs::Permissions::from_mode(mode))
                        .with_context(|| {
                            format!("cannot set the mode of {}", dest.join(&rel).display())
                        })?;
                }
                drop(out);
                let md5 = hex::encode(md5.finalize());
                let sha256: [u8; 32] = sha.finalize().into();
                let sha256_hex = hex::encode(sha256);
                if let Some(expected) = &item.md5
                    && !expected.eq_ignore_ascii_case(&md5)
                {
                    bail!(
                        "{pkgname}: MD5 mismatch for {rel}: +CONTENTS says {expected}, the archive holds {md5}; the package is corrupt or was tampered with"
                    );
                }
                if let Some(expected) = &item.sha256
                    && !expected.eq_ignore_ascii_case(&sha256_hex)
                {
                    bail!(
                        "{pkgname}: sha256 mismatch for {rel}: +CONTENTS says {expected}, the archive holds {sha256_hex}; the package is corrupt or was tampered with"
                    );
                }
                size += written;
                progress.file(written);
                sha256_of_file = Some(sha256);
                FileRow {
                    path: rel,
                    kind: FileKind::File,
                    sha256: Some(sha256_hex),
                    md5: Some(md5),
                    mode,
                    size: written,
                    target: None,
                }
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if confined_target(&rel, &target).is_none() {
                    bail!(
                        "{pkgname}: symlink {rel} -> {target} escapes the depot dir; refusing the package"
                    );
                }
                if let Some(expected) = &item.symlink
                    && *expected != target
                {
                    bail!(
                        "{pkgname}: symlink {rel} points to {target}, but +CONTENTS records {expected}"
                    );
                }
                rustix::fs::symlinkat(target.as_str(), dirs.open(parent)?, file_name)
                    .map_err(|e| duplicate(&rel, e.into()))?;
                FileRow {
                    path: rel,
                    kind: FileKind::Symlink,
                    sha256: None,
                    md5: None,
                    mode: 0o777,
                    size: 0,
                    target: Some(target),
                }
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let target = target.strip_prefix("./").unwrap_or(&target).to_owned();
                // Entry names equal item names (checked above), so an earlier
                // regular file is found without an index of names.
                let earlier = items[..index]
                    .iter()
                    .rposition(|it| it.name == target)
                    .and_then(|k| sha256s[k].map(|sha| (&items[k], sha)));
                let Some((target_item, sha256)) = earlier else {
                    bail!(
                        "{pkgname}: hard link {rel} -> {target} does not point to an earlier file of the package; refusing it"
                    );
                };
                let target_rel = depot_path(pkgname, &prefix, &target_item.cwd, &target_item.name)?;
                dirs.create(parent)?;
                let at = dest.join(&rel);
                std::fs::hard_link(dest.join(&target_rel), &at).map_err(|e| duplicate(&rel, e))?;
                let meta = fs_err::symlink_metadata(&at)?;
                FileRow {
                    path: rel,
                    kind: FileKind::File,
                    sha256: Some(hex::encode(sha256)),
                    md5: item.md5.clone(),
                    mode: std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777,
                    size: meta.len(),
                    target: None,
                }
            }
            tar::EntryType::Directory => {
                dirs.create(&rel)?;
                directory_row(rel)
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                bail!("{pkgname}: {rel} is a device node or FIFO; packages may not contain them");
            }
            other => bail!("{pkgname}: {rel} has an unsupported archive entry type {other:?}"),
        };
        sha256s.push(sha256_of_file);
        on_file(row)?;
    }
    if let Some(extra) = next.take().or_else(|| entries.next()) {
        let name = extra
            .ok()
            .and_then(|e| archive::entry_name(&e).ok())
            .unwrap_or_else(|| "an unreadable entry".to_owned());
        bail!(
            "{pkgname}: the archive holds {name}, which +CONTENTS does not list; refusing the package"
        );
    }
    progress.finish();
    // Directories the package owns, even when empty.
    let mut cwd = prefix.clone();
    for entry in &plist.entries {
        match entry {
            crate::package::plist::Entry::Command(Command::Cwd, dir) => cwd.clone_from(dir),
            crate::package::plist::Entry::Command(Command::PkgDir, dir) => {
                let rel = depot_path(pkgname, &prefix, &cwd, dir)?;
                dirs.create(&rel)?;
                on_file(directory_row(rel))?;
            }
            _ => {}
        }
    }
    Ok(size)
}

/// The directories of the staging dir that entries are made in. Entries come
/// grouped by directory, so the one in use is kept open and each entry is
/// made relative to it: one path component to resolve, not the whole path.
struct Dirs<'a> {
    dest: &'a Path,
    /// Directories made so far (relative; "" is `dest`).
    made: HashSet<String>,
    /// The directory in use (relative) and a handle on it.
    open: Option<(String, rustix::fd::OwnedFd)>,
}

impl<'a> Dirs<'a> {
    fn new(dest: &'a Path) -> Dirs<'a> {
        Dirs {
            dest,
            made: HashSet::from([String::new()]),
            open: None,
        }
    }

    /// Make `rel` and its parents (relative to the staging dir).
    fn create(&mut self, rel: &str) -> Result<()> {
        if !self.made.contains(rel) {
            fs_err::create_dir_all(self.dest.join(rel))?;
            let mut dir = rel;
            while self.made.insert(dir.to_owned()) {
                dir = dir.rsplit_once('/').map_or("", |(parent, _)| parent);
            }
        }
        Ok(())
    }

    /// A handle on directory `rel` (made if need be), for `*at` calls.
    fn open(&mut self, rel: &str) -> Result<&rustix::fd::OwnedFd> {
        let open = match self.open.take() {
            Some((open, fd)) if open == rel => (open, fd),
            _ => {
                self.create(rel)?;
                let path = self.dest.join(rel);
                let fd = super::directory_handle(&path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                (rel.to_owned(), fd)
            }
        };
        Ok(&self.open.insert(open).1)
    }
}

/// The row of a directory the package owns.
fn directory_row(path: String) -> FileRow {
    FileRow {
        path,
        kind: FileKind::Dir,
        sha256: None,
        md5: None,
        mode: 0o755,
        size: 0,
        target: None,
    }
}

/// The mode an installed file gets: the archive's, or the packing list's
/// `@mode` (octal or symbolic, as chmod takes it), without the write bits
/// (depot dirs are read-only) but with set-id and sticky bits, as pkg_add
/// keeps them; always readable by its owner.
pub fn installed_mode(
    pkgname: &str,
    rel: &str,
    archive_mode: u32,
    plist_mode: Option<&str>,
) -> u32 {
    let mut mode = archive_mode & 0o7777;
    if let Some(text) = plist_mode {
        match apply_mode(mode, text) {
            Some(m) => mode = m,
            None => output::caution!(
                "{pkgname}: @mode {} for {rel} is not a mode depot understands; keeping the archive's",
                crate::quote::name(text)
            ),
        }
    }
    (mode & 0o7555) | 0o400
}

/// `text` (an octal mode, or chmod's symbolic `[ugoa]*[+-=][rwxXst]*,...`)
/// applied to `mode`.
fn apply_mode(mode: u32, text: &str) -> Option<u32> {
    if !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o7777);
    }
    let mut mode = mode;
    for clause in text.split(',') {
        let op_at = clause.find(['+', '-', '='])?;
        let (who, rest) = clause.split_at(op_at);
        let mut who_mask = 0;
        for c in who.chars() {
            who_mask |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o0007,
                'a' => 0o6777,
                _ => return None,
            };
        }
        if who_mask == 0 {
            who_mask = 0o6777;
        }
        let op = rest.chars().next()?;
        let mut bits = 0;
        for c in rest[1..].chars() {
            bits |= match c {
                'r' => 0o444,
                'w' => 0o222,
                'x' => 0o111,
                'X' if mode & 0o111 != 0 => 0o111,
                'X' => 0,
                's' => 0o6000,
                't' => 0o1000,
                _ => return None,
            };
        }
        // The sticky bit is not anyone's in particular.
        let mask = who_mask | if bits & 0o1000 != 0 { 0o1000 } else { 0 };
        let bits = bits & mask;
        mode = match op {
            '+' => mode | bits,
            '-' => mode & !bits,
            _ => (mode & !(who_mask & 0o0777)) | bits,
        };
    }
    Some(mode)
}

fn write_new(path: &Path, mode: u32, content: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(content)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_keep_set_id_and_sticky_bits_and_drop_write_bits() {
        assert_eq!(installed_mode("p", "f", 0o4755, None), 0o4555);
        assert_eq!(installed_mode("p", "f", 0o2711, None), 0o2511);
        assert_eq!(installed_mode("p", "f", 0o1777, None), 0o1555);
        assert_eq!(installed_mode("p", "f", 0o644, None), 0o444);
        assert_eq!(installed_mode("p", "f", 0o000, None), 0o400);
        assert_eq!(installed_mode("p", "f", 0o755, Some("4711")), 0o4511);
        assert_eq!(installed_mode("p", "f", 0o755, Some("u+s")), 0o4555);
        assert_eq!(installed_mode("p", "f", 0o755, Some("g+s,o-rx")), 0o2550);
        assert_eq!(installed_mode("p", "f", 0o644, Some("a=rX")), 0o444);
        assert_eq!(installed_mode("p", "f", 0o755, Some("+t")), 0o1555);
        // Not a mode: the archive's stands.
        assert_eq!(installed_mode("p", "f", 0o755, Some("bogus")), 0o555);
    }

    #[test]
    fn symlink_confinement() {
        assert!(confined_target("bin/a", "b").is_some());
        assert!(confined_target("bin/a", "../lib/x").is_some());
        assert!(confined_target("bin/a", "../../x").is_none());
        assert!(confined_target("a", "/etc/passwd").is_none());
    }

    #[test]
    fn depot_paths() -> Result<()> {
        assert_eq!(depot_path("p", "/usr/pkg", "/usr/pkg", "bin/x")?, "bin/x");
        assert_eq!(
            depot_path("p", "/usr/pkg", "/usr/pkg/share", "doc")?,
            "share/doc"
        );
        assert!(depot_path("p", "/usr/pkg", "/etc", "x").is_err());
        assert!(depot_path("p", "/usr/pkg", "/usr/pkg", "../x").is_err());
        assert!(depot_path("p", "/usr/pkg", "/usr/pkg", "/x").is_err());
        Ok(())
    }
}
