//! `depot install` and `depot upgrade` (pkgin's): resolve from the sites'
//! summaries, download and check everything, install in dependency order, and
//! change each affected view in one generation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{Context as _, Result};
use pkgdb::{MemberRow, Queries as _, ViewQueries as _};

use super::ExitStatus;
use crate::cli::{InstallArgs, UpgradeArgs};
use crate::install::Context;
use crate::install::add::{AddOptions, add_resolved};
use crate::linking::{self, DEFAULT_VIEW};
use crate::output;
use crate::package::pattern;
use crate::repo::catalog::{Catalog, configured_sites};
use crate::repo::download::Downloader;
use crate::repo::resolve::{Resolution, Step, resolve};
use crate::settings::Settings;

/// Bytes for a message (`1.5 MiB`).
pub fn human(bytes: u64) -> String {
    super::view::human_bytes(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// Open the root for writing and bring the catalogue up to date.
fn open(settings: Settings) -> Result<(Context, Catalog)> {
    let sites = configured_sites(&settings)?;
    let mut ctx = Context::writer(settings)?;
    let catalog = Catalog::refresh(&ctx.settings, &mut ctx.db, sites)?;
    Ok((ctx, catalog))
}

fn print_plan(catalog: &Catalog, steps: &[Step], describe: &dyn Fn(&Step) -> String) {
    let bytes: u64 = steps
        .iter()
        .filter_map(|s| s.package.file_size)
        .map(|s| s as u64)
        .sum();
    let installed: u64 = steps
        .iter()
        .filter_map(|s| s.package.size_pkg)
        .map(|s| s as u64)
        .sum();
    for step in steps {
        let site = catalog
            .site_of(&step.package)
            .map_or("?", |s| s.label.as_str());
        println!(
            "  {:<40} {:>10}  {}  from {site}",
            describe(step),
            step.package
                .file_size
                .map_or_else(|| "?".to_owned(), |s| human(s as u64)),
            if step.automatic { "(dependency)" } else { "" },
        );
    }
    println!(
        "{} package{} to download ({}), {} once installed",
        steps.len(),
        if steps.len() == 1 { "" } else { "s" },
        human(bytes),
        human(installed)
    );
}

/// Warn once per site that has no keys, for the sites packages come from.
fn warn_unkeyed(catalog: &Catalog, steps: &[Step]) {
    for label in &catalog.unkeyed {
        let used = steps.iter().any(|s| {
            catalog
                .site_of(&s.package)
                .is_some_and(|site| site.label == *label)
        });
        if used {
            output::caution!(
                "{label}: no trusted keys for this site, so its summary is not signature-checked and its packages are checked only against it; add the site's key under [sites.\"{label}\"] keys in depot.toml"
            );
        }
    }
}

/// Download (in parallel, `jobs` at a time) and check every step's file
/// before anything is installed; the files in step order.
fn download_all(
    settings: &Settings,
    catalog: &Catalog,
    steps: &[Step],
    quiet: bool,
) -> Result<Vec<std::path::PathBuf>> {
    let downloader = Downloader::new(
        &settings.root.join("var/cache/packages"),
        settings.download.timeout,
        settings.download.retries,
    );
    let total: u64 = steps
        .iter()
        .filter_map(|s| s.package.file_size)
        .map(|s| s as u64)
        .sum();
    let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("downloading");
        bar
    });
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let (sender, receiver) = mpsc::channel();
    let jobs = settings.download.jobs.min(steps.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let (next, failed, downloader, bar) = (&next, &failed, &downloader, &bar);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= steps.len() || failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let package = &steps[i].package;
                    let last = AtomicUsize::new(0);
                    let progress = |done: u64| {
                        if let Some(bar) = bar {
                            let before = last.swap(done as usize, Ordering::Relaxed) as u64;
                            bar.inc(done.saturating_sub(before));
                        }
                    };
                    let result = match catalog.site_of(package) {
                        Some(site) => downloader.fetch(site, package, &progress),
                        None => Err(anyhow::anyhow!("{}: its site is gone", package.pkgname)),
                    };
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    if sender.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
    });
    drop(sender);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut results: HashMap<usize, Result<std::path::PathBuf>> = receiver.into_iter().collect();
    let mut files = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match results.remove(&i) {
            Some(Ok(path)) => files.push(path),
            Some(Err(e)) => return Err(e),
            None => anyhow::bail!("{}: not downloaded", step.package.pkgname),
        }
    }
    Ok(files)
}

