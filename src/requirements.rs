//! Who needs whom. A run-time dependency is met globally by the installed
//! package it resolved to (pkg_install's `+REQUIRED_BY`), and within each view
//! by the members of that view: a program linked into a view finds its
//! libraries there, so a view whose member needs something no other member
//! provides is broken even if the depot holds a match.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use anyhow::Result;
use pkgdb::{Database, DependencyKind, MemberRow, PackageRow, Queries, ViewQueries};

use crate::package::pattern;

/// A member of a view whose run-time dependency nothing in the view provides.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unmet {
    /// The view.
    pub view: String,
    /// The member that needs it.
    pub member: String,
    /// Its dependency pattern.
    pub pattern: String,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "view {}: {} needs {}, which no other package in the view provides",
            self.view, self.member, self.pattern
        )
    }
}

/// Whether a pattern could match a package of this PKGBASE: true unless it is
/// plain text that does not contain the name (a cheap filter before
/// `pkg_match`; glob and brace patterns are always checked).
fn may_name(pattern: &str, base: &str) -> bool {
    pattern.contains(base) || pattern.contains(['*', '?', '[', '{'])
}

/// The `patterns` of `member` that nothing in `members` satisfies, as unmet
/// dependencies in `view`.
pub fn unmet_patterns<'a>(
    view: &'a str,
    member: &'a str,
    patterns: impl IntoIterator<Item = String> + 'a,
    members: &'a [MemberRow],
) -> impl Iterator<Item = Unmet> + 'a {
    patterns
        .into_iter()
        .filter(|p| !members.iter().any(|m| pattern::pkg_match(p, &m.pkgname)))
        .map(move |pattern| Unmet {
            view: view.to_owned(),
            member: member.to_owned(),
            pattern,
        })
}

/// The run-time dependencies that no member satisfies after a change of `view`
/// from the members `before` to `members`. Only what the change can affect is
/// checked: the dependencies of the members it adds, and those of the other
/// members that a removed package satisfied.
pub fn unmet_after_change<R: ViewQueries + Queries>(
    db: &R,
    view: &str,
    before: &[MemberRow],
    members: &[MemberRow],
) -> Result<Vec<Unmet>> {
    let before: BTreeSet<&str> = before.iter().map(|m| m.pkgname.as_str()).collect();
    let after: BTreeSet<&str> = members.iter().map(|m| m.pkgname.as_str()).collect();
    let removed: Vec<&str> = before
        .iter()
        .copied()
        .filter(|b| !after.contains(b))
        .collect();
    let met = |pattern: &str| after.iter().any(|m| pattern::pkg_match(pattern, m));
    let mut unmet = BTreeSet::new();
    for added in after.iter().filter(|m| !before.contains(**m)) {
        let Some(row) = db.package(added)? else {
            continue;
        };
        let run = db
            .dependencies(row.id)?
            .into_iter()
            .filter(|d| d.kind == DependencyKind::Run)
            .map(|d| d.pattern);
        unmet.extend(unmet_patterns(view, added, run, members));
    }
    if !removed.is_empty()
        && let Some(v) = db.view(view)?
        && let Some(current) = v.current
    {
        let bases: Vec<&str> = removed
            .iter()
            .map(|r| pattern::split_pkgname(r).map_or(*r, |(n, _)| n))
            .collect();
        for (member, dep) in db.member_dependencies(v.id, current)? {
            if !after.contains(member.as_str()) || !bases.iter().any(|b| may_name(&dep, b)) {
                continue;
            }
            let was_met_by_removed = removed.iter().any(|r| pattern::pkg_match(&dep, r));
            if was_met_by_removed && !met(&dep) {
                unmet.insert(Unmet {
                    view: view.to_owned(),
                    member,
                    pattern: dep,
                });
            }
        }
    }
    Ok(unmet.into_iter().collect())
}

