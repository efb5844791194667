//! A virtual clock that drives a [`Scheduler`] over a graph whose real
//! durations may differ from the estimates the scheduler plans with.
//!
//! Builds share the cores: a build at `m` make jobs keeps
//! [`Speedup::busy`]`(m)` cores busy; when the running builds want more
//! cores than there are, each runs slower by the same factor.

use crate::cores::Speedup;
use crate::scheduler::{Scheduler, Status};

/// The truth the scheduler does not see.
#[derive(Debug, Clone)]
pub struct Actual {
    /// Each task's real time at one make job.
    pub one: Vec<f64>,
    /// Each task's real speed-up.
    pub speedup: Vec<Speedup>,
}

/// What a simulated bulk did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// When the last build ended.
    pub makespan: f64,
}

/// Run every task of the scheduler's graph to the end.
pub fn run(mut scheduler: Scheduler, actual: &Actual) -> Result<Outcome, String> {
    let cores = scheduler.limits().cores.max(1) as f64;
    let n = scheduler.graph().len();
    if actual.one.len() != n || actual.speedup.len() != n {
        return Err(format!(
            "{} real durations and {} speed-ups for {n} tasks",
            actual.one.len(),
            actual.speedup.len()
        ));
    }
    // Fraction of each running task still to do.
    let mut left = vec![0.0_f64; n];
    let mut make_jobs = vec![1_usize; n];
    let mut speed = vec![1.0_f64; n];
    let mut outcome = Outcome::default();
    let mut now = 0.0_f64;
    loop {
        while let Some(start) = scheduler.next(now) {
            left[start.task] = 1.0;
            make_jobs[start.task] = start.make_jobs;
            speed[start.task] = scheduler.speeds()[start.slot];
        }
        let running = scheduler.running().to_vec();
        if running.is_empty() {
            break;
        }
        let demand: f64 = running
            .iter()
            .map(|&t| actual.speedup[t].busy(make_jobs[t]))
            .sum();
        let factor = (cores / demand).min(1.0);
        let rate = |t: usize| -> f64 {
            let time = actual.speedup[t].time(actual.one[t], make_jobs[t]);
            if time <= 0.0 {
                f64::INFINITY
            } else {
                factor * speed[t] / time
            }
        };
        let step = running
            .iter()
            .map(|&t| left[t] / rate(t))
            .fold(f64::INFINITY, f64::min);
        now += step;
        let mut ended = Vec::new();
        for &t in &running {
            left[t] -= step * rate(t);
            if left[t] <= 1e-9 {
                ended.push(t);
            }
        }
        for t in ended {
            scheduler.finish(t, true);
        }
    }
    let stuck = (0..n)
        .filter(|&t| scheduler.status(t) != Status::Done)
        .count();
    if stuck > 0 {
        return Err(format!("{stuck} tasks never ran"));
    }
    outcome.makespan = now;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cores::CorePolicy;
    use crate::graph::{Graph, Task};
    use crate::scheduler::Limits;

    #[test]
    fn two_slots_finish_a_diamond_on_its_critical_path() {
        let g = crate::graph::of(&[(1.0, &[]), (5.0, &[0]), (2.0, &[0]), (1.0, &[1, 2])]);
        let actual = Actual {
            one: g.duration.clone(),
            speedup: vec![Speedup::default(); 4],
        };
        let out = run(Scheduler::new(g, Limits::slots(2)), &actual).unwrap();
        assert!((out.makespan - 7.0).abs() < 1e-9, "{}", out.makespan);
    }

    #[test]
    fn a_lone_parallel_build_uses_the_cores() {
        let g = Graph::new(vec![Task {
            estimate: Some(100.0),
            speedup: Speedup::measured(1.0),
            ..Task::default()
        }])
        .unwrap();
        let actual = Actual {
            one: vec![100.0],
            speedup: vec![Speedup::measured(1.0)],
        };
        let limits = Limits {
            jobs: 4,
            cores: 4,
            memory: None,
            policy: CorePolicy::ByNeed,
            ..Limits::slots(4)
        };
        let out = run(Scheduler::new(g, limits), &actual).unwrap();
        assert!((out.makespan - 25.0).abs() < 1e-9, "{}", out.makespan);
    }
}
