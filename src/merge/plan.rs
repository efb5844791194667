//! The merge rules, applied to the sources of one target in order: a unit in
//! one source is taken as it is; in several, the higher version wins
//! (pkg_install's dewey order, `nbN` included); equal versions with the same
//! files agree; equal versions with different files conflict unless the
//! later source is marked `!` (taken); a `+` source's files replace or join
//! the unit's whatever the versions. Nothing here touches a file system
//! except to read recipe.toml for versions.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};

use super::config::Flag;
use super::tree::{Kind, SourceFile, SourceTree};

/// A unit as it will be in the target.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// Recipe or other.
    pub kind: Kind,
    /// The source whose unit is the base.
    pub origin: String,
    /// The recipe's PKGNAME (recipes only).
    pub pkgname: Option<String>,
    /// Every file with the source it comes from.
    pub files: BTreeMap<String, (SourceFile, String)>,
    /// What the other sources had, and what became of it.
    pub notes: Vec<String>,
}

/// Two sources with the same version of a unit and different files.
#[derive(Debug, Clone)]
pub struct Conflict {
    /// `category/name` (or other unit).
    pub unit: String,
    /// The PKGNAME both declare.
    pub pkgname: Option<String>,
    /// The source whose unit is kept.
    pub kept: String,
    /// The later source that differs.
    pub other: String,
    /// The files that differ (present in one only, or with other content).
    pub files: Vec<String>,
}

/// The whole merge of one target.
#[derive(Debug, Default)]
pub struct Plan {
    /// Every unit of the target.
    pub units: BTreeMap<String, Chosen>,
    /// Every conflict (the earlier source's unit is kept for each).
    pub conflicts: Vec<Conflict>,
}

