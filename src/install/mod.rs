//! Install and delete transactions. [`Context::writer`] takes the write lock,
//! opens the database and cleans up after any interrupted run; [`add`] and
//! [`delete`] do the work.

pub mod add;
pub mod delete;
pub mod extract;
pub mod scripts;

use anyhow::{Context as _, Result};
use pkgdb::{Database, WriteLock};

use crate::linking;
use crate::settings::Settings;

/// Prefix of staging directories under `<root>/packages`.
pub const STAGING_PREFIX: &str = ".staging-";
/// Prefix of directories being removed under `<root>/packages`.
pub const TRASH_PREFIX: &str = ".trash-";

/// An open root for writing: the lock is held as long as this lives.
pub struct Context {
    /// Where things are.
    pub settings: Settings,
    /// The database.
    pub db: Database,
    _lock: Option<WriteLock>,
}

impl Context {
    /// Take the write lock, open the database and clean up after interrupted runs.
    pub fn writer(settings: Settings) -> Result<Context> {
        let lock = WriteLock::acquire(&settings.dbdir)?;
        let db = Database::open(&settings.dbdir)?;
        let ctx = Context {
            settings,
            db,
            _lock: Some(lock),
        };
        ctx.recover()?;
        Ok(ctx)
    }

    /// Open for a dry run: no lock, nothing created, nothing cleaned up.
    pub fn reader(settings: Settings) -> Result<Context> {
        let db = Database::open_read(&settings.dbdir)?;
        Ok(Context {
            settings,
            db,
            _lock: None,
        })
    }

    /// Remove staging and trash directories left by an interrupted run and put views back in step.
    fn recover(&self) -> Result<()> {
        let packages = self.settings.packages_dir();
        if let Ok(rd) = std::fs::read_dir(&packages) {
            for e in rd.filter_map(Result::ok) {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(STAGING_PREFIX) || name.starts_with(TRASH_PREFIX) {
                    eprintln!(
                        "depot: removing {} left by an interrupted run",
                        e.path().display()
                    );
                    linking::remove_tree(&e.path())
                        .context("cannot clean up after an interrupted run")?;
                }
            }
        }
        linking::recover(&self.settings, &self.db)
    }
}
