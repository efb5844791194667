//! A source tree read into units: each recipe (`category/name`), each file
//! beside the recipes (`category/Makefile`, `README`) and each top-level
//! directory that holds no recipes (`mk/`, `doc/`), with the sha256 of every
//! file. Symlinks are followed only while they stay inside the source tree;
//! version-control directories are not part of a tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use rayon::prelude::*;

use super::config::Flag;

/// The file each merged tree records its origins in, at its top.
pub const MANIFEST: &str = ".depot-merge.json";

/// Names that are never part of a tree.
const SKIPPED: &[&str] = &[".git", ".svn", ".hg", ".bzr", "CVS", MANIFEST];

/// Deepest directory nesting followed (symlinked directories included).
const MAX_DEPTH: usize = 48;

/// What a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `category/name` with a recipe.toml (versions are compared).
    Recipe,
    /// Anything else: merged as a whole, without versions.
    Other,
}

/// One file of a source.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Where to read it (symlinks resolved).
    pub path: PathBuf,
    /// sha256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A unit of a source: its files by path relative to the tree's top.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Recipe or other.
    pub kind: Kind,
    /// The files, by path from the tree's top.
    pub files: BTreeMap<String, SourceFile>,
}

/// A source tree as read.
#[derive(Debug)]
pub struct SourceTree {
    /// The source's name.
    pub name: String,
    /// Its suffix in this target's `merge_from`.
    pub flag: Flag,
    /// Its directory (resolved).
    pub root: PathBuf,
    /// Its units by key (`category/name`, `README`, `mk`).
    pub units: BTreeMap<String, Unit>,
}

