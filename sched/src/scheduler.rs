//! List scheduling by critical path: when a slot frees, the ready task with
//! the longest duration-weighted path to the end of the graph starts (ties:
//! more transitive dependents first, then graph order), as long as the
//! limits allow it.

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
}

impl Limits {
    /// `jobs` builds of one make job each, on as many cores.
    pub fn slots(jobs: usize) -> Limits {
        Limits {
            jobs: jobs.max(1),
            cores: jobs.max(1),
            memory: None,
            policy: CorePolicy::Fixed(1),
        }
    }
}

/// A decision: start this task with this many make jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// The task.
    pub task: usize,
    /// MAKE_JOBS for it.
    pub make_jobs: usize,
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
}

impl Scheduler {
    /// Plan over `graph` within `limits`, by critical path.
    pub fn new(graph: Graph, limits: Limits) -> Scheduler {
        let bottom = graph.bottom_levels(&graph.duration);
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
        let mut scheduler = Scheduler {
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

    fn running_work(&self, now: f64) -> f64 {
        self.running
            .iter()
            .map(|&t| match self.status[t] {
                Status::Running { started, make_jobs } => {
                    let total = self.graph.tasks[t]
                        .speedup
                        .time(self.graph.duration[t], make_jobs);
                    (total - (now - started)).max(0.0) * self.graph.tasks[t].speedup.busy(make_jobs)
                }
                _ => 0.0,
            })
            .sum()
    }

    /// A guess at the time left: the longer of the work left over the slots
    /// and the longest path left.
    pub fn eta(&self, now: f64) -> f64 {
        let work = (self.unstarted_work + self.running_work(now)) / self.limits.jobs as f64;
        work.max(self.longest_path(now))
    }

    /// The longest path left: running builds' rest and chains after them,
    /// and the ready builds' bottom levels.
    fn longest_path(&self, now: f64) -> f64 {
        self.running
            .iter()
            .map(|&t| match self.status[t] {
                Status::Running { started, make_jobs } => {
                    let own = self.graph.tasks[t]
                        .speedup
                        .time(self.graph.duration[t], make_jobs);
                    (own - (now - started)).max(0.0) + self.bottom[t] - self.graph.duration[t]
                }
                _ => 0.0,
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

    /// The next task to start now, with its make jobs; `None` when no slot,
    /// no core or no fitting ready task is free (call again after a finish).
    pub fn next(&mut self, now: f64) -> Option<Start> {
        if self.running.len() >= self.limits.jobs {
            return None;
        }
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
        while let Some(entry) = self.ready.pop() {
            if self.fits(entry.task) {
                chosen = Some(entry.task);
                break;
            }
            skipped.push(entry);
        }
        self.ready.extend(skipped);
        let task = chosen?;
        if limited && free_cores < 1.0 - 1e-9 {
            // The cores are taken. Only a build on the longest path left
            // starts anyway (by need): waiting would lengthen the whole bulk.
            let urgent = self.limits.policy == CorePolicy::ByNeed
                && self.bottom[task] >= self.longest_path(now) - 1e-9;
            if !urgent {
                self.make_ready(task);
                return None;
            }
        }
        let free_slots = self.limits.jobs - self.running.len() - 1;
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
        };
        self.unstarted_work -= self.graph.duration[task];
        self.running.push(task);
        Some(Start { task, make_jobs })
    }

    /// A started task ended. Returns the tasks that can now never build
    /// (when it failed): its transitive dependents, now `IndirectFailed`.
    pub fn finish(&mut self, task: usize, ok: bool) -> Vec<usize> {
        if let Some(pos) = self.running.iter().position(|&t| t == task) {
            self.running.swap_remove(pos);
            if let Some(group) = &self.graph.tasks[task].exclusive {
                self.exclusive.remove(group);
            }
        }
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
    use crate::graph::Task;

    fn graph(tasks: &[(f64, &[usize])]) -> Graph {
        Graph::new(
            tasks
                .iter()
                .map(|(d, deps)| Task {
                    estimate: Some(*d),
                    deps: deps.to_vec(),
                    ..Task::default()
                })
                .collect(),
        )
        .unwrap()
    }

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
}
