//! The executor loop shared by every way of running a bulk: the scheduler
//! decides, an [`Executor`] starts jobs (a local process, or a build on
//! another machine), and a waiter thread per job reports its end at once
//! (no polling), so a slot is refilled the moment it frees.

use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use sched::{Scheduler, Start};

/// How a job ended.
pub enum Ending {
    /// Its process exited (or could not be waited for).
    Exited(std::io::Result<ExitStatus>),
    /// The machine it ran on was lost (ssh failed, the connection dropped,
    /// a heartbeat missed, or the results never came back): not the
    /// build's fault.
    Lost(String),
}

/// Work that runs in its own thread and says how it ended.
pub type Job = Box<dyn FnOnce() -> Ending + Send>;

/// What starting a task gave.
pub enum Started {
    /// A job to wait for.
    Job(Job),
    /// Nothing to run: the task is already settled (up to date, or failed
    /// before it could start).
    Settled(bool),
}

impl Started {
    /// Wait for a local process.
    pub fn child(mut child: Child) -> Started {
        Started::Job(Box::new(move || Ending::Exited(child.wait())))
    }
}

/// What became of a task whose job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// It is settled: built (true) or failed (false).
    Settled(bool),
    /// Its build was lost with its machine: run it again elsewhere.
    Retry,
}

/// Starts tasks (builds, `sleep`s, builds on other machines).
pub trait Executor {
    /// Start a task with its make jobs, in its slot.
    fn start(&mut self, start: Start) -> Result<Started>;
    /// A task's job ended; say what became of the task (taking slots out
    /// of use in `scheduler` when their machine is lost).
    fn ended(
        &mut self,
        scheduler: &mut Scheduler,
        task: usize,
        ending: Ending,
        took: Duration,
    ) -> After;
    /// `cause` failed, and these tasks now never start.
    fn cascaded(&mut self, _cause: usize, _gone: &[usize]) {}
    /// Called while waiting (to bring machines back into use). Returns
    /// whether to go on waiting when nothing runs and no slot is in use.
    fn tick(&mut self, _scheduler: &mut Scheduler) -> bool {
        false
    }
}

/// Hears what happens, to show and record it.
pub trait Observer {
    /// A task started (or settled without a process).
    fn started(&mut self, _scheduler: &Scheduler, _start: Start) {}
    /// A task ended (`ran`: a job ran for it; otherwise it settled at
    /// once); `gone` are the dependents that can now never build.
    fn finished(&mut self, scheduler: &Scheduler, task: usize, ran: bool, ok: bool, gone: &[usize]);
    /// A task's build was lost with its machine and goes back in the queue.
    fn requeued(&mut self, _scheduler: &Scheduler, _task: usize) {}
    /// Nothing happened for a while (to redraw a display).
    fn tick(&mut self, _scheduler: &Scheduler, _elapsed: Duration) {}
}

/// How often [`Observer::tick`] and [`Executor::tick`] are called while builds run.
const TICK: Duration = Duration::from_millis(500);

/// Run the scheduler's graph to the end (or until no slot is in use and
/// the executor stops waiting for one). Returns the wall time it took.
pub fn drive(
    scheduler: &mut Scheduler,
    executor: &mut dyn Executor,
    observer: &mut dyn Observer,
) -> Duration {
    let began = Instant::now();
    let (tx, rx) = mpsc::channel::<(usize, Ending, Duration)>();
    let mut running = 0_usize;
    loop {
        while let Some(start) = scheduler.next(began.elapsed().as_secs_f64()) {
            observer.started(scheduler, start);
            let settled = match executor.start(start) {
                Ok(Started::Job(job)) => {
                    running += 1;
                    let tx = tx.clone();
                    let at = Instant::now();
                    std::thread::spawn(move || {
                        let ending = job();
                        let _ = tx.send((start.task, ending, at.elapsed()));
                    });
                    continue;
                }
                Ok(Started::Settled(ok)) => ok,
                Err(e) => {
                    crate::output::caution!("{e:#}");
                    false
                }
            };
            let gone = scheduler.finish(start.task, settled);
            executor.cascaded(start.task, &gone);
            observer.finished(scheduler, start.task, false, settled, &gone);
        }
        if running == 0 {
            if scheduler.is_finished() || !executor.tick(scheduler) {
                break;
            }
            std::thread::sleep(TICK);
            continue;
        }
        match rx.recv_timeout(TICK) {
            Ok((task, ending, took)) => {
                running -= 1;
                match executor.ended(scheduler, task, ending, took) {
                    After::Settled(ok) => {
                        let gone = scheduler.finish(task, ok);
                        executor.cascaded(task, &gone);
                        observer.finished(scheduler, task, true, ok, &gone);
                    }
                    After::Retry => {
                        scheduler.requeue(task);
                        observer.requeued(scheduler, task);
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                observer.tick(scheduler, began.elapsed());
                executor.tick(scheduler);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    began.elapsed()
}
