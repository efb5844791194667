//! Resolves flags and environment into [`Settings`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Where things are, resolved once per run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The root (absolute).
    pub root: PathBuf,
    /// The package database directory.
    pub dbdir: PathBuf,
    /// `PKG_PATH` entries.
    pub pkg_path: Vec<String>,
    /// How long a writer waits for another one (`None`: not at all).
    pub lock_wait: Option<Duration>,
    /// How many generations each view keeps (unless the view says otherwise).
    pub keep_generations: usize,
}

/// The default window of generations a view keeps.
pub const DEFAULT_KEEP_GENERATIONS: usize = 10;

/// `<root>/etc/depot.toml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    views: ViewsConfig,
}

/// `[views]` in the config.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewsConfig {
    /// Generations each view keeps (at least 1).
    keep: Option<usize>,
}

/// Read the config file if there is one; a bad one is an error naming it.
fn read_config(path: &Path) -> Result<Config> {
    let text = match fs_err::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(e.into()),
    };
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The depot dir the database records for a package installed in the depot:
/// relative to the root, so that the root can be moved or copied.
pub fn recorded_depot_dir(pkgname: &str) -> String {
    format!("packages/{pkgname}")
}

/// Default root when neither `--root` nor `DEPOT_ROOT` is given.
pub const DEFAULT_ROOT: &str = "/usr/pkg";

impl Settings {
    /// Resolve from the command line (already merged with the environment by clap).
    pub fn resolve(
        root: Option<&Path>,
        dbdir: Option<&Path>,
        wait: Option<&str>,
    ) -> Result<Settings> {
        let root = root.map_or_else(|| PathBuf::from(DEFAULT_ROOT), Path::to_path_buf);
        let root =
            absolute(&root).with_context(|| format!("cannot resolve root {}", root.display()))?;
        let dbdir = match dbdir {
            Some(d) => absolute(d)?,
            None => root.join("pkgdb"),
        };
        let pkg_path = std::env::var("PKG_PATH")
            .map(|v| {
                v.split(';')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let config = read_config(&root.join("etc/depot.toml"))?;
        let keep_generations = match config.views.keep {
            Some(0) => bail!(
                "{}: [views] keep = 0: a view keeps at least its current generation (1)",
                root.join("etc/depot.toml").display()
            ),
            Some(n) => n,
            None => DEFAULT_KEEP_GENERATIONS,
        };
        Ok(Settings {
            root,
            dbdir,
            pkg_path,
            lock_wait: wait.map(parse_wait).transpose()?.flatten(),
            keep_generations,
        })
    }

    /// `<root>/packages`.
    pub fn packages_dir(&self) -> PathBuf {
        self.root.join("packages")
    }

    /// `<root>/packages/.work`: installs stage here and deletes put depot dirs
    /// here on their way out (same file system as the depot dirs, so both are one
    /// rename). Kept apart so that a writer finds what an interrupted run left
    /// without listing every depot dir.
    pub fn work_dir(&self) -> PathBuf {
        self.packages_dir().join(".work")
    }

    /// `<root>/packages/<PKGNAME>`.
    pub fn depot_dir(&self, pkgname: &str) -> PathBuf {
        self.packages_dir().join(pkgname)
    }

    /// Where a package's files are, from the depot dir the database records:
    /// relative paths (`packages/<PKGNAME>`) are under this root, wherever it
    /// now is; an absolute one (a package imported from pkg_install) is kept.
    pub fn package_dir(&self, recorded: &str) -> PathBuf {
        self.root.join(recorded)
    }

    /// `<root>/views`.
    pub fn views_dir(&self) -> PathBuf {
        self.root.join("views")
    }
}

/// `--wait`/`DEPOT_LOCK_WAIT`: `forever` (or empty) waits as long as it takes,
/// a number of seconds waits that long, `0` or `no` not at all.
fn parse_wait(value: &str) -> Result<Option<Duration>> {
    match value.trim() {
        "" | "forever" | "yes" => Ok(Some(Duration::MAX)),
        "no" => Ok(None),
        seconds => {
            let seconds: f64 = seconds
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .with_context(|| {
                    format!("--wait={seconds}: expected a number of seconds, or `forever`")
                })?;
            Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
        }
    }
}

/// `path` made absolute against the current directory, with `.` and `..` resolved lexically.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    let path = std::path::absolute(path)?;
    // Normalise `..` and `.` lexically; symlinks in the root are kept as given.
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Ok(out)
}
