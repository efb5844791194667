//! The exclusive writer lock: `flock(2)` on `<dbdir>/lock`.

use std::fs::TryLockError;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Held while a process changes the package database or the depot.
/// Released when dropped (or when the process dies: the kernel drops the lock).
#[derive(Debug)]
pub struct WriteLock {
    file: std::fs::File,
    path: PathBuf,
}

impl WriteLock {
    /// Take the lock in `dir`. If another process holds it, wait up to `wait`
    /// (`None`: do not wait; `Duration::MAX`: as long as it takes), then fail
    /// with [`Error::Locked`].
    pub fn acquire(dir: &Path, wait: Option<Duration>) -> Result<WriteLock> {
        let path = dir.join("lock");
        let no_access = |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                Error::NoWriteAccess {
                    path: path.clone(),
                    reason: source,
                }
            }
            _ => Error::Io(source),
        };
        fs_err::create_dir_all(dir).map_err(no_access)?;
        let mut file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(no_access)?
            .into_parts()
            .0;
        let deadline = wait.map(|w| Instant::now().checked_add(w));
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let waiting = match deadline {
                        Some(None) => true,
                        Some(Some(at)) => Instant::now() < at,
                        None => false,
                    };
                    if waiting {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
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
