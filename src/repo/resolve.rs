//! The whole dependency closure of what is asked for, resolved from the
//! catalogue before anything is downloaded: each `DEPENDS` pattern is met by
//! an installed package, by one already in the plan, or by the best package
//! the sites offer. Everything that cannot be met is reported at once, each
//! pattern with the package that needs it.

use anyhow::{Result, bail};
use pkgdb::{Database, RemotePackage};

use super::catalog::Catalog;
use crate::package::pattern;

/// A package to download and install.
#[derive(Debug, Clone)]
pub struct Step {
    /// What the site offers.
    pub package: RemotePackage,
    /// Installed only to meet a dependency.
    pub automatic: bool,
}

/// The plan: steps in dependency order, and the installed packages it relies on.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Packages to install, dependencies first.
    pub steps: Vec<Step>,
    /// Installed packages that meet a request or a dependency (they belong in
    /// the view too).
    pub installed_used: Vec<String>,
    /// Requests already met by an installed package: (pattern, package).
    pub already: Vec<(String, String)>,
}

/// Resolve `requests` (patterns) against `installed` PKGNAMEs and the
/// catalogue. With `fresh`, a request is never met by an installed package (an
/// upgrade asks for what is not installed yet).
pub fn resolve(
    catalog: &Catalog,
    db: &Database,
    installed: &[String],
    conflicts: &[(String, String)],
    requests: &[String],
    fresh: bool,
) -> Result<Resolution> {
    let mut out = Resolution::default();
    let mut missing: Vec<(String, String)> = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    for request in requests {
        if !fresh
            && let Some(have) = pattern::find_best(request, installed.iter().map(String::as_str))
        {
            out.already.push((request.clone(), have.to_owned()));
            push_unique(&mut out.installed_used, have);
            continue;
        }
        // Already placed as another request's dependency: asked for now.
        if let Some(step) = out
            .steps
            .iter_mut()
            .find(|s| pattern::pkg_match(request, &s.package.pkgname))
        {
            step.automatic = false;
            continue;
        }
        match catalog.best(db, request, None)? {
            Some(package) => visit(
                catalog,
                db,
                installed,
                package,
                false,
                &mut out,
                &mut missing,
                &mut stack,
            )?,
            None => missing.push((request.clone(), String::new())),
        }
    }
    if !missing.is_empty() {
        let lines: Vec<String> = missing
            .iter()
            .map(|(pattern, by)| {
                if by.is_empty() {
                    format!("  {pattern}: no site offers a package matching it")
                } else {
                    format!("  {pattern}, needed by {by}: no site offers it and nothing installed matches")
                }
            })
            .collect();
        let sites: Vec<&str> = catalog
            .sites
            .iter()
            .map(|(s, _)| s.label.as_str())
            .collect();
        bail!(
            "cannot install: {} pattern{} cannot be met (sites searched: {}); nothing was downloaded or installed\n{}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            sites.join(", "),
            lines.join("\n")
        );
    }
    check_conflicts(&out, installed, conflicts)?;
    Ok(out)
}

fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_owned());
    }
}

/// Depth first: a package's dependencies are placed before it.
#[expect(clippy::too_many_arguments, reason = "the walk's state")]
fn visit(
    catalog: &Catalog,
    db: &Database,
    installed: &[String],
    package: RemotePackage,
    automatic: bool,
    out: &mut Resolution,
    missing: &mut Vec<(String, String)>,
    stack: &mut Vec<String>,
) -> Result<()> {
    if out
        .steps
        .iter()
        .any(|s| s.package.pkgname == package.pkgname)
        || stack.contains(&package.pkgname)
    {
        // Already placed, or a cycle back to a package being placed: its
        // dependencies are met once the cycle is installed.
        return Ok(());
    }
    stack.push(package.pkgname.clone());
    for dep in &package.depends {
        if let Some(have) = pattern::find_best(dep, installed.iter().map(String::as_str)) {
            push_unique(&mut out.installed_used, have);
            continue;
        }
        if out
            .steps
            .iter()
            .any(|s| pattern::pkg_match(dep, &s.package.pkgname))
            || stack.iter().any(|p| pattern::pkg_match(dep, p))
        {
            continue;
        }
        match catalog.best(db, dep, None)? {
            Some(found) => visit(catalog, db, installed, found, true, out, missing, stack)?,
            None => {
                if !missing
                    .iter()
                    .any(|(p, by)| p == dep && *by == package.pkgname)
                {
                    missing.push((dep.clone(), package.pkgname.clone()));
                }
            }
        }
    }
    stack.pop();
    out.steps.push(Step { package, automatic });
    Ok(())
}

/// Conflicts between what is planned and what is installed or planned.
fn check_conflicts(
    out: &Resolution,
    installed: &[String],
    conflicts: &[(String, String)],
) -> Result<()> {
    let mut problems = Vec::new();
    for step in &out.steps {
        let me = &step.package.pkgname;
        let others = installed
            .iter()
            .chain(out.steps.iter().map(|s| &s.package.pkgname))
            .filter(|o| *o != me);
        for other in others {
            for cfl in &step.package.conflicts {
                if pattern::pkg_match(cfl, other) {
                    problems.push(format!("  {me} conflicts with {other} (CONFLICTS={cfl})"));
                }
            }
        }
        for (owner, cfl) in conflicts {
            if pattern::pkg_match(cfl, me) {
                problems.push(format!(
                    "  installed {owner} conflicts with {me} (@pkgcfl {cfl})"
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "cannot install: conflicts; nothing was downloaded or installed\n{}\ndelete the conflicting packages first",
        problems.join("\n")
    )
}
