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
    /// `BINPKG_SITES` entries, as given (`${arch}`, `${rel}` not yet expanded).
    pub binpkg_sites: Vec<String>,
    /// How long a writer waits for another one (`None`: not at all).
    pub lock_wait: Option<Duration>,
    /// How many generations each view keeps (unless the view says otherwise).
    pub keep_generations: usize,
    /// Downloads: timeout, retries, parallel jobs.
    pub download: Download,
    /// Trusted summary signing keys, by site.
    pub site_keys: Vec<SiteKeys>,
    /// `VERIFIED_INSTALLATION`: whether signed packages are required.
    pub verified_installation: Verified,
    /// The builder's settings as given (`[build]` in the config, or the
    /// environment variable of the same name): `PACKAGES`, `DISTDIR`, ...
    pub build: Vec<(&'static str, String)>,
    /// The config file read (it may not exist).
    pub config_file: PathBuf,
    /// Where each setting came from, for `depot config show`.
    pub origins: Vec<Origin>,
}

/// Download settings.
#[derive(Debug, Clone, Copy)]
pub struct Download {
    /// How long one request may take.
    pub timeout: Duration,
    /// How many more times a request that may pass is tried.
    pub retries: u32,
    /// How many downloads run at once.
    pub jobs: usize,
}

/// The trusted public keys (minisign, base64) of one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteKeys {
    /// The site as the config names it (normalised by [`site_id`]).
    pub site: String,
    /// The keys.
    pub keys: Vec<String>,
}

/// pkg_install's `VERIFIED_INSTALLATION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verified {
    /// Unsigned packages install (signatures present are still checked).
    Never,
    /// As `never`, for pkg_install's sake (it asks; depot does not).
    Trusted,
    /// Every package must be signed and its signature must verify.
    Always,
}

/// Where one setting came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Origin {
    /// The setting, as the config file names it.
    pub key: &'static str,
    /// Its effective value.
    pub value: String,
    /// `default`, the config file, an environment variable or a flag.
    pub from: String,
}

/// A site as keys and settings name it: without a trailing `/` or `/All`.
pub fn site_id(site: &str) -> &str {
    let site = site.trim_end_matches('/');
    site.strip_suffix("/All").unwrap_or(site)
}

/// The default window of generations a view keeps.
pub const DEFAULT_KEEP_GENERATIONS: usize = 10;

/// `<root>/etc/depot.toml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Directories and URLs of packages, searched in order.
    pkg_path: Option<Entries>,
    /// Base URLs of binary repositories.
    binpkg_sites: Option<Entries>,
    /// `never`, `trusted` or `always`.
    verified_installation: Option<Verified>,
    #[serde(default)]
    download: DownloadConfig,
    #[serde(default)]
    views: ViewsConfig,
    /// `[build]`: the builder's settings.
    #[serde(default)]
    build: BuildConfig,
    /// `[bulk]`: bulk builds' settings.
    #[serde(default)]
    bulk: BulkConfig,
    /// `[audit]`: pkg-vulnerabilities.
    #[serde(default)]
    audit: AuditConfig,
    /// `[sites."URL"]` tables.
    #[serde(default)]
    sites: std::collections::BTreeMap<String, SiteConfig>,
}

/// A list, or one string of entries (`;` for pkg_path, spaces for binpkg_sites).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum Entries {
    List(Vec<String>),
    Text(String),
}

impl Entries {
    fn split(self, separator: fn(char) -> bool) -> Vec<String> {
        match self {
            Entries::List(list) => list,
            Entries::Text(text) => split_entries(&text, separator),
        }
    }
}

fn split_entries(text: &str, separator: fn(char) -> bool) -> Vec<String> {
    text.split(separator)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `[download]` in the config.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadConfig {
    timeout: Option<u64>,
    retries: Option<u32>,
    jobs: Option<usize>,
}

/// `[build]` in the config: each is also an environment variable (upper case).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildConfig {
    packages: Option<PathBuf>,
    distdir: Option<PathBuf>,
    wrkobjdir: Option<PathBuf>,
    localpatches: Option<PathBuf>,
    make_jobs: Option<usize>,
    master_site_override: Option<Entries>,
    master_site_backup: Option<Entries>,
}

