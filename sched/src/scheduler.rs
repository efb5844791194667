//! List scheduling by critical path: when a slot frees, the ready task with
//! the longest duration-weighted path to the end of the graph starts (ties:
//! more transitive dependents first, then graph order), as long as the
//! limits allow it.
//!
//! Slots may differ in speed (the machines of a multi-machine bulk): a task
//! then goes to the slot where it would finish first, counting slots that
//! are busy but free up soon. When that is a busy fast slot, the task waits
//! for it (it is reserved) and the next task in priority order may take the
//! free slow slot instead: a long critical build never starts on a slow
//! machine when a fast one frees soon enough to finish it earlier.

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap};

use crate::cores::{CorePolicy, Situation};
use crate::graph::Graph;

/// What may run at once.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Builds at once.
    pub jobs: usize,
    /// Cores shared by the running builds' make jobs.
    pub cores: usize,
    /// Recorded peak memory of builds running together stays under this.
    pub memory: Option<u64>,
    /// How make jobs are given out.
    pub policy: CorePolicy,
    /// Each slot's speed (durations are divided by it), when slots differ:
    /// empty means `jobs` slots of speed 1.
    pub speeds: Vec<f64>,
    /// Each slot's machine (for [`Placement::LeastLoaded`]); empty means
    /// every slot is a machine of its own.
    pub nodes: Vec<usize>,
    /// Which free slot a task goes to.
    pub placement: Placement,
    /// With make jobs by need or fixed: a build off the longest path waits
    /// for a free core rather than start on taken ones (by need, a plan may
    /// turn this off when the cores are better kept full).
    pub wait_for_cores: bool,
}

/// Which slot a task goes to when slots differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Where it would finish first, waiting for a busy fast slot when that
    /// is sooner (depot's).
    #[default]
    EarliestFinish,
    /// A free slot of the machine with the least running builds per unit of
    /// power, the fastest on a tie (FreeBSD portbuild's rule, to compare).
    LeastLoaded,
}

impl Limits {
    /// `jobs` builds of one make job each, on as many cores.
    pub fn slots(jobs: usize) -> Limits {
        Limits {
            jobs: jobs.max(1),
            cores: jobs.max(1),
            memory: None,
            policy: CorePolicy::Fixed(1),
            speeds: Vec::new(),
            nodes: Vec::new(),
            placement: Placement::EarliestFinish,
            wait_for_cores: true,
        }
    }

    /// One slot per speed, one make job each.
    pub fn speeds(speeds: Vec<f64>) -> Limits {
        let jobs = speeds.len().max(1);
        Limits {
            speeds,
            ..Limits::slots(jobs)
        }
    }

    /// Each slot's speed.
    pub fn slot_speeds(&self) -> Vec<f64> {
        if self.speeds.is_empty() {
            vec![1.0; self.jobs.max(1)]
        } else {
            self.speeds.iter().map(|s| s.max(1e-6)).collect()
        }
    }
}

/// A decision: start this task on this slot with this many make jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// The task.
    pub task: usize,
    /// MAKE_JOBS for it.
    pub make_jobs: usize,
    /// The slot it runs in.
    pub slot: usize,
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Status {
    /// Dependencies still to finish.
    Waiting,
    /// Could start.
    Ready,
    /// Started at this time with these make jobs.
    Running {
        /// When it started.
        started: f64,
        /// Its make jobs.
        make_jobs: usize,
        /// Its slot.
        slot: usize,
    },
    /// Finished well.
    Done,
    /// Failed itself.
    Failed,
    /// A dependency (this one, the first to fail) failed.
    IndirectFailed(usize),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    priority: f64,
    dependents: u32,
    task: usize,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .total_cmp(&other.priority)
            .then(self.dependents.cmp(&other.dependents))
            .then(other.task.cmp(&self.task))
    }
}

/// The scheduler's state over one bulk build.
#[derive(Debug, Clone)]
pub struct Scheduler {
    graph: Graph,
    limits: Limits,
    priority: Vec<f64>,
    bottom: Vec<f64>,
    dependents: Vec<u32>,
    cpu_scale: Vec<Option<f64>>,
    status: Vec<Status>,
    waiting_on: Vec<usize>,
    ready: BinaryHeap<Entry>,
    running: Vec<usize>,
    unstarted_work: f64,
    exclusive: BTreeSet<String>,
    speed: Vec<f64>,
    node: Vec<usize>,
    slot_task: Vec<Option<usize>>,
    slot_up: Vec<bool>,
}

