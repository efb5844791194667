//! Resolving a recipe's dependencies against the installed packages, and
//! `bin-install` (pkgsrc's): dependencies first, each from an up-to-date
//! binary package when one exists (in PACKAGES or a local BINPKG_SITES
//! entry), built from its recipe otherwise; then the package itself.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use pkgdb::Queries as _;

use super::recipe::{Depend, Recipe};
use super::{Build, BuildSettings, Reporter, ResolvedDep, package};
use crate::install::Context;
use crate::install::add::AddOptions;
use crate::package::archive::read_metadata;
use crate::package::meta::build_info_var;
use crate::package::pattern;
use crate::repo::site::Location;
use crate::settings::Settings;

/// What bin-install and `build --install` need.
pub struct Installer<'a> {
    /// The root.
    pub settings: &'a Settings,
    /// The builder's settings.
    pub build: &'a BuildSettings,
    /// Where status goes.
    pub reporter: &'a dyn Reporter,
    /// The `All/` directories of the local BINPKG_SITES entries.
    pub binpkg_sites: Vec<PathBuf>,
    /// The HTTP BINPKG_SITES entries, through their summaries.
    pub remote: Option<crate::repo::remote::Remote>,
    /// The view installed packages are linked into (`None`: none).
    pub view: Option<String>,
}

/// The root's database for reading, `None` when the root has none yet.
fn open_db(settings: &Settings) -> Result<Option<pkgdb::Database>> {
    if !settings.dbdir.join(pkgdb::DATABASE_FILE).exists() {
        return Ok(None);
    }
    Ok(Some(pkgdb::Database::open_read(&settings.dbdir)?))
}

/// The `BINPKG_SITES`: local directories (each site's `All/`), and the HTTP
/// sites through their summaries.
pub fn binpkg_sites(
    settings: &Settings,
    reporter: &dyn Reporter,
) -> Result<(Vec<PathBuf>, Option<crate::repo::remote::Remote>)> {
    let sites = match crate::repo::site::binpkg_sites_of(&settings.binpkg_sites) {
        Ok(sites) => sites,
        Err(e) => {
            reporter.note("bin-install", &format!("{e:#}; skipped"));
            return Ok((Vec::new(), None));
        }
    };
    let mut dirs = Vec::new();
    let mut http = Vec::new();
    for site in sites {
        match &site.location {
            Location::Dir(dir) => dirs.push(dir.clone()),
            Location::Http(_) => http.push(site),
        }
    }
    let remote = crate::repo::remote::Remote::open(settings, http)?;
    for label in remote.iter().flat_map(|r| &r.catalog.unkeyed) {
        reporter.note(
            "bin-install",
            &format!(
                "{label}: no trusted keys for this site; its summary is not signature-checked"
            ),
        );
    }
    Ok((dirs, remote))
}

