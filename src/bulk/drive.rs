//! The executor loop shared by every way of running a bulk: the scheduler
//! decides, an [`Executor`] starts processes, and a waiter thread per
//! process reports its end at once (no polling), so a slot is refilled the
//! moment it frees.

use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use sched::{Scheduler, Start};

/// What starting a task gave.
pub enum Started {
    /// A process to wait for.
    Child(Child),
    /// Nothing to run: the task is already settled (up to date, or failed
    /// before it could start).
    Settled(bool),
}

/// Starts tasks (builds, `sleep`s, builds on other machines).
pub trait Executor {
    /// Start a task with its make jobs.
    fn start(&mut self, start: Start) -> Result<Started>;
    /// A task's process ended; say whether the task succeeded.
    fn ended(&mut self, task: usize, status: std::io::Result<ExitStatus>, took: Duration) -> bool;
    /// `cause` failed, and these tasks now never start.
    fn cascaded(&mut self, _cause: usize, _gone: &[usize]) {}
}

/// Hears what happens, to show and record it.
pub trait Observer {
    /// A task started (or settled without a process).
    fn started(&mut self, _scheduler: &Scheduler, _start: Start) {}
    /// A task ended (`ran`: a process ran for it; otherwise it settled at
    /// once); `gone` are the dependents that can now never build.
    fn finished(&mut self, scheduler: &Scheduler, task: usize, ran: bool, ok: bool, gone: &[usize]);
    /// Nothing happened for a while (to redraw a display).
    fn tick(&mut self, _scheduler: &Scheduler, _elapsed: Duration) {}
}

/// How often [`Observer::tick`] is called while builds run.
const TICK: Duration = Duration::from_millis(500);

/// Run the scheduler's graph to the end. Returns the wall time it took.
pub fn drive(
    scheduler: &mut Scheduler,
    executor: &mut dyn Executor,
    observer: &mut dyn Observer,
) -> Duration {
    let began = Instant::now();
    let (tx, rx) = mpsc::channel::<(usize, std::io::Result<ExitStatus>, Duration)>();
    let mut running = 0_usize;
    loop {
        while let Some(start) = scheduler.next(began.elapsed().as_secs_f64()) {
            observer.started(scheduler, start);
            let settled = match executor.start(start) {
                Ok(Started::Child(mut child)) => {
                    running += 1;
                    let tx = tx.clone();
                    let at = Instant::now();
                    std::thread::spawn(move || {
                        let status = child.wait();
                        let _ = tx.send((start.task, status, at.elapsed()));
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
            break;
        }
        match rx.recv_timeout(TICK) {
            Ok((task, status, took)) => {
                running -= 1;
                let ok = executor.ended(task, status, took);
                let gone = scheduler.finish(task, ok);
                executor.cascaded(task, &gone);
                observer.finished(scheduler, task, true, ok, &gone);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => observer.tick(scheduler, began.elapsed()),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    began.elapsed()
}
