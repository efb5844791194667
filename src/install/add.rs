//! `depot add`: resolve arguments and dependencies, then install each package
//! through a staging directory; the database row is the commit point.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use pkgdb::{DependencyKind, MemberRow, NewDependency, NewPackage, Queries};

use super::{Context, STAGING_PREFIX, extract, scripts};
use crate::linking::{self, DEFAULT_VIEW, Incoming};
use crate::output;
use crate::package::archive;
use crate::package::meta::{REQUIRED_BUILD_INFO, build_info_var};
use crate::package::pattern;
use crate::package::plist::{Command, PackingList};
use crate::repo;
use crate::repo::remote::Remote;
use crate::repo::site::{self, Site};
use crate::requirements;

/// How `add` behaves.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// Mark as automatic.
    pub automatic: bool,
    /// Ignore missing dependencies and conflicts.
    pub force: bool,
    /// Skip +INSTALL.
    pub no_scripts: bool,
    /// Only report.
    pub dry_run: bool,
    /// Switch the view to the new version.
    pub replace: bool,
    /// Switch the view only if the new version is newer.
    pub update: bool,
    /// Verbose.
    pub verbose: bool,
    /// The view to link into; `None` for no view.
    pub view: Option<String>,
}

/// A package to install, found and read.
struct Planned {
    /// The package file as found (for messages and the directory beside it).
    file: PathBuf,
    /// The package to unpack: `file`, or a signed package's inner package.
    opened: crate::package::signed::Opened,
    pkgname: String,
    /// The metadata files, read once: what is installed and recorded.
    metadata: archive::Metadata,
    plist: PackingList,
    automatic: bool,
    /// The package opened again for unpacking, its payload decompressing on
    /// a background thread (a bounded read-ahead) while the plan is made or
    /// the package before it is installed: unpacking then starts with the
    /// first files at hand rather than with the whole `+CONTENTS` to inflate
    /// again. At most two are open at a time (see `prefetch`).
    payload: Option<archive::TarReader>,
}

impl Planned {
    /// Start decompressing the payload, unless it is already.
    fn prefetch(&mut self) {
        if self.payload.is_none() {
            // A failure shows when unpacking opens it again.
            self.payload = archive::open_tar(&self.opened.path).ok();
        }
    }
}

/// Install the planned packages in order, each one's payload decompressing
/// while the one before it is installed.
fn install_all(ctx: &mut Context, mut order: Vec<Planned>, options: &AddOptions) -> Result<()> {
    // Planning opened the first package named; when dependencies come before
    // it, that read-ahead is not the next one's.
    for later in order.iter_mut().skip(2) {
        later.payload = None;
    }
    for index in 0..order.len() {
        if !options.dry_run
            && let Some(next) = order.get_mut(index + 1)
            && ctx.db.package(&next.pkgname)?.is_none()
        {
            next.prefetch();
        }
        install_one(ctx, &mut order[index], options)?;
    }
    Ok(())
}

/// The site an `http(s)://` package URL is on, and the file's name.
fn url_site(spec: &str) -> Option<(String, String)> {
    if !site::is_http(spec) {
        return None;
    }
    let (dir, file) = spec.rsplit_once('/')?;
    Some((dir.to_owned(), file.to_owned()))
}

