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
    let mut ctx = Context::writer(settings)?;
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
        println!("{verb} generation {number} of view {name}");
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
        println!("{verb} {} (in no view)", p.pkgname);
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
                println!("{verb} {} (not in the database)", e.path().display());
                if !args.dry_run {
                    linking::remove_tree(&e.path())?;
                }
            }
        }
    }
    Ok(0)
}