/// The error for a view change that would leave dependencies unmet: each one,
/// with the command that adds an installed package providing it.
pub fn unmet_error(db: &Database, unmet: &[Unmet], action: &str) -> Result<anyhow::Error> {
    let installed = db.pkgnames()?;
    let mut msg = format!("{action} would leave dependencies unmet; nothing was changed:");
    for u in unmet {
        msg.push_str("\n  ");
        msg.push_str(&u.to_string());
        match pattern::find_best(&u.pattern, installed.iter().map(String::as_str)) {
            Some(best) => {
                let _ = write!(msg, " (add one: depot view add {} {best})", u.view);
            }
            None => msg.push_str(" (none is installed)"),
        }
    }
    msg.push_str("\npass --force to do it anyway");
    Ok(anyhow::anyhow!(msg))
}

/// Why a package cannot go: who needs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dependant {
    /// The package that needs it.
    pub pkgname: String,
    /// The view in which it does; `None` for the global resolution (`+REQUIRED_BY`).
    pub view: Option<String>,
    /// The dependency pattern.
    pub pattern: String,
}

impl fmt::Display for Dependant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.view {
            Some(view) => write!(
                f,
                "{} needs {} in view {view}, and nothing else there provides it",
                self.pkgname, self.pattern
            ),
            None => write!(
                f,
                "{} needs {}, and no other installed package provides it",
                self.pkgname, self.pattern
            ),
        }
    }
}

/// What deleting the packages in `going` would leave without a dependency:
/// installed packages whose dependency only `going` satisfies, and view members
/// whose dependency only members in `going` satisfy in that view.
pub fn dependants_blocking(db: &Database, going: &[PackageRow]) -> Result<Vec<Dependant>> {
    let names: BTreeSet<&str> = going.iter().map(|p| p.pkgname.as_str()).collect();
    let installed = db.pkgnames()?;
    let remaining: Vec<&str> = installed
        .iter()
        .map(String::as_str)
        .filter(|n| !names.contains(n))
        .collect();
    let mut found = BTreeSet::new();
    for target in going {
        for requirer in db.required_by(target.id)? {
            if names.contains(requirer.as_str()) {
                continue;
            }
            let Some(row) = db.package(&requirer)? else {
                continue;
            };
            for d in db.dependencies(row.id)? {
                if d.kind == DependencyKind::Run
                    && d.resolved.as_deref() == Some(target.pkgname.as_str())
                    && !remaining.iter().any(|r| pattern::pkg_match(&d.pattern, r))
                {
                    found.insert(Dependant {
                        pkgname: requirer.clone(),
                        view: None,
                        pattern: d.pattern,
                    });
                }
            }
        }
    }
    let mut views = BTreeSet::new();
    for target in going {
        views.extend(db.views_holding(target.id)?);
    }
    for view in views {
        let before = crate::linking::current_members(db, &view)?;
        let after: Vec<MemberRow> = before
            .iter()
            .filter(|m| !names.contains(m.pkgname.as_str()))
            .cloned()
            .collect();
        for u in unmet_after_change(db, &view, &before, &after)? {
            found.insert(Dependant {
                pkgname: u.member,
                view: Some(u.view),
                pattern: u.pattern,
            });
        }
    }
    Ok(found.into_iter().collect())
}

/// The packages that need `package`: those whose dependency resolved to it,
/// and the members of each view holding it whose dependency it is the best
/// match for in that view. Sorted, without repeats.
pub fn required_by(db: &Database, package: &PackageRow) -> Result<Vec<String>> {
    let mut out: BTreeSet<String> = db.required_by(package.id)?.into_iter().collect();
    for view in db.views_holding(package.id)? {
        let Some(v) = db.view(&view)? else { continue };
        let Some(current) = v.current else { continue };
        let members: Vec<String> = db
            .members(v.id, current)?
            .into_iter()
            .map(|m| m.pkgname)
            .collect();
        for (member, dep) in db.member_dependencies(v.id, current)? {
            if member != package.pkgname
                && pattern::find_best(&dep, members.iter().map(String::as_str))
                    == Some(package.pkgname.as_str())
            {
                out.insert(member);
            }
        }
    }
    Ok(out.into_iter().collect())
}