impl Installer<'_> {
    /// Resolve every dependency of `recipe` to an installed package; those
    /// that nothing installed satisfies are returned apart.
    pub fn resolve(&self, recipe: &Recipe) -> Result<(Vec<ResolvedDep>, Vec<Depend>)> {
        let Some(db) = open_db(self.settings)? else {
            return Ok((Vec::new(), recipe.depends.clone()));
        };
        let installed = db.packages()?;
        let mut resolved = Vec::new();
        let mut missing = Vec::new();
        for dep in &recipe.depends {
            let best =
                pattern::find_best(&dep.pattern, installed.iter().map(|p| p.pkgname.as_str()))
                    .and_then(|best| installed.iter().find(|p| p.pkgname == best));
            match best {
                Some(package) => resolved.push(ResolvedDep {
                    pattern: dep.pattern.clone(),
                    pkgname: package.pkgname.clone(),
                    depot_dir: self.settings.package_dir(&package.depot_dir),
                    paths: db.entry_paths(package.id, "")?,
                    kind: dep.kind,
                }),
                None => missing.push(dep.clone()),
            }
        }
        Ok((resolved, missing))
    }

    /// Whether exactly `pkgname` is installed.
    fn is_installed(&self, pkgname: &str) -> Result<bool> {
        Ok(match open_db(self.settings)? {
            Some(db) => db.package(pkgname)?.is_some(),
            None => false,
        })
    }

    /// The error for dependencies that are not installed.
    pub fn missing_error(recipe: &Recipe, missing: &[Depend]) -> anyhow::Error {
        let list: Vec<String> = missing
            .iter()
            .map(|d| format!("{} (recipe {})", d.pattern, d.recipe.display()))
            .collect();
        anyhow::anyhow!(
            "{}: dependencies not installed:\n  {}\nrun `depot bin-install {}` to build and install them first",
            recipe.pkgname,
            list.join("\n  "),
            recipe.dir.display()
        )
    }

    /// bin-install the recipe in `dir` and, first, everything it needs.
    /// Returns the PKGNAME installed (or already there).
    pub fn bin_install(
        &self,
        dir: &Path,
        automatic: bool,
        chain: &mut Vec<String>,
    ) -> Result<String> {
        let recipe = Recipe::load(dir)?;
        if let Some(start) = chain.iter().position(|p| *p == recipe.pkgpath) {
            let mut cycle = chain[start..].to_vec();
            cycle.push(recipe.pkgpath.clone());
            bail!("dependency cycle between recipes: {}", cycle.join(" -> "));
        }
        chain.push(recipe.pkgpath.clone());
        let (_, missing) = self.resolve(&recipe)?;
        for dep in &missing {
            let got = self
                .bin_install(&dep.recipe, true, chain)
                .with_context(|| format!("{} needs {}", recipe.pkgname, dep.pattern))?;
            if !pattern::pkg_match(&dep.pattern, &got) {
                bail!(
                    "{}: dependency {} names recipe {}, which makes {got}; that does not match",
                    recipe.pkgname,
                    dep.pattern,
                    dep.recipe.display()
                );
            }
        }
        chain.pop();
        if self.is_installed(&recipe.pkgname)? {
            return Ok(recipe.pkgname);
        }
        let (deps, missing) = self.resolve(&recipe)?;
        if !missing.is_empty() {
            return Err(Self::missing_error(&recipe, &missing));
        }
        let build = Build {
            recipe: &recipe,
            settings: self.build,
            deps: &deps,
            reporter: self.reporter,
        };
        let file = match self.up_to_date_package(&build) {
            Some(file) => {
                self.reporter
                    .note(&recipe.pkgname, &format!("using {}", file.display()));
                file
            }
            None => super::run(&build, "package")?.package.with_context(|| {
                format!("{}: no_package is set; nothing to install", recipe.pkgname)
            })?,
        };
        self.install(&file, automatic)?;
        Ok(recipe.pkgname)
    }

    /// A binary package of exactly this build (same recipe hash, same
    /// dependencies), from PACKAGES or a local BINPKG_SITES entry.
    pub fn up_to_date_package(&self, build: &Build<'_>) -> Option<PathBuf> {
        let name = format!("{}.tgz", build.recipe.pkgname);
        let mut candidates = vec![build.settings.package_file(&build.recipe.pkgname)];
        candidates.extend(self.binpkg_sites.iter().map(|s| s.join(&name)));
        let mut want: Vec<&str> = build.deps.iter().map(|d| d.pkgname.as_str()).collect();
        want.sort_unstable();
        want.dedup();
        // From an HTTP site: the exact package, downloaded (and checked) to be read.
        if let Some(remote) = &self.remote
            && let Ok(Some(offered)) = remote.best(&build.recipe.pkgname, None)
            && offered.pkgname == build.recipe.pkgname
        {
            match remote.fetch(&offered) {
                Ok(file) => candidates.push(file),
                Err(e) => self.reporter.note("bin-install", &format!("{e:#}")),
            }
        }
        candidates.into_iter().find(|file| {
            package_identity(file)
                .is_some_and(|(hash, with)| hash == build.recipe.hash && with == want)
        })
    }

    /// Install a package file into the root (linked into the view).
    pub fn install(&self, file: &Path, automatic: bool) -> Result<()> {
        let mut ctx = Context::writer(self.settings.clone())?;
        let options = AddOptions {
            automatic,
            view: self.view.clone(),
            ..AddOptions::default()
        };
        crate::install::add::add(&mut ctx, &[file.display().to_string()], &options)?;
        ctx.finish();
        Ok(())
    }
}

/// What a built package records of its build: the recipe hash and the
/// dependencies it was built with (sorted); `None` when the file cannot be
/// read or has no such record.
pub fn package_identity(file: &Path) -> Option<(String, Vec<String>)> {
    let meta = read_metadata(file).ok()?;
    build_identity(&meta.text("+BUILD_INFO").unwrap_or_default())
}

/// The recipe hash and sorted BUILT_WITH list of a `+BUILD_INFO` text.
pub fn build_identity(info: &str) -> Option<(String, Vec<String>)> {
    let hash = build_info_var(info, package::RECIPE_HASH)?;
    let mut with: Vec<String> = info
        .lines()
        .filter_map(|l| l.strip_prefix(package::BUILT_WITH))
        .filter_map(|l| l.strip_prefix('='))
        .map(|l| l.trim().to_owned())
        .collect();
    with.sort_unstable();
    Some((hash, with))
}
