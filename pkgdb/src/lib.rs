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

mod bulk;
mod lock;
mod packages;
mod recorder;
mod remote;
mod schema;
mod views;

pub use bulk::{BulkPackage, BulkQueries, HistoryRow};
pub use lock::WriteLock;
pub use packages::Queries;
pub use packages::{
    DependencyKind, DependencyRow, FileKind, FileRow, NewDependency, NewFile, NewPackage,
    PackageRow,
};
pub use recorder::{Finisher, Recorder};
pub use remote::{RemotePackage, RemoteQueries, SiteRow};
pub use views::{GenerationRow, MemberRow, NewGeneration, ViewQueries, ViewRow};

use std::path::{Path, PathBuf};

use rusqlite::Connection;

/// The database file name inside the database directory.
pub const DATABASE_FILE: &str = "pkgdb.sqlite3";

/// Errors from the package database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed. (The message is the path; the SQLite error follows in the chain.)
    #[error("package database {path}{}", disk_hint(.source))]
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
        "another depot process{holder} is changing the package database (lock {path}); wait for it to finish and run the command again, or pass --wait (DEPOT_LOCK_WAIT) to wait for it"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// " (pid N)" when known.
        holder: String,
    },
    /// This user may not write the root (or its file system is read-only).
    #[error(
        "cannot change this root: {reason}; commands that change the root need write access to it (run them as its owner); commands that only read (info, view list, admin check, env) work without it"
    )]
    NoWriteAccess {
        /// The lock file.
        path: PathBuf,
        /// Why it could not be opened.
        reason: std::io::Error,
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
    /// The database was written by an older depot and this user cannot upgrade it.
    #[error(
        "package database {path} has schema version {found}, older than this depot reads ({supported}); run a depot command that changes the root (say `depot admin rebuild-tree`) as a user who may write it, to upgrade it"
    )]
    TooOld {
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
    /// Leave a small WAL for a later writer to checkpoint (see
    /// [`Database::defer_small_checkpoint`]).
    defer_checkpoint: bool,
}

/// The WAL size up to which a writer that deferred its checkpoint leaves it to
/// a later one: the next process to open the database then reads at most this
/// much to rebuild the WAL index (about 0.05 ms), where checkpointing and
/// truncating costs every such writer 0.2 ms on tmpfs and four `fsync`s on a
/// disk. About a dozen view changes.
pub const DEFERRED_CHECKPOINT_BYTES: u64 = 256 * 1024;

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Database {
    fn wrap(conn: Connection, path: PathBuf) -> Database {
        Database {
            conn,
            path,
            defer_checkpoint: false,
        }
    }

    /// Open (creating and migrating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Database> {
        fs_err::create_dir_all(dir)?;
        let path = dir.join(DATABASE_FILE);
        let conn = Connection::open(&path).map_err(|source| Error::Sqlite {
            path: path.clone(),
            source,
        })?;
        let mut db = Database::wrap(conn, path);
        db.configure()?;
        schema::migrate(&mut db)?;
        Ok(db)
    }

    /// Open for a reader: read-only, so it needs no write access to the root, the
    /// database or the lock, and never waits for a writer (WAL). Nothing is
    /// created: a missing database reads as an empty one (in memory), so
    /// `depot info` on a fresh root leaves the root untouched.
    pub fn open_read(dir: &Path) -> Result<Database> {
        let path = dir.join(DATABASE_FILE);
        if !path.exists() {
            let conn = Connection::open_in_memory().map_err(|source| Error::Sqlite {
                path: path.clone(),
                source,
            })?;
            let mut db = Database::wrap(conn, path);
            schema::migrate(&mut db)?;
            return Ok(db);
        }
        let db = Self::open_read_only(&path, false)?;
        let version = match db.conn.query_row("PRAGMA user_version", [], |r| r.get(0)) {
            Ok(version) => version,
            // A database last closed by a depot that removed its -wal and -shm
            // files: read the main file as it is. No writer has it open (one would
            // have made those files), and writers change the main file only when
            // they checkpoint at the end.
            Err(e) if is_missing_wal(&e) => {
                let db = Self::open_read_only(&db.path, true)?;
                let version = db
                    .conn
                    .query_row("PRAGMA user_version", [], |r| r.get(0))
                    .map_err(|e| db.err(e))?;
                return db.at_version(dir, version);
            }
            Err(e) => return Err(db.err(e)),
        };
        db.at_version(dir, version)
    }

    fn open_read_only(path: &Path, immutable: bool) -> Result<Database> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let uri = format!(
            "file:{}{}",
            uri_escape(path),
            if immutable { "?immutable=1" } else { "" }
        );
        let conn = Connection::open_with_flags(&uri, flags).map_err(|source| Error::Sqlite {
            path: path.to_owned(),
            source,
        })?;
        let db = Database::wrap(conn, path.to_owned());
        db.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| db.err(e))?;
        Ok(db)
    }

    /// A read-only database whose schema is `version`: ready, too new, or (if this
    /// user may write it) migrated.
    fn at_version(self, dir: &Path, version: i64) -> Result<Database> {
        match version.cmp(&schema::VERSION) {
            std::cmp::Ordering::Equal => Ok(self),
            std::cmp::Ordering::Greater => Err(Error::TooNew {
                path: self.path.clone(),
                found: version,
                supported: schema::VERSION,
            }),
            // An older schema: migrate it if this user may write it.
            std::cmp::Ordering::Less => Self::open(dir).map_err(|_| Error::TooOld {
                path: self.path.clone(),
                found: version,
                supported: schema::VERSION,
            }),
        }
    }

    fn configure(&self) -> Result<()> {
        self.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| self.err(e))?;
        // Keep the -wal and -shm files when the last connection closes: a reader
        // without write access to the directory can open a WAL database only
        // while they exist. Writers checkpoint when they are done instead (Drop).
        self.conn
            .set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA temp_store = MEMORY;
                 PRAGMA cache_size = -65536;
                 PRAGMA wal_autocheckpoint = 0;
                 PRAGMA journal_size_limit = 4194304;",
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

