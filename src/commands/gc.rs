//! `depot gc` and the view check it shares with `depot view check`.

use std::collections::BTreeSet;

use anyhow::Result;
use pkgdb::{Queries, ViewQueries};

use super::ExitStatus;
use crate::cli::GcArgs;
use crate::install::Context;
use crate::linking;
use crate::settings::Settings;

/// Run `depot gc`.
pub fn run(settings: Settings, args: &GcArgs) -> Result<ExitStatus> {
    let mut ctx = Context::writer_recovering(settings)?;
    if args.json {
        crate::output::collect_plan();
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    // Generations outside each view's window (or --keep), never the current one.
    let mut drop = Vec::new();
    for v in ctx.db.views()? {
        let keep = match args.keep {
            Some(n) => n as usize,
            None => linking::window(&ctx.db, &ctx.settings, v.id)?,
        };
        let gens = ctx.db.generations(v.id)?;
        for number in linking::beyond_window(&gens, v.current, keep) {
            drop.push((v.id, v.name.clone(), number));
        }
    }
    for (view_id, name, number) in &drop {
        crate::output::plan_step(
            &format!("{verb} generation {number} of view {name}"),
            serde_json::json!({"remove": "generation", "view": name, "generation": number, "done": !args.dry_run}),
        );
        if !args.dry_run {
            ctx.db
                .transaction(|tx| tx.delete_generation(*view_id, *number))?;
            linking::remove_generation(&ctx.settings, name, *number)?;
        }
    }
    // Packages no kept generation references (with their dependencies), not marked keep.
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = ctx.db.referenced_packages()?;
    for p in ctx.db.packages()? {
        if p.keep {
            stack.push(p.pkgname);
        }
    }
    while let Some(name) = stack.pop() {
        if live.insert(name.clone())
            && let Some(p) = ctx.db.package(&name)?
        {
            stack.extend(
                ctx.db
                    .dependencies(p.id)?
                    .into_iter()
                    .filter_map(|d| d.resolved),
            );
        }
    }
    let packages_dir = ctx.settings.packages_dir();
    for p in ctx.db.packages()? {
        let depot_dir = ctx.settings.package_dir(&p.depot_dir);
        if live.contains(&p.pkgname) || !depot_dir.starts_with(&packages_dir) {
            continue;
        }
        crate::output::plan_step(
            &format!("{verb} {} (in no view)", p.pkgname),
            serde_json::json!({"remove": "package", "pkgname": p.pkgname, "done": !args.dry_run}),
        );
        if !args.dry_run {
            ctx.db.transaction(|tx| tx.delete_package(p.id))?;
            linking::remove_tree(&depot_dir)?;
        }
    }
    // Depot dirs with no database row (left by a crash after the directory was renamed).
    let known: BTreeSet<String> = ctx.db.pkgnames()?.into_iter().collect();
    if let Ok(rd) = std::fs::read_dir(&packages_dir) {
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && !known.contains(&name) {
                crate::output::plan_step(
                    &format!("{verb} {} (not in the database)", e.path().display()),
                    serde_json::json!({"remove": "directory", "path": e.path().display().to_string(), "done": !args.dry_run}),
                );
                if !args.dry_run {
                    linking::remove_tree(&e.path())?;
                }
            }
        }
    }
    ctx.finish();
    crate::output::print_plan()?;
    Ok(0)
}
