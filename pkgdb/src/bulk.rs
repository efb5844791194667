//! Bulk builds: the graph a scan found (a row per recipe, with its last
//! outcome) and the recorded cost of every build and phase, which the next
//! bulk schedules by.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::{Reader, Result, Transaction};

/// A recipe as the scan found it, with its last bulk outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BulkPackage {
    /// `category/name`.
    pub pkgpath: String,
    /// The PKGNAME it makes.
    pub pkgname: String,
    /// The hash of all its files.
    pub recipe_hash: String,
    /// `sha256 name` lines, one per recipe file.
    pub files: String,
    /// The pkgpaths it depends on, one a line.
    pub depends: String,
    /// Why it cannot be built (set by the scan), if so.
    pub prefailed: Option<String>,
    /// Total size of its distfiles (an estimate's fallback).
    pub distfile_size: i64,
    /// Whether parallel make is safe for it.
    pub make_jobs_safe: bool,
    /// The last bulk's status for it.
    pub status: Option<String>,
    /// The package behind an indirect status.
    pub cause: Option<String>,
    /// Why it was built.
    pub reason: Option<String>,
    /// The make jobs it got.
    pub make_jobs: Option<i64>,
    /// Wall seconds of its build.
    pub duration: Option<f64>,
    /// `files` as of its last successful build.
    pub built_files: Option<String>,
    /// The node it was built on (multi-machine bulks).
    pub node: Option<String>,
}

/// One measured build or phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HistoryRow {
    /// Which bulk run (seconds since the epoch when it began).
    pub run: i64,
    /// `category/name`.
    pub pkgpath: String,
    /// The PKGNAME built.
    pub pkgname: String,
    /// A phase, or `total` for the whole build.
    pub phase: String,
    /// Wall seconds.
    pub wall: f64,
    /// CPU seconds of the whole process tree.
    pub cpu: f64,
    /// Peak resident memory, bytes (of the largest process).
    pub max_rss: i64,
    /// WRKDIR size at the end, bytes.
    pub wrkdir_bytes: i64,
    /// MAKE_JOBS used.
    pub make_jobs: i64,
    /// Whether it succeeded.
    pub ok: bool,
    /// When it ended (seconds since the epoch).
    pub finished: i64,
    /// The node it ran on (multi-machine bulks).
    pub node: Option<String>,
}

const PACKAGE_COLUMNS: &str = "pkgpath, pkgname, recipe_hash, files, depends, prefailed, distfile_size, make_jobs_safe, status, cause, reason, make_jobs, duration, built_files, node";

fn package_from_row(row: &Row<'_>) -> rusqlite::Result<BulkPackage> {
    Ok(BulkPackage {
        pkgpath: row.get(0)?,
        pkgname: row.get(1)?,
        recipe_hash: row.get(2)?,
        files: row.get(3)?,
        depends: row.get(4)?,
        prefailed: row.get(5)?,
        distfile_size: row.get(6)?,
        make_jobs_safe: row.get(7)?,
        status: row.get(8)?,
        cause: row.get(9)?,
        reason: row.get(10)?,
        make_jobs: row.get(11)?,
        duration: row.get(12)?,
        built_files: row.get(13)?,
        node: row.get(14)?,
    })
}

const HISTORY_COLUMNS: &str =
    "run, pkgpath, pkgname, phase, wall, cpu, max_rss, wrkdir_bytes, make_jobs, ok, finished, node";

fn history_from_row(row: &Row<'_>) -> rusqlite::Result<HistoryRow> {
    Ok(HistoryRow {
        run: row.get(0)?,
        pkgpath: row.get(1)?,
        pkgname: row.get(2)?,
        phase: row.get(3)?,
        wall: row.get(4)?,
        cpu: row.get(5)?,
        max_rss: row.get(6)?,
        wrkdir_bytes: row.get(7)?,
        make_jobs: row.get(8)?,
        ok: row.get(9)?,
        finished: row.get(10)?,
        node: row.get(11)?,
    })
}

/// Every row `sql` (no parameters) selects, mapped by `from_row`.
fn all_rows<R: Reader + ?Sized, T>(
    reader: &R,
    sql: &str,
    from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = reader
        .connection()
        .prepare(sql)
        .map_err(|e| reader.wrap(e))?;
    stmt.query_map([], from_row)
        .and_then(Iterator::collect)
        .map_err(|e| reader.wrap(e))
}

/// Reading the bulk tables.
pub trait BulkQueries: Reader {
    /// Every scanned recipe, by pkgpath.
    fn bulk_packages(&self) -> Result<Vec<BulkPackage>> {
        all_rows(
            self,
            &format!("SELECT {PACKAGE_COLUMNS} FROM bulk_packages ORDER BY pkgpath"),
            package_from_row,
        )
    }

