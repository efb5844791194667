//! Views, their generations and members.

use std::fmt::Write as _;

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
    /// The package's row id, when read from the database (`None` for a member
    /// the caller adds: it is looked up by name when recorded). Whoever changes
    /// `pkgname` sets this to `None`.
    #[serde(skip)]
    pub package_id: Option<i64>,
}

impl MemberRow {
    /// A member to add, by PKGNAME.
    pub fn new(pkgname: impl Into<String>, priority: i64) -> MemberRow {
        MemberRow {
            pkgname: pkgname.into(),
            priority,
            package_id: None,
        }
    }
}

/// The members of one generation as rows `(package id, priority)`: its
/// `member_list` (JSON `[[id, priority], ...]`) taken apart.
const GENERATION_MEMBERS: &str = "SELECT j.value ->> 0 AS package_id, j.value ->> 1 AS priority
     FROM generations g, json_each(g.member_list) j WHERE g.view_id = ?1 AND g.number = ?2";

/// The rows of generation ?2 when it is the view's current one (none otherwise).
const CURRENT_MEMBERS: &str = "SELECT package_id, priority FROM view_members
     WHERE view_id = ?1 AND (SELECT current FROM views WHERE id = ?1) = ?2";

/// The same rows, read from `view_members` when generation ?2 is the view's
/// current one (they are its members, indexed: half the time of taking the
/// stored list apart, which matters at thousands of members).
const MEMBERS_OF: &str = "SELECT package_id, priority FROM view_members
     WHERE view_id = ?1 AND EXISTS (SELECT 1 FROM views WHERE id = ?1 AND current = ?2)
     UNION ALL
     SELECT j.value ->> 0, j.value ->> 1 FROM generations g, json_each(g.member_list) j
     WHERE g.view_id = ?1 AND g.number = ?2
       AND NOT EXISTS (SELECT 1 FROM views WHERE id = ?1 AND current = ?2)";

