//! Planning a generation: which paths become links, which stay directories,
//! and every conflict, before anything on disk changes.

use std::collections::BTreeMap;

use foldhash::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::glob::{Globs, glob_match};
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
    /// pkg_view's ignore globs (plus `+*`) and the default always-real directories;
    /// no preferences, nothing reserved.
    pub fn defaults() -> Options {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Options {
            ignore: owned(crate::DEFAULT_IGNORES),
            always_real: owned(crate::DEFAULT_ALWAYS_REAL),
            prefer: Vec::new(),
            reserved: Vec::new(),
        }
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
    let mut tree = Tree::default();
    let ignore = Globs::new(&options.ignore);
    for (index, member) in members.iter().enumerate() {
        tree.add_member(index, &member.paths, region, &ignore);
    }
    let mut walk = Walk {
        tree: &tree,
        members,
        options,
        fixed_depth: if region.is_empty() {
            0
        } else {
            region.split('/').count()
        },
        entries: Vec::new(),
        conflicts: Vec::new(),
    };
    let mut path = String::new();
    walk.children(0, &mut path, 0, true);
    if walk.conflicts.is_empty() {
        Ok(walk.entries.into_iter().collect())
    } else {
        Err(walk.conflicts)
    }
}

/// The members' paths as a tree of directories; files hang off their directory.
struct Tree<'a> {
    /// Node 0 is the top of the view.
    nodes: Vec<DirNode<'a>>,
    /// (parent, name) -> child directory.
    index: HashMap<(usize, &'a str), usize>,
}

impl Default for Tree<'_> {
    fn default() -> Self {
        Tree {
            nodes: vec![DirNode::default()],
            index: HashMap::default(),
        }
    }
}

/// An entry of a directory. Several members may ship the same name: the walk
/// merges equal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Child {
    /// A directory node.
    Dir(usize),
    /// A file (or symlink) shipped by a member.
    File(usize),
}

#[derive(Default)]
struct DirNode<'a> {
    children: Vec<(&'a str, Child)>,
    /// The first member with something linked below this path.
    owner: Option<usize>,
    /// Whether other members have something linked below it too.
    shared: bool,
    /// Members with an ignored entry below this path: such a member's directory never folds.
    hidden: Vec<usize>,
}

impl<'a> Tree<'a> {
    fn dir(&mut self, parent: usize, name: &'a str) -> usize {
        if let Some(&child) = self.index.get(&(parent, name)) {
            return child;
        }
        let child = self.nodes.len();
        self.nodes.push(DirNode::default());
        self.nodes[parent].children.push((name, Child::Dir(child)));
        self.index.insert((parent, name), child);
        child
    }

    fn add_member(&mut self, index: usize, paths: &'a [String], region: &str, ignore: &Globs) {
        // The directories of the previous path: consecutive paths mostly share them.
        let mut last: Vec<(&'a str, usize)> = Vec::new();
        for path in paths {
            if !at_or_under(path, region) {
                continue;
            }
            let ignored = ignore.matches(path);
            let (dir, file) = match path.rsplit_once('/') {
                Some((dir, file)) => (Some(dir), file),
                None => (None, path.as_str()),
            };
            let mut node = 0;
            let mut depth = 0;
            for name in dir.into_iter().flat_map(|d| d.split('/')) {
                node = match last.get(depth) {
                    Some(&(n, child)) if n == name => child,
                    _ => {
                        last.truncate(depth);
                        let child = self.dir(node, name);
                        last.push((name, child));
                        child
                    }
                };
                depth += 1;
                let n = &mut self.nodes[node];
                if ignored {
                    if n.hidden.last() != Some(&index) {
                        n.hidden.push(index);
                    }
                } else {
                    match n.owner {
                        None => n.owner = Some(index),
                        Some(o) => n.shared |= o != index,
                    }
                }
            }
            last.truncate(depth);
            if !ignored {
                self.nodes[node].children.push((file, Child::File(index)));
            }
        }
    }
}

/// Walking the tree in order: entries and conflicts.
struct Walk<'a, 't> {
    tree: &'t Tree<'a>,
    members: &'t [Member],
    options: &'t Options,
    /// Entries less deep than this lie above the region: real directories, not planned.
    fixed_depth: usize,
    entries: Vec<(String, Node)>,
    conflicts: Vec<Conflict>,
}

impl Walk<'_, '_> {
    fn names(&self, members: &[usize]) -> Vec<String> {
        members
            .iter()
            .map(|&i| self.members[i].name.clone())
            .collect()
    }