/// `[audit]` in the config: pkg_install's names for the vulnerability list.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditConfig {
    /// Where pkg-vulnerabilities is kept (default: the package database dir).
    pkgvulndir: Option<PathBuf>,
    /// Where `fetch-pkg-vulnerabilities` gets it.
    pkgvulnurl: Option<String>,
    /// `never`, `warn` (the default) or `always` (refuse to install listed packages).
    check_vulnerabilities: Option<String>,
    /// `yes` to report end-of-life packages too.
    check_eol: Option<String>,
    /// The GnuPG keyring `-s` checks signatures with.
    gpg_keyring_pkgvuln: Option<PathBuf>,
    /// Advisory URLs (space separated) the audits leave out unless `-i`.
    ignore_urls: Option<String>,
}

/// `[bulk]` in the config.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkConfig {
    /// Logs and reports.
    dir: Option<PathBuf>,
    /// The nodes file of multi-machine bulks.
    nodes: Option<PathBuf>,
    /// Seconds a lost node rests before it is tried again.
    node_retry: Option<f64>,
    /// Seconds to wait for a node when all are down.
    node_wait: Option<f64>,
}

/// The builder's settings: (config key, environment variable).
pub(crate) const BUILD_KEYS: &[(&str, &str)] = &[
    ("build.packages", "PACKAGES"),
    ("build.distdir", "DISTDIR"),
    ("build.wrkobjdir", "WRKOBJDIR"),
    ("build.localpatches", "LOCALPATCHES"),
    ("build.make_jobs", "MAKE_JOBS"),
    ("build.master_site_override", "MASTER_SITE_OVERRIDE"),
    ("build.master_site_backup", "MASTER_SITE_BACKUP"),
    ("bulk.dir", "BULKDIR"),
    ("bulk.nodes", "BULK_NODES"),
    ("bulk.node_retry", "BULK_NODE_RETRY"),
    ("bulk.node_wait", "BULK_NODE_WAIT"),
    ("audit.pkgvulndir", "PKGVULNDIR"),
    ("audit.pkgvulnurl", "PKGVULNURL"),
    ("audit.check_vulnerabilities", "CHECK_VULNERABILITIES"),
    ("audit.check_eol", "CHECK_EOL"),
    ("audit.gpg_keyring_pkgvuln", "GPG_KEYRING_PKGVULN"),
    ("audit.ignore_urls", "IGNORE_URLS"),
];

/// `[sites."URL"]` in the config.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteConfig {
    /// Trusted minisign public keys (the base64 line of a `.pub` file).
    #[serde(default)]
    keys: Vec<String>,
}

/// `[views]` in the config.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewsConfig {
    /// Generations each view keeps (at least 1).
    keep: Option<usize>,
}

/// Read the config file if there is one; a bad one is an error naming it.
fn read_config(path: &Path, required: bool) -> Result<Config> {
    let text = match fs_err::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(Config::default());
        }
        Err(e) => return Err(e.into()),
    };
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// What the command line says about settings (flags already merged with
/// their environment variables by clap).
#[derive(Debug, Default, Clone, Copy)]
pub struct Flags<'a> {
    /// `--root` / `DEPOT_ROOT`.
    pub root: Option<&'a Path>,
    /// `--pkg-dbdir` / `PKG_DBDIR`.
    pub dbdir: Option<&'a Path>,
    /// `--wait` / `DEPOT_LOCK_WAIT`.
    pub wait: Option<&'a str>,
    /// `--config` / `DEPOT_CONFIG`.
    pub config: Option<&'a Path>,
}

/// The origin of a value that a flag or its environment variable gave.
fn flag_origin(flag: &str, var: &str, value: &std::ffi::OsStr) -> String {
    if std::env::var_os(var).is_some_and(|v| v == value) {
        format!("environment {var}")
    } else {
        format!("flag {flag}")
    }
}

/// The depot dir the database records for a package installed in the depot:
/// relative to the root, so that the root can be moved or copied.
pub fn recorded_depot_dir(pkgname: &str) -> String {
    format!("packages/{pkgname}")
}

