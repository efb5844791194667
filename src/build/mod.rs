//! The builder: a recipe through fetch, checksum, extract, patch, wrapper,
//! configure, build, test, install and package, the way pkgsrc's `make
//! package` does, with PREFIX the package's own depot dir.
//!
//! One build is one call of [`run`] with explicit inputs ([`Build`]: the
//! recipe, [`BuildSettings`], the dependencies resolved to installed
//! packages, a [`Reporter`]); nothing global, so several builds can run at
//! once in one process (bulk builds do).

pub mod bin_install;
pub mod buildlink;
pub mod fetch;
pub mod package;
pub mod phases;
pub mod recipe;
pub mod shlibs;
pub mod unpack;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

pub use recipe::{DependKind, PHASES, Recipe};

/// Where the builder keeps things and how it runs, resolved once per run.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// LOCALBASE: the root the build's dependencies are installed in.
    pub root: PathBuf,
    /// PACKAGES: built packages go to `<packages>/All`.
    pub packages: PathBuf,
    /// DISTDIR: the distfile cache.
    pub distdir: PathBuf,
    /// WRKOBJDIR: each build works in `<wrkobjdir>/<category>/<name>/work`.
    pub wrkobjdir: PathBuf,
    /// MASTER_SITE_OVERRIDE: sites tried before the recipe's own.
    pub master_site_override: Vec<String>,
    /// MASTER_SITE_BACKUP: sites tried after the recipe's own.
    pub master_site_backup: Vec<String>,
    /// LOCALPATCHES: `<dir>/<category>/<name>/patch-*` applied after the recipe's.
    pub localpatches: Option<PathBuf>,
    /// MAKE_JOBS.
    pub make_jobs: usize,
    /// How phases after fetch are confined: probed when a build first asks
    /// (see [`BuildSettings::sandbox`]), so that commands that only read
    /// these paths (upload, explain) never start bubblewrap.
    sandbox: std::sync::OnceLock<Sandbox>,
    /// Time limit of one download.
    pub fetch_timeout: Duration,
    /// Show progress bars (stderr is a terminal).
    pub progress: bool,
    /// depot's own working areas under the root that other runs write
    /// while this build runs (a bulk's directory, a node's work dir): the
    /// root guard of an unconfined build leaves them alone.
    pub scratch: Vec<PathBuf>,
}

/// How a build's phases are confined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandbox {
    /// bubblewrap at this path: the root read-only, only WRKDIR writable, no network.
    Bwrap(PathBuf),
    /// None could be had, and why; the root is checked after install instead.
    Unavailable(String),
}

impl Sandbox {
    /// Use bubblewrap if it is installed and works here.
    pub fn probe() -> Sandbox {
        if std::env::var_os("DEPOT_NO_SANDBOX").is_some_and(|v| !v.is_empty()) {
            return Sandbox::Unavailable("DEPOT_NO_SANDBOX is set".to_owned());
        }
        let Some(bwrap) = phases::find_program("bwrap", &phases::system_path()) else {
            return Sandbox::Unavailable(
                "bubblewrap (bwrap) is not installed; install it to confine builds".to_owned(),
            );
        };
        // A namespace can fail to come up under a moment's pressure (a
        // bulk starts many builds at once): only a repeated failure means
        // this machine cannot confine builds.
        let works = (0..3).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 * attempt));
            }
            std::process::Command::new(&bwrap)
                .args([
                    "--ro-bind",
                    "/",
                    "/",
                    "--unshare-net",
                    "--die-with-parent",
                    "true",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if works {
            Sandbox::Bwrap(bwrap)
        } else {
            Sandbox::Unavailable(format!(
                "{} cannot make namespaces here (a container without user namespaces?)",
                bwrap.display()
            ))
        }
    }
}