    /// Visit the entries of directory `node` (at `path`, `depth` deep) in name
    /// order; `emit` is false below a conflict, where only more conflicts are
    /// looked for.
    fn children(&mut self, node: usize, path: &mut String, depth: usize, emit: bool) {
        let mut children = self.tree.nodes[node].children.clone();
        // By name, then directories before files, files in member order.
        children.sort_unstable();
        let mut files = Vec::new();
        let mut rest = children.as_slice();
        while let Some(&(name, _)) = rest.first() {
            let same = rest.iter().take_while(|(n, _)| *n == name).count();
            let (group, tail) = rest.split_at(same);
            rest = tail;
            files.clear();
            let mut dir = None;
            for &(_, child) in group {
                match child {
                    Child::Dir(d) => dir = Some(d),
                    Child::File(m) if files.last() != Some(&m) => files.push(m),
                    Child::File(_) => {}
                }
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(name);
            self.visit(&files, dir, path, depth + 1, emit);
            path.truncate(len);
        }
    }

    /// Visit one name: the members shipping a file there, and the directory there.
    fn visit(
        &mut self,
        files: &[usize],
        dir: Option<usize>,
        path: &mut String,
        depth: usize,
        emit: bool,
    ) {
        if depth < self.fixed_depth {
            if let Some(d) = dir {
                self.children(d, path, depth, emit);
            }
            return;
        }
        if depth == 1 && self.options.reserved.iter().any(|r| r == path) {
            self.reserved(files, dir, path);
            return;
        }
        let owner = dir.and_then(|d| self.tree.nodes[d].owner);
        if !files.is_empty() {
            if let (Some(owner), Some(d)) = (owner, dir) {
                self.conflicts.push(Conflict {
                    path: path.clone(),
                    kind: ConflictKind::FileVersusDirectory,
                    owners: self.names(&[files[0], owner]),
                });
                self.children(d, path, depth, false);
            } else if let Some(w) = winner(self.members, self.options, path, files) {
                if emit {
                    self.entries.push((path.clone(), Node::Link { member: w }));
                }
            } else {
                self.conflicts.push(Conflict {
                    path: path.clone(),
                    kind: ConflictKind::File,
                    owners: self.names(files),
                });
            }
            return;
        }
        let (Some(owner), Some(d)) = (owner, dir) else {
            return; // only ignored entries below
        };
        // A directory below which exactly one member ships anything folds into one
        // link (its single owner means no conflict lies below it either), unless it
        // must stay real or that member has entries hidden below it.
        let n = &self.tree.nodes[d];
        if !n.shared && !n.hidden.contains(&owner) && !self.options.always_real(path) {
            if emit {
                self.entries
                    .push((path.clone(), Node::Link { member: owner }));
            }
            return;
        }
        if emit {
            self.entries.push((path.clone(), Node::Dir));
        }
        self.children(d, path, depth, emit);
    }

    /// Every file at or below a reserved top-level name is a conflict.
    fn reserved(&mut self, files: &[usize], dir: Option<usize>, path: &mut String) {
        if !files.is_empty() {
            self.conflicts.push(Conflict {
                path: path.clone(),
                kind: ConflictKind::Reserved,
                owners: self.names(files),
            });
        }
        let Some(d) = dir else { return };
        let mut children = self.tree.nodes[d].children.clone();
        children.sort_unstable();
        let mut rest = children.as_slice();
        while let Some(&(name, _)) = rest.first() {
            let same = rest.iter().take_while(|(n, _)| *n == name).count();
            let (group, tail) = rest.split_at(same);
            rest = tail;
            let files: Vec<usize> = group
                .iter()
                .filter_map(|(_, c)| match c {
                    Child::File(m) => Some(*m),
                    Child::Dir(_) => None,
                })
                .collect();
            let sub = group.iter().find_map(|(_, c)| match c {
                Child::Dir(d) => Some(*d),
                Child::File(_) => None,
            });
            let len = path.len();
            path.push('/');
            path.push_str(name);
            self.reserved(&files, sub, path);
            path.truncate(len);
        }
    }
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
