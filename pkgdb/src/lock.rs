//! The exclusive writer lock: `flock(2)` on `<dbdir>/lock`.

use std::fs::TryLockError;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Held while a process changes the package database or the depot.
/// Released when dropped (or when the process dies: the kernel drops the lock).
///
/// The lock file holds the holder's pid until it says it [`finished`]
/// (`WriteLock::finish`), when it is emptied. So the next holder learns whether
/// the one before it was cut off ([`WriteLock::interrupted`]) and may need to
/// clean up after it, and need not look when it was not.
///
/// [`finished`]: WriteLock::finish
#[derive(Debug)]
pub struct WriteLock {
    file: std::fs::File,
    path: PathBuf,
    interrupted: bool,
    finished: bool,
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
        // A pid left in the file: its holder never finished (killed, or failed).
        let mut left = String::new();
        let interrupted = file.read_to_string(&mut left).is_err() || !left.trim().is_empty();
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        Ok(WriteLock {
            file,
            path,
            interrupted,
            finished: false,
        })
    }

    /// Whether the holder before this one was cut off or failed before it
    /// [finished](WriteLock::finish) (or the lock file was older than that).
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// Say that what this holder did is complete and consistent: the next
    /// holder need not clean up after it. Without this, dropping the lock
    /// leaves this holder's pid in the file for the next one to see.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        if self.finished {
            let _ = self.file.set_len(0);
        }
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::WriteLock;

    /// A holder that finishes empties the lock file; one that does not (it
    /// failed, or was killed) leaves its pid, and the next holder is told.
    #[test]
    fn the_next_holder_learns_whether_the_last_one_finished() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriteLock::acquire(dir.path(), None).unwrap();
        assert!(!first.interrupted(), "a new lock file has nobody before it");
        drop(first);
        let mut second = WriteLock::acquire(dir.path(), None).unwrap();
        assert!(second.interrupted(), "the first holder never finished");
        second.finish();
        drop(second);
        assert_eq!(fs_err::read_to_string(dir.path().join("lock")).unwrap(), "");
        let third = WriteLock::acquire(dir.path(), None).unwrap();
        assert!(!third.interrupted(), "the second holder finished");
        assert_eq!(
            fs_err::read_to_string(dir.path().join("lock")).unwrap(),
            std::process::id().to_string()
        );
    }
}
