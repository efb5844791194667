//! Planning a generation: which paths become links, which stay directories,
//! and every conflict, before anything on disk changes.

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

/// A planned generation: every path in it (relative to the view) and what it
/// is, in byte order of the paths (so parents come before their children).
///
/// The paths are kept back to back in one buffer: a plan as large as the view
/// is read, carried over, written and freed without an allocation per path
/// (a change of a 32,000-link view handles every one of its paths).
#[derive(Clone, Default)]
pub struct Plan {
    /// Where the paths are: a plan read from bytes keeps all of those bytes.
    text: String,
    /// Each entry's path (a range of `text`) and node, in path order.
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    end: usize,
    node: Node,
}

impl Plan {
    /// How many entries.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the plan has no entries.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn path(&self, slot: &Slot) -> &str {
        &self.text[slot.start..slot.end]
    }

    /// The entries, in path order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, Node)> + ExactSizeIterator + '_ {
        self.slots.iter().map(|s| (self.path(s), s.node))
    }

    /// The paths, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.slots.iter().map(|s| self.path(s))
    }

    /// What `path` is, if the plan has it.
    pub fn get(&self, path: &str) -> Option<Node> {
        self.position(path).ok().map(|i| self.slots[i].node)
    }

    /// Where `path` is (`Ok`), or would go (`Err`), in the entries.
    fn position(&self, path: &str) -> std::result::Result<usize, usize> {
        self.slots.binary_search_by(|s| self.path(s).cmp(path))
    }

    /// Add an entry after all the others; `path` must sort after them.
    fn push(&mut self, path: &str, node: Node) {
        debug_assert!(self.slots.last().is_none_or(|s| self.path(s) < path));
        let start = self.text.len();
        self.text.push_str(path);
        self.slots.push(Slot {
            start,
            end: self.text.len(),
            node,
        });
    }

    /// A plan of these entries, in any order (for a path given twice, the last wins).
    pub fn from_entries(mut entries: Vec<(String, Node)>) -> Plan {
        // Stable, so that the last of equal paths stays last.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut plan = Plan {
            text: String::with_capacity(entries.iter().map(|(p, _)| p.len()).sum()),
            slots: Vec::with_capacity(entries.len()),
        };
        let mut i = 0;
        while i < entries.len() {
            let mut last = i;
            while last + 1 < entries.len() && entries[last + 1].0 == entries[i].0 {
                last += 1;
            }
            plan.push(&entries[last].0, entries[last].1);
            i = last + 1;
        }
        plan
    }

    /// This plan with the entries at or below each of `regions` cut out and
    /// `replace` (at or below those regions, in any order) put in, each link's
    /// member renumbered by `renumber` first (`None`: a link to a member that is
    /// gone, which is returned as an error naming the path).
    pub(crate) fn splice(
        &self,
        regions: &[&str],
        replace: &Plan,
        renumber: impl Fn(usize) -> Option<usize>,
    ) -> std::result::Result<Plan, String> {
        let mut regions = regions.to_vec();
        regions.sort_unstable();
        regions.dedup();
        let mut out = Plan {
            text: String::with_capacity(self.text.len()),
            slots: Vec::with_capacity(self.slots.len() + replace.len()),
        };
        // The paths with a given prefix are contiguous in path order: `open`
        // holds the regions that are prefixes of the current path, and
        // `next` walks the sorted regions alongside the paths.
        let whole = regions.first() == Some(&"");
        let mut open: Vec<&str> = Vec::new();
        let mut next = 0;
        let mut kept = self
            .iter()
            .filter(|&(path, _)| {
                if whole {
                    return false;
                }
                while open.last().is_some_and(|r| !path.starts_with(r)) {
                    open.pop();
                }
                let mut cut = open.iter().any(|r| at_or_under(path, r));
                while regions.get(next).is_some_and(|r| *r < path) {
                    next += 1;
                }
                if regions.get(next) == Some(&path) {
                    cut = true;
                    open.push(regions[next]);
                    next += 1;
                }
                !cut
            })
            .peekable();
        let mut new = replace.iter().peekable();
        loop {
            let take_kept = match (kept.peek(), new.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((a, _)), Some((b, _))) => a < b,
            };
            if take_kept {
                let Some((path, node)) = kept.next() else {
                    break;
                };
                let node = match node {
                    Node::Dir => Node::Dir,
                    Node::Link { member } => Node::Link {
                        member: renumber(member).ok_or_else(|| path.to_owned())?,
                    },
                };
                out.push(path, node);
            } else if let Some((path, node)) = new.next() {
                out.push(path, node);
            }
        }
        Ok(out)
    }

    /// The same plan with each link's member mapped by `f`.
    pub(crate) fn renumbered(mut self, f: impl Fn(usize) -> usize) -> Plan {
        for slot in &mut self.slots {
            if let Node::Link { member } = &mut slot.node {
                *member = f(*member);
            }
        }
        self
    }
}