impl Database {
    /// Write the WAL back into the database and truncate it to nothing (a
    /// writer does this when it is done; see `Drop`). Best effort: a reader in
    /// the way for long leaves it for the next writer.
    pub fn checkpoint(&self) {
        if !self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
            let _ = self
                .conn
                .busy_timeout(std::time::Duration::from_millis(200));
            let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
            let _ = self.conn.busy_timeout(std::time::Duration::from_secs(10));
        }
    }

    /// Leave the checkpoint to a later writer while the WAL is at most
    /// [`DEFERRED_CHECKPOINT_BYTES`]. For small, frequent changes (a view
    /// change): its transactions are then as durable as SQLite's
    /// `synchronous = NORMAL` makes them (a power cut may roll back the last
    /// ones, never corrupt), like the view's symlinks, which are not synced
    /// either. Package installs and deletes keep checkpointing at the end.
    pub fn defer_small_checkpoint(&mut self) {
        self.defer_checkpoint = true;
    }

    fn wal_is_small(&self) -> bool {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        fs_err::metadata(PathBuf::from(wal)).is_ok_and(|m| m.len() <= DEFERRED_CHECKPOINT_BYTES)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Writers checkpoint when they are done (closing no longer does, see
        // `configure`): the next process to open the database rebuilds its index
        // from the WAL, so a long one would cost every command. A writer that
        // deferred it leaves a small WAL as it is. Read-only connections cannot
        // and need not.
        if self.defer_checkpoint && self.wal_is_small() {
            return;
        }
        self.checkpoint();
    }
}

/// A hint for the errors a full disk causes, which SQLite words as I/O errors
/// on its shared-memory file.
fn disk_hint(error: &rusqlite::Error) -> &'static str {
    use rusqlite::ffi;
    let extended = match error {
        rusqlite::Error::SqliteFailure(e, _) => e.extended_code,
        _ => return "",
    };
    match extended {
        ffi::SQLITE_FULL
        | ffi::SQLITE_IOERR_SHMSIZE
        | ffi::SQLITE_IOERR_SHMMAP
        | ffi::SQLITE_IOERR_SHMOPEN
        | ffi::SQLITE_IOERR_WRITE
        | ffi::SQLITE_IOERR_FSYNC
        | ffi::SQLITE_IOERR_TRUNCATE => {
            " (this is what a full disk looks like: free some space on the file system holding it and run the command again)"
        }
        _ => "",
    }
}

/// Whether opening a WAL database failed because its -wal or -shm file is
/// missing and this user cannot create it.
fn is_missing_wal(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    )
}

/// `path` for an SQLite `file:` URI.
fn uri_escape(path: &Path) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
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