impl BuildSettings {
    /// How this machine confines a build, probed once per run.
    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.get_or_init(Sandbox::probe)
    }

    /// Defaults under the root, overridden by the config's `[build]` and the
    /// environment (`PACKAGES`, `DISTDIR`, `WRKOBJDIR`, `MASTER_SITE_OVERRIDE`,
    /// `MASTER_SITE_BACKUP`, `LOCALPATCHES`, `MAKE_JOBS`).
    pub fn from_env(settings: &crate::settings::Settings) -> Result<BuildSettings> {
        let root = settings.root.as_path();
        let dir = |var: &str, default: &str| -> Result<PathBuf> {
            match settings.build_value(var) {
                Some(v) => crate::settings::absolute(Path::new(v)),
                None => Ok(root.join(default)),
            }
        };
        let sites = |var: &str| -> Vec<String> {
            settings
                .build_value(var)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let make_jobs = match settings.build_value("MAKE_JOBS") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("MAKE_JOBS={v}: expected a positive number"))?,
            _ => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        };
        Ok(BuildSettings {
            root: root.to_owned(),
            packages: dir("PACKAGES", "var/packages")?,
            distdir: dir("DISTDIR", "var/distfiles")?,
            wrkobjdir: dir("WRKOBJDIR", "var/work")?,
            master_site_override: sites("MASTER_SITE_OVERRIDE"),
            master_site_backup: sites("MASTER_SITE_BACKUP"),
            localpatches: settings.build_value("LOCALPATCHES").map(PathBuf::from),
            make_jobs,
            sandbox: std::sync::OnceLock::new(),
            fetch_timeout: settings.download.timeout,
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            scratch: Vec::new(),
        })
    }

    /// The depot dir a package is built for (its PREFIX).
    pub fn prefix(&self, pkgname: &str) -> PathBuf {
        self.root.join("packages").join(pkgname)
    }

    /// `<PACKAGES>/All/<PKGNAME>.tgz`.
    pub fn package_file(&self, pkgname: &str) -> PathBuf {
        self.packages.join("All").join(format!("{pkgname}.tgz"))
    }
}

/// A dependency resolved to an installed package.
#[derive(Debug, Clone)]
pub struct ResolvedDep {
    /// The pattern the recipe gives.
    pub pattern: String,
    /// The installed package that satisfies it.
    pub pkgname: String,
    /// Its depot dir.
    pub depot_dir: PathBuf,
    /// Its files and symlinks, relative to the depot dir (for the private view).
    pub paths: Vec<String>,
    /// Which list it comes from.
    pub kind: DependKind,
}

/// Where a build tells what it does. Phase logs always go to files under WRKDIR.
pub trait Reporter: Sync {
    /// A phase starts.
    fn phase(&self, pkgname: &str, phase: &str);
    /// Something worth saying that is not an error.
    fn note(&self, pkgname: &str, message: &str);
}

/// One status line per phase on stderr.
#[derive(Debug, Default)]
pub struct Terminal {
    /// Say nothing.
    pub quiet: bool,
}

impl Reporter for Terminal {
    fn phase(&self, pkgname: &str, phase: &str) {
        if !self.quiet {
            crate::output::say!("=> {phase} {pkgname}");
        }
    }
    fn note(&self, pkgname: &str, message: &str) {
        if !self.quiet {
            crate::output::say!("{pkgname}: {message}");
        }
    }
}

/// Everything one build needs.
pub struct Build<'a> {
    /// The recipe.
    pub recipe: &'a Recipe,
    /// Settings.
    pub settings: &'a BuildSettings,
    /// Every dependency of the recipe, resolved.
    pub deps: &'a [ResolvedDep],
    /// Where status goes.
    pub reporter: &'a dyn Reporter,
}

/// What a build produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The package file, when the build went as far as `package`.
    pub package: Option<PathBuf>,
    /// Phases that ran (not skipped as already done), with how long each took.
    pub ran: Vec<(&'static str, Duration)>,
}

