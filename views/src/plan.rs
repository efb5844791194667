//! Planning a generation: which paths become links, which stay directories,
//! and every conflict, before anything on disk changes.

use std::collections::BTreeMap;
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
    /// Where its files are now (absolute), for comparing contents.
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

impl Options {
    /// Whether `path` is left out of the view.
    pub fn ignored(&self, path: &str) -> bool {
        self.ignore.iter().any(|g| glob_match(g, path))
    }

    /// Whether the directory `dir` always stays a real directory.
    pub fn always_real(&self, dir: &str) -> bool {
        self.always_real
            .iter()
            .any(|g| g.contains('/') == dir.contains('/') && glob_match(g, dir))
    }
}

/// What a planned path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Node {
    /// A real directory in the generation.
    Dir,
    /// A link to the same path in member `member`'s depot dir (a file, a
    /// symlink, or a whole directory folded into one link).
    Link {
        /// Index into the members.
        member: usize,
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

/// The directories above `path`, outermost first.
pub(crate) fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(move |(i, _)| &path[..i])
}

/// Whether `path` is `dir` or lies below it (`dir` empty: the whole view).
pub(crate) fn at_or_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || (path.starts_with(dir)
            && (path.len() == dir.len() || path.as_bytes()[dir.len()] == b'/'))
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

/// Who has something below a directory.
#[derive(Debug, Clone, Copy)]
struct Owners {
    first: usize,
    shared: bool,
}

/// Plan a generation from `members`. Returns every conflict at once, or the plan.
pub fn plan(members: &[Member], options: &Options) -> Result<Plan> {
    match plan_region(members, options, "") {
        Ok(entries) => Ok(Plan { entries }),
        Err(conflicts) => Err(Error::Conflicts(conflicts)),
    }
}

/// Plan the part of a view at or below `region` ("" is the whole view); the
/// directories above it are real and stay so. Paths of `members` outside the
/// region are not considered.
pub(crate) fn plan_region(
    members: &[Member],
    options: &Options,
    region: &str,
) -> std::result::Result<BTreeMap<String, Node>, Vec<Conflict>> {
    // path -> members shipping a file there
    let mut files: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    // dir (at or below the region) -> members with something linked below it
    let mut dirs: BTreeMap<&str, Owners> = BTreeMap::new();
    // dir -> members with an ignored entry below it: such a member's dir never folds
    let mut hidden: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, member) in members.iter().enumerate() {
        for path in &member.paths {
            let path = path.as_str();
            if !at_or_under(path, region) {
                continue;
            }
            let in_region = parents(path).filter(|d| d.len() >= region.len());
            if options.ignored(path) {
                for dir in in_region {
                    let list = hidden.entry(dir).or_default();
                    if list.last() != Some(&index) {
                        list.push(index);
                    }
                }
                continue;
            }
            files.entry(path).or_default().push(index);
            for dir in in_region {
                dirs.entry(dir)
                    .and_modify(|o| o.shared |= o.first != index)
                    .or_insert(Owners {
                        first: index,
                        shared: false,
                    });
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
        if let Some(dir) = dirs.get(path) {
            conflicts.push(Conflict {
                path: path.to_owned(),
                kind: ConflictKind::FileVersusDirectory,
                owners: vec![
                    members[owners[0]].name.clone(),
                    members[dir.first].name.clone(),
                ],
            });
            continue;
        }
        match winner(members, options, path, owners) {
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
        return Err(conflicts);
    }

    // Walk dirs and files together in path order so parents come first.
    let mut all: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    for &dir in dirs.keys() {
        all.insert(dir, None);
    }
    for (&path, &w) in &winners {
        all.insert(path, Some(w));
    }
    let mut entries = BTreeMap::new();
    let mut folded: Option<&str> = None;
    for (path, winner) in all {
        if let Some(f) = folded {
            if at_or_under(path, f) {
                continue;
            }
            folded = None;
        }
        let node = if let Some(member) = winner {
            Node::Link { member }
        } else {
            // A directory below which exactly one member ships anything folds into
            // one link (its single owner means no conflict lies below it either),
            // unless it must stay real or that member has entries hidden below it.
            let owners = dirs[path];
            let hides = hidden.get(path).is_some_and(|h| h.contains(&owners.first));
            if !owners.shared && !hides && !options.always_real(path) {
                folded = Some(path);
                Node::Link {
                    member: owners.first,
                }
            } else {
                Node::Dir
            }
        };
        entries.insert(path.to_owned(), node);
    }
    Ok(entries)
}

/// Which of the members shipping a file at `path` is linked, or `None` for a conflict.
fn winner(members: &[Member], options: &Options, path: &str, owners: &[usize]) -> Option<usize> {
    if owners.len() == 1 {
        return Some(owners[0]);
    }
    if let Some((_, name)) = options
        .prefer
        .iter()
        .find(|(p, n)| p == path && owners.iter().any(|&i| members[i].name == *n))
    {
        return owners.iter().copied().find(|&i| members[i].name == *name);
    }
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
    if at_best[1..]
        .iter()
        .all(|&i| same_content(&members[at_best[0]], &members[i], path))
    {
        Some(at_best[0])
    } else {
        None
    }
}

impl Plan {
    /// The plan as bytes, self-contained: `names[i]` is member `i`'s name.
    pub fn encode(&self, names: &[&str]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 48);
        out.extend_from_slice(ENCODING);
        out.extend_from_slice(names.len().to_string().as_bytes());
        out.push(0);
        for name in names {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
        }
        for (path, node) in &self.entries {
            match node {
                Node::Dir => out.push(b'D'),
                Node::Link { member } => {
                    out.push(b'L');
                    out.extend_from_slice(member.to_string().as_bytes());
                }
            }
            out.push(0);
            out.extend_from_slice(path.as_bytes());
            out.push(0);
        }
        out
    }

    /// Read [`Plan::encode`]'s bytes back: the plan and its members' names.
    /// `None` if the bytes are not such a plan.
    pub fn decode(bytes: &[u8]) -> Option<(Plan, Vec<String>)> {
        let rest = bytes.strip_prefix(ENCODING)?;
        let mut fields = rest.split(|&b| b == 0);
        let count: usize = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
        let mut names = Vec::with_capacity(count);
        for _ in 0..count {
            names.push(String::from_utf8(fields.next()?.to_vec()).ok()?);
        }
        let mut entries = Vec::new();
        while let Some(kind) = fields.next() {
            if kind.is_empty() {
                break; // the trailing separator
            }
            let path = String::from_utf8(fields.next()?.to_vec()).ok()?;
            let node = match kind {
                b"D" => Node::Dir,
                [b'L', index @ ..] => {
                    let member: usize = std::str::from_utf8(index).ok()?.parse().ok()?;
                    if member >= count {
                        return None;
                    }
                    Node::Link { member }
                }
                _ => return None,
            };
            entries.push((path, node));
        }
        Some((
            Plan {
                entries: entries.into_iter().collect(),
            },
            names,
        ))
    }
}

const ENCODING: &[u8] = b"depot-plan-1\0";