    /// A value the bulk keeps (the tree scanned, when a run began, ...).
    fn bulk_meta(&self, key: &str) -> Result<Option<String>> {
        self.connection()
            .query_row("SELECT value FROM bulk_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.wrap(e))
    }

    /// Every measured build and phase, oldest first.
    fn bulk_history(&self) -> Result<Vec<HistoryRow>> {
        all_rows(
            self,
            &format!("SELECT {HISTORY_COLUMNS} FROM bulk_history ORDER BY id"),
            history_from_row,
        )
    }

    /// The latest successful measurement of each pkgpath and phase.
    fn bulk_latest(&self) -> Result<Vec<HistoryRow>> {
        all_rows(
            self,
            &format!(
                "SELECT {HISTORY_COLUMNS} FROM bulk_history WHERE id IN
                     (SELECT max(id) FROM bulk_history WHERE ok GROUP BY pkgpath, phase)"
            ),
            history_from_row,
        )
    }
}

impl<T: Reader> BulkQueries for T {}

impl Transaction<'_> {
    /// Record a scan: every recipe's scan fields are replaced (outcomes
    /// are kept), recipes no longer in the tree are dropped.
    pub fn bulk_record_scan(&self, packages: &[BulkPackage]) -> Result<()> {
        self.tx
            .execute(
                "CREATE TEMP TABLE IF NOT EXISTS scanned (pkgpath TEXT PRIMARY KEY)",
                [],
            )
            .map_err(|e| self.err(e))?;
        self.tx
            .execute("DELETE FROM scanned", [])
            .map_err(|e| self.err(e))?;
        let mut upsert = self
            .tx
            .prepare(
                "INSERT INTO bulk_packages (pkgpath, pkgname, recipe_hash, files, depends, prefailed, distfile_size, make_jobs_safe)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (pkgpath) DO UPDATE SET pkgname = ?2, recipe_hash = ?3, files = ?4,
                     depends = ?5, prefailed = ?6, distfile_size = ?7, make_jobs_safe = ?8",
            )
            .map_err(|e| self.err(e))?;
        let mut seen = self
            .tx
            .prepare("INSERT OR IGNORE INTO scanned (pkgpath) VALUES (?1)")
            .map_err(|e| self.err(e))?;
        for p in packages {
            upsert
                .execute(params![
                    p.pkgpath,
                    p.pkgname,
                    p.recipe_hash,
                    p.files,
                    p.depends,
                    p.prefailed,
                    p.distfile_size,
                    p.make_jobs_safe
                ])
                .map_err(|e| self.err(e))?;
            seen.execute([&p.pkgpath]).map_err(|e| self.err(e))?;
        }
        self.tx
            .execute(
                "DELETE FROM bulk_packages WHERE pkgpath NOT IN (SELECT pkgpath FROM scanned)",
                [],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forget every outcome (a build run begins).
    pub fn bulk_clear_outcomes(&self) -> Result<()> {
        self.tx
            .execute(
                "UPDATE bulk_packages SET status = NULL, cause = NULL, reason = NULL, make_jobs = NULL, duration = NULL, node = NULL",
                [],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Record a package's outcome. `built_files` is set when it built well.
    #[expect(clippy::too_many_arguments, reason = "one row's columns")]
    pub fn bulk_set_outcome(
        &self,
        pkgpath: &str,
        status: &str,
        cause: Option<&str>,
        reason: Option<&str>,
        make_jobs: Option<i64>,
        duration: Option<f64>,
        built_files: Option<&str>,
        node: Option<&str>,
    ) -> Result<()> {
        self.tx
            .execute(
                "UPDATE bulk_packages SET status = ?2, cause = ?3, reason = ?4, make_jobs = ?5,
                     duration = ?6, built_files = coalesce(?7, built_files), node = ?8
                 WHERE pkgpath = ?1",
                params![
                    pkgpath,
                    status,
                    cause,
                    reason,
                    make_jobs,
                    duration,
                    built_files,
                    node
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Keep a value.
    pub fn bulk_set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO bulk_meta (key, value) VALUES (?1, ?2)",
                [key, value],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Record measurements.
    pub fn bulk_add_history(&self, rows: &[HistoryRow]) -> Result<()> {
        let mut insert = self
            .tx
            .prepare(&format!(
                "INSERT INTO bulk_history ({HISTORY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))
            .map_err(|e| self.err(e))?;
        for r in rows {
            insert
                .execute(params![
                    r.run,
                    r.pkgpath,
                    r.pkgname,
                    r.phase,
                    r.wall,
                    r.cpu,
                    r.max_rss,
                    r.wrkdir_bytes,
                    r.make_jobs,
                    r.ok,
                    r.finished,
                    r.node
                ])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}
