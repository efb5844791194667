//! Views, their generations and members.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::{Database, Error, Reader, Result, Transaction};

/// A view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViewRow {
    /// Row id.
    pub id: i64,
    /// Its name (`default` for the view at the root).
    pub name: String,
    /// The current generation number.
    pub current: Option<i64>,
}

/// A generation of a view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenerationRow {
    /// Its number.
    pub number: i64,
    /// The generation it was made from.
    pub parent: Option<i64>,
    /// Seconds since the epoch.
    pub created: i64,
    /// What made it (the command).
    pub reason: String,
    /// Its directories and links (unknown for generations made before depot recorded it).
    pub inodes: Option<i64>,
    /// Their apparent size in bytes (likewise).
    pub bytes: Option<i64>,
}

/// A generation to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGeneration<'a> {
    /// Its number.
    pub number: i64,
    /// The generation it was made from.
    pub parent: Option<i64>,
    /// What made it.
    pub reason: &'a str,
    /// Its members.
    pub members: &'a [MemberRow],
    /// The parent's members, if the caller has them (read in this transaction
    /// or under the same write lock); read here otherwise.
    pub parent_members: Option<&'a [MemberRow]>,
    /// Its directories and links, and their size in bytes.
    pub footprint: Option<(i64, i64)>,
}

/// A package in a generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberRow {
    /// PKGNAME.
    pub pkgname: String,
    /// Lower wins a conflict.
    pub priority: i64,
}

impl Database {
    /// Every view.
    pub fn views(&self) -> Result<Vec<ViewRow>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name, current FROM views ORDER BY name")
            .map_err(|e| self.err(e))?;

        stmt.query_map([], |r| {
            Ok(ViewRow {
                id: r.get(0)?,
                name: r.get(1)?,
                current: r.get(2)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.err(e))
    }
}

/// View queries on [`Database`] and [`Transaction`].
pub trait ViewQueries: Reader {
    /// One view by name.
    fn view(&self, name: &str) -> Result<Option<ViewRow>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT id, name, current FROM views WHERE name = ?1")
            .map_err(|e| self.wrap(e))?;
        stmt.query_row([name], |r| {
            Ok(ViewRow {
                id: r.get(0)?,
                name: r.get(1)?,
                current: r.get(2)?,
            })
        })
        .optional()
        .map_err(|e| self.wrap(e))
    }

    /// A view's generations, oldest first.
    fn generations(&self, view_id: i64) -> Result<Vec<GenerationRow>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached("SELECT number, parent, created, reason, inodes, bytes FROM generations WHERE view_id = ?1 ORDER BY number")
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([view_id], |r| {
            Ok(GenerationRow {
                number: r.get(0)?,
                parent: r.get(1)?,
                created: r.get(2)?,
                reason: r.get(3)?,
                inodes: r.get(4)?,
                bytes: r.get(5)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.wrap(e))
    }

    /// The members of one generation.
    fn members(&self, view_id: i64, generation: i64) -> Result<Vec<MemberRow>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT p.pkgname, m.priority FROM members m JOIN packages p ON p.id = m.package_id
                 WHERE m.view_id = ?1 AND m.generation = ?2 ORDER BY p.pkgname",
            )
            .map_err(|e| self.wrap(e))?;

        stmt.query_map(params![view_id, generation], |r| {
            Ok(MemberRow {
                pkgname: r.get(0)?,
                priority: r.get(1)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.wrap(e))
    }

    /// The id, PKGNAME and depot dir of each member of a generation.
    fn member_package_dirs(
        &self,
        view_id: i64,
        generation: i64,
    ) -> Result<Vec<(i64, String, String)>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT p.id, p.pkgname, p.depot_dir FROM members m JOIN packages p ON p.id = m.package_id
                 WHERE m.view_id = ?1 AND m.generation = ?2",
            )
            .map_err(|e| self.wrap(e))?;
        stmt.query_map(params![view_id, generation], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.wrap(e))
    }

    /// Views whose current generation holds the package.
    fn views_holding(&self, package_id: i64) -> Result<Vec<String>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT v.name FROM views v JOIN members m ON m.view_id = v.id AND m.generation = v.current
                 WHERE m.package_id = ?1 ORDER BY v.name",
            )
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([package_id], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// The run-time dependency patterns of every member of one generation, as
    /// (member PKGNAME, pattern) pairs.
    fn member_dependencies(&self, view_id: i64, generation: i64) -> Result<Vec<(String, String)>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT p.pkgname, d.pattern FROM members m
                 JOIN packages p ON p.id = m.package_id
                 JOIN dependencies d ON d.package_id = m.package_id AND d.kind = 'run'
                 WHERE m.view_id = ?1 AND m.generation = ?2 ORDER BY p.pkgname, d.rowid",
            )
            .map_err(|e| self.wrap(e))?;
        stmt.query_map(params![view_id, generation], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// The generations, other than each view's current one, that hold the
    /// package, as (view id, view name, generation).
    fn generations_holding(&self, package_id: i64) -> Result<Vec<(i64, String, i64)>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT v.id, v.name, m.generation FROM members m JOIN views v ON v.id = m.view_id
                 WHERE m.package_id = ?1 AND m.generation IS NOT v.current ORDER BY v.name, m.generation",
            )
            .map_err(|e| self.wrap(e))?;
        stmt.query_map([package_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// Packages referenced by any kept generation of any view.
    fn referenced_packages(&self) -> Result<Vec<String>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT DISTINCT p.pkgname FROM members m JOIN packages p ON p.id = m.package_id ORDER BY p.pkgname",
            )
            .map_err(|e| self.wrap(e))?;

        stmt.query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }

    /// A per-view setting (ignore globs, path preferences, ...), in insertion order.
    fn view_settings(&self, view_id: i64, key: &str) -> Result<Vec<String>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT value FROM view_settings WHERE view_id = ?1 AND key = ?2 ORDER BY rowid",
            )
            .map_err(|e| self.wrap(e))?;