/// Resolve a command-line argument to a package file.
fn locate(ctx: &Context, remote: Option<&Remote>, spec: &str) -> Result<PathBuf> {
    let shown = crate::quote::name(spec);
    if let Some((site, file)) = url_site(spec) {
        let remote = remote.context("HTTP sites are read before any package")?;
        let Some(pkgname) = repo::pkgname_of_file(&file) else {
            bail!("{shown}: not a package file name (expected NAME-VERSION.tgz)");
        };
        return match remote.best(pkgname, Some(&site))? {
            Some(package) if package.file_name == file => remote.fetch(&package),
            _ => bail!(
                "{shown}: {site}'s pkg_summary does not list {file}; re-index the site (`depot repo index`)"
            ),
        };
    }
    let path = match repo::file_url_path(spec) {
        Some(path) => path?,
        None if spec.contains("://") => {
            bail!("{shown}: depot add reads local files, file:// and http(s):// URLs")
        }
        None => PathBuf::from(spec),
    };
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => return Ok(path),
        Ok(meta) => bail!(
            "{shown}: not a package file: it is {}",
            repo::describe_file_type(&meta)
        ),
        Err(_) if spec.contains('/') || repo::pkgname_of_file(spec).is_some() => {
            bail!("{shown}: no such package file");
        }
        Err(_) => {}
    }
    let dirs = local_dirs(&ctx.settings.pkg_path);
    if ctx.settings.pkg_path.is_empty() {
        bail!(
            "{spec}: no such file, and PKG_PATH is not set; give a package file or set PKG_PATH to directories of packages"
        );
    }
    pattern::warn_if_malformed(spec);
    // A pattern that matches several different packages (not versions of one)
    // is refused with the list: pkg_add would pick one by version alone.
    let mut bases = repo::matching_bases(&dirs, spec);
    if let Some(remote) = remote {
        for p in remote.catalog.matching(&remote.db, spec)? {
            bases.push(p.name);
        }
        bases.sort();
        bases.dedup();
    }
    if bases.len() > 1 {
        let shown_bases: Vec<String> = bases
            .iter()
            .take(20)
            .map(|b| crate::quote::name(b))
            .collect();
        bail!(
            "{shown}: matches {} different packages in PKG_PATH: {}{}; name the ones you want",
            bases.len(),
            shown_bases.join(" "),
            if bases.len() > 20 { " …" } else { "" }
        );
    }
    match find(&dirs, remote, spec)? {
        Some(file) => Ok(file),
        None => bail!(
            "{shown}: no package matching it in PKG_PATH ({})",
            ctx.settings.pkg_path.join(";")
        ),
    }
}

/// The local directories of `PKG_PATH` (HTTP entries are read through [`Remote`]).
fn local_dirs(pkg_path: &[String]) -> Vec<PathBuf> {
    pkg_path
        .iter()
        .filter(|e| !site::is_http(e))
        .map(|e| repo::local_dir(e))
        .collect()
}

/// The best package file for `pattern`: in the local `dirs`, then on the
/// HTTP sites (downloaded); a higher version on a later site wins, as
/// pkg_install's rule does across PKG_PATH.
fn find(dirs: &[PathBuf], remote: Option<&Remote>, pattern: &str) -> Result<Option<PathBuf>> {
    let local = repo::find_best(dirs, pattern);
    let far = match remote {
        Some(r) => r.best(pattern, None)?,
        None => None,
    };
    match (local, far) {
        (Some((name, path)), Some(package)) => {
            if pattern::beats(pattern, Some(&name), &package.pkgname) {
                remote.map(|r| r.fetch(&package)).transpose()
            } else {
                Ok(Some(path))
            }
        }
        (Some((_, path)), None) => Ok(Some(path)),
        (None, Some(package)) => remote.map(|r| r.fetch(&package)).transpose(),
        (None, None) => Ok(None),
    }
}

/// Read a package file's metadata and parse its packing list; with
/// `prefetch`, its payload starts decompressing too (see `Planned::payload`).
fn read_planned(known: &Known, file: &Path, automatic: bool, prefetch: bool) -> Result<Planned> {
    let opened = crate::package::signed::open(file, known.verified, &known.work)?;
    let payload = if prefetch {
        archive::open_tar(&opened.path).ok()
    } else {
        None
    };
    let metadata = archive::read_metadata(&opened.path)?;
    let contents = metadata.str("+CONTENTS").unwrap_or_default();
    let build_info = metadata.text("+BUILD_INFO").unwrap_or_default();
    let missing: Vec<&str> = REQUIRED_BUILD_INFO
        .iter()
        .copied()
        .filter(|v| build_info_var(&build_info, v).is_none())
        .collect();
    if !missing.is_empty() {
        output::caution!(
            "{}: +BUILD_INFO lacks {}; pkg_install's pkg_add would refuse this package",
            file.display(),
            missing.join(", ")
        );
    }
    let (plist, warnings) = PackingList::parse(&contents);
    for w in &warnings {
        output::caution!(
            "{}: +CONTENTS line {}: unrecognised command `{}`",
            crate::quote::name(&file.display().to_string()),
            w.line,
            crate::quote::name(&w.text)
        );
    }
    let pkgname = match plist.name() {
        Some(n) => n.to_owned(),
        None => file
            .file_name()
            .and_then(|n| repo::pkgname_of_file(&n.to_string_lossy()).map(str::to_owned))
            .with_context(|| format!("{}: +CONTENTS has no @name", file.display()))?,
    };
    if let Some(why) = pattern::invalid_pkgname(&pkgname) {
        bail!(
            "{}: @name {} cannot name a package: {why}",
            file.display(),
            crate::quote::name(&pkgname)
        );
    }
    if let Some(signed) = &opened.signed_as
        && *signed != pkgname
    {
        bail!(
            "{}: +PKG_HASH signs {signed} but the package is {pkgname}; refused",
            file.display()
        );
    }
    Ok(Planned {
        file: file.to_owned(),
        opened,
        pkgname,
        metadata,
        plist,
        automatic,
        payload,
    })
}