/// Install the downloaded files in order; the PKGNAMEs installed.
fn install_all(
    ctx: &mut Context,
    steps: &[Step],
    files: &[std::path::PathBuf],
    automatic_of: &dyn Fn(&Step) -> bool,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for (step, file) in steps.iter().zip(files) {
        let options = AddOptions {
            automatic: automatic_of(step),
            view: None,
            ..AddOptions::default()
        };
        let installed = add_resolved(
            ctx,
            file,
            &step.package.pkgname,
            options.automatic,
            &options,
        )
        .with_context(|| {
            if done.is_empty() {
                format!(
                    "cannot install {}; nothing was installed",
                    step.package.pkgname
                )
            } else {
                format!(
                    "cannot install {}; installed before it: {}",
                    step.package.pkgname,
                    done.join(" ")
                )
            }
        })?;
        if installed {
            done.push(step.package.pkgname.clone());
        }
    }
    Ok(done)
}

fn base(pkgname: &str) -> &str {
    pattern::split_pkgname(pkgname).map_or(pkgname, |(b, _)| b)
}

/// Add `pkgname` to `members` unless the view has a version of it already.
fn add_member(members: &mut Vec<MemberRow>, pkgname: &str) -> bool {
    if members.iter().any(|m| base(&m.pkgname) == base(pkgname)) {
        return false;
    }
    members.push(MemberRow::new(pkgname.to_owned(), 0));
    true
}

/// Replace the view's version of `pkgname`'s package with it (or add it).
fn replace_member(members: &mut Vec<MemberRow>, pkgname: &str) -> bool {
    if let Some(m) = members
        .iter_mut()
        .find(|m| base(&m.pkgname) == base(pkgname))
    {
        if m.pkgname == pkgname {
            return false;
        }
        *m = MemberRow::new(pkgname.to_owned(), m.priority);
        return true;
    }
    members.push(MemberRow::new(pkgname.to_owned(), 0));
    true
}

/// Run `depot install`.
pub fn run_install(settings: Settings, args: &InstallArgs) -> Result<ExitStatus> {
    let (mut ctx, catalog) = open(settings)?;
    let installed = ctx.db.pkgnames()?;
    let conflicts = ctx.db.all_conflicts()?;
    let plan: Resolution = resolve(
        &catalog,
        &ctx.db,
        &installed,
        &conflicts,
        &args.packages,
        false,
    )?;
    for (request, have) in &plan.already {
        println!("{request}: {have} is installed");
    }
    if args.dry_run {
        if plan.steps.is_empty() {
            println!("nothing to download");
        } else {
            print_plan(&catalog, &plan.steps, &|s| s.package.pkgname.clone());
        }
        return Ok(0);
    }
    warn_unkeyed(&catalog, &plan.steps);
    let names: Vec<String> = plan
        .steps
        .iter()
        .map(|s| s.package.pkgname.clone())
        .collect();
    super::audit::check_before_install(&ctx.settings, &names)?;
    let files = download_all(&ctx.settings, &catalog, &plan.steps, args.quiet)?;
    let done = install_all(&mut ctx, &plan.steps, &files, &|s| s.automatic)?;
    let Some(view) = args.target.chosen() else {
        ctx.finish();
        report_installed(&done, args.quiet);
        return Ok(0);
    };
    if view != DEFAULT_VIEW && ctx.db.view(&view)?.is_none() {
        anyhow::bail!(
            "view {view} does not exist (create it with `depot view create {view}`); {} installed in the depot only",
            if done.is_empty() {
                "nothing was".to_owned()
            } else {
                done.join(" ")
            }
        );
    }
    let mut members = linking::current_members(&ctx.db, &view)?;
    let mut added = Vec::new();
    for step in &plan.steps {
        let name = &step.package.pkgname;
        let changed = if step.automatic {
            add_member(&mut members, name)
        } else {
            replace_member(&mut members, name)
        };
        if changed {
            added.push(name.clone());
        }
    }
    for name in &plan.installed_used {
        if add_member(&mut members, name) {
            added.push(name.clone());
        }
    }
    report_installed(&done, args.quiet);
    if !added.is_empty() {
        let n = super::view::change(
            &mut ctx,
            &view,
            members,
            &format!("install {}", added.join(" ")),
        )?;
        if !args.quiet {
            println!("view {view}: generation {n} adds {}", added.join(" "));
        }
    }
    ctx.finish();
    Ok(0)
}

fn report_installed(done: &[String], quiet: bool) {
    if !quiet && !done.is_empty() {
        println!(
            "installed {} package{}: {}",
            done.len(),
            if done.len() == 1 { "" } else { "s" },
            done.join(" ")
        );
    }
}

/// What one package is upgraded to.
struct Target {
    /// The newest version installed.
    old: String,
    /// The version views should hold.
    new: String,
    /// The old one was installed as a dependency.
    automatic: bool,
    /// `new` comes from a site (it is not installed yet).
    download: bool,
}