/// Default root when neither `--root` nor `DEPOT_ROOT` is given.
pub const DEFAULT_ROOT: &str = "/usr/pkg";

impl Settings {
    /// Resolve from the command line (already merged with the environment by
    /// clap), the environment and the config file: flags override the
    /// environment, which overrides the file, which overrides the defaults.
    pub fn resolve(flags: Flags<'_>) -> Result<Settings> {
        let mut origins = Vec::new();
        let mut origin = |key: &'static str, value: String, from: String| {
            origins.push(Origin { key, value, from });
        };
        let root_given = flags.root.map(Path::to_path_buf);
        let root = root_given
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        let root =
            absolute(&root).with_context(|| format!("cannot resolve root {}", root.display()))?;
        origin(
            "root",
            root.display().to_string(),
            root_given.map_or_else(
                || "default".to_owned(),
                |r| flag_origin("--root", "DEPOT_ROOT", r.as_os_str()),
            ),
        );
        let config_file = match flags.config {
            Some(c) => absolute(c)?,
            None => root.join("etc/depot.toml"),
        };
        let config = read_config(&config_file, flags.config.is_some())?;
        let file = format!("config {}", config_file.display());
        let (dbdir, from) = if let Some(d) = flags.dbdir {
            let d = absolute(d)?;
            let from = flag_origin("--pkg-dbdir", "PKG_DBDIR", d.as_os_str());
            (d, from)
        } else {
            (root.join("pkgdb"), "default".to_owned())
        };
        origin("pkg_dbdir", dbdir.display().to_string(), from);
        let mut list = |key: &'static str,
                        var: &str,
                        from_file: Option<Entries>,
                        separator: fn(char) -> bool|
         -> Vec<String> {
            let (entries, from) = match std::env::var(var) {
                Ok(v) => (split_entries(&v, separator), format!("environment {var}")),
                Err(_) => match from_file {
                    Some(e) => (e.split(separator), file.clone()),
                    None => (Vec::new(), "default".to_owned()),
                },
            };
            origin(key, entries.join(" "), from);
            entries
        };
        let pkg_path = list("pkg_path", "PKG_PATH", config.pkg_path, |c| c == ';');
        let binpkg_sites = list(
            "binpkg_sites",
            "BINPKG_SITES",
            config.binpkg_sites,
            char::is_whitespace,
        );
        let keep_generations = match config.views.keep {
            Some(0) => bail!(
                "{}: [views] keep = 0: a view keeps at least its current generation (1)",
                config_file.display()
            ),
            Some(n) => {
                origin("views.keep", n.to_string(), file.clone());
                n
            }
            None => {
                origin(
                    "views.keep",
                    DEFAULT_KEEP_GENERATIONS.to_string(),
                    "default".to_owned(),
                );
                DEFAULT_KEEP_GENERATIONS
            }
        };
        let mut number = |key: &'static str, var: &str, from_file: Option<u64>, default: u64| {
            let env = std::env::var(var).ok();
            let (value, from) = match env.as_deref().map(str::trim) {
                Some(v) => match v.parse::<u64>() {
                    Ok(n) => (n, format!("environment {var}")),
                    Err(_) => bail!("{var}={v}: expected a whole number"),
                },
                None => match from_file {
                    Some(n) => (n, file.clone()),
                    None => (default, "default".to_owned()),
                },
            };
            origin(key, value.to_string(), from);
            Ok(value)
        };
        let timeout = number(
            "download.timeout",
            "FETCH_TIMEOUT",
            config.download.timeout,
            300,
        )?;
        let retries = number(
            "download.retries",
            "FETCH_RETRIES",
            config.download.retries.map(u64::from),
            2,
        )?;
        let jobs = number(
            "download.jobs",
            "DEPOT_DOWNLOAD_JOBS",
            config.download.jobs.map(|j| j as u64),
            4,
        )?;
        let verified_installation = if let Ok(v) = std::env::var("VERIFIED_INSTALLATION") {
            let parsed = match v.trim() {
                "always" => Verified::Always,
                "trusted" => Verified::Trusted,
                "never" | "" => Verified::Never,
                other => bail!("VERIFIED_INSTALLATION={other}: expected never, trusted or always"),
            };
            origin(
                "verified_installation",
                v.trim().to_owned(),
                "environment VERIFIED_INSTALLATION".to_owned(),
            );
            parsed
        } else {
            let value = config.verified_installation.unwrap_or(Verified::Never);
            origin(
                "verified_installation",
                format!("{value:?}").to_lowercase(),
                if config.verified_installation.is_some() {
                    file.clone()
                } else {
                    "default".to_owned()
                },
            );
            value
        };
        let mut build = Vec::new();
        let from_file = |key: &str| -> Option<String> {
            let b = &config.build;
            let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
            let sites = |e: &Option<Entries>| {
                e.as_ref().map(|e| match e {
                    Entries::List(l) => l.join(" "),
                    Entries::Text(t) => t.clone(),
                })
            };
            match key {
                "PACKAGES" => path(&b.packages),
                "DISTDIR" => path(&b.distdir),
                "WRKOBJDIR" => path(&b.wrkobjdir),
                "LOCALPATCHES" => path(&b.localpatches),
                "MAKE_JOBS" => b.make_jobs.map(|n| n.to_string()),
                "MASTER_SITE_OVERRIDE" => sites(&b.master_site_override),
                "MASTER_SITE_BACKUP" => sites(&b.master_site_backup),
                "BULKDIR" => path(&config.bulk.dir),
                "BULK_NODES" => path(&config.bulk.nodes),
                "BULK_NODE_RETRY" => config.bulk.node_retry.map(|s| s.to_string()),
                "BULK_NODE_WAIT" => config.bulk.node_wait.map(|s| s.to_string()),
                "PKGVULNDIR" => path(&config.audit.pkgvulndir),
                "PKGVULNURL" => config.audit.pkgvulnurl.clone(),
                "CHECK_VULNERABILITIES" => config.audit.check_vulnerabilities.clone(),
                "CHECK_EOL" => config.audit.check_eol.clone(),
                "GPG_KEYRING_PKGVULN" => path(&config.audit.gpg_keyring_pkgvuln),
                "IGNORE_URLS" => config.audit.ignore_urls.clone(),
                _ => None,
            }
        };
        for (key, var) in BUILD_KEYS {
            let (value, from) = match std::env::var(var).ok().filter(|v| !v.is_empty()) {
                Some(v) => (Some(v), format!("environment {var}")),
                None => match from_file(var) {
                    Some(v) => (Some(v), file.clone()),
                    None => (None, "default".to_owned()),
                },
            };
            origin(key, value.clone().unwrap_or_default(), from);
            if let Some(v) = value {
                build.push((*var, v));
            }
        }
        let mut site_keys = Vec::new();
        for (site, table) in config.sites {
            for key in &table.keys {
                crate::repo::sign::public_key(key).with_context(|| {
                    format!("{}: [sites.\"{site}\"] keys", config_file.display())
                })?;
            }
            origin(
                "sites.keys",
                format!("{site}: {}", table.keys.join(" ")),
                file.clone(),
            );
            site_keys.push(SiteKeys {
                site: site_id(&site).to_owned(),
                keys: table.keys,
            });
        }
        Ok(Settings {
            root,
            dbdir,
            pkg_path,
            binpkg_sites,
            lock_wait: flags.wait.map(parse_wait).transpose()?.flatten(),
            keep_generations,
            download: Download {
                timeout: Duration::from_secs(timeout),
                retries: u32::try_from(retries).unwrap_or(u32::MAX),
                jobs: (jobs as usize).max(1),
            },
            site_keys,
            verified_installation,
            build,
            config_file,
            origins,
        })
    }

    /// A builder setting (`PACKAGES`, `DISTDIR`, ...): the environment, else
    /// the config's `[build]`.
    pub fn build_value(&self, var: &str) -> Option<&str> {
        self.build
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.as_str())
    }

    /// The trusted keys of `site` (a PKG_PATH or BINPKG_SITES entry, expanded).
    pub fn keys_for(&self, site: &str) -> &[String] {
        let id = site_id(site);
        self.site_keys
            .iter()
            .find(|k| site_id(&crate::repo::site::expand(&k.site)) == id)
            .map_or(&[], |k| k.keys.as_slice())
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