/// What planning needs from the database and settings, read once per run.
struct Known {
    installed: Vec<String>,
    conflicts: Vec<(String, String)>,
    pkg_path: Vec<PathBuf>,
    /// HTTP sites, when PKG_PATH or the arguments name any.
    remote: Option<Remote>,
    /// Look for dependencies beside the package file first (pkg_add does).
    beside: bool,
    /// `VERIFIED_INSTALLATION`.
    verified: crate::settings::Verified,
    /// Where signed packages are unpacked to be read.
    work: PathBuf,
}

/// The HTTP sites of `PKG_PATH` and the sites of URL arguments (first).
fn http_sites(pkg_path: &[String], specs: &[String]) -> Result<Vec<Site>> {
    let mut sites: Vec<Site> = Vec::new();
    let from_args = specs
        .iter()
        .filter_map(|s| url_site(s).map(|(site, _)| site));
    let from_path = pkg_path.iter().filter(|e| site::is_http(e)).cloned();
    for entry in from_args.chain(from_path) {
        let site = Site::parse(&entry)?;
        if !sites.iter().any(|s| s.location == site.location) {
            sites.push(site);
        }
    }
    Ok(sites)
}

/// Install the packages named by `specs`, with their dependencies.
pub fn add(ctx: &mut Context, specs: &[String], options: &AddOptions) -> Result<()> {
    let known = Known {
        installed: ctx.db.pkgnames()?,
        conflicts: ctx.db.all_conflicts()?,
        pkg_path: local_dirs(&ctx.settings.pkg_path),
        remote: Remote::open(&ctx.settings, http_sites(&ctx.settings.pkg_path, specs)?)?,
        beside: true,
        verified: ctx.settings.verified_installation,
        work: std::env::temp_dir(),
    };
    let mut order: Vec<Planned> = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let file = locate(ctx, known.remote.as_ref(), spec)?;
        // The first package named is most often the one installed first.
        let prefetch = index == 0 && !options.dry_run;
        let planned = read_planned(&known, &file, options.automatic, prefetch)?;
        plan_dependencies(&known, planned, options, &mut order, &mut Vec::new())?;
    }
    if !options.dry_run {
        let names: Vec<String> = order
            .iter()
            .map(|p| p.pkgname.clone())
            .filter(|n| !known.installed.contains(n))
            .collect();
        crate::commands::audit::check_before_install(&ctx.settings, &names)?;
    }
    install_all(ctx, order, options)
}

/// Install one package file of a resolved plan (`depot install`): its
/// dependencies are installed already, and `expected` is the PKGNAME the site
/// said the file holds. Returns whether it was installed (not there already).
pub fn add_resolved(
    ctx: &mut Context,
    file: &Path,
    expected: &str,
    automatic: bool,
    options: &AddOptions,
) -> Result<bool> {
    let known = Known {
        installed: ctx.db.pkgnames()?,
        conflicts: ctx.db.all_conflicts()?,
        pkg_path: Vec::new(),
        remote: None,
        beside: false,
        verified: ctx.settings.verified_installation,
        work: std::env::temp_dir(),
    };
    let planned = read_planned(&known, file, automatic, !options.dry_run)?;
    if planned.pkgname != expected {
        bail!(
            "{}: the site lists it as {expected} but it holds {}; not installed",
            file.display(),
            planned.pkgname
        );
    }
    if known.installed.contains(&planned.pkgname) {
        return Ok(false);
    }
    let mut order = Vec::new();
    plan_dependencies(&known, planned, options, &mut order, &mut Vec::new())?;
    install_all(ctx, order, options)?;
    Ok(true)
}

