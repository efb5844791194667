//! `depot bulk build-one`: one package of a bulk, in its own process (so a
//! build can be killed alone and its whole process tree measured): build
//! against the exact dependencies the scan chose, install into the root,
//! keep the logs, and write what it cost.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use nix::sys::resource::{UsageWho, getrusage};
use pkgdb::Queries as _;
use serde::{Deserialize, Serialize};

use super::Bulk;
use crate::build::bin_install::Installer;
use crate::build::{self, Build, BuildSettings, Recipe, Reporter, ResolvedDep};
use crate::cli::BuildOneArgs;
use crate::package::pattern;

/// The cost of one phase (or, as `total`, of the whole build).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cost {
    /// The phase.
    pub phase: String,
    /// Wall seconds.
    pub wall: f64,
    /// CPU seconds of the process tree.
    pub cpu: f64,
    /// Peak resident memory of the largest process so far, bytes.
    pub max_rss: i64,
}

/// What a build-one process reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Whether it built and installed.
    pub ok: bool,
    /// The error, when not.
    pub error: Option<String>,
    /// The phase that failed.
    pub failed_phase: Option<String>,
    /// Each phase that ran, then `total`.
    pub costs: Vec<Cost>,
    /// WRKDIR size at the end, bytes.
    pub wrkdir_bytes: i64,
    /// The package's file name and SHA-256, when it built.
    #[serde(default)]
    pub package: Option<(String, String)>,
}

/// CPU seconds and peak RSS (bytes) of this process and its waited-for children.
fn usage() -> (f64, i64) {
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let mut cpu = 0.0;
    let mut rss = 0;
    for who in [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN] {
        if let Ok(u) = getrusage(who) {
            cpu += secs(u.user_time()) + secs(u.system_time());
            rss = rss.max(u.max_rss() * 1024);
        }
    }
    (cpu, rss)
}

/// Records when each phase starts, with the CPU used so far.
struct Meter {
    marks: Mutex<Vec<(String, Instant, f64, i64)>>,
}

impl Reporter for Meter {
    fn phase(&self, _pkgname: &str, phase: &str) {
        let (cpu, rss) = usage();
        if let Ok(mut marks) = self.marks.lock() {
            marks.push((phase.to_owned(), Instant::now(), cpu, rss));
        }
    }
    fn note(&self, pkgname: &str, message: &str) {
        eprintln!("{pkgname}: {message}");
    }
}

impl Meter {
    fn costs(&self, began: Instant) -> Vec<Cost> {
        let (cpu_end, rss_end) = usage();
        let end = Instant::now();
        let marks = self.marks.lock().map(|m| m.clone()).unwrap_or_default();
        let mut costs = Vec::new();
        for (i, (phase, at, cpu, _)) in marks.iter().enumerate() {
            let (next_at, next_cpu, next_rss) = marks
                .get(i + 1)
                .map_or((end, cpu_end, rss_end), |(_, a, c, r)| (*a, *c, *r));
            costs.push(Cost {
                phase: phase.clone(),
                wall: next_at.duration_since(*at).as_secs_f64(),
                cpu: next_cpu - cpu,
                max_rss: next_rss,
            });
        }
        costs.push(Cost {
            phase: "total".to_owned(),
            wall: end.duration_since(began).as_secs_f64(),
            cpu: cpu_end,
            max_rss: rss_end,
        });
        costs
    }
}

fn dir_size(dir: &Path) -> i64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len() as i64)
        .sum()
}

/// Run `depot bulk build-one`.
pub fn run(bulk: &Bulk, args: &BuildOneArgs) -> Result<i32> {
    // Die with the bulk that started us (kill -9 of depot included).
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    if args.watch_stdin {
        watch_stdin();
    }
    let began = Instant::now();
    let meter = Meter {
        marks: Mutex::new(Vec::new()),
    };
    let mut stats = Stats::default();
    let result = build_and_install(bulk, args, &meter, &mut stats);
    stats.costs = meter.costs(began);
    if let Err(e) = &result {
        stats.error = Some(format!("{e:#}"));
        stats.failed_phase = stats
            .costs
            .iter()
            .rev()
            .find(|c| c.phase != "total")
            .map(|c| c.phase.clone());
        eprintln!("{e:#}");
    }
    stats.ok = result.is_ok();
    fs_err::write(&args.stats, serde_json::to_vec(&stats)?)?;
    Ok(i32::from(!stats.ok))
}