impl Scheduler {
    /// Plan over `graph` within `limits`, by critical path (a missing
    /// estimate counting as the longest known, [`Graph::cautious`]).
    pub fn new(graph: Graph, limits: Limits) -> Scheduler {
        let bottom = graph.bottom_levels(&graph.cautious());
        Scheduler::with_priority(graph, limits, bottom)
    }

    /// Plan with another priority (larger starts first): to compare rules.
    pub fn with_priority(graph: Graph, limits: Limits, priority: Vec<f64>) -> Scheduler {
        let bottom = graph.bottom_levels(&graph.duration);
        let (dependents, _) = graph.transitive_dependents(&graph.duration);
        let known: Vec<f64> = (0..graph.len())
            .filter(|&i| !graph.guessed[i])
            .map(|i| graph.duration[i].max(1e-3).ln())
            .collect();
        let low = known.iter().copied().fold(f64::INFINITY, f64::min);
        let high = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let range = (high - low).max(1.0);
        let cpu_scale = (0..graph.len())
            .map(|i| {
                (!graph.guessed[i] && low.is_finite())
                    .then(|| (graph.duration[i].max(1e-3).ln() - low) / range)
            })
            .collect();
        let waiting_on: Vec<usize> = graph.tasks.iter().map(|t| t.deps.len()).collect();
        let speed = limits.slot_speeds();
        let node = if limits.nodes.len() == speed.len() {
            limits.nodes.clone()
        } else {
            (0..speed.len()).collect()
        };
        let mut scheduler = Scheduler {
            slot_task: vec![None; speed.len()],
            slot_up: vec![true; speed.len()],
            speed,
            node,
            unstarted_work: graph.duration.iter().sum(),
            status: vec![Status::Waiting; graph.len()],
            graph,
            limits,
            priority,
            bottom,
            dependents,
            cpu_scale,
            waiting_on,
            ready: BinaryHeap::new(),
            running: Vec::new(),
            exclusive: BTreeSet::new(),
        };
        for i in 0..scheduler.graph.len() {
            if scheduler.waiting_on[i] == 0 {
                scheduler.make_ready(i);
            }
        }
        scheduler
    }

