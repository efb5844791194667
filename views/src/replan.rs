//! Planning a generation from the previous one: only the parts of the view a
//! change touches are planned again; everything else is carried over.
//!
//! A change adds members, removes members, gives members a new priority, or
//! changes the preference for some paths. Starting at the top, a directory that
//! stays real is descended into only along the touched paths; a path that is a
//! link or absent in the previous plan (or a directory left with one owner) is
//! planned again as a region, from the paths of just the members involved
//! there. The result is the plan [`crate::plan()`] would make from scratch; the
//! property tests hold it to that.

use std::collections::{BTreeMap, BTreeSet};

use crate::glob::Globs;
use crate::plan::{Conflict, ConflictKind, Member, Node, Options, Plan, at_or_under, plan_region};
use crate::{Error, Result};

/// An error from a [`Catalog`].
pub type CatalogError = Box<dyn std::error::Error + Send + Sync>;

/// What the caller (the package database) knows about the members of the new
/// generation, by index into its members. Answers may include members whose
/// paths were handed over in memory; those are ignored.
pub trait Catalog {
    /// The entries (files and symlinks) of `member` at or below `dir`.
    fn paths_under(&self, member: usize, dir: &str) -> Result<Vec<String>, CatalogError>;
    /// The members that ship an entry at exactly `path`.
    fn shippers(&self, path: &str) -> Result<Vec<usize>, CatalogError>;
    /// Calls `visit(member, path)` for entries strictly below `dir`, until it returns false.
    fn visit_under(
        &self,
        dir: &str,
        visit: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Result<(), CatalogError>;
}

/// A catalog over members whose paths are all in memory (tests, benchmarks,
/// callers without a database).
#[derive(Debug, Clone, Copy)]
pub struct InMemory<'a>(pub &'a [Member]);

impl Catalog for InMemory<'_> {
    fn paths_under(&self, member: usize, dir: &str) -> Result<Vec<String>, CatalogError> {
        Ok(self.0[member]
            .paths
            .iter()
            .filter(|p| at_or_under(p, dir))
            .cloned()
            .collect())
    }

    fn shippers(&self, path: &str) -> Result<Vec<usize>, CatalogError> {
        Ok((0..self.0.len())
            .filter(|&i| self.0[i].paths.iter().any(|p| p == path))
            .collect())
    }

    fn visit_under(
        &self,
        dir: &str,
        visit: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Result<(), CatalogError> {
        for (i, m) in self.0.iter().enumerate() {
            for p in &m.paths {
                if p.len() > dir.len() && at_or_under(p, dir) && !visit(i, p) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// The generation a change starts from. The new plan is its plan with the
/// regions planned again swapped in and the links renumbered, in one pass over
/// its entries (a copy of their bytes, no allocation per path).
#[derive(Debug, Clone)]
pub struct Previous<'a> {
    /// Its plan.
    pub plan: Plan,
    /// Its members' names, indexed as the plan's links are.
    pub members: &'a [String],
}

/// What changed since the previous generation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Change<'a> {
    /// Members of the new generation whose `paths` are filled in: new ones and
    /// ones with a new priority. The others' paths are looked up in the catalog.
    pub changed: &'a [usize],
    /// Members of the previous generation that are gone, with their paths.
    pub removed: &'a [Member],
    /// Paths whose preference changed.
    pub paths: &'a [String],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Was {
    Dir,
    /// A link to a member of the new generation, or to a removed one.
    Link(Option<usize>),
}

/// Plan the generation holding `members` from `previous` and `change`.
pub fn replan(
    previous: &Previous<'_>,
    members: &[Member],
    change: Change<'_>,
    catalog: &dyn Catalog,
    options: &Options,
) -> Result<Plan> {
    let index: BTreeMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    let old_to_new: Vec<Option<usize>> = previous
        .members
        .iter()
        .map(|n| index.get(n.as_str()).copied())
        .collect();
    let mut changed_paths: Vec<Vec<&str>> = vec![Vec::new(); members.len()];
    for &i in change.changed {
        let mut paths: Vec<&str> = members[i].paths.iter().map(String::as_str).collect();
        paths.sort_unstable();
        changed_paths[i] = paths;
    }
    let mut removed_paths: Vec<&str> = change
        .removed
        .iter()
        .flat_map(|m| m.paths.iter().map(String::as_str))
        .collect();
    removed_paths.sort_unstable();
    removed_paths.dedup();
    let mut touched: Vec<&str> = removed_paths.clone();
    for paths in &changed_paths {
        touched.extend(paths.iter().copied());
    }
    touched.extend(change.paths.iter().map(String::as_str));
    touched.sort_unstable();
    touched.dedup();

    let mut replanner = Replanner {
        members,
        options,
        catalog,
        previous: &previous.plan,
        old_to_new: &old_to_new,
        changed: change.changed,
        is_changed: {
            let mut mask = vec![false; members.len()];
            for &i in change.changed {
                mask[i] = true;
            }
            mask
        },
        ignore: Globs::new(&options.ignore),
        changed_paths: &changed_paths,
        removed_paths: &removed_paths,
        regions: Vec::new(),
        conflicts: Vec::new(),
    };
    replanner.descend("", &touched)?;
    if !replanner.conflicts.is_empty() {
        return Err(Error::Conflicts(replanner.conflicts));
    }

    // The new plan is the previous one with each region planned again cut out
    // (the path and everything below it), the links left renumbered for the
    // new members, and the regions' new entries merged in.
    let regions = replanner.regions;
    let cut: Vec<&str> = regions.iter().map(|(region, _)| region.as_str()).collect();
    let replace = Plan::from_entries(
        regions
            .iter()
            .flat_map(|(_, plan)| plan.iter().map(|(path, node)| (path.to_owned(), node)))
            .collect(),
    );
    previous
        .plan
        .splice(&cut, &replace, |member| {
            old_to_new.get(member).copied().flatten()
        })
        .map_err(|path| {
            Error::Io(std::io::Error::other(format!(
                "view plan: {path} still links to a removed member (a bug in depot)"
            )))
        })
}

struct Replanner<'a> {
    members: &'a [Member],
    options: &'a Options,
    catalog: &'a dyn Catalog,
    previous: &'a Plan,
    old_to_new: &'a [Option<usize>],
    changed: &'a [usize],
    /// By member: whether it is in `changed`.
    is_changed: Vec<bool>,
    /// The ignore rules, compiled.
    ignore: Globs,
    changed_paths: &'a [Vec<&'a str>],
    removed_paths: &'a [&'a str],
    /// Regions planned again, in path order: (region, its entries).
    regions: Vec<(String, Plan)>,
    conflicts: Vec<Conflict>,
}

