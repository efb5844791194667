//! Planning a generation: which paths become links, which stay directories,
//! and every conflict, before anything on disk changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::glob::glob_match;
use crate::{Error, Result};

/// A package as the view engine sees it.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its name in messages (the PKGNAME).
    pub name: String,
    /// Its depot dir (absolute).
    pub depot_dir: PathBuf,
    /// Its entries (files and symlinks) relative to the depot dir.
    pub paths: Vec<String>,
    /// Lower wins a conflict; equal priorities are an error.
    pub priority: i64,
}

/// Per-view rules.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Globs of paths never linked (applied before conflict checks).
    pub ignore: Vec<String>,
    /// Globs of directories that always stay real.
    pub always_real: Vec<String>,
    /// Per-path preferences: (path, member name) wins that path.
    pub prefer: Vec<(String, String)>,
    /// Names reserved at the top level (the view lives among them).
    pub reserved: Vec<String>,
}

/// What a planned path is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Node {
    /// A real directory in the generation.
    Dir,
    /// A link to `source` in member `member`'s depot dir.
    Link {
        /// Index into the members.
        member: usize,
        /// Path inside the member's depot dir.
        source: String,
    },
}

/// A planned generation: every path in it, parents before children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Path (relative to the view) to node, in path order.
    pub entries: BTreeMap<String, Node>,
}

/// Why two members cannot share a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    /// Both ship a file there with different content and equal priority.
    File,
    /// One ships a file where another ships a directory.
    FileVersusDirectory,
    /// The path is reserved by depot itself.
    Reserved,
}

/// One conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The path in the view.
    pub path: String,
    /// What kind.
    pub kind: ConflictKind,
    /// The members involved.
    pub owners: Vec<String>,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ConflictKind::File => {
                write!(f, "{}: shipped by {}", self.path, self.owners.join(" and "))
            }
            ConflictKind::FileVersusDirectory => write!(
                f,
                "{}: a file in {} but a directory in {}",
                self.path,
                self.owners.first().map_or("", String::as_str),
                self.owners.get(1).map_or("", String::as_str)
            ),
            ConflictKind::Reserved => write!(
                f,
                "{}: reserved by depot, but shipped by {}",
                self.path,
                self.owners.join(" and ")
            ),
        }
    }
}

fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(move |(i, _)| &path[..i])
}

fn same_content(a: &Member, b: &Member, path: &str) -> bool {
    let pa = a.depot_dir.join(path);
    let pb = b.depot_dir.join(path);
    match (
        std::fs::symlink_metadata(&pa),
        std::fs::symlink_metadata(&pb),
    ) {
        (Ok(ma), Ok(mb)) => {
            if ma.file_type().is_symlink() && mb.file_type().is_symlink() {
                return std::fs::read_link(&pa).ok() == std::fs::read_link(&pb).ok();
            }
            ma.file_type().is_file()
                && mb.file_type().is_file()
                && ma.len() == mb.len()
                && fs_err::read(&pa).ok() == fs_err::read(&pb).ok()
        }
        _ => false,
    }
}

