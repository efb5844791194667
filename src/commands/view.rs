//! `depot view ...`: named views with generations.

use std::path::PathBuf;

use anyhow::{Result, bail};
use pkgdb::{MemberRow, Queries, ViewQueries};

use super::ExitStatus;
use crate::cli::ViewCommand;
use crate::install::Context;
use crate::linking::{self, DEFAULT_VIEW};
use crate::output::{self, tell};
use crate::package::pattern;
use crate::requirements;
use crate::settings::Settings;

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
    {
        bail!(
            "{name:?} is not a valid view name: use letters, digits and . _ - +, not starting with a dot"
        );
    }
    Ok(())
}

fn existing_view(ctx: &Context, name: &str) -> Result<pkgdb::ViewRow> {
    match ctx.db.view(name)? {
        Some(v) => Ok(v),
        None if name == DEFAULT_VIEW => bail!(
            "the default view has no generations yet: `depot add` links packages into it, `depot view add default PKG` links installed ones"
        ),
        None => bail!(
            "no view named {name}; `depot view list` shows the views, `depot view create {name}` makes one"
        ),
    }
}

/// Resolve an argument to one installed PKGNAME (exact, else the best match).
fn installed_pkgname(ctx: &Context, spec: &str) -> Result<String> {
    if ctx.db.package(spec)?.is_some() {
        return Ok(spec.to_owned());
    }
    let names = ctx.db.pkgnames()?;
    match pattern::find_best(spec, names.iter().map(String::as_str)) {
        Some(best) => Ok(best.to_owned()),
        None => {
            bail!("{spec}: no such package installed (install it with `depot add --no-view` first)")
        }
    }
}

/// Members for a one-line listing: all of a small view, a count for a large one.
fn summary(members: &[String]) -> String {
    match members {
        [first, .., last] if members.len() > 6 => {
            format!("{} packages: {first} ... {last}", members.len())
        }
        _ => members.join(" "),
    }
}

/// Bytes as a short human-readable size (`812 B`, `4.1 KiB`, `1.3 MiB`).
#[expect(clippy::cast_precision_loss, reason = "one decimal is shown")]
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: &[&str] = &["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn base(pkgname: &str) -> &str {
    pattern::split_pkgname(pkgname).map_or(pkgname, |(n, _)| n)
}

/// Refuse a change that leaves a member of `view` needing what no other member
/// provides, unless forced (then warn).
fn check_dependencies(
    ctx: &Context,
    view: &str,
    before: &[MemberRow],
    members: &[MemberRow],
    force: bool,
) -> Result<()> {
    let unmet = requirements::unmet_after_change(&ctx.db, view, before, members)?;
    if unmet.is_empty() {
        return Ok(());
    }
    if force {
        for u in &unmet {
            output::caution!("{u} (--force)");
        }
        return Ok(());
    }
    Err(requirements::unmet_error(
        &ctx.db,
        &unmet,
        &format!("this change to view {view}"),
    )?)
}

/// Make a new generation of `view` with `members` and switch to it.
pub fn change(ctx: &mut Context, view: &str, members: Vec<MemberRow>, reason: &str) -> Result<i64> {
    let prepared = linking::prepare(&ctx.settings, &ctx.db, view, members, None, reason)?;
    let number = prepared.commit(&mut ctx.db, &ctx.settings, |_| Ok(()))?;
    crate::profile::phase("recorded and switched");
    Ok(number)
}

