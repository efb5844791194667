//! A target tree on disk: generations built beside it and switched by one
//! `rename(2)` of a symlink, as views are. `<parent>/<name>` is a symlink to
//! `.<name>.merge/g<N>`; a new generation is written as `g<N+1>.partial`,
//! renamed to `g<N+1>`, then the symlink is replaced. A bulk reading the
//! tree sees the old generation or the new one, never a mix; the previous
//! generation stays (a bulk started on it finishes on it) until the merge
//! after next. Files that did not change are hard links to the previous
//! generation's, so unchanged recipes keep their content, and so their
//! recipe hash, at the cost of a link.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::plan::Plan;
use super::tree::{Kind, MANIFEST};

/// What a merged tree records at its top: where every unit and file came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The target's name.
    pub target: String,
    /// This generation's number.
    pub generation: u64,
    /// The sources in merge order.
    pub sources: Vec<SourceRecord>,
    /// Every unit.
    pub units: BTreeMap<String, UnitRecord>,
    /// Every conflict found (the earlier source's unit was kept).
    pub conflicts: Vec<ConflictRecord>,
}

/// A source as merged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceRecord {
    /// Its name with its suffix (`local!`).
    pub name: String,
    /// Its directory.
    pub dir: String,
    /// Its revision, when it is a git checkout.
    pub revision: Option<String>,
}

/// A unit as merged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnitRecord {
    /// Recipe or other.
    pub kind: Kind,
    /// The source its base came from.
    pub origin: String,
    /// The recipe's PKGNAME.
    pub pkgname: Option<String>,
    /// The recipe hash a bulk compares (recipes only).
    pub recipe_hash: Option<String>,
    /// What the other sources had and what became of it.
    pub notes: Vec<String>,
    /// Every file, by path from the tree's top.
    pub files: BTreeMap<String, FileRecord>,
}

/// A file as merged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    /// sha256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The source it came from.
    pub source: String,
    /// Its inode and mtime (ns) as written: a later merge links to it only
    /// while both are unchanged (nobody edited it in place).
    pub written: (u64, i64),
}

/// A conflict as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConflictRecord {
    /// The unit.
    pub unit: String,
    /// The source kept.
    pub kept: String,
    /// The source that differed.
    pub other: String,
    /// The files that differ.
    pub files: Vec<String>,
}

/// A target tree's place on disk.
#[derive(Debug, Clone)]
pub struct Place {
    /// The path users and bulks read (a symlink).
    pub tree: PathBuf,
    /// `<parent>/.<name>.merge`: the generations, the lock.
    pub store: PathBuf,
}

impl Place {
    /// The place of `tree`.
    pub fn of(tree: &Path) -> Result<Place> {
        let (Some(parent), Some(name)) = (tree.parent(), tree.file_name()) else {
            bail!("target tree {} must name a directory", tree.display());
        };
        Ok(Place {
            tree: tree.to_path_buf(),
            store: parent.join(format!(".{}.merge", name.to_string_lossy())),
        })
    }

    /// Take the target's lock (the writer lock the database and bulks use,
    /// in the store), failing at once when another merge holds it.
    pub fn lock(&self, target: &str) -> Result<pkgdb::WriteLock> {
        pkgdb::WriteLock::acquire(&self.store, None).with_context(|| {
            format!("another depot merge of target {target} is running; wait for it to finish")
        })
    }

