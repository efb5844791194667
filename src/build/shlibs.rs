//! What pkgsrc's check-shlibs records: the shared libraries a package ships
//! (`PROVIDES`) and the ones its programs and libraries load (`REQUIRES`),
//! resolved the way the dynamic linker will (rpath and runpath, then the
//! system's directories).

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The system's library directories, searched after a file's own rpath.
const SYSTEM_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
];

/// A package's shared-library facts.
#[derive(Debug, Default, Clone)]
pub struct Shlibs {
    /// Libraries it ships, as installed paths.
    pub provides: BTreeSet<String>,
    /// Libraries it loads, as the paths they resolve to.
    pub requires: BTreeSet<String>,
    /// (file, library) pairs that resolve nowhere.
    pub unresolved: Vec<(String, String)>,
}

/// Scan the staged files of a package installed at `prefix` (staged under `staged`).
/// `allowed` are the dependencies' depot dirs: a library resolved anywhere else
/// under `root` is an error (the build reached outside what it declared).
pub fn scan(staged: &Path, prefix: &Path, root: &Path, allowed: &[PathBuf]) -> Result<Shlibs> {
    let mut out = Shlibs::default();
    let mut leaks = Vec::new();
    for entry in walkdir::WalkDir::new(staged).sort_by_file_name() {
        let entry = entry?;
        if !entry.file_type().is_file() {
            continue;
        }
        let mut magic = [0u8; 4];
        let is_elf = fs_err::File::open(entry.path())
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && magic == *b"\x7fELF";
        if !is_elf {
            continue;
        }
        let bytes = fs_err::read(entry.path())?;
        let Ok(elf) = goblin::elf::Elf::parse(&bytes) else {
            continue;
        };
        let rel = entry.path().strip_prefix(staged).unwrap_or(entry.path());
        let installed = prefix.join(rel);
        if elf.soname.is_some() {
            out.provides.insert(installed.display().to_string());
        }
        let origin = installed.parent().unwrap_or(prefix).display().to_string();
        let search: Vec<String> = elf
            .runpaths
            .iter()
            .chain(&elf.rpaths)
            .flat_map(|p| p.split(':'))
            .map(|p| p.replace("$ORIGIN", &origin).replace("${ORIGIN}", &origin))
            .chain(SYSTEM_DIRS.iter().map(|d| (*d).to_owned()))
            .collect();
        for lib in &elf.libraries {
            let found = search.iter().find_map(|dir| {
                let candidate = Path::new(dir).join(lib);
                let on_disk = match candidate.strip_prefix(prefix) {
                    Ok(inside) => staged.join(inside),
                    Err(_) => candidate.clone(),
                };
                on_disk.exists().then_some(candidate)
            });
            match found {
                Some(path) => {
                    if path.starts_with(root)
                        && !path.starts_with(prefix)
                        && !allowed.iter().any(|a| path.starts_with(a))
                    {
                        leaks.push(format!("{} loads {}", rel.display(), path.display()));
                    }
                    out.requires.insert(path.display().to_string());
                }
                None => out
                    .unresolved
                    .push((rel.display().to_string(), (*lib).to_owned())),
            }
        }
    }
    if !leaks.is_empty() {
        bail!(
            "the package loads libraries from the root outside its declared dependencies (declare them in depends):\n  {}",
            leaks.join("\n  ")
        );
    }
    Ok(out)
}