/// Run `depot view ...`.
pub fn run(settings: Settings, command: &ViewCommand) -> Result<ExitStatus> {
    // Listing and checking only read: no lock, no write access needed, never
    // refused while a writer runs.
    let reads_only = matches!(
        command,
        ViewCommand::List { .. }
            | ViewCommand::Audit { .. }
            | ViewCommand::Generations { .. }
            | ViewCommand::Check { repair: false, .. }
    );
    let mut ctx = if reads_only {
        Context::reader(settings)?
    } else {
        let mut ctx = Context::writer(settings)?;
        // A view change writes a few pages: leave the checkpoint to a later
        // writer while the WAL is small.
        ctx.db.defer_small_checkpoint();
        ctx
    };
    crate::profile::phase("database open and locked");
    match command {
        ViewCommand::Audit { name, options } => {
            return super::audit::view(&ctx.settings, &ctx.db, name, options);
        }
        ViewCommand::List { json } => {
            let views = ctx.db.views()?;
            let mut listed = Vec::new();
            for v in views {
                let members = match v.current {
                    Some(n) => ctx.db.members(v.id, n)?,
                    None => Vec::new(),
                };
                let names: Vec<String> = members.iter().map(|m| m.pkgname.clone()).collect();
                listed.push((v, names));
            }
            if *json {
                let out: Vec<serde_json::Value> = listed
                    .iter()
                    .map(|(v, names)| {
                        serde_json::json!({
                            "name": v.name,
                            "generation": v.current,
                            "path": linking::view_link(&ctx.settings, &v.name).display().to_string(),
                            "packages": names,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(0);
            }
            if listed.is_empty() {
                println!(
                    "no views yet (`depot view create NAME` makes one; `depot add` fills the default view)"
                );
            }
            for (v, names) in listed {
                println!(
                    "{:<12} generation {:<4} {}",
                    v.name,
                    v.current.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                    summary(&names)
                );
            }
        }
        ViewCommand::Create { name } => {
            check_name(name)?;
            if ctx.db.view(name)?.is_some() || name == DEFAULT_VIEW {
                bail!("view {name} already exists");
            }
            change(&mut ctx, name, Vec::new(), "create")?;
            tell!(
                "created view {name} at {}",
                linking::view_link(&ctx.settings, name).display()
            );
        }
        ViewCommand::Delete { name } => {
            if name == DEFAULT_VIEW {
                bail!("the default view cannot be deleted; remove its packages instead");
            }
            let v = existing_view(&ctx, name)?;
            ctx.db.transaction(|tx| tx.delete_view(v.id))?;
            let link = linking::view_link(&ctx.settings, name);
            let _ = fs_err::remove_file(&link);
            linking::remove_tree(&linking::generations_dir(&ctx.settings, name))?;
            tell!("deleted view {name}; its packages stay in the depot");
        }
        ViewCommand::Add {
            name,
            packages,
            priority,
            force,
        } => {
            if name != DEFAULT_VIEW {
                existing_view(&ctx, name)?;
            }
            let mut members = linking::current_members(&ctx.db, name)?;
            let before = members.clone();
            let mut added = Vec::new();
            for spec in packages {
                let pkgname = installed_pkgname(&ctx, spec)?;
                if members.iter().any(|m| m.pkgname == pkgname) {
                    tell!("{pkgname} is already in view {name}");
                    continue;
                }
                if let Some(other) = members.iter().find(|m| base(&m.pkgname) == base(&pkgname)) {
                    bail!(
                        "view {name} already holds {}; a view holds one version of each package. Swap them with:\n  depot view switch {name} {} {pkgname}",
                        other.pkgname,
                        other.pkgname
                    );
                }
                members.push(MemberRow::new(pkgname.clone(), priority.unwrap_or(0)));
                added.push(pkgname);
            }
            if !added.is_empty() {
                check_dependencies(&ctx, name, &before, &members, *force)?;
                let n = change(&mut ctx, name, members, &format!("add {}", added.join(" ")))?;
                tell!("view {name}: generation {n} adds {}", added.join(" "));
            }
        }
        ViewCommand::Remove {
            name,
            packages,
            force,
        } => {
            let v = existing_view(&ctx, name)?;
            let mut members = linking::current_members(&ctx.db, &v.name)?;
            let before = members.clone();
            let mut removed = Vec::new();
            for spec in packages {
                let before = members.len();
                members.retain(|m| {
                    let hit = m.pkgname == *spec || pattern::pkg_match(spec, &m.pkgname);
                    if hit {
                        removed.push(m.pkgname.clone());
                    }
                    !hit
                });
                if members.len() == before {
                    bail!("{spec} is not in view {name}");
                }
            }
            check_dependencies(&ctx, name, &before, &members, *force)?;
            let n = change(
                &mut ctx,
                name,
                members,
                &format!("remove {}", removed.join(" ")),
            )?;
            tell!("view {name}: generation {n} removes {}", removed.join(" "));
        }
        ViewCommand::Switch {
            name,
            old,
            new,
            force,
        } => {
            let v = existing_view(&ctx, name)?;
            let mut members = linking::current_members(&ctx.db, &v.name)?;
            let before = members.clone();
            let new_name = installed_pkgname(&ctx, new)?;
            let Some(slot) = members
                .iter_mut()
                .find(|m| m.pkgname == *old || pattern::pkg_match(old, &m.pkgname))
            else {
                bail!("{old} is not in view {name}");
            };
            let old_name = std::mem::replace(&mut slot.pkgname, new_name.clone());
            slot.package_id = None;
            check_dependencies(&ctx, name, &before, &members, *force)?;
            let n = change(
                &mut ctx,
                name,
                members,
                &format!("switch {old_name} {new_name}"),
            )?;
            tell!("view {name}: generation {n} has {new_name} instead of {old_name}");
        }
        ViewCommand::Generations { name, json } => {
            let v = existing_view(&ctx, name)?;
            let mut listed = Vec::new();
            for g in ctx.db.generations(v.id)? {
                let members: Vec<String> = ctx
                    .db
                    .members(v.id, g.number)?
                    .into_iter()
                    .map(|m| m.pkgname)
                    .collect();
                listed.push((g, members));
            }
            if *json {
                let out: Vec<serde_json::Value> = listed
                    .iter()
                    .map(|(g, members)| {
                        serde_json::json!({
                            "number": g.number,
                            "current": Some(g.number) == v.current,
                            "parent": g.parent,
                            "created": g.created,
                            "reason": g.reason,
                            "inodes": g.inodes,
                            "bytes": g.bytes,
                            "packages": members,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(0);
            }
            for (g, members) in listed {
                println!(
                    "{} {:>4}  parent {:<4} {:>9} {:>9}  {:<30} {}",
                    if Some(g.number) == v.current {
                        "*"
                    } else {
                        " "
                    },
                    g.number,
                    g.parent.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                    g.inodes
                        .map_or_else(|| "?".to_owned(), |n| format!("{n} inodes")),
                    g.bytes.map_or_else(|| "?".to_owned(), human_bytes),
                    g.reason,
                    summary(&members)
                );
            }
        }
        ViewCommand::Rollback { name, to } => {
            let v = existing_view(&ctx, name)?;
            let gens = ctx.db.generations(v.id)?;
            let current = v.current.and_then(|c| gens.iter().find(|g| g.number == c));
            let target = match (to, current) {
                (Some(n), _) => *n,
                (None, Some(g)) => match g.parent {
                    Some(p) => p,
                    None => bail!(
                        "generation {} of view {name} has no parent to roll back to",
                        g.number
                    ),
                },
                (None, None) => bail!("view {name} has no current generation"),
            };
            if !gens.iter().any(|g| g.number == target) {
                let kept: Vec<String> = gens.iter().map(|g| g.number.to_string()).collect();
                bail!(
                    "view {name} has no generation {target}; kept generations: {}",
                    kept.join(" ")
                );
            }
            let dir: PathBuf =
                linking::generations_dir(&ctx.settings, name).join(target.to_string());
            if !dir.is_dir() {
                bail!(
                    "generation {target} of view {name} is missing on disk ({}); it cannot be restored",
                    dir.display()
                );
            }
            ctx.db.transaction(|tx| tx.set_current(v.id, target))?;
            let top = linking::top_level_of(&ctx.settings, name, target);
            linking::switch_to(&ctx.settings, name, target, &top)?;
            output::detail!(
                "view {name}: generation {target} is live: {} top-level entries, in {}",
                top.len(),
                dir.display()
            );
            tell!("view {name}: back at generation {target}");
        }
        ViewCommand::Check { name, repair } => {
            let problems = linking::check(&ctx.settings, &ctx.db, name)?;
            if problems.is_empty() {
                ctx.finish();
                println!("view {name}: matches its plan");
                return Ok(0);
            }
            for p in &problems {
                println!("{p}");
            }
            if !repair {
                println!(
                    "`depot view check --repair {name}` writes a fresh generation from the plan"
                );
                return Ok(1);
            }
            // Generations are immutable: the repair is a new one, planned from scratch.
            let members = linking::current_members(&ctx.db, name)?;
            let prepared = linking::prepare_fresh(&ctx.settings, &ctx.db, name, members, "repair")?;
            let number = prepared.commit(&mut ctx.db, &ctx.settings, |_| Ok(()))?;
            tell!("view {name}: repaired as generation {number}");
        }
        ViewCommand::Priority {
            name,
            package,
            priority,
        } => {
            let mut members = linking::current_members(&ctx.db, name)?;
            let Some(m) = members
                .iter_mut()
                .find(|m| m.pkgname == *package || pattern::pkg_match(package, &m.pkgname))
            else {
                bail!("{package} is not in view {name}");
            };
            m.priority = *priority;
            let pkgname = m.pkgname.clone();
            let n = change(
                &mut ctx,
                name,
                members,
                &format!("priority {pkgname} {priority}"),
            )?;
            tell!("view {name}: generation {n} gives {pkgname} priority {priority}");
        }
        ViewCommand::Prefer {
            name,
            path,
            package,
        } => {
            let pkgname = installed_pkgname(&ctx, package)?;
            let v = match ctx.db.view(name)? {
                Some(v) => v,
                None if name == DEFAULT_VIEW => {
                    bail!("the default view has no packages yet");
                }
                None => existing_view(&ctx, name)?,
            };
            let mut prefs = ctx.db.view_settings(v.id, "prefer")?;
            prefs.retain(|p| !p.starts_with(&format!("{path}\t")));
            prefs.push(format!("{path}\t{pkgname}"));
            let members = linking::current_members(&ctx.db, name)?;
            let prepared = linking::prepare_with_setting(
                &ctx.settings,
                &ctx.db,
                name,
                members,
                "prefer",
                &prefs,
                &format!("prefer {path} {pkgname}"),
            )?;
            prepared.commit(&mut ctx.db, &ctx.settings, |tx| {
                tx.set_view_settings(v.id, "prefer", &prefs)
            })?;
            tell!("view {name}: {path} now comes from {pkgname}");
        }
        ViewCommand::Keep { name, count } => {
            let v = match ctx.db.view(name)? {
                Some(v) => v,
                None => existing_view(&ctx, name)?,
            };
            ctx.db
                .transaction(|tx| tx.set_view_settings(v.id, "keep", &[count.to_string()]))?;
            linking::prune(&ctx.settings, &mut ctx.db, name)?;
            tell!(
                "view {name}: keeps its {count} newest generation(s), its current one and that one's parent"
            );
        }
        ViewCommand::Ignore { name, globs } => {
            let v = match ctx.db.view(name)? {
                Some(v) => v,
                None => existing_view(&ctx, name)?,
            };
            let mut all = ctx.db.view_settings(v.id, "ignore")?;
            all.extend(globs.iter().cloned());
            let members = linking::current_members(&ctx.db, name)?;
            let prepared = linking::prepare_with_setting(
                &ctx.settings,
                &ctx.db,
                name,
                members,
                "ignore",
                &all,
                &format!("ignore {}", globs.join(" ")),
            )?;
            prepared.commit(&mut ctx.db, &ctx.settings, |tx| {
                tx.set_view_settings(v.id, "ignore", &all)
            })?;
            tell!("view {name}: ignoring {}", all.join(" "));
        }
    }
    ctx.finish();
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn large_views_list_as_a_count() {
        let few: Vec<String> = (0..3).map(|i| format!("p{i}-1.0")).collect();
        assert_eq!(summary(&few), "p0-1.0 p1-1.0 p2-1.0");
        let many: Vec<String> = (0..1000).map(|i| format!("p{i}-1.0")).collect();
        assert_eq!(summary(&many), "1000 packages: p0-1.0 ... p999-1.0");
    }
}