/// [`ViewQueries::members_with_dirs`] from the `(package_id, priority)` rows
/// that query `members` selects (with view ?1 and generation ?2).
fn members_from<R: Reader + ?Sized>(
    db: &R,
    members: &str,
    view_id: i64,
    generation: i64,
) -> Result<Vec<(MemberRow, String)>> {
    let mut stmt = db
        .connection()
        .prepare_cached(&format!(
            "SELECT p.pkgname, m.priority, p.id, p.depot_dir FROM ({members}) m
                 JOIN packages p ON p.id = m.package_id ORDER BY p.pkgname"
        ))
        .map_err(|e| db.wrap(e))?;
    stmt.query_map(params![view_id, generation], |r| {
        Ok((
            MemberRow {
                pkgname: r.get(0)?,
                priority: r.get(1)?,
                package_id: Some(r.get(2)?),
            },
            r.get(3)?,
        ))
    })
    .and_then(Iterator::collect)
    .map_err(|e| db.wrap(e))
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
        Ok(self
            .members_with_dirs(view_id, generation)?
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    /// The members of one generation, each with its depot dir.
    fn members_with_dirs(&self, view_id: i64, generation: i64) -> Result<Vec<(MemberRow, String)>> {
        // The current generation (what every change reads) from its rows: a
        // query SQLite compiles in a sixth of the time of one that can also
        // take an older generation's list apart, which is read only when this
        // finds nothing (a generation not current, or an empty one).
        let current = members_from(self, CURRENT_MEMBERS, view_id, generation)?;
        if !current.is_empty() {
            return Ok(current);
        }
        members_from(self, GENERATION_MEMBERS, view_id, generation)
    }

    /// Views whose current generation holds the package.
    fn views_holding(&self, package_id: i64) -> Result<Vec<String>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare_cached(
                "SELECT v.name FROM views v JOIN view_members m ON m.view_id = v.id
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
            .prepare_cached(&format!(
                "SELECT p.pkgname, d.pattern FROM ({MEMBERS_OF}) m
                 JOIN packages p ON p.id = m.package_id
                 JOIN dependencies d ON d.package_id = m.package_id AND d.kind = 'run'
                 ORDER BY p.pkgname, d.rowid"
            ))
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
                "SELECT DISTINCT v.id, v.name, g.number FROM generations g JOIN views v ON v.id = g.view_id,
                 json_each(g.member_list) j
                 WHERE j.value ->> 0 = ?1 AND g.number IS NOT v.current ORDER BY v.name, g.number",
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
                "SELECT DISTINCT p.pkgname FROM generations g, json_each(g.member_list) j
                 JOIN packages p ON p.id = j.value ->> 0 ORDER BY p.pkgname",
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
            .execute("DELETE FROM view_members WHERE view_id = ?1", [view_id])
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
    ///
    /// The generation keeps its member list in one value; the view's current
    /// members are also rows (`view_members`, for the queries by package), and
    /// only the difference from the parent is written there: a change costs
    /// what it changes, not what the view holds.
    pub fn record_generation(&self, view_id: i64, generation: &NewGeneration<'_>) -> Result<()> {
        let NewGeneration {
            number,
            parent,
            reason,
            members,
            parent_members,
            footprint,
        } = *generation;
        let mut ids = Vec::with_capacity(members.len());
        for m in members {
            ids.push(match m.package_id {
                Some(id) => id,
                None => self.package_id(&m.pkgname)?,
            });
        }
        let mut list = String::with_capacity(members.len() * 12 + 2);
        list.push('[');
        for (i, (m, id)) in members.iter().zip(&ids).enumerate() {
            if i > 0 {
                list.push(',');
            }
            let _ = write!(list, "[{id},{}]", m.priority);
        }
        list.push(']');
        self.tx
            .execute(
                "INSERT INTO generations (view_id, number, parent, created, reason, inodes, bytes, member_list)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    view_id,
                    number,
                    parent,
                    crate::now(),
                    reason,
                    footprint.map(|f| f.0),
                    footprint.map(|f| f.1),
                    list
                ],
            )
            .map_err(|e| self.err(e))?;
        // The current members as they are now: the parent's, as the caller read
        // them under the same lock, or the rows themselves.
        let now: std::collections::HashMap<i64, i64> = match (parent, parent_members) {
            (Some(_), Some(known)) if known.iter().all(|m| m.package_id.is_some()) => known
                .iter()
                .filter_map(|m| Some((m.package_id?, m.priority)))
                .collect(),
            _ => self.view_member_rows(view_id)?,
        };
        let wanted: std::collections::HashMap<i64, i64> = ids
            .iter()
            .zip(members)
            .map(|(id, m)| (*id, m.priority))
            .collect();
        let mut gone = self
            .tx
            .prepare_cached("DELETE FROM view_members WHERE view_id = ?1 AND package_id = ?2")
            .map_err(|e| self.err(e))?;
        for id in now.keys().filter(|id| !wanted.contains_key(id)) {
            gone.execute(params![view_id, id])
                .map_err(|e| self.err(e))?;
        }
        let mut put = self
            .tx
            .prepare_cached(
                "INSERT INTO view_members (view_id, package_id, priority) VALUES (?1, ?2, ?3)
                 ON CONFLICT (view_id, package_id) DO UPDATE SET priority = excluded.priority",
            )
            .map_err(|e| self.err(e))?;
        for (id, priority) in &wanted {
            if now.get(id) != Some(priority) {
                put.execute(params![view_id, id, priority])
                    .map_err(|e| self.err(e))?;
            }
        }
        self.tx
            .execute(
                "UPDATE views SET current = ?2 WHERE id = ?1",
                params![view_id, number],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn package_id(&self, pkgname: &str) -> Result<i64> {
        self.tx
            .query_row(
                "SELECT id FROM packages WHERE pkgname = ?1",
                [pkgname],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound(format!("package {pkgname} is not installed")))
    }

    fn view_member_rows(&self, view_id: i64) -> Result<std::collections::HashMap<i64, i64>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT package_id, priority FROM view_members WHERE view_id = ?1")
            .map_err(|e| self.err(e))?;
        stmt.query_map([view_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }

    /// Make `number` the current generation (its members become the view's).
    pub fn set_current(&self, view_id: i64, number: i64) -> Result<()> {
        self.tx
            .execute(
                "UPDATE views SET current = ?2 WHERE id = ?1",
                params![view_id, number],
            )
            .and_then(|_| {
                self.tx
                    .execute("DELETE FROM view_members WHERE view_id = ?1", [view_id])
            })
            .and_then(|_| {
                self.tx.execute(
                    &format!(
                        "INSERT INTO view_members (view_id, package_id, priority)
                         SELECT ?1, package_id, priority FROM ({GENERATION_MEMBERS})"
                    ),
                    params![view_id, number],
                )
            })
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forget a generation.
    pub fn delete_generation(&self, view_id: i64, number: i64) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM generations WHERE view_id = ?1 AND number = ?2",
                params![view_id, number],
            )
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
