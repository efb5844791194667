//! Packages, their files, metadata, dependencies and conflicts.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::{Database, Reader, Result, Transaction};

/// An installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageRow {
    /// Row id.
    pub id: i64,
    /// `name-version`.
    pub pkgname: String,
    /// PKGBASE.
    pub name: String,
    /// The version.
    pub version: String,
    /// One-line comment (`+COMMENT`).
    pub comment: String,
    /// Description (`+DESC`).
    pub description: String,
    /// The `@cwd` the package was built for.
    pub prefix: String,
    /// Where its files are: `packages/<PKGNAME>`, relative to the root, for a
    /// package in the depot (so the root can move); an absolute path for a
    /// package imported from pkg_install (its files stay in its prefix).
    pub depot_dir: String,
    /// `+BUILD_INFO` text.
    pub build_info: String,
    /// Size of the package's files in bytes.
    pub size_pkg: i64,
    /// Size including its dependencies.
    pub size_all: i64,
    /// Installed only as a dependency.
    pub automatic: bool,
    /// Protected from garbage collection.
    pub keep: bool,
    /// Seconds since the epoch.
    pub install_time: i64,
    /// When its files were all written, as the file system's clock stamps ctime
    /// (ns since the epoch); a file whose ctime is older has not changed since.
    /// `None` for packages recorded without it.
    pub settled_ns: Option<i64>,
}

const PACKAGE_COLUMNS: &str = "id, pkgname, name, version, comment, description, prefix, depot_dir, build_info, size_pkg, size_all, automatic, keep, install_time, settled_ns";

fn package_from_row(row: &Row<'_>) -> rusqlite::Result<PackageRow> {
    Ok(PackageRow {
        id: row.get(0)?,
        pkgname: row.get(1)?,
        name: row.get(2)?,
        version: row.get(3)?,
        comment: row.get(4)?,
        description: row.get(5)?,
        prefix: row.get(6)?,
        depot_dir: row.get(7)?,
        build_info: row.get(8)?,
        size_pkg: row.get(9)?,
        size_all: row.get(10)?,
        automatic: row.get(11)?,
        keep: row.get(12)?,
        install_time: row.get(13)?,
        settled_ns: row.get(14)?,
    })
}

/// A BLOB column that tools outside depot may have written as TEXT.
fn bytes(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<u8>> {
    Ok(match row.get_ref(index)? {
        rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => b.to_vec(),
        _ => Vec::new(),
    })
}

/// What a `files` row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A directory the package owns (`@pkgdir`).
    Dir,
}

impl FileKind {
    fn as_str(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Symlink => "symlink",
            FileKind::Dir => "dir",
        }
    }

    fn parse(s: &str) -> FileKind {
        match s {
            "symlink" => FileKind::Symlink,
            "dir" => FileKind::Dir,
            _ => FileKind::File,
        }
    }
}

/// One installed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRow {
    /// Path relative to the package prefix (and to its depot dir).
    pub path: String,
    /// What it is.
    pub kind: FileKind,
    /// sha256 of a regular file.
    pub sha256: Option<String>,
    /// MD5 from `+CONTENTS`.
    pub md5: Option<String>,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Symlink target.
    pub target: Option<String>,
}

/// A file to record.
pub type NewFile = FileRow;

/// Run-time or build-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyKind {
    /// `@pkgdep`.
    Run,
    /// `@blddep` with no `@pkgdep`.
    Build,
}

/// A dependency of an installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyRow {
    /// The pattern.
    pub pattern: String,
    /// Run or build.
    pub kind: DependencyKind,
    /// The exact package it was built with (`@blddep`).
    pub built_with: Option<String>,
    /// The installed package it resolved to.
    pub resolved: Option<String>,
}

/// A dependency to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDependency {
    /// The pattern.
    pub pattern: String,
    /// Run or build.
    pub kind: DependencyKind,
    /// `@blddep`.
    pub built_with: Option<String>,
    /// PKGNAME of the installed package it resolved to.
    pub resolved: Option<String>,
}

