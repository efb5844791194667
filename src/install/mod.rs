//! Install and delete transactions. [`Context::writer`] takes the write lock,
//! opens the database and cleans up after any interrupted run; [`add`] and
//! [`delete`] do the work.

pub mod add;
pub mod delete;
pub mod extract;
pub mod scripts;
pub mod verify;

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use pkgdb::{Database, WriteLock};

use crate::linking;
use crate::output;
use crate::settings::Settings;

/// Prefix of staging directories under `<root>/packages/.work`.
pub const STAGING_PREFIX: &str = "staging-";
/// Prefix of directories on their way out: under `<root>/packages/.work` (a
/// deleted depot dir) and under `<root>/views/.gen/<view>` (a pruned generation,
/// with a leading dot there).
pub const TRASH_PREFIX: &str = ".trash-";

/// An open root for writing: the lock is held as long as this lives.
pub struct Context {
    /// Where things are.
    pub settings: Settings,
    /// The database.
    pub db: Database,
    lock: Option<WriteLock>,
}

impl Context {
    /// Take the write lock, open the database and clean up after an interrupted
    /// run: fully when the previous writer did not [finish](Context::finish).
    pub fn writer(settings: Settings) -> Result<Context> {
        Self::open_writer(settings, false)
    }

    /// Like [`Context::writer`], and look for what an interrupted run left even
    /// when the previous writer finished (`depot gc`, `admin rebuild-tree`).
    pub fn writer_recovering(settings: Settings) -> Result<Context> {
        Self::open_writer(settings, true)
    }

    fn open_writer(settings: Settings, recover_always: bool) -> Result<Context> {
        let lock = WriteLock::acquire(&settings.dbdir, settings.lock_wait)?;
        let db = Database::open(&settings.dbdir)?;
        let full = recover_always || lock.interrupted();
        let ctx = Context {
            settings,
            db,
            lock: Some(lock),
        };
        ctx.recover(full)?;
        Ok(ctx)
    }

    /// Open for reading (a listing, a check, a dry run): read-only, no lock,
    /// nothing created, nothing cleaned up.
    pub fn reader(settings: Settings) -> Result<Context> {
        let db = Database::open_read(&settings.dbdir)?;
        Ok(Context {
            settings,
            db,
            lock: None,
        })
    }

    /// The command is done and left the root consistent: the next writer need
    /// not look for what an interrupted run leaves (a writer that fails or is
    /// killed never gets here, and the next one looks).
    pub fn finish(&mut self) {
        if let Some(lock) = &mut self.lock {
            lock.finish();
        }
    }

    /// Remove staging and trash directories left by an interrupted run and, if
    /// `full`, put views back in step. Staging is cheap to look for (one
    /// directory) and is looked for always.
    fn recover(&self, full: bool) -> Result<()> {
        for leftover in leftovers(&self.settings) {
            output::say!("removing {} left by an interrupted run", leftover.display());
            linking::remove_tree(&leftover).context("cannot clean up after an interrupted run")?;
            tidy_work_dir(&self.settings);
        }
        if full {
            linking::recover(&self.settings, &self.db)?;
        }
        Ok(())
    }
}

/// Staging and trash directories an interrupted install or delete left in
/// `<root>/packages/.work` (the next writer removes them; `admin check` reports
/// them). Only a writer puts anything there, and it leaves it empty.
pub fn leftovers(settings: &Settings) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(settings.work_dir())
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// The work directory, made if missing ([`tidy_work_dir`] removes it again).
pub fn make_work_dir(settings: &Settings) -> std::io::Result<PathBuf> {
    let work = settings.work_dir();
    fs_err::create_dir_all(&work)?;
    Ok(work)
}

/// Remove the work directory if it is empty: a root looks as it did before a
/// run that leaves nothing behind.
pub fn tidy_work_dir(settings: &Settings) {
    let _ = std::fs::remove_dir(settings.work_dir());
}

/// A path relative to a depot dir split into its directory (`""` at the top)
/// and its name, for the `*at` calls made relative to [`directory_handle`].
fn parent_and_name(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// A handle on directory `path` for `*at` calls (`O_PATH`: nothing is read
/// through it), so the entries of one directory are made or removed by name
/// without walking the whole path each time.
fn directory_handle(path: &std::path::Path) -> std::io::Result<rustix::fd::OwnedFd> {
    Ok(rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?)
}
