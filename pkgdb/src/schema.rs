//! Schema and migrations, versioned by `PRAGMA user_version`.

use crate::{Database, Error, Result};

/// Each migration takes the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE packages (
    id            INTEGER PRIMARY KEY,
    pkgname       TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    comment       TEXT NOT NULL,
    description   TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    depot_dir     TEXT NOT NULL,
    build_info    TEXT NOT NULL DEFAULT '',
    size_pkg      INTEGER NOT NULL DEFAULT 0,
    size_all      INTEGER NOT NULL DEFAULT 0,
    automatic     INTEGER NOT NULL DEFAULT 0,
    keep          INTEGER NOT NULL DEFAULT 0,
    install_time  INTEGER NOT NULL
);
CREATE INDEX packages_name ON packages(name);

-- The metadata files (+CONTENTS, +COMMENT, +DESC, +INSTALL, ...) verbatim.
CREATE TABLE metadata (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    content    BLOB NOT NULL,
    PRIMARY KEY (package_id, name)
) WITHOUT ROWID;

-- One row per +CONTENTS file entry; path is relative to the package prefix.
CREATE TABLE files (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    path       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('file', 'symlink', 'dir')),
    sha256     TEXT,
    md5        TEXT,
    mode       INTEGER NOT NULL DEFAULT 0,
    size       INTEGER NOT NULL DEFAULT 0,
    target     TEXT,
    PRIMARY KEY (package_id, seq)
) WITHOUT ROWID;
CREATE INDEX files_path ON files(path);

CREATE TABLE dependencies (
    package_id  INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    pattern     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('run', 'build')),
    built_with  TEXT,
    resolved_id INTEGER REFERENCES packages(id) ON DELETE SET NULL
);
CREATE INDEX dependencies_package ON dependencies(package_id);
CREATE INDEX dependencies_resolved ON dependencies(resolved_id);

CREATE TABLE conflicts (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    pattern    TEXT NOT NULL
);
CREATE INDEX conflicts_package ON conflicts(package_id);

CREATE TABLE views (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    current    INTEGER,
    created    INTEGER NOT NULL
);

CREATE TABLE generations (
    view_id    INTEGER NOT NULL REFERENCES views(id) ON DELETE CASCADE,
    number     INTEGER NOT NULL,
    parent     INTEGER,
    created    INTEGER NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (view_id, number)
) WITHOUT ROWID;

