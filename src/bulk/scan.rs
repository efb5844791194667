//! Scan: every recipe of the tree (or the limited list and what it needs)
//! read in parallel into the dependency graph kept in pkgdb. A recipe that
//! cannot be read, a dependency no recipe meets, and a dependency cycle
//! mark the packages concerned `prefailed`, with the reason; they never
//! stop the scan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use pkgdb::BulkPackage;
use rayon::prelude::*;

use crate::build::Recipe;
use crate::build::recipe::Distinfo;
use crate::package::pattern;

/// What the scan found.
pub struct Scanned {
    /// A row per recipe.
    pub packages: Vec<BulkPackage>,
}

/// `category/name` of a recipe dir under `tree`, if it is one.
fn pkgpath_in(tree: &Path, dir: &Path) -> Option<String> {
    let rel = dir.strip_prefix(tree).ok()?;
    let parts: Vec<_> = rel.components().collect();
    (parts.len() == 2).then(|| rel.to_string_lossy().into_owned())
}

/// Every `category/name` with a recipe.toml.
fn whole_tree(tree: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for category in fs_err::read_dir(tree)? {
        let category = category?;
        if !category.file_type()?.is_dir() {
            continue;
        }
        for entry in fs_err::read_dir(category.path())? {
            let entry = entry?;
            if entry.path().join("recipe.toml").is_file()
                && let Some(p) = pkgpath_in(tree, &entry.path())
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The listed pkgpaths (one a line, `#` comments) .
fn limited(list: &Path) -> Result<Vec<String>> {
    let text = fs_err::read_to_string(list)?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect())
}

/// A recipe read with its files' hashes, or why it could not be.
type Read = Result<(Recipe, Vec<(String, String)>), String>;
type Loaded = BTreeMap<String, Read>;

/// `sha256 name` lines, as `bulk_packages.files` keeps them.
pub fn files_text(files: &[(String, String)]) -> String {
    files.iter().fold(String::new(), |mut out, (name, sha)| {
        out.push_str(sha);
        out.push(' ');
        out.push_str(name);
        out.push('\n');
        out
    })
}

/// Read recipes in parallel, and then every recipe they depend on.
fn load_all(tree: &Path, start: Vec<String>) -> Loaded {
    let mut loaded: Loaded = BTreeMap::new();
    let mut todo: BTreeSet<String> = start.into_iter().collect();
    while !todo.is_empty() {
        let batch: Vec<(String, Read)> = std::mem::take(&mut todo)
            .into_par_iter()
            .map(|pkgpath| {
                let dir = tree.join(&pkgpath);
                let read = Recipe::load(&dir)
                    .map(|mut r| {
                        let files = std::mem::take(&mut r.file_hashes);
                        (r, files)
                    })
                    .map_err(|e| format!("{e:#}"));
                (pkgpath, read)
            })
            .collect();
        let in_batch: BTreeSet<&str> = batch.iter().map(|(p, _)| p.as_str()).collect();
        for (_, read) in &batch {
            let Ok((recipe, _)) = read else { continue };
            for dep in &recipe.depends {
                if let Some(p) = pkgpath_in(tree, &dep.recipe)
                    && !loaded.contains_key(&p)
                    && !in_batch.contains(p.as_str())
                    && dep.recipe.join("recipe.toml").is_file()
                {
                    todo.insert(p);
                }
            }
        }
        drop(in_batch);
        loaded.extend(batch);
    }
    loaded
}

/// Scan `tree` (all of it, or the `list` and what it needs).
pub fn scan(tree: &Path, list: Option<&Path>) -> Result<Scanned> {
    let start = match list {
        Some(list) => {
            limited(list).with_context(|| format!("reading the limited list {}", list.display()))?
        }
        None => whole_tree(tree)
            .with_context(|| format!("reading the recipe tree {}", tree.display()))?,
    };
    let loaded = load_all(tree, start);
    let mut packages: BTreeMap<String, BulkPackage> = BTreeMap::new();
    for (pkgpath, read) in &loaded {
        let mut row = BulkPackage {
            pkgpath: pkgpath.clone(),
            make_jobs_safe: true,
            ..BulkPackage::default()
        };
        match read {
            Err(e) => {
                pkgpath
                    .rsplit('/')
                    .next()
                    .unwrap_or(pkgpath)
                    .clone_into(&mut row.pkgname);
                row.prefailed = Some(format!("the recipe cannot be read: {e}"));
            }
            Ok((recipe, files)) => {
                row.pkgname.clone_from(&recipe.pkgname);
                row.recipe_hash.clone_from(&recipe.hash);
                row.files = files_text(files);
                row.make_jobs_safe = recipe.file.make_jobs_safe != Some(false);
                let distinfo = Distinfo::load(&recipe.dir).unwrap_or_default();
                row.distfile_size = recipe
                    .distfiles()
                    .iter()
                    .filter_map(|f| distinfo.size.get(f))
                    .sum::<u64>() as i64;
                let mut deps = BTreeSet::new();
                for dep in &recipe.depends {
                    let found =
                        pkgpath_in(tree, &dep.recipe).and_then(|p| loaded.get(&p).map(|r| (p, r)));
                    match found {
                        None => {
                            row.prefailed.get_or_insert(format!(
                                "dependency {} names {}, which is not a recipe in {}",
                                dep.pattern,
                                dep.recipe.display(),
                                tree.display()
                            ));
                        }
                        Some((p, Ok((dep_recipe, _)))) => {
                            if !pattern::pkg_match(&dep.pattern, &dep_recipe.pkgname) {
                                row.prefailed.get_or_insert(format!(
                                    "dependency {} names {p}, which makes {}; that does not match",
                                    dep.pattern, dep_recipe.pkgname
                                ));
                            }
                            deps.insert(p);
                        }
                        // A dependency that cannot be read is prefailed itself; this one follows.
                        Some((p, Err(_))) => {
                            deps.insert(p);
                        }
                    }
                }
                deps.remove(pkgpath);
                row.depends = deps.into_iter().map(|d| d + "\n").collect();
            }
        }
        packages.insert(pkgpath.clone(), row);
    }
    break_cycles(&mut packages);
    Ok(Scanned {
        packages: packages.into_values().collect(),
    })
}

/// Mark every package on a dependency cycle prefailed, naming the chain.
fn break_cycles(packages: &mut BTreeMap<String, BulkPackage>) {
    loop {
        let names: Vec<String> = packages.keys().cloned().collect();
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let tasks = names
            .iter()
            .map(|n| sched::Task {
                name: n.clone(),
                deps: if packages[n]
                    .prefailed
                    .as_deref()
                    .is_some_and(|p| p.starts_with("dependency cycle"))
                {
                    Vec::new()
                } else {
                    packages[n]
                        .depends
                        .lines()
                        .filter_map(|d| index.get(d).copied())
                        .collect()
                },
                ..sched::Task::default()
            })
            .collect();
        match sched::Graph::new(tasks) {
            Err(sched::GraphError::Cycle(chain)) => {
                let text: Vec<&str> = chain.iter().map(|&i| names[i].as_str()).collect();
                let why = format!("dependency cycle: {}", text.join(" -> "));
                for &i in &chain {
                    if let Some(p) = packages.get_mut(&names[i]) {
                        p.prefailed = Some(why.clone());
                    }
                }
            }
            _ => return,
        }
    }
}

/// The tree of the last scan, the one given, or `./recipes`.
pub fn tree_of(given: Option<&Path>, last: Option<String>) -> Result<PathBuf> {
    let tree = match (given, last) {
        (Some(t), _) => t.to_owned(),
        (None, Some(last)) => PathBuf::from(last),
        (None, None) => PathBuf::from("recipes"),
    };
    crate::settings::absolute(&tree)
}
