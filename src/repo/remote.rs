//! Sites over HTTP used where a directory of packages would be: `depot add`
//! with a URL or an HTTP `PKG_PATH` entry, and `bin-install` with HTTP
//! `BINPKG_SITES`. Packages are found through the sites' summaries and
//! downloaded, checked, into the cache.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::catalog::Catalog;
use super::download::Downloader;
use super::site::Site;

/// HTTP sites used as directories of packages are (`PKG_PATH` entries,
/// the directories of URL arguments, `BINPKG_SITES` for bin-install): their
/// catalogue, and where their files are downloaded.
pub struct Remote {
    /// The database the catalogue is in.
    pub db: pkgdb::Database,
    /// The sites' catalogue.
    pub catalog: Catalog,
    downloader: Downloader,
}

impl Remote {
    /// The catalogue of `sites`, if there are any.
    pub fn open(settings: &crate::settings::Settings, sites: Vec<Site>) -> Result<Option<Remote>> {
        if sites.is_empty() {
            return Ok(None);
        }
        let mut db = pkgdb::Database::open(&settings.dbdir)?;
        let catalog = Catalog::refresh(settings, &mut db, sites)?;
        Ok(Some(Remote {
            db,
            catalog,
            downloader: Downloader::new(
                &settings.root.join("var/cache/packages"),
                settings.download.timeout,
                settings.download.retries,
            ),
        }))
    }

    /// The best package for `pattern` on the HTTP sites (`only`: on that one).
    pub fn best(&self, pattern: &str, only: Option<&str>) -> Result<Option<pkgdb::RemotePackage>> {
        self.catalog.best(&self.db, pattern, only)
    }

    /// Download (or find in the cache) and check a package.
    pub fn fetch(&self, package: &pkgdb::RemotePackage) -> Result<PathBuf> {
        let site = self
            .catalog
            .site_of(package)
            .with_context(|| format!("{}: its site is gone", package.pkgname))?;
        self.downloader.fetch(site, package, &|_| {})
    }
}