    /// The generation the tree shows now and its manifest; none before the
    /// first merge. A tree that depot merge did not make is refused: the
    /// merge replaces the tree as a whole.
    pub fn current(&self) -> Result<Option<(u64, Manifest)>> {
        let meta = match std::fs::symlink_metadata(&self.tree) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.tree.display()));
            }
        };
        if meta.is_dir() && fs_err::read_dir(&self.tree)?.next().is_none() {
            return Ok(None);
        }
        let link = meta
            .file_type()
            .is_symlink()
            .then(|| std::fs::read_link(&self.tree))
            .transpose()?;
        let generation = link.as_deref().and_then(|l| {
            let l = l.to_str()?;
            let store = self.store.file_name()?.to_str()?;
            l.strip_prefix(store)?
                .strip_prefix("/g")?
                .parse::<u64>()
                .ok()
        });
        let Some(generation) = generation else {
            bail!(
                "target tree {} exists and was not made by depot merge (a merge replaces the whole tree): move it away (mv {0} {0}.old) or name another tree in the config",
                self.tree.display()
            );
        };
        let path = self.generation(generation).join(MANIFEST);
        let text = fs_err::read_to_string(&path)?;
        let manifest = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged: merge again after removing it",
                path.display()
            )
        })?;
        Ok(Some((generation, manifest)))
    }

    fn generation(&self, n: u64) -> PathBuf {
        self.store.join(format!("g{n}"))
    }

    /// Write generation `manifest.generation` from `plan` (linking unchanged
    /// files from `previous`), switch the tree to it, and remove generations
    /// older than the one it replaced. Returns the manifest as written.
    pub fn write(
        &self,
        plan: &Plan,
        mut manifest: Manifest,
        previous: Option<&(u64, Manifest)>,
    ) -> Result<Manifest> {
        for entry in fs_err::read_dir(&self.store)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().ends_with(".partial") {
                crate::linking::remove_tree(&entry.path())?;
            }
        }
        let done = self.generation(manifest.generation);
        let partial = done.with_extension("partial");
        fs_err::create_dir_all(&partial)?;
        let old_base = previous.map(|(n, _)| self.generation(*n));
        let old_units = previous.map(|(_, m)| &m.units);
        let written: Vec<(String, Written)> = plan
            .units
            .par_iter()
            .map(|(key, chosen)| {
                let old = old_units.and_then(|u| u.get(key)).zip(old_base.as_deref());
                Ok((key.clone(), write_unit(&partial, key, chosen, old)?))
            })
            .collect::<Result<_>>()?;
        for (key, (files, recipe_hash)) in written {
            let unit = manifest
                .units
                .get_mut(&key)
                .with_context(|| format!("{key} is missing from the manifest"))?;
            unit.files = files;
            unit.recipe_hash = recipe_hash;
        }
        let json = serde_json::to_string_pretty(&manifest)?;
        fs_err::write(partial.join(MANIFEST), json)?;
        fs_err::rename(&partial, &done)?;
        let link = self.store.with_extension("merge.link");
        let _ = std::fs::remove_file(&link);
        let target = format!(
            "{}/g{}",
            self.store
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            manifest.generation
        );
        if let Some(parent) = self.tree.parent() {
            fs_err::create_dir_all(parent)?;
        }
        if self.tree.is_dir() && !self.tree.is_symlink() {
            // An empty directory stands where the first generation goes.
            fs_err::remove_dir(&self.tree)?;
        }
        std::os::unix::fs::symlink(&target, &link)
            .with_context(|| format!("cannot make {}", link.display()))?;
        fs_err::rename(&link, &self.tree)?;
        let keep = [Some(manifest.generation), previous.map(|(n, _)| *n)];
        for entry in fs_err::read_dir(&self.store)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix('g').and_then(|n| n.parse::<u64>().ok());
            if n.is_some_and(|n| !keep.contains(&Some(n))) {
                crate::linking::remove_tree(&entry.path())?;
            }
        }
        Ok(manifest)
    }
}

/// A unit's files as written, and its recipe hash.
type Written = (BTreeMap<String, FileRecord>, Option<String>);

/// Write one unit into the generation at `base`: each file a hard link to
/// the previous generation's when that one still is what was written there
/// (same inode and mtime, so nobody edited it in place) with the same
/// content, else a copy. A recipe whose files were all linked keeps the
/// recipe hash recorded for it; any other is hashed again.
fn write_unit(
    base: &Path,
    key: &str,
    chosen: &super::plan::Chosen,
    old: Option<(&UnitRecord, &Path)>,
) -> Result<Written> {
    let mut files = BTreeMap::new();
    let mut made = std::collections::BTreeSet::new();
    let mut all_linked = old.is_some_and(|(u, _)| u.files.len() == chosen.files.len());
    for (rel, (file, source)) in &chosen.files {
        let to = base.join(rel);
        if let Some(parent) = to.parent()
            && made.insert(parent.to_path_buf())
        {
            fs_err::create_dir_all(parent)?;
        }
        let linked = old.is_some_and(|(unit, at)| {
            unit.files.get(rel).is_some_and(|was| {
                let at = at.join(rel);
                was.sha256 == file.sha256
                    && std::fs::metadata(&at).is_ok_and(|m| {
                        (m.ino(), mtime_ns(&m)) == was.written && m.len() == was.size
                    })
                    && std::fs::hard_link(&at, &to).is_ok()
            })
        });
        if !linked {
            all_linked = false;
            copy(&file.path, &to)?;
        }
        let m = fs_err::metadata(&to)?;
        files.insert(
            rel.clone(),
            FileRecord {
                sha256: file.sha256.clone(),
                size: file.size,
                source: source.clone(),
                written: (m.ino(), mtime_ns(&m)),
            },
        );
    }
    let recipe_hash = match old {
        Some((unit, _)) if all_linked && unit.recipe_hash.is_some() => unit.recipe_hash.clone(),
        _ if chosen.kind == Kind::Recipe => {
            Some(crate::build::recipe::content_hash(&base.join(key))?)
        }
        _ => None,
    };
    Ok((files, recipe_hash))
}

fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(m.mtime_nsec())
}

/// Copy `from` to `to` with its permissions and modification time.
fn copy(from: &Path, to: &Path) -> Result<()> {
    fs_err::copy(from, to)?;
    let modified = fs_err::metadata(from)?.modified()?;
    let file = fs_err::OpenOptions::new().write(true).open(to)?;
    file.file()
        .set_modified(modified)
        .with_context(|| format!("cannot set the time of {}", to.display()))?;
    Ok(())
}

/// The manifest `plan` makes, before any file is written (files are
/// recorded as they are written; see [`Place::write`]).
pub fn manifest_of(
    target: &str,
    generation: u64,
    sources: Vec<SourceRecord>,
    plan: &Plan,
) -> Manifest {
    Manifest {
        target: target.to_owned(),
        generation,
        sources,
        units: plan
            .units
            .iter()
            .map(|(key, c)| {
                (
                    key.clone(),
                    UnitRecord {
                        kind: c.kind,
                        origin: c.origin.clone(),
                        pkgname: c.pkgname.clone(),
                        recipe_hash: None,
                        notes: c.notes.clone(),
                        files: BTreeMap::new(),
                    },
                )
            })
            .collect(),
        conflicts: plan
            .conflicts
            .iter()
            .map(|c| ConflictRecord {
                unit: c.unit.clone(),
                kept: c.kept.clone(),
                other: c.other.clone(),
                files: c.files.clone(),
            })
            .collect(),
    }
}

/// How the units of a new plan differ from the tree's current manifest.
#[derive(Debug, Default)]
pub struct Changes {
    /// Units not in the current tree.
    pub new: Vec<String>,
    /// Units whose files differ.
    pub changed: Vec<String>,
    /// Units that are gone.
    pub removed: Vec<String>,
    /// Units with the same files.
    pub same: usize,
}

/// Compare `plan` with what the tree holds now.
pub fn changes(plan: &Plan, current: Option<&Manifest>) -> Changes {
    let mut out = Changes::default();
    let empty = BTreeMap::new();
    let units = current.map_or(&empty, |m| &m.units);
    for (key, chosen) in &plan.units {
        match units.get(key) {
            None => out.new.push(key.clone()),
            Some(old) => {
                let same = old.files.len() == chosen.files.len()
                    && chosen.files.iter().all(|(rel, (f, _))| {
                        old.files.get(rel).is_some_and(|o| o.sha256 == f.sha256)
                    });
                if same {
                    out.same += 1;
                } else {
                    out.changed.push(key.clone());
                }
            }
        }
    }
    out.removed = units
        .keys()
        .filter(|k| !plan.units.contains_key(*k))
        .cloned()
        .collect();
    out
}

/// Whether writing `next` would give the tree exactly what it has: the same
/// files from the same places and the same record of where they came from.
pub fn same_as(current: &Manifest, next: &Manifest, plan: &Plan) -> bool {
    let units_same = current.units.len() == next.units.len()
        && next.units.iter().all(|(key, unit)| {
            current.units.get(key).is_some_and(|old| {
                old.origin == unit.origin
                    && old.pkgname == unit.pkgname
                    && old.notes == unit.notes
                    && plan.units.get(key).is_some_and(|c| {
                        old.files.len() == c.files.len()
                            && c.files.iter().all(|(rel, (f, source))| {
                                old.files
                                    .get(rel)
                                    .is_some_and(|o| o.sha256 == f.sha256 && o.source == *source)
                            })
                    })
            })
        });
    units_same && current.sources == next.sources && current.conflicts == next.conflicts
}