        stmt.query_map(params![view_id, key], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.wrap(e))
    }
}

impl<R: Reader> ViewQueries for R {}

impl Transaction<'_> {
    /// Create a view; returns its id.
    pub fn create_view(&self, name: &str) -> Result<i64> {
        self.tx
            .execute(
                "INSERT INTO views (name, created) VALUES (?1, ?2)",
                params![name, crate::now()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Delete a view with its generations and members.
    pub fn delete_view(&self, view_id: i64) -> Result<()> {
        self.tx
            .execute("DELETE FROM members WHERE view_id = ?1", [view_id])
            .and_then(|_| {
                self.tx
                    .execute("DELETE FROM generations WHERE view_id = ?1", [view_id])
            })
            .and_then(|_| {
                self.tx
                    .execute("DELETE FROM views WHERE id = ?1", [view_id])
            })
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Record a new generation with its members and make it current.
    pub fn record_generation(&self, view_id: i64, generation: &NewGeneration<'_>) -> Result<()> {
        let NewGeneration {
            number,
            parent,
            reason,
            members,
            parent_members,
            footprint,
        } = *generation;
        self.tx
            .execute(
                "INSERT INTO generations (view_id, number, parent, created, reason, inodes, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    view_id,
                    number,
                    parent,
                    crate::now(),
                    reason,
                    footprint.map(|f| f.0),
                    footprint.map(|f| f.1)
                ],
            )
            .map_err(|e| self.err(e))?;
        // A generation is mostly its parent's members: copy those rows in one
        // statement and apply the difference, rather than insert every row.
        let mut to_insert: Vec<&MemberRow> = members.iter().collect();
        if let Some(parent) = parent {
            let read;
            let before = if let Some(known) = parent_members {
                known
            } else {
                read = self.members(view_id, parent)?;
                &read
            };
            let now: std::collections::HashMap<&str, i64> = members
                .iter()
                .map(|m| (m.pkgname.as_str(), m.priority))
                .collect();
            let kept: std::collections::HashMap<&str, i64> = before
                .iter()
                .filter(|b| now.get(b.pkgname.as_str()) == Some(&b.priority))
                .map(|b| (b.pkgname.as_str(), b.priority))
                .collect();
            if kept.len() * 2 > members.len() {
                self.tx
                    .execute(
                        "INSERT INTO members (view_id, generation, package_id, priority)
                         SELECT view_id, ?3, package_id, priority FROM members
                         WHERE view_id = ?1 AND generation = ?2",
                        params![view_id, parent, number],
                    )
                    .map_err(|e| self.err(e))?;
                let mut gone = self
                    .tx
                    .prepare_cached(
                        "DELETE FROM members WHERE view_id = ?1 AND generation = ?2
                         AND package_id = (SELECT id FROM packages WHERE pkgname = ?3)",
                    )
                    .map_err(|e| self.err(e))?;
                for b in before
                    .iter()
                    .filter(|b| !kept.contains_key(b.pkgname.as_str()))
                {
                    gone.execute(params![view_id, number, b.pkgname])
                        .map_err(|e| self.err(e))?;
                }
                to_insert.retain(|m| !kept.contains_key(m.pkgname.as_str()));
            }
        }
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO members (view_id, generation, package_id, priority)
                 VALUES (?1, ?2, (SELECT id FROM packages WHERE pkgname = ?3), ?4)",
            )
            .map_err(|e| self.err(e))?;
        for m in to_insert {
            stmt.execute(params![view_id, number, m.pkgname, m.priority])
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(..) => {
                        Error::NotFound(format!("package {} is not installed", m.pkgname))
                    }
                    other => self.err(other),
                })?;
        }
        self.set_current(view_id, number)
    }

    /// Make `number` the current generation.
    pub fn set_current(&self, view_id: i64, number: i64) -> Result<()> {
        self.tx
            .execute(
                "UPDATE views SET current = ?2 WHERE id = ?1",
                params![view_id, number],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forget a generation.
    pub fn delete_generation(&self, view_id: i64, number: i64) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM members WHERE view_id = ?1 AND generation = ?2",
                params![view_id, number],
            )
            .and_then(|_| {
                self.tx.execute(
                    "DELETE FROM generations WHERE view_id = ?1 AND number = ?2",
                    params![view_id, number],
                )
            })
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forget every generation, other than a view's current one, that holds the
    /// package (it is being deleted, so they could not be restored). Returns the
    /// (view, generation) pairs forgotten, for their directories to be removed.
    pub fn forget_generations_holding(&self, package_id: i64) -> Result<Vec<(String, i64)>> {
        let gone = self.generations_holding(package_id)?;
        for (view_id, _, number) in &gone {
            self.delete_generation(*view_id, *number)?;
        }
        Ok(gone.into_iter().map(|(_, name, n)| (name, n)).collect())
    }

    /// Replace a per-view setting list.
    pub fn set_view_settings(&self, view_id: i64, key: &str, values: &[String]) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM view_settings WHERE view_id = ?1 AND key = ?2",
                params![view_id, key],
            )
            .map_err(|e| self.err(e))?;
        for v in values {
            self.tx
                .execute(
                    "INSERT INTO view_settings (view_id, key, value) VALUES (?1, ?2, ?3)",
                    params![view_id, key, v],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}