/// Depth-first: dependencies before the package; everything checked before anything is installed.
fn plan_dependencies(
    known: &Known,
    planned: Planned,
    options: &AddOptions,
    order: &mut Vec<Planned>,
    chain: &mut Vec<String>,
) -> Result<()> {
    if order.iter().any(|p| p.pkgname == planned.pkgname) {
        return Ok(());
    }
    if chain.contains(&planned.pkgname) {
        bail!(
            "dependency cycle: {} -> {}",
            chain.join(" -> "),
            planned.pkgname
        );
    }
    let installed = &known.installed;
    if installed.contains(&planned.pkgname) {
        order.push(Planned {
            payload: None,
            ..planned
        });
        return Ok(());
    }
    check_conflicts(known, &planned, order, options)?;
    // The directory of the package being installed comes first, then PKG_PATH.
    // A file named without a directory is beside the current one: "." (an
    // empty path searches the same place but reads as nothing in messages).
    let toplevel = planned.file.parent().filter(|_| known.beside).map(|dir| {
        if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.to_path_buf()
        }
    });
    let mut dirs: Vec<PathBuf> = toplevel.into_iter().collect();
    dirs.extend(known.pkg_path.iter().cloned());
    chain.push(planned.pkgname.clone());
    for dep in planned
        .plist
        .dependencies()
        .into_iter()
        .filter(|d| !d.build_only)
    {
        let satisfied = installed
            .iter()
            .any(|i| pattern::pkg_match(&dep.pattern, i))
            || order
                .iter()
                .any(|p| pattern::pkg_match(&dep.pattern, &p.pkgname));
        if satisfied {
            continue;
        }
        // pkg_add tries the exact package it was built with first, then the pattern.
        let remote = known.remote.as_ref();
        let found = match dep.built_with.as_deref() {
            Some(exact) => find(&dirs, remote, exact)?,
            None => None,
        };
        let found = match found {
            Some(file) => Some(file),
            None => find(&dirs, remote, &dep.pattern)?,
        };
        match found {
            Some(file) => {
                let dep_planned = read_planned(known, &file, true, false)?;
                plan_dependencies(known, dep_planned, options, order, chain)?;
            }
            None if options.force => {
                output::caution!(
                    "{} requires {}, which was not found; installing anyway (-f)",
                    planned.pkgname,
                    dep.pattern
                );
            }
            None => {
                let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                bail!(
                    "{} requires {}, which is not installed and not found in {}; add a directory holding it to PKG_PATH, or install it first",
                    planned.pkgname,
                    dep.pattern,
                    if searched.is_empty() {
                        "any directory (PKG_PATH is not set)".to_owned()
                    } else {
                        searched.join(", ")
                    }
                );
            }
        }
    }
    chain.pop();
    order.push(planned);
    Ok(())
}

