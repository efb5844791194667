//! Recording a package while its files are still being unpacked.
//!
//! A [`Recorder`] owns a second connection on a worker thread with an open write
//! transaction; file rows stream into it in batches as the installer writes the
//! files, so the database work overlaps the unpacking. Nothing is visible until
//! [`Recorder::finish`] commits; dropping the recorder (or any error) rolls back.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::packages::EntryList;
use crate::{Database, Error, FileRow, NewPackage, Result, Transaction};

/// Work done inside the transaction just before it commits.
pub type Finisher = Box<dyn FnOnce(&Transaction<'_>) -> Result<()> + Send>;

/// Rows per message: few wake-ups of the worker, little memory in flight.
const BATCH: usize = 1024;

enum Message {
    Files(Vec<FileRow>),
    Finish(Box<NewPackage>, Finisher),
}

/// Streams a package's rows into an open transaction on a worker thread.
#[derive(Debug)]
pub struct Recorder {
    sender: Option<SyncSender<Message>>,
    worker: Option<JoinHandle<Result<i64>>>,
    pending: Vec<FileRow>,
}

impl Recorder {
    /// Open a second connection to the database in `dir` and begin recording
    /// `package`: its row and its metadata files now, while the files are
    /// unpacked; its file rows as [`Recorder::file`] sends them; the rest of
    /// its details by [`Recorder::finish`].
    pub fn start(dir: &Path, package: NewPackage) -> Recorder {
        let (sender, receiver) = sync_channel::<Message>(64);
        let dir = dir.to_owned();
        let head = NewPackage {
            files: Vec::new(),
            dependencies: Vec::new(),
            conflicts: Vec::new(),
            ..package
        };
        let worker = std::thread::spawn(move || -> Result<i64> {
            let mut db = Database::open(&dir)?;
            // A small page cache spills the pages this transaction fills to the
            // WAL while the files are still being written, rather than all at
            // the commit, which the install waits for.
            db.conn
                .execute_batch("PRAGMA cache_size = -4096")
                .map_err(|e| db.err(e))?;
            db.transaction(|tx| record(tx, &head, &receiver))
        });
        Recorder {
            sender: Some(sender),
            worker: Some(worker),
            pending: Vec::with_capacity(BATCH),
        }
    }

    /// Add the next file row (in `+CONTENTS` order).
    pub fn file(&mut self, row: FileRow) -> Result<()> {
        self.pending.push(row);
        if self.pending.len() >= BATCH {
            self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) {
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH));
        if let Some(sender) = &self.sender {
            // If the worker stopped, its error is reported by finish.
            let _ = sender.send(Message::Files(batch));
        }
    }

    /// Write the package's final fields, dependencies and conflicts (its files
    /// and metadata are recorded already), run `finisher` in the same
    /// transaction, and commit.
    pub fn finish(mut self, package: NewPackage, finisher: Finisher) -> Result<i64> {
        self.flush();
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(Message::Finish(Box::new(package), finisher));
        }
        self.join()
    }

    fn join(&mut self) -> Result<i64> {
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::NotFound("the database recorder panicked".to_owned())),
            None => Err(Error::NotFound(
                "the database recorder already finished".to_owned(),
            )),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Closing the channel without Finish makes the worker roll back.
        self.sender.take();
        if self.worker.is_some() {
            let _ = self.join();
        }
    }
}

fn record(tx: &Transaction<'_>, head: &NewPackage, receiver: &Receiver<Message>) -> Result<i64> {
    let id = tx.insert_package_row(head)?;
    tx.insert_metadata(id, &head.metadata)?;
    let mut seq = 0i64;
    let mut entries = EntryList::default();
    for message in receiver {
        match message {
            Message::Files(rows) => {
                for row in &rows {
                    tx.insert_file(id, seq, row)?;
                    entries.push(row);
                    seq += 1;
                }
            }
            Message::Finish(package, finisher) => {
                tx.update_package_row(id, &package)?;
                tx.insert_package_details(id, &package, &entries)?;
                finisher(tx)?;
                return Ok(id);
            }
        }
    }
    Err(Error::NotFound(
        "install abandoned; nothing was recorded".to_owned(),
    ))
}