/// Read the sources of one target. A top-level directory is a category when
/// any source has a recipe (a subdirectory with recipe.toml) in it; every
/// other subdirectory of a category must then be a recipe too, except in a
/// `+` source, whose directories add files to recipes. Every problem in every
/// source is reported at once.
pub fn read_sources(sources: &[(String, Flag, PathBuf)]) -> Result<Vec<SourceTree>> {
    let mut errors = Vec::new();
    let mut roots = Vec::new();
    for (name, _, dir) in sources {
        match dir.canonicalize() {
            Ok(root) if root.is_dir() => roots.push(Some(root)),
            Ok(_) => {
                errors.push(format!(
                    "source {name}: {} is not a directory",
                    dir.display()
                ));
                roots.push(None);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                errors.push(format!(
                    "source {name}: {} does not exist: give [source.{name}] a git, rsync, command or dir in the config (or make that directory)",
                    dir.display()
                ));
                roots.push(None);
            }
            Err(e) => {
                errors.push(format!("source {name}: {}: {e}", dir.display()));
                roots.push(None);
            }
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    let roots: Vec<PathBuf> = roots.into_iter().flatten().collect();
    let mut categories = BTreeSet::new();
    for root in &roots {
        for category in entries(root)? {
            let path = root.join(&category);
            if !real_dir(&path) {
                continue;
            }
            for name in entries(&path)? {
                if path.join(&name).join("recipe.toml").is_file() {
                    categories.insert(category.clone());
                    break;
                }
            }
        }
    }
    let mut out = Vec::new();
    for ((name, flag, _), root) in sources.iter().zip(roots) {
        let mut units: BTreeMap<String, (Kind, Vec<(String, PathBuf)>)> = BTreeMap::new();
        let mut walk = Walk {
            source: name,
            root: &root,
            errors: &mut errors,
        };
        for top in entries(&root)? {
            let path = root.join(&top);
            if categories.contains(&top) && real_dir(&path) {
                for entry in entries(&path)? {
                    let rel = format!("{top}/{entry}");
                    let at = path.join(&entry);
                    let mut files = Vec::new();
                    walk.collect(&rel, &at, 0, &mut files);
                    let is_dir = at.is_dir();
                    let has_recipe = files
                        .iter()
                        .any(|(f, _)| *f == format!("{rel}/recipe.toml"));
                    let kind = if is_dir { Kind::Recipe } else { Kind::Other };
                    if is_dir && !has_recipe && *flag != Flag::Overlay {
                        walk.errors.push(format!(
                            "source {name}: {rel} has no recipe.toml: every directory of category {top} is a recipe (a source of patches only is merged with `+`: `{name}+`)"
                        ));
                    }
                    units.insert(rel, (kind, files));
                }
            } else {
                let mut files = Vec::new();
                walk.collect(&top, &path, 0, &mut files);
                units.insert(top, (Kind::Other, files));
            }
        }
        out.push((name.clone(), *flag, root, units));
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    out.into_iter()
        .map(|(name, flag, root, units)| {
            let units = units
                .into_par_iter()
                .map(|(key, (kind, files))| {
                    let files = files
                        .into_iter()
                        .map(|(rel, path)| Ok((rel, source_file(path)?)))
                        .collect::<Result<BTreeMap<_, _>>>()?;
                    Ok((key, Unit { kind, files }))
                })
                .collect::<Result<BTreeMap<_, _>>>()?;
            Ok(SourceTree {
                name,
                flag,
                root,
                units,
            })
        })
        .collect()
}

/// A directory, not a symlink to one (a symlink is checked by [`Walk`]).
fn real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// The names in `dir`, sorted, without the skipped ones. A name that is not
/// UTF-8 cannot be recorded, so it is an error.
fn entries(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else {
            bail!(
                "{}: {} is not a UTF-8 name",
                dir.display(),
                crate::quote::name(&name.to_string_lossy())
            );
        };
        if !SKIPPED.contains(&name) {
            out.push(name.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

struct Walk<'a> {
    source: &'a str,
    root: &'a Path,
    errors: &'a mut Vec<String>,
}

impl Walk<'_> {
    /// Every file under `at` (shown as `rel`), symlinks resolved inside the
    /// source; problems are collected.
    fn collect(&mut self, rel: &str, at: &Path, depth: usize, out: &mut Vec<(String, PathBuf)>) {
        let source = self.source;
        if depth > MAX_DEPTH {
            self.errors.push(format!(
                "source {source}: {rel}: directories nest deeper than {MAX_DEPTH} (a symlink loop?)"
            ));
            return;
        }
        let meta = match fs_err::symlink_metadata(at) {
            Ok(m) => m,
            Err(e) => {
                self.errors.push(format!("source {source}: {e}"));
                return;
            }
        };
        let mut real = at.to_path_buf();
        let mut kind = meta.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(at).unwrap_or_default();
            match at.canonicalize() {
                Ok(resolved) if resolved.starts_with(self.root) => {
                    kind = match fs_err::metadata(&resolved) {
                        Ok(m) => m.file_type(),
                        Err(e) => {
                            self.errors.push(format!("source {source}: {e}"));
                            return;
                        }
                    };
                    real = resolved;
                }
                Ok(resolved) => {
                    self.errors.push(format!(
                        "source {source}: {rel} is a symlink to {} ({}), outside the source tree {}: refused",
                        crate::quote::name(&target.to_string_lossy()),
                        crate::quote::name(&resolved.to_string_lossy()),
                        self.root.display()
                    ));
                    return;
                }
                Err(e) => {
                    self.errors.push(format!(
                        "source {source}: {rel} is a symlink to {} that cannot be followed: {e}",
                        crate::quote::name(&target.to_string_lossy())
                    ));
                    return;
                }
            }
        }
        if kind.is_file() {
            out.push((rel.to_owned(), real));
        } else if kind.is_dir() {
            let names = match entries(&real) {
                Ok(n) => n,
                Err(e) => {
                    self.errors.push(format!("source {source}: {e:#}"));
                    return;
                }
            };
            for name in names {
                self.collect(&format!("{rel}/{name}"), &real.join(&name), depth + 1, out);
            }
        } else {
            self.errors.push(format!(
                "source {source}: {rel} is not a regular file, directory or symlink: refused"
            ));
        }
    }
}

fn source_file(path: PathBuf) -> Result<SourceFile> {
    let (sha256, size) = crate::build::recipe::hash_file(&path)?;
    Ok(SourceFile { path, sha256, size })
}