    fn make_ready(&mut self, task: usize) {
        self.status[task] = Status::Ready;
        self.ready.push(Entry {
            priority: self.priority[task],
            dependents: self.dependents[task],
            task,
        });
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Where a task is.
    pub fn status(&self, task: usize) -> Status {
        self.status[task]
    }

    /// A task's priority (by default its bottom level, in seconds).
    pub fn priority(&self, task: usize) -> f64 {
        self.priority[task]
    }

    /// The tasks running now.
    pub fn running(&self) -> &[usize] {
        &self.running
    }

    /// How many tasks are ready and not started.
    pub fn ready_count(&self) -> usize {
        self.ready.len()
    }

    /// Whether nothing runs and nothing can start: the bulk is over.
    pub fn is_finished(&self) -> bool {
        self.running.is_empty() && self.ready.is_empty()
    }

    /// A running task's planned end (its estimate at its make jobs and its
    /// slot's speed) and its make jobs; `None` when it is not running.
    fn planned_end(&self, task: usize) -> Option<(f64, usize)> {
        match self.status[task] {
            Status::Running {
                started,
                make_jobs,
                slot,
            } => {
                let time = self.graph.tasks[task]
                    .speedup
                    .time(self.graph.duration[task], make_jobs)
                    / self.speed[slot];
                Some((started + time, make_jobs))
            }
            _ => None,
        }
    }

    fn running_work(&self, now: f64) -> f64 {
        self.running
            .iter()
            .filter_map(|&t| {
                let (end, make_jobs) = self.planned_end(t)?;
                Some((end - now).max(0.0) * self.graph.tasks[t].speedup.busy(make_jobs))
            })
            .sum()
    }

    /// A guess at the time left: the longer of the work left over the slots
    /// and the longest path left.
    pub fn eta(&self, now: f64) -> f64 {
        let capacity: f64 = (0..self.speed.len())
            .filter(|&s| self.slot_up[s])
            .map(|s| self.speed[s])
            .sum();
        let work = (self.unstarted_work + self.running_work(now)) / capacity.max(1e-6);
        work.max(self.longest_path(now))
    }

    /// The longest path left: running builds' rest and chains after them,
    /// and the ready builds' bottom levels.
    fn longest_path(&self, now: f64) -> f64 {
        self.running
            .iter()
            .filter_map(|&t| {
                let (end, _) = self.planned_end(t)?;
                Some((end - now).max(0.0) + self.bottom[t] - self.graph.duration[t])
            })
            .chain(self.ready.iter().map(|e| self.bottom[e.task]))
            .fold(0.0, f64::max)
    }

    fn fits(&self, task: usize) -> bool {
        let t = &self.graph.tasks[task];
        if let Some(group) = &t.exclusive
            && self.exclusive.contains(group)
        {
            return false;
        }
        if let (Some(limit), Some(need)) = (self.limits.memory, t.memory)
            && !self.running.is_empty()
        {
            let used: u64 = self
                .running
                .iter()
                .filter_map(|&r| self.graph.tasks[r].memory)
                .sum();
            if used + need > limit {
                return false;
            }
        }
        true
    }

    /// When each slot is expected to be free: now for a free slot, the
    /// expected end of its build for a busy one (a build past its estimate
    /// is expected to run as long again as it has overrun), never for a
    /// slot that is down.
    fn availability(&self, now: f64) -> Vec<f64> {
        (0..self.speed.len())
            .map(|s| {
                if !self.slot_up[s] {
                    return f64::INFINITY;
                }
                match self.slot_task[s].and_then(|t| self.planned_end(t)) {
                    Some((end, _)) if end > now => end,
                    Some((end, _)) => now + (now - end),
                    None => now,
                }
            })
            .collect()
    }

    /// A free slot by portbuild's rule: the machine with the least running
    /// builds per unit of power, the fastest slot on a tie.
    fn least_loaded(&self, free: &[usize]) -> usize {
        let mut running = vec![0.0_f64; self.speed.len()];
        let mut power = vec![0.0_f64; self.speed.len()];
        for s in 0..self.speed.len() {
            power[self.node[s]] += self.speed[s];
            if self.slot_task[s].is_some() {
                running[self.node[s]] += 1.0;
            }
        }
        let load = |s: usize| running[self.node[s]] / power[self.node[s]].max(1e-6);
        free.iter()
            .copied()
            .min_by(|&a, &b| {
                load(a)
                    .total_cmp(&load(b))
                    .then(self.speed[b].total_cmp(&self.speed[a]))
                    .then(a.cmp(&b))
            })
            .unwrap_or(0)
    }

    /// The next task to start now, with its slot and make jobs; `None` when
    /// no slot, no core or no fitting ready task is free (call again after a
    /// finish).
    pub fn next(&mut self, now: f64) -> Option<Start> {
        let free: Vec<usize> = (0..self.speed.len())
            .filter(|&s| self.slot_up[s] && self.slot_task[s].is_none())
            .collect();
        let first_free = *free.first()?;
        let up: Vec<usize> = (0..self.speed.len()).filter(|&s| self.slot_up[s]).collect();
        let uniform = up
            .iter()
            .all(|&s| (self.speed[s] - self.speed[first_free]).abs() < 1e-9);
        let mut used = 0.0;
        for &t in &self.running {
            if let Status::Running { make_jobs, .. } = self.status[t] {
                used += match self.limits.policy {
                    CorePolicy::ByNeed => self.graph.tasks[t].speedup.busy(make_jobs),
                    _ => make_jobs as f64,
                };
            }
        }
        let free_cores = self.limits.cores as f64 - used;
        let strict = matches!(self.limits.policy, CorePolicy::Fixed(_));
        let limited = self.limits.policy != CorePolicy::Bob;
        let mut skipped = Vec::new();
        let mut chosen = None;
        let mut availability: Option<Vec<f64>> = None;
        let mut reserved = 0;
        while let Some(entry) = self.ready.pop() {
            if !self.fits(entry.task) {
                skipped.push(entry);
                continue;
            }
            if uniform {
                chosen = Some((entry.task, first_free));
                break;
            }
            if self.limits.placement == Placement::LeastLoaded {
                chosen = Some((entry.task, self.least_loaded(&free)));
                break;
            }
            // Where would it finish first?
            let avail = availability.get_or_insert_with(|| self.availability(now));
            let d = self.graph.duration[entry.task];
            let finish = |s: usize| avail[s].max(now) + d / self.speed[s];
            let best = up
                .iter()
                .copied()
                .min_by(|&a, &b| {
                    finish(a)
                        .total_cmp(&finish(b))
                        .then(avail[a].total_cmp(&avail[b]))
                        .then(self.speed[b].total_cmp(&self.speed[a]))
                })
                .unwrap_or(first_free);
            if self.slot_task[best].is_none() {
                chosen = Some((entry.task, best));
                break;
            }
            // Wait for that busy slot; later tasks may take the free ones.
            avail[best] = finish(best);
            skipped.push(entry);
            reserved += 1;
            if reserved >= up.len() {
                break;
            }
        }
        self.ready.extend(skipped);
        let (task, slot) = chosen?;
        if limited && self.limits.wait_for_cores && free_cores < 1.0 - 1e-9 {
            // The cores are taken. Only a build on the longest path left
            // starts anyway (by need): waiting would lengthen the whole bulk.
            let urgent = self.limits.policy == CorePolicy::ByNeed
                && self.bottom[task] >= self.longest_path(now) - 1e-9;
            if !urgent {
                self.make_ready(task);
                return None;
            }
        }
        let free_slots = free.len() - 1;
        let t = &self.graph.tasks[task];
        let situation = Situation {
            cores: self.limits.cores,
            slots: self.limits.jobs,
            free_cores: free_cores.max(1.0),
            others_starting: self.ready.len().min(free_slots),
            sole: self.running.is_empty() && self.ready.is_empty(),
            one: self.graph.duration[task],
            bottom_level: self.bottom[task],
            remaining_work: self.unstarted_work + self.running_work(now),
            longest_path: self.longest_path(now).max(self.bottom[task]),
            speedup: t.speedup,
            cpu_scale: self.cpu_scale[task],
        };
        let mut make_jobs = if t.speedup.serial {
            1
        } else {
            self.limits.policy.make_jobs(&situation)
        };
        if strict {
            make_jobs = make_jobs.min(free_cores as usize);
        }
        let make_jobs = make_jobs.max(1);
        if let Some(group) = &t.exclusive {
            self.exclusive.insert(group.clone());
        }
        self.status[task] = Status::Running {
            started: now,
            make_jobs,
            slot,
        };
        self.slot_task[slot] = Some(task);
        self.unstarted_work -= self.graph.duration[task];
        self.running.push(task);
        Some(Start {
            task,
            make_jobs,
            slot,
        })
    }

    /// Each slot's speed.
    pub fn speeds(&self) -> &[f64] {
        &self.speed
    }

    /// Take a slot out of use (its machine went down) or back into use.
    /// A build running in a slot taken out goes on until it is
    /// [`Scheduler::requeue`]d or finishes.
    pub fn set_slot_up(&mut self, slot: usize, up: bool) {
        if let Some(s) = self.slot_up.get_mut(slot) {
            *s = up;
        }
    }

    /// Whether a slot is in use.
    pub fn slot_is_up(&self, slot: usize) -> bool {
        self.slot_up.get(slot).copied().unwrap_or(false)
    }

    /// A running task's build was lost (its machine went down): it is
    /// ready again, to start anew in another slot.
    pub fn requeue(&mut self, task: usize) {
        let Status::Running { .. } = self.status[task] else {
            return;
        };
        self.release(task);
        self.unstarted_work += self.graph.duration[task];
        self.make_ready(task);
    }

    /// Free a running task's slot and exclusive group.
    fn release(&mut self, task: usize) {
        if let Some(pos) = self.running.iter().position(|&t| t == task) {
            self.running.swap_remove(pos);
            if let Some(group) = &self.graph.tasks[task].exclusive {
                self.exclusive.remove(group);
            }
        }
        if let Status::Running { slot, .. } = self.status[task]
            && self.slot_task[slot] == Some(task)
        {
            self.slot_task[slot] = None;
        }
    }

    /// A started task ended. Returns the tasks that can now never build
    /// (when it failed): its transitive dependents, now `IndirectFailed`.
    pub fn finish(&mut self, task: usize, ok: bool) -> Vec<usize> {
        self.release(task);
        if ok {
            self.status[task] = Status::Done;
            for r in self.graph.rdeps[task].clone() {
                self.waiting_on[r] -= 1;
                if self.waiting_on[r] == 0 && self.status[r] == Status::Waiting {
                    self.make_ready(r);
                }
            }
            Vec::new()
        } else {
            self.fail(task)
        }
    }

    /// A task fails without running (prefailed) or after. Returns its
    /// transitive dependents that had not failed yet, now `IndirectFailed`.
    pub fn fail(&mut self, task: usize) -> Vec<usize> {
        self.release(task);
        let before = self.status[task];
        if matches!(before, Status::Waiting | Status::Ready) {
            self.unstarted_work -= self.graph.duration[task];
        }
        if before == Status::Ready {
            self.ready.retain(|e| e.task != task);
        }
        self.status[task] = Status::Failed;
        let mut gone = Vec::new();
        let mut stack = self.graph.rdeps[task].clone();
        while let Some(r) = stack.pop() {
            if matches!(self.status[r], Status::Waiting | Status::Ready) {
                if self.status[r] == Status::Ready {
                    self.ready.retain(|e| e.task != r);
                }
                self.unstarted_work -= self.graph.duration[r];
                self.status[r] = Status::IndirectFailed(task);
                gone.push(r);
                stack.extend(self.graph.rdeps[r].iter().copied());
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::graph::of as graph;

    #[test]
    fn the_longest_path_starts_first() {
        // 0 (1 s) has a 10 s dependent; 1 (5 s) has none.
        let g = graph(&[(1.0, &[]), (5.0, &[]), (10.0, &[0])]);
        let mut s = Scheduler::new(g, Limits::slots(1));
        assert_eq!(s.next(0.0).map(|x| x.task), Some(0));
        assert_eq!(s.next(0.0), None);
        s.finish(0, true);
        assert_eq!(s.next(1.0).map(|x| x.task), Some(2));
    }

    #[test]
    fn a_failure_takes_its_dependents_with_it() {
        let g = graph(&[(1.0, &[]), (1.0, &[0]), (1.0, &[1]), (1.0, &[])]);
        let mut s = Scheduler::new(g, Limits::slots(2));
        let a = s.next(0.0).unwrap().task;
        let b = s.next(0.0).unwrap().task;
        assert_eq!((a, b), (0, 3));
        let mut gone = s.finish(0, false);
        gone.sort_unstable();
        assert_eq!(gone, vec![1, 2]);
        assert_eq!(s.status(2), Status::IndirectFailed(0));
        s.finish(3, true);
        assert!(s.is_finished());
    }

    #[test]
    fn exclusive_and_memory_limits_hold_builds_apart() {
        let mut g = graph(&[(1.0, &[]), (1.0, &[]), (1.0, &[])]);
        g.tasks[0].exclusive = Some("x".into());
        g.tasks[1].exclusive = Some("x".into());
        g.tasks[2].memory = Some(10);
        g.tasks[0].memory = Some(5);
        let mut limits = Limits::slots(3);
        limits.memory = Some(12);
        let mut s = Scheduler::new(g, limits);
        let first = s.next(0.0).unwrap().task;
        assert_eq!(first, 0);
        // 1 shares 0's group; 2 would need 15 > 12.
        assert_eq!(s.next(0.0), None);
        s.finish(0, true);
        let mut started = vec![s.next(1.0).unwrap().task, s.next(1.0).unwrap().task];
        started.sort_unstable();
        assert_eq!(started, vec![1, 2]);
    }

    #[test]
    #[expect(
        clippy::many_single_char_names,
        reason = "a, b, c: the starts in order"
    )]
    fn a_long_build_waits_for_a_fast_slot_that_frees_soon() {
        // Slots of speed 4 and 1. Task 0 (4 s) then 1 (40 s) and 2 (2 s), ready together.
        let g = graph(&[(4.0, &[]), (40.0, &[]), (2.0, &[])]);
        let mut s = Scheduler::new(g, Limits::speeds(vec![4.0, 1.0]));
        // 1 is the most critical: it goes to the fast slot.
        let a = s.next(0.0).unwrap();
        assert_eq!((a.task, a.slot), (1, 0));
        // 0 (4 s) on the slow slot ends at 4; on the fast one at 10 + 1:
        // the slow one now is better.
        let b = s.next(0.0).unwrap();
        assert_eq!((b.task, b.slot), (0, 1));
        s.finish(0, true);
        // 2 (2 s): the slow slot ends it at 6, the fast one at 10.5.
        let c = s.next(4.0).unwrap();
        assert_eq!((c.task, c.slot), (2, 1));
    }

    #[test]
    #[expect(
        clippy::many_single_char_names,
        reason = "a, b, c: the starts in order"
    )]
    fn a_critical_build_is_not_put_on_a_slow_slot() {
        // 0 runs 1 s on the fast slot; 1 (40 s) would take 40 s on the free
        // slow one but 1 + 10 s after 0 on the fast one: it waits, and 2
        // (1 s) takes the slow slot.
        let g = graph(&[(4.0, &[]), (40.0, &[]), (1.0, &[])]);
        let mut limits = Limits::speeds(vec![4.0, 1.0]);
        limits.jobs = 2;
        let mut s = Scheduler::with_priority(g, limits, vec![3.0, 2.0, 1.0]);
        let a = s.next(0.0).unwrap();
        assert_eq!((a.task, a.slot), (0, 0));
        let b = s.next(0.0).unwrap();
        assert_eq!((b.task, b.slot), (2, 1));
        assert_eq!(s.next(0.0), None);
        s.finish(0, true);
        let c = s.next(1.0).unwrap();
        assert_eq!((c.task, c.slot), (1, 0));
    }