/// Everything recorded when a package is installed.
#[derive(Debug, Clone, Default)]
pub struct NewPackage {
    /// `name-version`.
    pub pkgname: String,
    /// PKGBASE.
    pub name: String,
    /// Version.
    pub version: String,
    /// `+COMMENT`.
    pub comment: String,
    /// `+DESC`.
    pub description: String,
    /// `@cwd`.
    pub prefix: String,
    /// Depot dir: relative to the root, or absolute (see [`PackageRow::depot_dir`]).
    pub depot_dir: String,
    /// `+BUILD_INFO`.
    pub build_info: String,
    /// Bytes.
    pub size_pkg: i64,
    /// Bytes with dependencies.
    pub size_all: i64,
    /// Installed as a dependency.
    pub automatic: bool,
    /// Metadata files by name.
    pub metadata: Vec<(String, Vec<u8>)>,
    /// When its files were all written (see [`PackageRow::settled_ns`]).
    pub settled_ns: Option<i64>,
    /// Files in `+CONTENTS` order.
    pub files: Vec<NewFile>,
    /// Dependencies.
    pub dependencies: Vec<NewDependency>,
    /// `@pkgcfl` patterns.
    pub conflicts: Vec<String>,
}

impl<R: Reader> Queries for R {}

/// Read queries, available on [`Database`] and [`Transaction`].
pub trait Queries: Reader {
    /// Every installed package, sorted by PKGNAME.
    fn packages(&self) -> Result<Vec<PackageRow>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {PACKAGE_COLUMNS} FROM packages ORDER BY pkgname"
            ))
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([], package_from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// The PKGNAMEs of every installed package.
    fn pkgnames(&self) -> Result<Vec<String>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT pkgname FROM packages ORDER BY pkgname")
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// One package by PKGNAME.
    fn package(&self, pkgname: &str) -> Result<Option<PackageRow>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {PACKAGE_COLUMNS} FROM packages WHERE pkgname = ?1"
            ))
            .map_err(|e| self.wrap(e))?;
        stmt.query_row([pkgname], package_from_row)
            .optional()
            .map_err(|e| self.wrap(e))
    }

    /// Installed packages with this PKGBASE.
    fn packages_named(&self, name: &str) -> Result<Vec<PackageRow>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {PACKAGE_COLUMNS} FROM packages WHERE name = ?1 ORDER BY pkgname"
            ))
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([name], package_from_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// A package's files in `+CONTENTS` order.
    fn files(&self, package_id: i64) -> Result<Vec<FileRow>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT path, kind, sha256, md5, mode, size, target FROM files WHERE package_id = ?1 ORDER BY seq")
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([package_id], |r| {
            Ok(FileRow {
                path: r.get(0)?,
                kind: FileKind::parse(&r.get::<_, String>(1)?),
                sha256: r.get(2)?,
                md5: r.get(3)?,
                mode: r.get(4)?,
                size: r.get::<_, i64>(5)? as u64,
                target: r.get(6)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.wrap(e))
    }

    /// Every package's id, PKGNAME and depot dir, by PKGNAME.
    fn package_dirs(&self) -> Result<Vec<(i64, String, String)>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT id, pkgname, depot_dir FROM packages ORDER BY pkgname")
            .map_err(|e| self.wrap(e))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// The paths of a package's files and symlinks (not directories) that are
    /// `dir` or lie below it; `dir` empty: all of them.
    fn entry_paths(&self, package_id: i64, dir: &str) -> Result<Vec<String>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT paths FROM entry_lists WHERE package_id = ?1")
            .map_err(|e| self.wrap(e))?;
        let mut rows = stmt.query([package_id]).map_err(|e| self.wrap(e))?;
        let Some(row) = rows.next().map_err(|e| self.wrap(e))? else {
            return Ok(Vec::new());
        };
        let list = row.get_ref(0).map_err(|e| self.wrap(e))?;
        let list = list.as_str().map_err(|e| self.wrap(e.into()))?;
        let under = |p: &&str| {
            dir.is_empty()
                || (p.starts_with(dir) && (p.len() == dir.len() || p.as_bytes()[dir.len()] == b'/'))
        };
        Ok(list
            .split('\0')
            .filter(|p| !p.is_empty())
            .filter(under)
            .map(str::to_owned)
            .collect())
    }

    /// The packages shipping a file or symlink at exactly `path`.
    fn shippers(&self, path: &str) -> Result<Vec<i64>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT package_id FROM files WHERE path = ?1 AND kind != 'dir'")
            .map_err(|e| self.wrap(e))?;
        stmt.query_map([path], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// Calls `visit(package_id, path)` for the files and symlinks of any package
    /// strictly below `dir`, in path order, until it returns false.
    fn visit_entries_under(
        &self,
        dir: &str,
        visit: &mut dyn FnMut(i64, &str) -> bool,
    ) -> Result<()> {
        let conn = self.connection();
        let mut stmt = if dir.is_empty() {
            conn.prepare_cached(
                "SELECT package_id, path FROM files WHERE kind != 'dir' AND ?1 = '' ORDER BY path",
            )
        } else {
            conn.prepare_cached(
                "SELECT package_id, path FROM files
                 WHERE path >= ?1 || '/' AND path < ?1 || '0' AND kind != 'dir' ORDER BY path",
            )
        }
        .map_err(|e| self.wrap(e))?;
        let mut rows = stmt.query([dir]).map_err(|e| self.wrap(e))?;
        while let Some(row) = rows.next().map_err(|e| self.wrap(e))? {
            let id: i64 = row.get(0).map_err(|e| self.wrap(e))?;
            let path = row.get_ref(1).map_err(|e| self.wrap(e))?;
            let path = path.as_str().map_err(|e| self.wrap(e.into()))?;
            if !visit(id, path) {
                break;
            }
        }
        Ok(())
    }

    /// The packages that own `path` (relative to the prefix).
    fn owners(&self, path: &str) -> Result<Vec<String>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT p.pkgname FROM files f JOIN packages p ON p.id = f.package_id WHERE f.path = ?1 ORDER BY p.pkgname",
            )
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([path], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// The package whose depot dir contains `path` (absolute), with the path relative to it.
    fn package_containing(&self, path: &str) -> Result<Option<(String, String)>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT pkgname, depot_dir FROM packages
                 WHERE substr(?1, 1, length(depot_dir) + 1) = depot_dir || '/'
                 ORDER BY length(depot_dir) DESC",
            )
            .map_err(|e| self.wrap(e))?;
        let mut rows = stmt
            .query_map([path], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.wrap(e))?;
        for row in rows.by_ref() {
            let (pkgname, dir) = row.map_err(|e| self.wrap(e))?;
            let rel = path[dir.len() + 1..].to_owned();
            if self.owns(&pkgname, &rel)? {
                return Ok(Some((pkgname, rel)));
            }
        }
        Ok(None)
    }

    /// Whether `pkgname` has a file at `path`.
    fn owns(&self, pkgname: &str, path: &str) -> Result<bool> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT 1 FROM files f JOIN packages p ON p.id = f.package_id WHERE p.pkgname = ?1 AND f.path = ?2",
            )
            .map_err(|e| self.wrap(e))?;
        stmt.exists(params![pkgname, path])
            .map_err(|e| self.wrap(e))
    }

    /// A metadata file (`+COMMENT`, `+INSTALL`, ...).
    fn metadata(&self, package_id: i64, name: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT content FROM metadata WHERE package_id = ?1 AND name = ?2")
            .map_err(|e| self.wrap(e))?;
        stmt.query_row(params![package_id, name], |r| bytes(r, 0))
            .optional()
            .map_err(|e| self.wrap(e))
    }

    /// Every metadata file of a package.
    fn all_metadata(&self, package_id: i64) -> Result<Vec<(String, Vec<u8>)>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, content FROM metadata WHERE package_id = ?1 ORDER BY name",
            )
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([package_id], |r| Ok((r.get(0)?, bytes(r, 1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// A package's dependencies.
    fn dependencies(&self, package_id: i64) -> Result<Vec<DependencyRow>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT d.pattern, d.kind, d.built_with, p.pkgname FROM dependencies d
                 LEFT JOIN packages p ON p.id = d.resolved_id WHERE d.package_id = ?1 ORDER BY d.rowid",
            )
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([package_id], |r| {
            Ok(DependencyRow {
                pattern: r.get(0)?,
                kind: if r.get::<_, String>(1)? == "build" {
                    DependencyKind::Build
                } else {
                    DependencyKind::Run
                },
                built_with: r.get(2)?,
                resolved: r.get(3)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.wrap(e))
    }

    /// `+REQUIRED_BY`: installed packages whose run-time dependency resolved to this one.
    fn required_by(&self, package_id: i64) -> Result<Vec<String>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT DISTINCT p.pkgname FROM dependencies d JOIN packages p ON p.id = d.package_id
                 WHERE d.resolved_id = ?1 AND d.kind = 'run' ORDER BY p.pkgname",
            )
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([package_id], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// Run-time dependencies that resolve to no installed package, as
    /// (package id, pattern).
    fn unresolved_dependencies(&self) -> Result<Vec<(i64, String)>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT package_id, pattern FROM dependencies
                 WHERE resolved_id IS NULL AND kind = 'run' ORDER BY rowid",
            )
            .map_err(|e| self.wrap(e))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// A package's `@pkgcfl` patterns.
    fn conflicts(&self, package_id: i64) -> Result<Vec<String>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT pattern FROM conflicts WHERE package_id = ?1 ORDER BY rowid")
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([package_id], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// Every (package, conflict pattern) pair.
    fn all_conflicts(&self) -> Result<Vec<(String, String)>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT p.pkgname, c.pattern FROM conflicts c JOIN packages p ON p.id = c.package_id")
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }
}

/// A package's linkable paths (every row but directories) joined by NUL, in
/// row order: the `entry_lists` row, built as the file rows are inserted.
#[derive(Debug, Default)]
pub(crate) struct EntryList {
    paths: String,
}

impl EntryList {
    /// Take in the next file row.
    pub(crate) fn push(&mut self, row: &FileRow) {
        if row.kind != FileKind::Dir {
            if !self.paths.is_empty() {
                self.paths.push('\0');
            }
            self.paths.push_str(&row.path);
        }
    }
}

impl Transaction<'_> {
    /// Record a package with its files, metadata, dependencies and conflicts. Returns its id.
    pub fn insert_package(&self, p: &NewPackage) -> Result<i64> {
        let id = self.insert_package_row(p)?;
        let mut entries = EntryList::default();
        for (seq, f) in p.files.iter().enumerate() {
            self.insert_file(id, seq as i64, f)?;
            entries.push(f);
        }
        self.insert_metadata(id, &p.metadata)?;
        self.insert_package_details(id, p, &entries)?;
        Ok(id)
    }

    /// The `packages` row alone.
    pub(crate) fn insert_package_row(&self, p: &NewPackage) -> Result<i64> {
        self.tx
            .execute(
                "INSERT INTO packages (pkgname, name, version, comment, description, prefix, depot_dir,
                     build_info, size_pkg, size_all, automatic, install_time, settled_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    p.pkgname,
                    p.name,
                    p.version,
                    p.comment,
                    p.description,
                    p.prefix,
                    p.depot_dir,
                    p.build_info,
                    p.size_pkg,
                    p.size_all,
                    p.automatic,
                    crate::now(),
                    p.settled_ns
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Overwrite the `packages` row's fields (known only at the end of an install).
    pub(crate) fn update_package_row(&self, id: i64, p: &NewPackage) -> Result<()> {
        self.tx
            .execute(
                "UPDATE packages SET comment = ?2, description = ?3, prefix = ?4, build_info = ?5,
                     size_pkg = ?6, size_all = ?7, automatic = ?8, settled_ns = ?9 WHERE id = ?1",
                params![
                    id,
                    p.comment,
                    p.description,
                    p.prefix,
                    p.build_info,
                    p.size_pkg,
                    p.size_all,
                    p.automatic,
                    p.settled_ns
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One `files` row.
    pub(crate) fn insert_file(&self, id: i64, seq: i64, f: &FileRow) -> Result<()> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO files (package_id, seq, path, kind, sha256, md5, mode, size, target)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(|e| self.err(e))?;
        stmt.execute(params![
            id,
            seq,
            f.path,
            f.kind.as_str(),
            f.sha256,
            f.md5,
            f.mode,
            f.size as i64,
            f.target
        ])
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The metadata files, verbatim.
    pub(crate) fn insert_metadata(&self, id: i64, metadata: &[(String, Vec<u8>)]) -> Result<()> {
        let mut stmt = self
            .tx
            .prepare_cached("INSERT INTO metadata (package_id, name, content) VALUES (?1, ?2, ?3)")
            .map_err(|e| self.err(e))?;
        for (name, content) in metadata {
            stmt.execute(params![id, name, content])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The entry list (of the file rows inserted), dependencies and conflicts.
    pub(crate) fn insert_package_details(
        &self,
        id: i64,
        p: &NewPackage,
        entries: &EntryList,
    ) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO entry_lists (package_id, paths) VALUES (?1, ?2)",
                params![id, entries.paths],
            )
            .map_err(|e| self.err(e))?;
        let tx = &self.tx;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO dependencies (package_id, pattern, kind, built_with, resolved_id)
                     VALUES (?1, ?2, ?3, ?4, (SELECT id FROM packages WHERE pkgname = ?5))",
                )
                .map_err(|e| self.err(e))?;
            for d in &p.dependencies {
                let kind = match d.kind {
                    DependencyKind::Run => "run",
                    DependencyKind::Build => "build",
                };
                stmt.execute(params![id, d.pattern, kind, d.built_with, d.resolved])
                    .map_err(|e| self.err(e))?;
            }
        }
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO conflicts (package_id, pattern) VALUES (?1, ?2)")
                .map_err(|e| self.err(e))?;
            for c in &p.conflicts {
                stmt.execute(params![id, c]).map_err(|e| self.err(e))?;
            }
        }
        Ok(())
    }

    /// Remove a package's row with its files, metadata, dependencies and
    /// conflicts. They are deleted by range first: a foreign-key cascade deletes
    /// a large package's file rows a third slower.
    pub fn delete_package(&self, package_id: i64) -> Result<()> {
        for sql in [
            "DELETE FROM files WHERE package_id = ?1",
            "DELETE FROM entry_lists WHERE package_id = ?1",
            "DELETE FROM metadata WHERE package_id = ?1",
            "DELETE FROM view_members WHERE package_id = ?1",
            "DELETE FROM packages WHERE id = ?1",
        ] {
            self.tx
                .execute(sql, [package_id])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Set or clear the automatic flag.
    pub fn set_automatic(&self, package_id: i64, automatic: bool) -> Result<()> {
        self.tx
            .execute(
                "UPDATE packages SET automatic = ?2 WHERE id = ?1",
                params![package_id, automatic],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Set or clear the keep flag (protects a package from garbage collection).
    pub fn set_keep(&self, package_id: i64, keep: bool) -> Result<()> {
        self.tx
            .execute(
                "UPDATE packages SET keep = ?2 WHERE id = ?1",
                params![package_id, keep],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Point every dependency row of `package_id` with this pattern at `resolved` (a PKGNAME or none).
    pub fn resolve_dependency(
        &self,
        package_id: i64,
        pattern: &str,
        resolved: Option<&str>,
    ) -> Result<()> {
        self.tx
            .execute(
                "UPDATE dependencies SET resolved_id = (SELECT id FROM packages WHERE pkgname = ?3)
                 WHERE package_id = ?1 AND pattern = ?2",
                params![package_id, pattern, resolved],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

impl Database {
    /// Count installed packages (cheap).
    pub fn package_count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM packages", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}
