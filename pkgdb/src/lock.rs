//! The exclusive writer lock: `flock(2)` on `<dbdir>/lock`.

use std::fs::TryLockError;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Held while a process changes the package database or the depot.
/// Released when dropped (or when the process dies: the kernel drops the lock).
#[derive(Debug)]
pub struct WriteLock {
    file: std::fs::File,
    path: PathBuf,
}

impl WriteLock {
    /// Take the lock in `dir` without waiting; fail with [`Error::Locked`] if another process holds it.
    pub fn acquire(dir: &Path) -> Result<WriteLock> {
        fs_err::create_dir_all(dir)?;
        let path = dir.join("lock");
        let mut file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?
            .into_parts()
            .0;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = text
                    .trim()
                    .parse::<u32>()
                    .map(|pid| format!(" (pid {pid})"))
                    .unwrap_or_default();
                return Err(Error::Locked { path, holder });
            }
            Err(TryLockError::Error(e)) => return Err(Error::Io(e)),
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        Ok(WriteLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