impl PartialEq for Plan {
    fn eq(&self, other: &Plan) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Plan {}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(String, Node)> for Plan {
    fn from_iter<I: IntoIterator<Item = (String, Node)>>(iter: I) -> Plan {
        Plan::from_entries(iter.into_iter().collect())
    }
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
        Ok(plan) => Ok(plan),
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
) -> std::result::Result<Plan, Vec<Conflict>> {
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
        Ok(Plan::from_entries(walk.entries))
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
    ///
    /// The format: a header, the member count and names, then each entry as a
    /// kind (`D`, or `L` and the member index) and its path, every field ended by
    /// a NUL, and a trailer with the entry count, so that a file cut short is
    /// refused rather than read as a smaller plan.
    pub fn encode(&self, names: &[&str]) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            ENCODING.len() + 16 + names.iter().map(|n| n.len() + 1).sum::<usize>(),
        );
        out.extend_from_slice(ENCODING);
        out.extend_from_slice(names.len().to_string().as_bytes());
        out.push(0);
        for name in names {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
        }
        out.reserve(self.text.len() + self.slots.len() * 4);
        let mut digits = itoa_buffer();
        for (path, node) in self.iter() {
            match node {
                Node::Dir => out.push(b'D'),
                Node::Link { member } => {
                    out.push(b'L');
                    out.extend_from_slice(format_index(&mut digits, member));
                }
            }
            out.push(0);
            out.extend_from_slice(path.as_bytes());
            out.push(0);
        }
        out.push(b'E');
        out.extend_from_slice(self.slots.len().to_string().as_bytes());
        out.push(0);
        out
    }

    /// Read [`Plan::encode`]'s bytes back: the plan and its members' names.
    /// `None` if the bytes are not such a plan, or not one that can be written
    /// safely: every path must be relative and plain (no empty, `.` or `..`
    /// component), in strictly increasing order, and below a directory of the
    /// plan (never below a link), and every link must name a member. The plan
    /// keeps `bytes` and points into them.
    pub fn decode(bytes: Vec<u8>) -> Option<(Plan, Vec<String>)> {
        if !bytes.starts_with(ENCODING) {
            return None;
        }
        let text = String::from_utf8(bytes).ok()?;
        let (slots, names) = Self::index(&text)?;
        Some((Plan { text, slots }, names))
    }

    /// The slots and member names of encoded `text`, checked as [`Plan::decode`] says.
    fn index(text: &str) -> Option<(Vec<Slot>, Vec<String>)> {
        let mut at = ENCODING.len();
        let bytes = text.as_bytes();
        let mut field = || -> Option<(usize, usize)> {
            let len = find_byte(0, bytes.get(at..)?)?;
            let range = (at, at + len);
            at += len + 1;
            Some(range)
        };
        let (s, e) = field()?;
        let count: usize = text[s..e].parse().ok()?;
        let mut names = Vec::with_capacity(count.min(text.len()));
        for _ in 0..count {
            let (s, e) = field()?;
            names.push(text[s..e].to_owned());
        }
        // About 20 bytes an entry in practice (kind, path and two NULs).
        let mut slots: Vec<Slot> = Vec::with_capacity(text.len() / 20);
        let mut dirs: foldhash::HashSet<&str> = foldhash::HashSet::default();
        let mut previous = "";
        let mut last_parent: Option<&str> = None;
        loop {
            let (ks, ke) = field()?;
            let kind = &text[ks..ke];
            if let Some(total) = kind.strip_prefix('E') {
                // The trailer ends the text.
                let total: usize = total.parse().ok()?;
                return (total == slots.len() && ke + 1 == text.len()).then_some((slots, names));
            }
            let (start, end) = field()?;
            let path = &text[start..end];
            if (!slots.is_empty() && previous >= path) || !plain_relative(path) {
                return None;
            }
            previous = path;
            let parent = path.rsplit_once('/').map(|(p, _)| p);
            if parent != last_parent {
                if parent.is_some_and(|p| !dirs.contains(p)) {
                    return None;
                }
                last_parent = parent;
            }
            let node = match kind.as_bytes() {
                b"D" => {
                    dirs.insert(path);
                    Node::Dir
                }
                [b'L', index @ ..] => {
                    let member: usize = std::str::from_utf8(index).ok()?.parse().ok()?;
                    if member >= count {
                        return None;
                    }
                    Node::Link { member }
                }
                _ => return None,
            };
            slots.push(Slot { start, end, node });
        }
    }
}

