//! depot's package database: one SQLite file that holds what pkg_install kept in
//! per-package directories.
//!
//! [`Database::open`] creates or migrates the database (migrations by
//! `PRAGMA user_version`, WAL journal). Packages, their files (the `+CONTENTS`
//! entries with sha256, mode, size and symlink target), their metadata files,
//! dependencies with the installed package each resolved to, conflicts, and
//! views are rows; `+REQUIRED_BY` is [`Database::required_by`], a query.
//! Writers hold a [`WriteLock`]; readers never block (WAL).
//!
//! This crate knows nothing of archives or symlink trees.

mod lock;
mod packages;
mod recorder;
mod schema;
mod views;

pub use lock::WriteLock;
pub use packages::Queries;
pub use packages::{
    DependencyKind, DependencyRow, FileKind, FileRow, NewDependency, NewFile, NewPackage,
    PackageRow,
};
pub use recorder::{Finisher, Recorder};
pub use views::{GenerationRow, MemberRow, ViewQueries, ViewRow};

use std::path::{Path, PathBuf};

use rusqlite::Connection;

/// The database file name inside the database directory.
pub const DATABASE_FILE: &str = "pkgdb.sqlite3";

/// Errors from the package database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("package database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// An I/O error on a database file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Another process holds the write lock.
    #[error(
        "another depot process{holder} is changing the package database (lock {path}); wait for it to finish, then run the command again"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// " (pid N)" when known.
        holder: String,
    },
    /// The database was written by a newer depot.
    #[error(
        "package database {path} has schema version {found}, newer than this depot understands ({supported}); upgrade depot"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        supported: i64,
    },
    /// A named row does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An open package database.
pub struct Database {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Open (creating and migrating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Database> {
        fs_err::create_dir_all(dir)?;
        let path = dir.join(DATABASE_FILE);
        let conn = Connection::open(&path).map_err(|source| Error::Sqlite {
            path: path.clone(),
            source,
        })?;
        let mut db = Database { conn, path };
        db.configure()?;
        schema::migrate(&mut db)?;
        Ok(db)
    }

    /// Open for a reader. Nothing is created: a missing database reads as an empty
    /// one (in memory), so `depot info` on a fresh root leaves the root untouched.
    pub fn open_read(dir: &Path) -> Result<Database> {
        let path = dir.join(DATABASE_FILE);
        if path.exists() {
            return Self::open(dir);
        }
        let conn = Connection::open_in_memory().map_err(|source| Error::Sqlite {
            path: path.clone(),
            source,
        })?;
        let mut db = Database { conn, path };
        schema::migrate(&mut db)?;
        Ok(db)
    }

    fn configure(&self) -> Result<()> {
        self.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| self.err(e))?;
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA temp_store = MEMORY;
                 PRAGMA cache_size = -65536;
                 PRAGMA wal_autocheckpoint = 0;",
            )
            .map_err(|e| self.err(e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Run `f` in one transaction: committed if it returns `Ok`, rolled back otherwise.
    pub fn transaction<T, E>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<Error>,
    {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|source| Error::Sqlite {
                path: path.clone(),
                source,
            })?;
        let wrapped = Transaction {
            tx,
            path: path.clone(),
        };
        let value = f(&wrapped)?;
        wrapped
            .tx
            .commit()
            .map_err(|source| Error::Sqlite { path, source })?;
        Ok(value)
    }
}

/// A write transaction; obtained from [`Database::transaction`].
pub struct Transaction<'a> {
    tx: rusqlite::Transaction<'a>,
    path: PathBuf,
}

impl Transaction<'_> {
    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// Read access shared by [`Database`] and [`Transaction`].
pub trait Reader {
    /// The connection to query.
    #[doc(hidden)]
    fn connection(&self) -> &Connection;
    /// Wrap an SQLite error with the database path.
    #[doc(hidden)]
    fn wrap(&self, source: rusqlite::Error) -> Error;
}

impl Reader for Database {
    fn connection(&self) -> &Connection {
        &self.conn
    }
    fn wrap(&self, source: rusqlite::Error) -> Error {
        self.err(source)
    }
}

impl Reader for Transaction<'_> {
    fn connection(&self) -> &Connection {
        &self.tx
    }
    fn wrap(&self, source: rusqlite::Error) -> Error {
        self.err(source)
    }
}

/// Seconds since the epoch, for timestamps.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