impl Build<'_> {
    /// `<WRKOBJDIR>/<category>/<name>`.
    pub fn base_dir(&self) -> PathBuf {
        self.settings.wrkobjdir.join(&self.recipe.pkgpath)
    }

    /// WRKDIR.
    pub fn wrkdir(&self) -> PathBuf {
        self.base_dir().join("work")
    }

    /// WRKSRC.
    pub fn wrksrc(&self) -> PathBuf {
        self.wrkdir().join(
            self.recipe
                .file
                .wrksrc
                .as_deref()
                .unwrap_or(&self.recipe.file.distname),
        )
    }

    /// The DESTDIR staging area.
    pub fn destdir(&self) -> PathBuf {
        self.wrkdir().join(".destdir")
    }

    /// PREFIX: the package's depot dir.
    pub fn prefix(&self) -> PathBuf {
        self.settings.prefix(&self.recipe.pkgname)
    }

    /// Where the installed files are staged: DESTDIR + PREFIX.
    pub fn staged_prefix(&self) -> PathBuf {
        let prefix = self.prefix();
        let rel = prefix.strip_prefix("/").unwrap_or(&prefix);
        self.destdir().join(rel)
    }

    /// The log of a phase.
    pub fn log_path(&self, phase: &str) -> PathBuf {
        self.wrkdir().join(".logs").join(format!("{phase}.log"))
    }

    /// What the cookies and the package record: the recipe's hash and the
    /// exact dependencies built against.
    pub fn identity(&self) -> String {
        let mut deps: Vec<&str> = self.deps.iter().map(|d| d.pkgname.as_str()).collect();
        deps.sort_unstable();
        deps.dedup();
        format!("{} {}", self.recipe.hash, deps.join(" "))
    }
}

/// The phases a target needs, in order (`test` only when asked for).
pub fn phases_for(target: &str) -> Result<Vec<&'static str>> {
    let Some(end) = PHASES.iter().position(|p| *p == target) else {
        bail!(
            "unknown phase {}; the phases are {}",
            crate::quote::name(target),
            PHASES.join(", ")
        );
    };
    Ok(PHASES[..=end]
        .iter()
        .copied()
        .filter(|p| *p != "test" || target == "test")
        .collect())
}

/// Run a build up to and including `target`, resuming after the last finished phase.
pub fn run(build: &Build<'_>, target: &str) -> Result<Outcome> {
    let phases = phases_for(target)?;
    let declared: Vec<&str> = build
        .recipe
        .depends
        .iter()
        .map(|d| d.pattern.as_str())
        .collect();
    for pattern in &declared {
        if !build.deps.iter().any(|d| d.pattern == *pattern) {
            bail!(
                "{}: dependency {pattern} is not resolved to an installed package",
                build.recipe.pkgname
            );
        }
    }
    let _lock = phases::lock_workdir(build)?;
    phases::prepare_workdir(build)?;
    let mut outcome = Outcome::default();
    let guard = phases::RootGuard::new(build);
    for &phase in &phases {
        if phases::done(build, phase) {
            continue;
        }
        build.reporter.phase(&build.recipe.pkgname, phase);
        let started = std::time::Instant::now();
        let result = phases::run_phase(build, phase, &mut outcome);
        // Whatever the phase made of it, nothing may have reached the root.
        let guarded = guard.check(build);
        guarded
            .and(result)
            .with_context(|| format!("{}: {phase} failed", build.recipe.pkgname))?;
        phases::mark_done(build, phase)?;
        outcome.ran.push((phase, started.elapsed()));
    }
    if phases.last() == Some(&"package") && !build.recipe.file.no_package {
        outcome.package = Some(build.settings.package_file(&build.recipe.pkgname));
    }
    Ok(outcome)
}

/// Remove a build's work directory (`depot build clean`).
pub fn clean(build: &Build<'_>) -> Result<()> {
    let base = build.base_dir();
    if base.exists() {
        crate::linking::remove_tree(&base)?;
    }
    Ok(())
}