    #[test]
    fn a_lost_build_is_requeued_and_a_down_slot_unused() {
        let g = graph(&[(1.0, &[]), (1.0, &[0])]);
        let mut s = Scheduler::new(g, Limits::slots(2));
        let a = s.next(0.0).unwrap();
        assert_eq!((a.task, a.slot), (0, 0));
        s.set_slot_up(0, false);
        s.requeue(0);
        assert_eq!(s.status(0), Status::Ready);
        let b = s.next(0.5).unwrap();
        assert_eq!((b.task, b.slot), (0, 1));
        assert_eq!(s.next(0.5), None);
        s.finish(0, true);
        assert_eq!(s.next(1.5).map(|x| x.slot), Some(1));
    }

    #[test]
    fn portbuild_takes_the_least_loaded_machine() {
        // Machine 0: two slots of 1; machine 1: one slot of 1.
        let g = graph(&[(1.0, &[]), (1.0, &[]), (1.0, &[])]);
        let mut limits = Limits::speeds(vec![1.0, 1.0, 2.0]);
        limits.nodes = vec![0, 0, 1];
        limits.placement = Placement::LeastLoaded;
        let mut s = Scheduler::new(g, limits);
        // All idle: the fastest slot; then machine 0 (0/2) before 1 (1/2).
        assert_eq!(s.next(0.0).unwrap().slot, 2);
        assert_eq!(s.next(0.0).unwrap().slot, 0);
        assert_eq!(s.next(0.0).unwrap().slot, 1);
    }

    #[test]
    fn a_build_off_the_longest_path_waits_for_a_core_unless_told_not_to() {
        // A long parallel build takes both cores; the short one waits for
        // it, or (wait_for_cores off) starts on the taken cores.
        let mut g = graph(&[(100.0, &[]), (1.0, &[])]);
        g.tasks[0].speedup = crate::cores::Speedup::measured(1.0);
        let limits = Limits {
            cores: 2,
            policy: CorePolicy::ByNeed,
            ..Limits::slots(2)
        };
        let mut waiting = Scheduler::new(g.clone(), limits.clone());
        let first = waiting.next(0.0).unwrap();
        assert_eq!((first.task, first.make_jobs), (0, 2));
        assert!(waiting.next(0.0).is_none());
        let mut starting = Scheduler::new(
            g,
            Limits {
                wait_for_cores: false,
                ..limits
            },
        );
        starting.next(0.0).unwrap();
        assert_eq!(starting.next(0.0).map(|s| s.task), Some(1));
    }
}