fn check_conflicts(
    known: &Known,
    planned: &Planned,
    order: &[Planned],
    options: &AddOptions,
) -> Result<()> {
    let mut problems = Vec::new();
    let others = known
        .installed
        .iter()
        .map(String::as_str)
        .chain(order.iter().map(|p| p.pkgname.as_str()));
    let own: Vec<&str> = planned.plist.all(Command::PkgCfl).collect();
    for other in others {
        for pattern in &own {
            if pattern::pkg_match(pattern, other) {
                problems.push(format!(
                    "{} conflicts with installed {other} (@pkgcfl {pattern})",
                    planned.pkgname
                ));
            }
        }
    }
    for (other, pattern) in &known.conflicts {
        if pattern::pkg_match(pattern, &planned.pkgname) {
            problems.push(format!(
                "installed {other} conflicts with {} (@pkgcfl {pattern})",
                planned.pkgname
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    if options.force {
        for p in problems {
            output::caution!("{p}; installing anyway (-f)");
        }
        return Ok(());
    }
    bail!(
        "{}\ndelete the conflicting package first, or use -f to install anyway",
        problems.join("\n")
    )
}

fn install_one(ctx: &mut Context, planned: &mut Planned, options: &AddOptions) -> Result<()> {
    let pkgname = planned.pkgname.clone();
    if ctx.db.package(&pkgname)?.is_some() {
        output::plan_step(
            &format!("{}: {pkgname} is already installed", output::program()),
            serde_json::json!({"action": "none", "pkgname": pkgname, "why": "already installed"}),
        );
        return Ok(());
    }
    if options.dry_run {
        output::plan_step(
            &format!(
                "would install {pkgname} from {}{}",
                planned.file.display(),
                if planned.automatic {
                    " (automatic)"
                } else {
                    ""
                }
            ),
            serde_json::json!({
                "action": "install",
                "pkgname": pkgname,
                "file": planned.file.display().to_string(),
                "automatic": planned.automatic,
            }),
        );
        return Ok(());
    }
    let settings = ctx.settings.clone();
    let packages = settings.packages_dir();
    let created_packages_dir = !packages.exists();
    fs_err::create_dir_all(&packages)?;
    let depot_dir = settings.depot_dir(&pkgname);
    if depot_dir.exists() {
        bail!(
            "{pkgname}: {} exists but the package is not in the database; remove it (or run `depot gc`) and try again",
            depot_dir.display()
        );
    }
    let work = super::make_work_dir(&settings)?;
    let staging = work.join(format!("{STAGING_PREFIX}{pkgname}-{}", std::process::id()));
    let result = stage_and_commit(ctx, planned, options, &staging, &depot_dir);
    if result.is_err() {
        let _ = linking::remove_tree(&staging);
    }
    super::tidy_work_dir(&settings);
    if result.is_err() && created_packages_dir {
        // Leave the root exactly as it was.
        let _ = std::fs::remove_dir(&packages);
    }
    result
}

fn stage_and_commit(
    ctx: &mut Context,
    planned: &mut Planned,
    options: &AddOptions,
    staging: &Path,
    depot_dir: &Path,
) -> Result<()> {
    let settings = ctx.settings.clone();
    let pkgname = planned.pkgname.as_str();
    let (name, version) = pattern::split_pkgname(pkgname).unwrap_or((pkgname, ""));
    // File rows stream into an open transaction on a second connection while the
    // files are written, so the database work overlaps the unpacking.
    let head = NewPackage {
        pkgname: pkgname.to_owned(),
        name: name.to_owned(),
        version: version.to_owned(),
        depot_dir: crate::settings::recorded_depot_dir(pkgname),
        prefix: planned.plist.prefix().unwrap_or("").to_owned(),
        automatic: planned.automatic,
        ..NewPackage::default()
    };
    crate::profile::phase("planned");
    let mut recorder = pkgdb::Recorder::start(
        &settings.dbdir,
        NewPackage {
            metadata: planned.metadata.files.clone(),
            ..head.clone()
        },
    );
    // The paths a view links (all but directories), when the package goes into one.
    let mut linkable = Vec::new();
    let size = extract::extract(
        &planned.opened.path,
        planned.payload.take(),
        pkgname,
        &planned.metadata,
        &planned.plist,
        staging,
        &mut |row| {
            if options.view.is_some() && row.kind != pkgdb::FileKind::Dir {
                linkable.push(row.path.clone());
            }
            Ok(recorder.file(row)?)
        },
    )?;
    crate::profile::phase("extracted");
    let settled_ns = Some(crate::install::verify::settle_mark(staging)?);
    if !options.no_scripts {
        scripts::run_script(
            &settings,
            &staging.join("+INSTALL"),
            pkgname,
            "PRE-INSTALL",
            depot_dir,
            staging,
        )?;
    }

    // Which view gets it, and with which members.
    let mut view_change = None;
    let mut kept_message = None;
    if let Some(view) = &options.view {
        let mut members = linking::current_members(&ctx.db, view)?;
        let same_base: Vec<String> = members
            .iter()
            .filter(|m| pattern::split_pkgname(&m.pkgname).is_some_and(|(n, _)| n == name))
            .map(|m| m.pkgname.clone())
            .collect();
        let newer = same_base
            .iter()
            .all(|old| pattern::compare_pkgnames(pkgname, old).is_gt());
        let take_over = same_base.is_empty() || options.replace || (options.update && newer);
        if take_over {
            let priority = members
                .iter()
                .find(|m| same_base.contains(&m.pkgname))
                .map_or(0, |m| m.priority);
            members.retain(|m| !same_base.contains(&m.pkgname));
            members.push(MemberRow::new(pkgname.to_owned(), priority));
            let incoming = Incoming {
                pkgname,
                staged_at: staging,
                depot_dir,
                paths: std::mem::take(&mut linkable),
            };
            // The package's dependencies were linked before it, unless they were
            // installed already outside this view: say what it misses there.
            let run = planned
                .plist
                .dependencies()
                .into_iter()
                .filter(|d| !d.build_only)
                .map(|d| d.pattern);
            for unmet in requirements::unmet_patterns(view, pkgname, run, &members) {
                output::caution!("{unmet}; link one with `depot view add {view} PACKAGE`");
            }
            let reason = format!("add {pkgname}");
            view_change = Some(linking::prepare(
                &settings,
                &ctx.db,
                view,
                members,
                Some(&incoming),
                &reason,
            )?);
        } else {
            let old = same_base.join(", ");
            let view_arg = if view == DEFAULT_VIEW {
                String::new()
            } else {
                format!(" --view {view}")
            };
            kept_message = Some(format!(
                "{}: {pkgname} is installed in the depot beside {old}; view {view} keeps {old}.\n  switch with: depot view switch {view} {old} {pkgname}   (or install with -U{view_arg})",
                output::program()
            ));
        }
    }

    let result = (|| -> Result<()> {
        crate::profile::phase("view planned");
        fs_err::rename(staging, depot_dir)?;
        if !options.no_scripts {
            scripts::run_commands(&settings, &planned.plist, Command::Exec, pkgname, depot_dir)?;
            scripts::run_script(
                &settings,
                &depot_dir.join("+INSTALL"),
                pkgname,
                "POST-INSTALL",
                depot_dir,
                depot_dir,
            )?;
        }
        let installed = ctx.db.pkgnames()?;
        let dependencies = planned
            .plist
            .dependencies()
            .into_iter()
            .map(|d| NewDependency {
                resolved: if d.build_only {
                    installed.iter().find(|i| **i == d.pattern).cloned()
                } else {
                    pattern::find_best(&d.pattern, installed.iter().map(String::as_str))
                        .map(str::to_owned)
                },
                kind: if d.build_only {
                    DependencyKind::Build
                } else {
                    DependencyKind::Run
                },
                built_with: d.built_with,
                pattern: d.pattern,
            })
            .collect();
        let metadata = &planned.metadata;
        let record = NewPackage {
            comment: metadata
                .text("+COMMENT")
                .unwrap_or_default()
                .trim_end()
                .to_owned(),
            description: metadata.text("+DESC").unwrap_or_default(),
            prefix: planned.plist.prefix().unwrap_or("").to_owned(),
            build_info: metadata.text("+BUILD_INFO").unwrap_or_default(),
            settled_ns,
            size_pkg: size as i64,
            size_all: size as i64,
            automatic: planned.automatic,
            // Recorded already, by `Recorder::start`.
            metadata: Vec::new(),
            dependencies,
            conflicts: planned
                .plist
                .all(Command::PkgCfl)
                .map(str::to_owned)
                .collect(),
            ..head
        };
        crate::profile::phase("record built");
        let finisher: pkgdb::Finisher = match &view_change {
            Some(change) => change.finisher(),
            None => Box::new(|_| Ok(())),
        };
        recorder.finish(record, finisher)?;
        Ok(())
    })();
    if let Err(e) = result {
        // Undo: the row was not committed, so the depot dir must go too.
        if depot_dir.exists() && std::fs::symlink_metadata(staging).is_err() {
            let _ = linking::remove_tree(depot_dir);
        }
        if let Some(change) = view_change {
            change.abandon();
        }
        return Err(e);
    }
    crate::profile::phase("committed");
    if let Some(change) = &view_change {
        change.settle(&settings, &mut ctx.db)?;
    }
    crate::profile::phase("switched");
    if let Some(display) = planned.plist.first(Command::Display) {
        if let Some(text) = planned.metadata.text(display) {
            print!("{text}");
        }
    } else if let Some(text) = planned.metadata.text("+DISPLAY") {
        print!("{text}");
    }
    if options.verbose {
        println!(
            "{}: installed {pkgname} in {}",
            output::program(),
            depot_dir.display()
        );
    }
    if let Some(message) = kept_message {
        println!("{message}");
    }
    Ok(())
}
