//! What the sites offer: each site's pkg_summary imported as rows, so that
//! `avail`, `search`, `show` and the dependency resolver of `install` query an
//! index instead of parsing summaries. A site is re-imported only when its
//! summary changed (its stamp or digest differs).

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::{Reader, Result, Transaction};

/// A site whose summary has been imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteRow {
    /// Row id.
    pub id: i64,
    /// The site as configured (a directory or URL).
    pub url: String,
    /// What identified the summary imported (validators, or the file's size and mtime).
    pub stamp: String,
    /// sha256 of the summary text imported.
    pub digest: String,
    /// When it was imported (seconds since the epoch).
    pub imported: i64,
}

/// A package a site offers, as its summary records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RemotePackage {
    /// The site's row id.
    pub site_id: i64,
    /// `name-version`.
    pub pkgname: String,
    /// PKGBASE.
    pub name: String,
    /// The version.
    pub version: String,
    /// `COMMENT`.
    pub comment: String,
    /// `FILE_NAME`.
    pub file_name: String,
    /// `FILE_SIZE`, when given.
    pub file_size: Option<i64>,
    /// The `FILE_CKSUM` sha256 (hex), when given.
    pub sha256: Option<String>,
    /// `SIZE_PKG`, when given.
    pub size_pkg: Option<i64>,
    /// `DEPENDS` patterns.
    pub depends: Vec<String>,
    /// `CONFLICTS` patterns.
    pub conflicts: Vec<String>,
    /// The whole record, as the summary has it.
    pub record: String,
}

const COLUMNS: &str = "site_id, pkgname, name, version, comment, file_name, file_size, sha256, size_pkg, depends, conflicts, record";

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<RemotePackage> {
    Ok(RemotePackage {
        site_id: row.get(0)?,
        pkgname: row.get(1)?,
        name: row.get(2)?,
        version: row.get(3)?,
        comment: row.get(4)?,
        file_name: row.get(5)?,
        file_size: row.get(6)?,
        sha256: row.get(7)?,
        size_pkg: row.get(8)?,
        depends: lines(&row.get::<_, String>(9)?),
        conflicts: lines(&row.get::<_, String>(10)?),
        record: row.get(11)?,
    })
}

fn site_from_row(row: &Row<'_>) -> rusqlite::Result<SiteRow> {
    Ok(SiteRow {
        id: row.get(0)?,
        url: row.get(1)?,
        stamp: row.get(2)?,
        digest: row.get(3)?,
        imported: row.get(4)?,
    })
}

/// `?,?,…` for `n` parameters.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// Queries on what the sites offer.
pub trait RemoteQueries: Reader {
    /// The imported site `url`, if any.
    fn site(&self, url: &str) -> Result<Option<SiteRow>> {
        self.connection()
            .query_row(
                "SELECT id, url, stamp, digest, imported FROM sites WHERE url = ?1",
                [url],
                site_from_row,
            )
            .optional()
            .map_err(|e| self.wrap(e))
    }

    /// The packages of the sites `site_ids` whose PKGNAME (so also PKGBASE) starts with
    /// `prefix` (every package of those sites when `prefix` is `None`), in
    /// site order (as `site_ids` lists them), then by name.
    fn offered(&self, site_ids: &[i64], prefix: Option<&str>) -> Result<Vec<RemotePackage>> {
        match prefix {
            // A PKGBASE prefix is a PKGNAME prefix: a range on the primary
            // key (site_id, pkgname), one seek per site.
            Some(prefix) => select(
                self,
                site_ids,
                "pkgname >= ? AND pkgname < ?",
                vec![
                    prefix.to_owned().into(),
                    format!("{prefix}\u{10FFFF}").into(),
                ],
            ),
            None => select(self, site_ids, "1", Vec::new()),
        }
    }

    /// The packages of `site_ids` whose name or comment contains `word`
    /// (ASCII case-insensitive).
    fn search_offered(&self, site_ids: &[i64], word: &str) -> Result<Vec<RemotePackage>> {
        select(
            self,
            site_ids,
            "(instr(lower(pkgname), ?) > 0 OR instr(lower(comment), ?) > 0)",
            vec![word.to_lowercase().into(), word.to_lowercase().into()],
        )
    }
}

/// The packages of `site_ids` that meet `condition` (with `values` for its
/// parameters), in site order, then by name.
fn select<R: Reader + ?Sized>(
    db: &R,
    site_ids: &[i64],
    condition: &str,
    values: Vec<rusqlite::types::Value>,
) -> Result<Vec<RemotePackage>> {
    if site_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM remote_packages WHERE site_id IN ({}) AND {condition}",
        placeholders(site_ids.len())
    );
    let params = site_ids.iter().map(|id| (*id).into()).chain(values);
    let conn = db.connection();
    let mut stmt = conn.prepare_cached(&sql).map_err(|e| db.wrap(e))?;
    let mut found: Vec<RemotePackage> = stmt
        .query_map(
            rusqlite::params_from_iter(params.collect::<Vec<rusqlite::types::Value>>()),
            from_row,
        )
        .and_then(Iterator::collect)
        .map_err(|e| db.wrap(e))?;
    let rank = |id: i64| site_ids.iter().position(|s| *s == id).unwrap_or(usize::MAX);
    found.sort_by(|a, b| {
        rank(a.site_id)
            .cmp(&rank(b.site_id))
            .then_with(|| a.pkgname.cmp(&b.pkgname))
    });
    Ok(found)
}

impl<T: Reader> RemoteQueries for T {}

impl Transaction<'_> {
    /// Replace what `url` offers with `packages`, recording the summary's
    /// `stamp` and `digest`; returns the site's id.
    pub fn import_site<'p>(
        &self,
        url: &str,
        stamp: &str,
        digest: &str,
        packages: impl IntoIterator<Item = &'p RemotePackage>,
    ) -> Result<i64> {
        let tx = &self.tx;
        let id: i64 = tx
            .query_row(
                "INSERT INTO sites (url, stamp, digest, imported) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (url) DO UPDATE SET stamp = ?2, digest = ?3, imported = ?4
                 RETURNING id",
                params![url, stamp, digest, crate::now()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        tx.execute("DELETE FROM remote_packages WHERE site_id = ?1", [id])
            .map_err(|e| self.err(e))?;
        let mut insert = tx
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO remote_packages ({COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))
            .map_err(|e| self.err(e))?;
        for p in packages {
            insert
                .execute(params![
                    id,
                    p.pkgname,
                    p.name,
                    p.version,
                    p.comment,
                    p.file_name,
                    p.file_size,
                    p.sha256,
                    p.size_pkg,
                    p.depends.join("\n"),
                    p.conflicts.join("\n"),
                    p.record,
                ])
                .map_err(|e| self.err(e))?;
        }
        Ok(id)
    }

    /// Record a new stamp for `url` whose summary text is unchanged.
    pub fn restamp_site(&self, url: &str, stamp: &str) -> Result<()> {
        self.tx
            .execute(
                "UPDATE sites SET stamp = ?2 WHERE url = ?1",
                params![url, stamp],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Forget every imported summary (`depot clean-cache --summaries`).
    pub fn forget_sites(&self) -> Result<()> {
        self.tx
            .execute_batch("DELETE FROM remote_packages; DELETE FROM sites;")
            .map_err(|e| self.err(e))
    }
}