/// Run `depot upgrade`.
pub fn run_upgrade(settings: Settings, args: &UpgradeArgs) -> Result<ExitStatus> {
    let (mut ctx, catalog) = open(settings)?;
    let packages = ctx.db.packages()?;
    let installed: Vec<String> = packages.iter().map(|p| p.pkgname.clone()).collect();
    // The newest installed version of each package asked about (all by default).
    let mut newest: HashMap<&str, &pkgdb::PackageRow> = HashMap::new();
    for p in &packages {
        let asked = args.packages.is_empty()
            || args
                .packages
                .iter()
                .any(|pat| pattern::pkg_match(pat, &p.pkgname) || *pat == p.name);
        if !asked {
            continue;
        }
        let entry = newest.entry(p.name.as_str()).or_insert(p);
        if pattern::compare_pkgnames(&p.pkgname, &entry.pkgname).is_gt() {
            *entry = p;
        }
    }
    if !args.packages.is_empty() && newest.is_empty() {
        anyhow::bail!(
            "nothing installed matches {}; `depot install` installs new packages",
            args.packages.join(" ")
        );
    }
    // For each package, the version views should hold: the best a site
    // offers when it is newer than what is installed, else the newest installed.
    let mut targets: Vec<Target> = Vec::new();
    let mut names: Vec<&&str> = newest.keys().collect();
    names.sort();
    for name in names {
        let have = newest[*name];
        let best = catalog
            .best(&ctx.db, &format!("{name}-[0-9]*"), None)?
            .filter(|b| {
                b.name == **name && pattern::compare_pkgnames(&b.pkgname, &have.pkgname).is_gt()
            });
        targets.push(match best {
            Some(best) => Target {
                old: have.pkgname.clone(),
                new: best.pkgname,
                automatic: have.automatic,
                download: true,
            },
            None => Target {
                old: have.pkgname.clone(),
                new: have.pkgname.clone(),
                automatic: have.automatic,
                download: false,
            },
        });
    }
    let requests: Vec<String> = targets
        .iter()
        .filter(|t| t.download)
        .map(|t| t.new.clone())
        .collect();
    let conflicts = ctx.db.all_conflicts()?;
    let plan = resolve(&catalog, &ctx.db, &installed, &conflicts, &requests, true)?;
    let target_of = |new: &str| targets.iter().find(|t| t.download && t.new == new);
    // Each view's changes: members older than their target move to it, and
    // what the new versions need that the view lacks comes along.
    let mut view_changes = Vec::new();
    let mut views: Vec<String> = ctx.db.views()?.into_iter().map(|v| v.name).collect();
    views.sort();
    for view in views {
        let mut members = linking::current_members(&ctx.db, &view)?;
        let mut changes = Vec::new();
        for target in &targets {
            if let Some(m) = members.iter_mut().find(|m| {
                base(&m.pkgname) == base(&target.new)
                    && pattern::compare_pkgnames(&target.new, &m.pkgname).is_gt()
            }) {
                changes.push(format!("{} -> {}", m.pkgname, target.new));
                *m = MemberRow::new(target.new.clone(), m.priority);
            }
        }
        if changes.is_empty() {
            continue;
        }
        for step in plan
            .steps
            .iter()
            .filter(|s| target_of(&s.package.pkgname).is_none())
        {
            if add_member(&mut members, &step.package.pkgname) {
                changes.push(format!("+{}", step.package.pkgname));
            }
        }
        for name in &plan.installed_used {
            if add_member(&mut members, name) {
                changes.push(format!("+{name}"));
            }
        }
        view_changes.push((view, members, changes));
    }
    if plan.steps.is_empty() && view_changes.is_empty() {
        println!("everything is up to date");
        return Ok(0);
    }
    if args.dry_run {
        if !plan.steps.is_empty() {
            print_plan(
                &catalog,
                &plan.steps,
                &|s| match target_of(&s.package.pkgname) {
                    Some(t) => format!("{} -> {}", t.old, s.package.version),
                    None => s.package.pkgname.clone(),
                },
            );
        }
        for (view, _, changes) in &view_changes {
            println!("view {view} would change: {}", changes.join(", "));
        }
        return Ok(0);
    }
    warn_unkeyed(&catalog, &plan.steps);
    let files = download_all(&ctx.settings, &catalog, &plan.steps, args.quiet)?;
    install_all(&mut ctx, &plan.steps, &files, &|s| {
        target_of(&s.package.pkgname).map_or(s.automatic, |t| t.automatic)
    })?;
    // One generation per view; the old versions stay in the depot for rollback.
    for (view, members, changes) in view_changes {
        let n = super::view::change(
            &mut ctx,
            &view,
            members,
            &format!("upgrade {}", changes.join(", ")),
        )?;
        if !args.quiet {
            println!("view {view}: generation {n}: {}", changes.join(", "));
        }
    }
    ctx.finish();
    if !args.quiet {
        println!(
            "the old versions stay in the depot: `depot view rollback VIEW` goes back, `depot gc` removes them once no generation holds them"
        );
    }
    Ok(0)
}