CREATE TABLE members (
    view_id    INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    package_id INTEGER NOT NULL REFERENCES packages(id),
    priority   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (view_id, generation, package_id),
    FOREIGN KEY (view_id, generation) REFERENCES generations(view_id, number) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX members_package ON members(package_id);

CREATE TABLE view_settings (
    view_id    INTEGER NOT NULL REFERENCES views(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL
);
",
    r"
-- Each generation's link plan (views::Plan::encode), so that the next change
-- plans only what it touches; none for generations made before version 2.
-- A table of its own: large values would slow every lookup in generations.
CREATE TABLE generation_plans (
    view_id    INTEGER NOT NULL,
    number     INTEGER NOT NULL,
    plan       BLOB NOT NULL,
    PRIMARY KEY (view_id, number),
    FOREIGN KEY (view_id, number) REFERENCES generations(view_id, number) ON DELETE CASCADE
);

-- Each package's file and symlink paths (not directories), NUL-separated: what
-- a view links. A package never changes once installed, so this copy of its
-- files rows never goes stale; views read one row per package instead of one
-- row per file.
CREATE TABLE entry_lists (
    package_id INTEGER PRIMARY KEY REFERENCES packages(id) ON DELETE CASCADE,
    paths      TEXT NOT NULL
);
INSERT INTO entry_lists (package_id, paths)
    SELECT id, coalesce((SELECT group_concat(path, char(0)) FROM files
                         WHERE package_id = packages.id AND kind != 'dir'), '')
    FROM packages;
",
    r"
-- Depot dirs relative to the root (`packages/<PKGNAME>`), so that a root can be
-- moved, copied or reached through a symlink. Packages imported from
-- pkg_install keep their absolute prefix: their files really are there.
UPDATE packages SET depot_dir = 'packages/' || pkgname
    WHERE substr(depot_dir, -length('/packages/' || pkgname)) = '/packages/' || pkgname;
",
    r"
-- What each generation takes on disk (views::Footprint); unknown for older ones.
ALTER TABLE generations ADD COLUMN inodes INTEGER;
ALTER TABLE generations ADD COLUMN bytes INTEGER;
",
    r"
-- When a package's files were all written (ns since the epoch): a file whose
-- inode changed (ctime) before then is as it was installed.
ALTER TABLE packages ADD COLUMN settled_ns INTEGER;
",
    r"
-- Link plans moved to files beside the generations (`views/.gen/<view>/<n>.plan`):
-- a plan is as large as the view, and a blob that size cost more to write, read
-- and free in SQLite than the rest of a change. The next change of each view
-- plans it in full once.
DROP TABLE generation_plans;
",
    r"
-- A generation's members as one value (JSON [[package id, priority], ...]), and
-- the current generation's as rows for the queries by package: a change writes
-- one value and what changed, not a row per member of the view.
ALTER TABLE generations ADD COLUMN member_list TEXT NOT NULL DEFAULT '[]';
UPDATE generations SET member_list = coalesce(
    (SELECT json_group_array(json_array(m.package_id, m.priority)) FROM members m
     WHERE m.view_id = generations.view_id AND m.generation = generations.number),
    '[]');
CREATE TABLE view_members (
    view_id    INTEGER NOT NULL REFERENCES views(id) ON DELETE CASCADE,
    package_id INTEGER NOT NULL REFERENCES packages(id),
    priority   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (view_id, package_id)
) WITHOUT ROWID;
CREATE INDEX view_members_package ON view_members(package_id);
INSERT INTO view_members (view_id, package_id, priority)
    SELECT m.view_id, m.package_id, m.priority FROM members m
    JOIN views v ON v.id = m.view_id AND m.generation = v.current;
DROP TABLE members;
",
    r"
-- What the sites offer: each site's pkg_summary as rows (repositories).
CREATE TABLE sites (
    id       INTEGER PRIMARY KEY,
    url      TEXT NOT NULL UNIQUE,
    stamp    TEXT NOT NULL,
    digest   TEXT NOT NULL,
    imported INTEGER NOT NULL
);
CREATE TABLE remote_packages (
    site_id   INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    pkgname   TEXT NOT NULL,
    name      TEXT NOT NULL,
    version   TEXT NOT NULL,
    comment   TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_size INTEGER,
    sha256    TEXT,
    size_pkg  INTEGER,
    depends   TEXT NOT NULL,
    conflicts TEXT NOT NULL,
    record    TEXT NOT NULL,
    PRIMARY KEY (site_id, pkgname)
) WITHOUT ROWID;
CREATE INDEX remote_packages_name ON remote_packages(name);
",
    r"
-- Lookups go by PKGNAME range on the primary key; the name index only cost imports.
DROP INDEX remote_packages_name;
",
    r"
-- Bulk builds: the scanned graph with each package's last outcome, and the
-- cost of every build and phase.
CREATE TABLE bulk_packages (
    pkgpath        TEXT PRIMARY KEY,
    pkgname        TEXT NOT NULL,
    recipe_hash    TEXT NOT NULL,
    files          TEXT NOT NULL,
    depends        TEXT NOT NULL,
    prefailed      TEXT,
    distfile_size  INTEGER NOT NULL,
    make_jobs_safe INTEGER NOT NULL,
    status         TEXT,
    cause          TEXT,
    reason         TEXT,
    make_jobs      INTEGER,
    duration       REAL,
    built_files    TEXT
) WITHOUT ROWID;
CREATE TABLE bulk_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE bulk_history (
    id           INTEGER PRIMARY KEY,
    run          INTEGER NOT NULL,
    pkgpath      TEXT NOT NULL,
    pkgname      TEXT NOT NULL,
    phase        TEXT NOT NULL,
    wall         REAL NOT NULL,
    cpu          REAL NOT NULL,
    max_rss      INTEGER NOT NULL,
    wrkdir_bytes INTEGER NOT NULL,
    make_jobs    INTEGER NOT NULL,
    ok           INTEGER NOT NULL,
    finished     INTEGER NOT NULL
);
CREATE INDEX bulk_history_pkgpath ON bulk_history(pkgpath, id);
",
    r"
-- Multi-machine bulks: the node each package was built on.
ALTER TABLE bulk_packages ADD COLUMN node TEXT;
ALTER TABLE bulk_history ADD COLUMN node TEXT;
",
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn migrate(db: &mut Database) -> Result<()> {
    let current: i64 = db
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| db.err(e))?;
    if current > VERSION {
        return Err(Error::TooNew {
            path: db.path.clone(),
            found: current,
            supported: VERSION,
        });
    }
    if current == VERSION {
        return Ok(());
    }
    let path = db.path.clone();
    let tx = db
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|source| Error::Sqlite {
            path: path.clone(),
            source,
        })?;
    // Re-read under the write transaction: another process may have migrated meanwhile.
    let current: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| Error::Sqlite {
            path: path.clone(),
            source,
        })?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)
            .and_then(|()| tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1)))
            .map_err(|source| Error::Sqlite {
                path: path.clone(),
                source,
            })?;
    }
    tx.commit().map_err(|source| Error::Sqlite { path, source })
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::{Database, Queries};

    /// A database written by version 1 gains each package's entry list, loses
    /// the plan table (plans are files now), and keeps its rows.
    #[test]
    fn version_1_migrates() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        {
            let conn = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE))?;
            conn.execute_batch(MIGRATIONS[0])?;
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO packages (id, pkgname, name, version, comment, description, prefix, depot_dir, install_time)
                     VALUES (7, 'old-1.0', 'old', '1.0', 'c', 'd', '/p', '/p/packages/old-1.0', 0);
                 INSERT INTO files (package_id, seq, path, kind) VALUES
                     (7, 0, 'bin/old', 'file'), (7, 1, 'share/old', 'dir'), (7, 2, 'lib/libold.so', 'symlink');",
            )?;
        }
        let db = Database::open(dir.path())?;
        let mut paths = db.entry_paths(7, "")?;
        paths.sort();
        assert_eq!(paths, ["bin/old", "lib/libold.so"]);
        assert_eq!(db.entry_paths(7, "bin")?, ["bin/old"]);
        // The depot dir became relative to the root (version 3).
        assert_eq!(
            db.package("old-1.0")?.ok_or("old-1.0 is gone")?.depot_dir,
            "packages/old-1.0"
        );
        let plan_tables: i64 = db.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'generation_plans'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(plan_tables, 0, "plans live in files since version 6");
        Ok(())
    }

    /// Version 6 kept a row per member per generation; version 7 keeps each
    /// generation's list in one value and the current members as rows. Both
    /// read back the same.
    #[test]
    fn members_migrate_to_lists() -> Result<(), Box<dyn std::error::Error>> {
        use crate::ViewQueries;
        let dir = tempfile::tempdir()?;
        {
            let conn = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE))?;
            for sql in &MIGRATIONS[..6] {
                conn.execute_batch(sql)?;
            }
            conn.execute_batch(
                "PRAGMA user_version = 6;
                 INSERT INTO packages (id, pkgname, name, version, comment, description, prefix, depot_dir, install_time)
                     VALUES (1, 'a-1.0', 'a', '1.0', 'c', 'd', '/p', 'packages/a-1.0', 0),
                            (2, 'b-1.0', 'b', '1.0', 'c', 'd', '/p', 'packages/b-1.0', 0);
                 INSERT INTO views (id, name, created, current) VALUES (1, 'v', 0, 2);
                 INSERT INTO generations (view_id, number, created) VALUES (1, 1, 0), (1, 2, 0);
                 INSERT INTO members (view_id, generation, package_id, priority)
                     VALUES (1, 1, 1, 0), (1, 2, 1, 0), (1, 2, 2, 5);",
            )?;
        }
        let db = Database::open(dir.path())?;
        let names = |number| -> Result<Vec<(String, i64)>, Box<dyn std::error::Error>> {
            Ok(db
                .members(1, number)?
                .into_iter()
                .map(|m| (m.pkgname, m.priority))
                .collect())
        };
        assert_eq!(names(1)?, [("a-1.0".to_owned(), 0)]);
        assert_eq!(
            names(2)?,
            [("a-1.0".to_owned(), 0), ("b-1.0".to_owned(), 5)]
        );
        assert_eq!(db.views_holding(2)?, ["v"]);
        assert_eq!(db.generations_holding(1)?, [(1, "v".to_owned(), 1)]);
        assert!(db.generations_holding(2)?.is_empty());
        Ok(())
    }
}