/// Merge `sources` (in `merge_from` order).
pub fn plan(sources: &[SourceTree]) -> Result<Plan> {
    let keys: BTreeSet<&String> = sources.iter().flat_map(|s| s.units.keys()).collect();
    let mut plan = Plan::default();
    let mut errors = Vec::new();
    for key in keys {
        let recipe_toml = format!("{key}/recipe.toml");
        // A unit's PKGNAME, read from its recipe.toml once (recipes only).
        let mut pkgname_of = |kind: Kind, file: Option<&SourceFile>, source: &str| {
            (kind == Kind::Recipe)
                .then(|| declared_pkgname(key, file, source, &mut errors))
                .flatten()
        };
        let mut current: Option<Chosen> = None;
        for source in sources {
            let Some(unit) = source.units.get(key) else {
                continue;
            };
            let name = format!("{}{}", source.name, source.flag.suffix());
            let Some(chosen) = current.as_mut() else {
                let toml = unit.files.get(&recipe_toml);
                if unit.kind == Kind::Recipe && toml.is_none() {
                    errors.push(format!(
                        "source {name}: {key} adds files to a recipe that no earlier source in merge_from has (and has no recipe.toml of its own)"
                    ));
                    break;
                }
                current = Some(Chosen {
                    kind: unit.kind,
                    origin: source.name.clone(),
                    pkgname: pkgname_of(unit.kind, toml, &source.name),
                    files: owned(unit, &source.name),
                    notes: Vec::new(),
                });
                continue;
            };
            if source.flag == Flag::Overlay {
                let mut added = Vec::new();
                let mut replaced = Vec::new();
                for (rel, file) in &unit.files {
                    let short = rel.strip_prefix(&format!("{key}/")).unwrap_or(rel);
                    match chosen.files.get(rel) {
                        Some((old, _)) if old.sha256 == file.sha256 => continue,
                        Some(_) => replaced.push(short.to_owned()),
                        None => added.push(short.to_owned()),
                    }
                    chosen
                        .files
                        .insert(rel.clone(), (file.clone(), source.name.clone()));
                }
                if replaced.iter().any(|f| f == "recipe.toml") {
                    chosen.pkgname =
                        pkgname_of(chosen.kind, unit.files.get(&recipe_toml), &source.name);
                }
                let mut said = Vec::new();
                if !added.is_empty() {
                    said.push(format!("added {}", added.join(", ")));
                }
                if !replaced.is_empty() {
                    said.push(format!("replaced {}", replaced.join(", ")));
                }
                if said.is_empty() {
                    said.push("the same files".to_owned());
                }
                chosen.notes.push(format!("{name}: {}", said.join("; ")));
                continue;
            }
            let new = pkgname_of(unit.kind, unit.files.get(&recipe_toml), &source.name);
            let order = match (&chosen.pkgname, &new) {
                (Some(old), Some(new)) => Some((
                    version(new).map_or(Ordering::Equal, |n| {
                        crate::package::pattern::dewey_compare(n, version(old).unwrap_or(""))
                    }),
                    old.clone(),
                    new.clone(),
                )),
                // Both recipes, one unreadable: the error is collected.
                _ if chosen.kind == Kind::Recipe && unit.kind == Kind::Recipe => break,
                _ => None,
            };
            let differing = differing(key, &chosen.files, &unit.files);
            let take = |chosen: &mut Chosen| {
                chosen.kind = unit.kind;
                chosen.origin.clone_from(&source.name);
                chosen.pkgname.clone_from(&new);
                chosen.files = owned(unit, &source.name);
            };
            match order {
                Some((Ordering::Greater, old, new)) => {
                    chosen.notes.push(format!(
                        "{}: {old}, older than {name}'s {new}",
                        chosen.origin
                    ));
                    take(chosen);
                }
                Some((Ordering::Less, old, new)) => {
                    chosen.notes.push(format!(
                        "{name}: {new}, older than {}'s {old}: not taken",
                        chosen.origin
                    ));
                }
                _ if differing.is_empty() => {
                    chosen.notes.push(format!("{name}: the same files"));
                }
                _ if source.flag == Flag::Replace => {
                    chosen.notes.push(format!(
                        "{name}: the same version with other files ({}): taken over {}'s",
                        differing.join(", "),
                        chosen.origin
                    ));
                    take(chosen);
                }
                _ => {
                    chosen.notes.push(format!(
                        "{name}: the same version with other files ({}): a conflict; {}'s kept",
                        differing.join(", "),
                        chosen.origin
                    ));
                    plan.conflicts.push(Conflict {
                        unit: key.clone(),
                        pkgname: order.map(|(_, old, _)| old),
                        kept: chosen.origin.clone(),
                        other: name.clone(),
                        files: differing,
                    });
                }
            }
        }
        if let Some(chosen) = current {
            plan.units.insert(key.clone(), chosen);
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(plan)
}

/// A source's unit as the files of a chosen one.
fn owned(unit: &super::tree::Unit, source: &str) -> BTreeMap<String, (SourceFile, String)> {
    unit.files
        .iter()
        .map(|(rel, f)| (rel.clone(), (f.clone(), source.to_owned())))
        .collect()
}

/// The version part of a PKGNAME.
fn version(pkgname: &str) -> Option<&str> {
    crate::package::pattern::split_pkgname(pkgname).map(|(_, v)| v)
}

/// The PKGNAME a recipe.toml declares; a problem is collected.
fn declared_pkgname(
    key: &str,
    file: Option<&SourceFile>,
    source: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    let Some(file) = file else {
        errors.push(format!(
            "source {source}: {key} has no recipe.toml to read its version from"
        ));
        return None;
    };
    let read = fs_err::read_to_string(&file.path)
        .map_err(anyhow::Error::from)
        .and_then(|text| crate::build::recipe::declared_pkgname(&file.path, &text));
    match read {
        Ok(p) => Some(p),
        Err(e) => {
            errors.push(format!("source {source}: {key}: {e:#}"));
            None
        }
    }
}

/// The files (relative to the unit) in one map and not the other, or with
/// other content.
fn differing(
    key: &str,
    chosen: &BTreeMap<String, (SourceFile, String)>,
    other: &BTreeMap<String, SourceFile>,
) -> Vec<String> {
    let names: BTreeSet<&String> = chosen.keys().chain(other.keys()).collect();
    names
        .into_iter()
        .filter(|rel| {
            chosen.get(*rel).map(|(f, _)| &f.sha256) != other.get(*rel).map(|f| &f.sha256)
        })
        .map(|rel| {
            rel.strip_prefix(&format!("{key}/"))
                .unwrap_or(rel)
                .to_owned()
        })
        .collect()
}