/// The sorted `paths` strictly below `dir` (all of them for the top).
fn below<'p>(paths: &'p [&'p str], dir: &str) -> &'p [&'p str] {
    if dir.is_empty() {
        return paths;
    }
    let prefix = format!("{dir}/");
    let from = paths.partition_point(|p| *p < prefix.as_str());
    let to = from + paths[from..].partition_point(|p| p.starts_with(prefix.as_str()));
    &paths[from..to]
}

impl Replanner<'_> {
    /// What `path` was in the previous plan, its link remapped to the new members.
    fn was(&self, path: &str) -> Option<Was> {
        self.previous.get(path).map(|node| match node {
            Node::Dir => Was::Dir,
            Node::Link { member } => Was::Link(self.old_to_new.get(member).copied().flatten()),
        })
    }

    /// Handle the touched paths at or below `dir`, which was a real directory
    /// (or is the top).
    fn descend(&mut self, dir: &str, touched: &[&str]) -> Result<()> {
        let was = if dir.is_empty() {
            Some(Was::Dir)
        } else {
            self.was(dir)
        };
        match was {
            Some(Was::Dir) => {}
            Some(Was::Link(_)) | None => return self.region(dir, &[]),
        }
        if !dir.is_empty() {
            // A directory that lost members may fold (or vanish).
            if !below(self.removed_paths, dir).is_empty() {
                let owners = self.owners_under(dir, 2)?;
                if owners.len() <= 1 {
                    return self.region(dir, &owners);
                }
            }
        }
        // A new or reprioritised member shipping a file where a directory is.
        for &i in self.changed {
            if self.changed_paths[i].binary_search(&dir).is_ok() && !self.ignore.matches(dir) {
                let owner = self.owners_under(dir, 1)?;
                self.conflicts.push(Conflict {
                    path: dir.to_owned(),
                    kind: ConflictKind::FileVersusDirectory,
                    owners: vec![
                        self.members[i].name.clone(),
                        owner
                            .first()
                            .map_or_else(String::new, |&o| self.members[o].name.clone()),
                    ],
                });
            }
        }
        // Descend along the touched paths, one child at a time.
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for &t in touched {
            let rest = if dir.is_empty() {
                t
            } else if t.len() > dir.len() {
                &t[dir.len() + 1..]
            } else {
                continue;
            };
            let child_len = rest.find('/').unwrap_or(rest.len());
            let child = &t[..t.len() - rest.len() + child_len];
            children.entry(child).or_default().push(t);
        }
        for (child, below) in children {
            self.descend(child, &below)?;
        }
        Ok(())
    }

    /// Up to `limit` members of the new generation with something linked below `dir`.
    fn owners_under(&self, dir: &str, limit: usize) -> Result<Vec<usize>> {
        let mut owners = Vec::new();
        for &i in self.changed {
            if owners.len() >= limit {
                break;
            }
            if below(&self.changed_paths[i], dir)
                .iter()
                .any(|p| !self.ignore.matches(p))
            {
                owners.push(i);
            }
        }
        if owners.len() < limit {
            let (is_changed, ignore) = (&self.is_changed, &self.ignore);
            self.catalog
                .visit_under(dir, &mut |member, path| {
                    if !owners.contains(&member)
                        && !is_changed.get(member).copied().unwrap_or(false)
                        && !ignore.matches(path)
                    {
                        owners.push(member);
                    }
                    owners.len() < limit
                })
                .map_err(Error::Catalog)?;
        }
        Ok(owners)
    }

    /// Plan `region` again from scratch, from the members involved there:
    /// `owners`, whoever the previous plan linked there, whoever ships that very
    /// path, and the changed members.
    fn region(&mut self, region: &str, owners: &[usize]) -> Result<()> {
        let mut involved: BTreeSet<usize> = owners.iter().copied().collect();
        let was = self.was(region);
        if let Some(Was::Link(Some(m))) = was {
            involved.insert(m);
        }
        if was.is_some() {
            involved.extend(self.catalog.shippers(region).map_err(Error::Catalog)?);
        }
        // In member order, as the full planner sees them (ties go to the first).
        involved.extend(self.changed.iter().copied());
        let mut subset = Vec::new();
        let mut back = Vec::new();
        for &i in &involved {
            let paths: Vec<String> = if self.is_changed[i] {
                let own = &self.changed_paths[i];
                let exact = own.binary_search(&region).is_ok().then_some(region);
                exact
                    .into_iter()
                    .chain(below(own, region).iter().copied())
                    .map(str::to_owned)
                    .collect()
            } else {
                self.catalog
                    .paths_under(i, region)
                    .map_err(Error::Catalog)?
            };
            if !paths.is_empty() {
                subset.push(Member {
                    paths,
                    ..self.member_head(i)
                });
                back.push(i);
            }
        }
        match plan_region(&subset, self.options, region) {
            Ok(plan) => {
                let plan = plan.renumbered(|member| back[member]);
                self.regions.push((region.to_owned(), plan));
            }
            Err(conflicts) => self.conflicts.extend(conflicts),
        }
        Ok(())
    }

    fn member_head(&self, i: usize) -> Member {
        let m = &self.members[i];
        Member {
            name: m.name.clone(),
            depot_dir: m.depot_dir.clone(),
            paths: Vec::new(),
            priority: m.priority,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::{Change, InMemory, Previous, replan};
    use crate::Error;
    use crate::plan::{Member, Options, Plan, at_or_under, plan};

    fn options() -> Options {
        Options {
            reserved: vec!["var".to_owned()],
            ..Options::defaults()
        }
    }

    /// A member's paths: no path may also be a directory of another of its paths.
    fn consistent(mut paths: Vec<String>) -> Vec<String> {
        paths.sort();
        paths.dedup();
        let all: BTreeSet<String> = paths.iter().cloned().collect();
        paths
            .into_iter()
            .filter(|p| !all.iter().any(|q| q.len() > p.len() && at_or_under(q, p)))
            .collect()
    }

    fn path() -> impl Strategy<Value = String> {
        let part = prop::sample::select(vec![
            "bin", "lib", "share", "man", "man1", "doc", "a", "b", "x.orig", "+C", "var",
        ]);
        prop::collection::vec(part, 1..4).prop_map(|parts| parts.join("/"))
    }

    fn pool() -> impl Strategy<Value = Vec<(Vec<String>, i64)>> {
        prop::collection::vec((prop::collection::vec(path(), 1..7), 0..40i64), 6)
    }

    /// The members of `pool` that are `chosen`, with their files on disk under
    /// `base`: even-numbered members ship identical content for a path, odd ones
    /// their own.
    fn build(
        base: &std::path::Path,
        pool: &[(Vec<String>, i64)],
        chosen: &[bool],
        bump: &[bool],
    ) -> Vec<Member> {
        pool.iter()
            .enumerate()
            .filter(|(i, _)| chosen[*i])
            .map(|(i, (paths, priority))| {
                let depot_dir = base.join(format!("p{i}"));
                let paths = consistent(paths.clone());
                for p in &paths {
                    let at = depot_dir.join(p);
                    if !at.exists() {
                        if let Some(parent) = at.parent() {
                            fs_err::create_dir_all(parent).expect("make a test depot dir");
                        }
                        let content = if i % 2 == 0 {
                            p.clone()
                        } else {
                            format!("{i} {p}")
                        };
                        fs_err::write(at, content).expect("write a test file");
                    }
                }
                Member {
                    name: format!("p{i}-1.0"),
                    depot_dir,
                    paths,
                    priority: if bump[i] { 50 - priority } else { *priority },
                }
            })
            .collect()
    }

    fn conflict_paths(e: &Error) -> BTreeSet<String> {
        match e {
            Error::Conflicts(c) => c.iter().map(|c| c.path.clone()).collect(),
            other => panic!("not a conflict: {other}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]
        /// Planning a change from the previous plan gives what planning from scratch gives.
        #[test]
        fn replan_equals_plan(
            pool in pool(),
            before in prop::collection::vec(any::<bool>(), 6),
            after in prop::collection::vec(any::<bool>(), 6),
            bump in prop::collection::vec(any::<bool>(), 6),
            prefer in prop::option::of((0..6usize, 0..6usize)),
        ) {
            let options = options();
            let shm = std::path::Path::new("/dev/shm");
            let base = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
            let base = base.map_err(|e| TestCaseError::fail(format!("cannot make a temporary dir: {e}")))?;
            let old = build(base.path(), &pool, &before, &[false; 6]);
            let Ok(previous) = plan(&old, &options) else {
                return Ok(());
            };
            let new = build(base.path(), &pool, &after, &bump);
            // Maybe prefer one member for one of its paths from now on.
            let mut new_options = options.clone();
            let mut preferred = Vec::new();
            if let Some((m, p)) = prefer
                && let Some(member) = new.get(m % new.len().max(1))
                && let Some(path) = member.paths.get(p % member.paths.len().max(1))
            {
                new_options.prefer.push((path.clone(), member.name.clone()));
                preferred.push(path.clone());
            }
            let old_names: Vec<String> = old.iter().map(|m| m.name.clone()).collect();
            // The plan as stored and read back is the plan.
            let name_refs: Vec<&str> = old_names.iter().map(String::as_str).collect();
            let decoded = Plan::decode(previous.encode(&name_refs));
            prop_assert_eq!(decoded, Some((previous.clone(), old_names.clone())));
            let changed: Vec<usize> = new
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    !old.iter().any(|o| o.name == m.name && o.priority == m.priority)
                })
                .map(|(i, _)| i)
                .collect();
            let removed: Vec<Member> = old
                .iter()
                .filter(|o| !new.iter().any(|m| m.name == o.name))
                .cloned()
                .collect();
            // The catalog knows only the kept members; changed ones come in memory.
            let incremental = replan(
                &Previous { plan: previous.clone(), members: &old_names },
                &new,
                Change { changed: &changed, removed: &removed, paths: &preferred },
                &InMemory(&new),
                &new_options,
            );
            let full = plan(&new, &new_options);
            match (incremental, full) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(a), Err(b)) => prop_assert_eq!(conflict_paths(&a), conflict_paths(&b)),
                (a, b) => prop_assert!(false, "incremental {:?} but full {:?}", a.map(|p| p.len()), b.map(|p: Plan| p.len())),
            }
        }
    }
}