/// On a node, the build runs under ssh: when stdin closes (the master was
/// killed, or the connection dropped), kill this build's whole process
/// group, so that no orphan goes on writing the node's work dir.
fn watch_stdin() {
    std::thread::spawn(|| {
        let mut sink = [0_u8; 512];
        loop {
            match std::io::Read::read(&mut std::io::stdin(), &mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(0),
            nix::sys::signal::Signal::SIGKILL,
        );
    });
}

/// Install each dependency from `dir/All` unless exactly that build is
/// installed, one build at a time per node (builds on a node share its root).
fn install_deps(
    bulk: &Bulk,
    settings: &BuildSettings,
    dir: &Path,
    deps: &[String],
    reporter: &dyn Reporter,
) -> Result<()> {
    let _lock = pkgdb::WriteLock::acquire(dir, Some(std::time::Duration::MAX))?;
    let installer = Installer {
        settings: &bulk.settings,
        build: settings,
        reporter,
        binpkg_sites: Vec::new(),
        remote: None,
        view: None,
    };
    for dep in deps {
        let file = dir.join("All").join(format!("{dep}.tgz"));
        let installed = bulk.read()?.package(dep)?.map(|row| row.build_info);
        install_replacing(bulk, &installer, dep, &file, installed.as_deref())
            .with_context(|| format!("cannot install dependency {}", file.display()))?;
    }
    Ok(())
}

fn build_and_install(
    bulk: &Bulk,
    args: &BuildOneArgs,
    meter: &Meter,
    stats: &mut Stats,
) -> Result<()> {
    let recipe = Recipe::load(&args.recipe)?;
    let mut settings = BuildSettings::from_env(&bulk.settings)?;
    settings.make_jobs = args.make_jobs.max(1);
    // The bulk (and, on a node, the master) writes these while we build.
    settings.scratch = std::iter::once(bulk.dir.clone())
        .chain(args.scratch.iter().cloned())
        .collect();
    settings.progress = false;
    if let Some(dir) = &args.install_deps {
        install_deps(bulk, &settings, dir, &args.deps, meter)?;
    }
    let db = bulk.read()?;
    let mut deps = Vec::new();
    for dep in &recipe.depends {
        let Some(pkgname) = args
            .deps
            .iter()
            .find(|d| pattern::pkg_match(&dep.pattern, d))
        else {
            bail!(
                "{}: no package given for dependency {}",
                recipe.pkgname,
                dep.pattern
            );
        };
        let Some(package) = db.package(pkgname)? else {
            bail!(
                "{}: dependency {pkgname} is not installed in {}",
                recipe.pkgname,
                bulk.settings.root.display()
            );
        };
        deps.push(ResolvedDep {
            pattern: dep.pattern.clone(),
            pkgname: package.pkgname.clone(),
            depot_dir: bulk.settings.package_dir(&package.depot_dir),
            paths: db.entry_paths(package.id, "")?,
            kind: dep.kind,
        });
    }
    drop(db);
    let build = Build {
        recipe: &recipe,
        settings: &settings,
        deps: &deps,
        reporter: meter,
    };
    let outcome = build::run(&build, "package");
    stats.wrkdir_bytes = dir_size(&build.wrkdir());
    fs_err::create_dir_all(&args.logs)?;
    if let Ok(entries) = fs_err::read_dir(build.wrkdir().join(".logs")) {
        for entry in entries.flatten() {
            let _ = fs_err::copy(entry.path(), args.logs.join(entry.file_name()));
        }
    }
    let outcome = outcome?;
    let file = outcome
        .package
        .with_context(|| format!("{}: no_package is set; nothing to install", recipe.pkgname))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (sha, _) = crate::build::recipe::hash_file(&file)?;
    if let Some(dir) = &args.keep_package {
        fs_err::create_dir_all(dir)?;
        fs_err::copy(&file, dir.join(&name))?;
    }
    stats.package = Some((name, sha));
    let installer = Installer {
        settings: &bulk.settings,
        build: &settings,
        reporter: meter,
        binpkg_sites: Vec::new(),
        remote: None,
        view: None,
    };
    let installed = bulk
        .read()?
        .package(&recipe.pkgname)?
        .map(|row| row.build_info);
    install_replacing(
        bulk,
        &installer,
        &recipe.pkgname,
        &file,
        installed.as_deref(),
    )?;
    build::clean(&build)?;
    Ok(())
}

/// Install a package file into the bulk's root, unless exactly this build
/// is installed; a stale build of the same PKGNAME is deleted first (its
/// dependents are out of date too, and rebuild after it).
/// `installed` is the `+BUILD_INFO` of the install of `pkgname`, if any.
pub fn install_replacing(
    bulk: &Bulk,
    installer: &Installer<'_>,
    pkgname: &str,
    file: &Path,
    installed: Option<&str>,
) -> Result<()> {
    if let Some(info) = installed {
        let installed = crate::build::bin_install::build_identity(info);
        if installed.is_some() && installed == crate::build::bin_install::package_identity(file) {
            return Ok(());
        }
        let mut ctx = crate::install::Context::writer(bulk.settings.clone())?;
        let options = crate::install::delete::DeleteOptions {
            force: 2,
            remove_from_views: true,
            ..crate::install::delete::DeleteOptions::default()
        };
        crate::install::delete::delete(&mut ctx, &[pkgname.to_owned()], &options)?;
        ctx.finish();
    }
    installer.install(file, false)
}