/// Where `needle` first is in `haystack`.
///
/// The portable word-at-a-time search, not `memchr::memchr`: the fields of a plan
/// are short, and the SIMD search asks the CPU for its features on first use
/// (`cpuid`, which a hypervisor traps: about 80 us of a one-package view change
/// on a cold virtual machine, more than the search itself ever saves here).
fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    memchr::arch::all::memchr::One::new(needle).find(haystack)
}

/// Whether `path` is relative with no empty, `.` or `..` component.
fn plain_relative(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut start = 0;
    let slash = memchr::arch::all::memchr::One::new(b'/');
    for end in slash.iter(bytes).chain(std::iter::once(bytes.len())) {
        match &bytes[start..end] {
            b"" | b"." | b".." => return false,
            _ => start = end + 1,
        }
    }
    true
}

/// A buffer for [`format_index`].
fn itoa_buffer() -> [u8; 20] {
    [0; 20]
}

/// `n` in decimal, without an allocation.
fn format_index(buf: &mut [u8; 20], mut n: usize) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

const ENCODING: &[u8] = b"depot-plan-2\0";

#[cfg(test)]
mod tests {
    use super::{Node, Plan};

    fn sample() -> Plan {
        Plan::from_entries(
            [
                ("bin", Node::Dir),
                ("bin/a", Node::Link { member: 0 }),
                ("bin/b", Node::Link { member: 1 }),
                ("share", Node::Link { member: 1 }),
            ]
            .into_iter()
            .map(|(p, n)| (p.to_owned(), n))
            .collect(),
        )
    }

    /// Encoded text with `from` replaced by `to`.
    fn tampered(from: &str, to: &str) -> Vec<u8> {
        let bytes = sample().encode(&["a-1", "b-1"]);
        String::from_utf8_lossy(&bytes)
            .replace(from, to)
            .into_bytes()
    }

    #[test]
    fn a_plan_reads_back_as_written() {
        let names = vec!["a-1".to_owned(), "b-1".to_owned()];
        let decoded = Plan::decode(sample().encode(&["a-1", "b-1"]));
        assert_eq!(decoded, Some((sample(), names)));
    }

    #[test]
    fn a_plan_cut_short_is_refused() {
        let bytes = sample().encode(&["a-1", "b-1"]);
        for len in 0..bytes.len() {
            assert_eq!(Plan::decode(bytes[..len].to_vec()), None, "cut at {len}");
        }
    }

    #[test]
    fn a_plan_that_would_write_outside_its_tree_is_refused() {
        // A path climbing out, an absolute one, an empty component.
        assert_eq!(Plan::decode(tampered("bin/b\0", "../b\0")), None);
        assert_eq!(Plan::decode(tampered("bin/b\0", "/b\0\0")), None);
        assert_eq!(Plan::decode(tampered("bin/b\0", "bin//\0")), None);
        // Below a link (the link's target would get the entry).
        assert_eq!(Plan::decode(tampered("bin/b\0", "share/b\0")), None);
        // Below a directory the plan does not have.
        assert_eq!(Plan::decode(tampered("bin/b\0", "lib/b\0")), None);
        // Out of order, and a member that does not exist.
        assert_eq!(Plan::decode(tampered("bin/b\0", "bin/0\0")), None);
        assert_eq!(Plan::decode(tampered("L1\0bin/b", "L2\0bin/b")), None);
        // The untouched bytes still read.
        assert!(Plan::decode(tampered("", "")).is_some());
    }
}
