//! The catalogue: what the configured sites offer, as rows in pkgdb.
//! [`Catalog::refresh`] brings each site's summary up to date (a conditional
//! request, or the summary file's stamp for a local site; a summary that did
//! not change is not read again), checks its signature against the keys the
//! config trusts for the site, and imports it; [`Catalog::best`] answers
//! pkg_install's best-match question across all sites, in site order.

use std::collections::HashSet;

use anyhow::{Context as _, Result, bail};
use pkgdb::{Database, RemotePackage, RemoteQueries as _};
use sha2::Digest as _;

use super::site::{Fetched, Site, SummaryFetcher};
use crate::package::{pattern, summary};
use crate::settings::Settings;

/// The sites, each with its row in pkgdb.
#[derive(Debug)]
pub struct Catalog {
    /// The sites in the order they are searched, with their site ids.
    pub sites: Vec<(Site, i64)>,
    /// Sites that have no trusted keys (their summaries were not signature-checked).
    pub unkeyed: Vec<String>,
}

/// The sites packages come from: `PKG_PATH` entries, then `BINPKG_SITES`.
pub fn configured_sites(settings: &Settings) -> Result<Vec<Site>> {
    let mut sites = settings
        .pkg_path
        .iter()
        .map(|entry| Site::parse(entry))
        .collect::<Result<Vec<_>>>()?;
    sites.extend(super::site::binpkg_sites_of(&settings.binpkg_sites)?);
    if sites.is_empty() {
        bail!(
            "no sites: set BINPKG_SITES (or PKG_PATH) to where packages are, in the environment or in {}",
            settings.config_file.display()
        );
    }
    Ok(sites)
}

/// A summary fetcher for the root's cache and download settings.
pub fn fetcher(settings: &Settings) -> SummaryFetcher {
    SummaryFetcher::new(
        &settings.root.join("var/cache/summaries"),
        settings.download.timeout,
        settings.download.retries,
    )
}

/// What a site's stamp records about the keys its summary was checked with.
fn keys_tag(keys: &[String]) -> Result<String> {
    if keys.is_empty() {
        return Ok(String::new());
    }
    let mut ids = keys
        .iter()
        .map(|k| super::sign::public_key(k).map(|k| super::sign::key_id(&k)))
        .collect::<Result<Vec<_>>>()?;
    ids.sort();
    Ok(format!(" keys={}", ids.join(",")))
}

impl Catalog {
    /// Bring every site's summary in `db` up to date.
    pub fn refresh(settings: &Settings, db: &mut Database, sites: Vec<Site>) -> Result<Catalog> {
        let fetcher = fetcher(settings);
        let mut out = Vec::new();
        let mut unkeyed = Vec::new();
        for site in sites {
            let keys = settings.keys_for(&site.label);
            let tag = keys_tag(keys)?;
            let row = db.site(&site.label)?;
            // A stamp counts only if the summary was checked with today's keys.
            let known = row.as_ref().and_then(|r| {
                let stamp = r.stamp.strip_suffix(tag.as_str())?;
                (!stamp.contains(" keys=")).then_some(stamp)
            });
            let id = match fetcher.fetch(&site, known, keys)? {
                Fetched::Unchanged => row.map(|r| r.id).context("an unchanged site has a row")?,
                Fetched::Summary { text, stamp } => {
                    let stamp = format!("{stamp}{tag}");
                    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
                    match row {
                        Some(r) if r.digest == digest => {
                            db.transaction(|tx| tx.restamp_site(&site.label, &stamp))?;
                            r.id
                        }
                        _ => import(db, &site, &text, &stamp, &digest)?,
                    }
                }
            };
            if keys.is_empty() {
                unkeyed.push(site.label.clone());
            }
            out.push((site, id));
        }
        Ok(Catalog {
            sites: out,
            unkeyed,
        })
    }

    /// What the sites offered when they were last imported, without asking
    /// them (for a reader that cannot write the database).
    pub fn as_imported(db: &Database, sites: Vec<Site>) -> Result<Catalog> {
        let mut out = Vec::new();
        for site in sites {
            match db.site(&site.label)? {
                Some(row) => out.push((site, row.id)),
                None => crate::output::caution!(
                    "{}: its summary was never imported; run the command as a user who may write the package database",
                    site.label
                ),
            }
        }
        Ok(Catalog {
            sites: out,
            unkeyed: Vec::new(),
        })
    }

    fn ids(&self) -> Vec<i64> {
        self.sites.iter().map(|(_, id)| *id).collect()
    }

    /// The site a package came from.
    pub fn site_of(&self, package: &RemotePackage) -> Option<&Site> {
        self.sites
            .iter()
            .find(|(_, id)| *id == package.site_id)
            .map(|(site, _)| site)
    }

    /// Every package matching `pattern`, in site order.
    pub fn matching(&self, db: &Database, pattern: &str) -> Result<Vec<RemotePackage>> {
        Ok(db
            .offered(&self.ids(), pattern::base_prefix(pattern))?
            .into_iter()
            .filter(|p| pattern::pkg_match(pattern, &p.pkgname))
            .collect())
    }

    /// The best package for `pattern` across the sites, or on the site
    /// labelled `only` (pkg_install's rule; on equal versions the earlier
    /// site wins).
    pub fn best(
        &self,
        db: &Database,
        pattern: &str,
        only: Option<&str>,
    ) -> Result<Option<RemotePackage>> {
        let mut best: Option<RemotePackage> = None;
        for candidate in self.matching(db, pattern)? {
            if only.is_some_and(|o| self.site_of(&candidate).is_none_or(|s| s.label != o)) {
                continue;
            }
            if pattern::beats(
                pattern,
                best.as_ref().map(|b| b.pkgname.as_str()),
                &candidate.pkgname,
            ) {
                best = Some(candidate);
            }
        }
        Ok(best)
    }

    /// Every package the sites offer, in site order.
    pub fn all(&self, db: &Database) -> Result<Vec<RemotePackage>> {
        Ok(db.offered(&self.ids(), None)?)
    }

    /// Packages whose name or comment contains `word`.
    pub fn search(&self, db: &Database, word: &str) -> Result<Vec<RemotePackage>> {
        Ok(db.search_offered(&self.ids(), word)?)
    }
}

/// Import a site's summary; its site id.
fn import(db: &mut Database, site: &Site, text: &str, stamp: &str, digest: &str) -> Result<i64> {
    let records =
        summary::parse(text).with_context(|| format!("{}: a corrupt summary", site.label))?;
    let mut seen = HashSet::new();
    let packages: Vec<RemotePackage> = records
        .into_iter()
        .filter(|r| seen.insert(r.pkgname.clone()))
        .map(|r| {
            let (name, version) = pattern::split_pkgname(&r.pkgname).unwrap_or((&r.pkgname, ""));
            RemotePackage {
                site_id: 0,
                name: name.to_owned(),
                version: version.to_owned(),
                comment: r.comment,
                file_name: r.file_name,
                file_size: r.file_size.map(|s| s as i64),
                sha256: r.sha256,
                size_pkg: r.size_pkg.map(|s| s as i64),
                depends: r.depends,
                conflicts: r.conflicts,
                record: r.text,
                pkgname: r.pkgname,
            }
        })
        .collect();
    Ok(db.transaction(|tx| tx.import_site(&site.label, stamp, digest, &packages))?)
}