/// Plan a generation from `members`. Returns every conflict at once, or the plan.
pub fn plan(members: &[Member], options: &Options) -> Result<Plan> {
    let ignored = |path: &str| options.ignore.iter().any(|g| glob_match(g, path));
    // path -> members shipping a file there
    let mut files: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    // dir -> members with something below it
    let mut dirs: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    // dirs holding an ignored entry of some member: never folded
    let mut dirs_with_ignored: BTreeSet<&str> = BTreeSet::new();
    for (index, member) in members.iter().enumerate() {
        for path in &member.paths {
            let path = path.as_str();
            if ignored(path) {
                dirs_with_ignored.extend(parents(path));
                continue;
            }
            files.entry(path).or_default().push(index);
            for dir in parents(path) {
                dirs.entry(dir).or_default().insert(index);
            }
        }
    }

    let mut conflicts = Vec::new();
    let mut winners: BTreeMap<&str, usize> = BTreeMap::new();
    for (&path, owners) in &files {
        let top = path.split('/').next().unwrap_or(path);
        if options.reserved.iter().any(|r| r == top) {
            conflicts.push(Conflict {
                path: path.to_owned(),
                kind: ConflictKind::Reserved,
                owners: owners.iter().map(|&i| members[i].name.clone()).collect(),
            });
            continue;
        }
        if let Some(dir_owners) = dirs.get(path) {
            let file_owner = owners[0];
            let dir_owner = *dir_owners.iter().next().unwrap_or(&file_owner);
            conflicts.push(Conflict {
                path: path.to_owned(),
                kind: ConflictKind::FileVersusDirectory,
                owners: vec![
                    members[file_owner].name.clone(),
                    members[dir_owner].name.clone(),
                ],
            });
            continue;
        }
        let winner = if owners.len() == 1 {
            Some(owners[0])
        } else if let Some((_, name)) = options
            .prefer
            .iter()
            .find(|(p, n)| p == path && owners.iter().any(|&i| members[i].name == *n))
        {
            owners.iter().copied().find(|&i| members[i].name == *name)
        } else if owners[1..]
            .iter()
            .all(|&i| same_content(&members[owners[0]], &members[i], path))
        {
            Some(owners[0])
        } else {
            let best = owners
                .iter()
                .map(|&i| members[i].priority)
                .min()
                .unwrap_or(0);
            let at_best: Vec<usize> = owners
                .iter()
                .copied()
                .filter(|&i| members[i].priority == best)
                .collect();
            if at_best.len() == 1
                || at_best[1..]
                    .iter()
                    .all(|&i| same_content(&members[at_best[0]], &members[i], path))
            {
                Some(at_best[0])
            } else {
                None
            }
        };
        match winner {
            Some(w) => {
                winners.insert(path, w);
            }
            None => conflicts.push(Conflict {
                path: path.to_owned(),
                kind: ConflictKind::File,
                owners: owners.iter().map(|&i| members[i].name.clone()).collect(),
            }),
        }
    }
    if !conflicts.is_empty() {
        return Err(Error::Conflicts(conflicts));
    }

    let always_real = |dir: &str| {
        options
            .always_real
            .iter()
            .any(|g| glob_match(g, dir) && g.contains('/') == dir.contains('/'))
    };
    let mut entries = BTreeMap::new();
    let mut folded: Vec<&str> = Vec::new();
    let under_fold = |path: &str, folded: &[&str]| {
        folded.last().is_some_and(|f| {
            path.len() > f.len() && path.starts_with(f) && path.as_bytes()[f.len()] == b'/'
        })
    };
    // Walk dirs and files together in path order so parents come first.
    let mut all: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    for &dir in dirs.keys() {
        all.insert(dir, None);
    }
    for (&path, &w) in &winners {
        all.insert(path, Some(w));
    }
    for (path, winner) in all {
        while !folded.is_empty() && !under_fold(path, &folded) {
            folded.pop();
        }
        if under_fold(path, &folded) {
            continue;
        }
        if let Some(member) = winner {
            entries.insert(
                path.to_owned(),
                Node::Link {
                    member,
                    source: path.to_owned(),
                },
            );
        } else {
            // A directory below which exactly one member ships anything folds into one
            // link (its single owner means no conflict lies below it either).
            let owners = &dirs[path];
            if owners.len() == 1 && !always_real(path) && !dirs_with_ignored.contains(path) {
                let member = *owners.iter().next().unwrap_or(&0);
                entries.insert(
                    path.to_owned(),
                    Node::Link {
                        member,
                        source: path.to_owned(),
                    },
                );
                folded.push(path);
            } else {
                entries.insert(path.to_owned(), Node::Dir);
            }
        }
    }
    Ok(Plan { entries })
}
