//! Plan by simulation: before a bulk starts, run each candidate rule on the
//! virtual clock with the estimates and keep the one that finishes first.
//! A simulation of 2,000 tasks takes a few milliseconds; no single list
//! rule is best on every graph (critical path loses to graph order or to
//! most dependents on some; earliest finish to least loaded), and trying
//! them is cheap.
//!
//! With make jobs by need, each rule is also tried with builds off the
//! longest path starting on taken cores rather than waiting for a free one:
//! keeping every core busy wins where the total work bounds the bulk, waiting
//! wins where a long chain does (its builds then have the cores to
//! themselves); the graph and its history say which.

use crate::cores::CorePolicy;
use crate::graph::Graph;
use crate::scheduler::{Limits, Placement, Scheduler};
use crate::sim;

/// The rule a plan chose, and what it expects.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The rule's name.
    pub rule: &'static str,
    /// Whether builds off the longest path wait for a free core
    /// ([`Limits::wait_for_cores`]).
    pub wait_for_cores: bool,
    /// Its mean simulated makespan on the estimates and perturbed copies, in seconds.
    pub makespan: f64,
    /// Every candidate's simulated makespan, in the order tried (with
    /// whether builds waited for free cores).
    pub tried: Vec<(&'static str, bool, f64)>,
}

/// A priority rule.
pub fn priority(graph: &Graph, rule: &str, capacity: f64) -> Vec<f64> {
    let n = graph.len();
    let duration = graph.cautious();
    match rule {
        "most dependents" => graph
            .transitive_dependents(&duration)
            .0
            .iter()
            .map(|&c| f64::from(c))
            .collect(),
        "graph order" => (0..n).map(|i| -(i as f64)).collect(),
        "path or dependents' work" => {
            let bottom = graph.bottom_levels(&duration);
            let (_, after) = graph.transitive_dependents(&duration);
            (0..n)
                .map(|i| bottom[i].max(duration[i] + after[i] / capacity.max(1e-9)))
                .collect()
        }
        _ => graph.bottom_levels(&duration),
    }
}

/// How many perturbed samples each candidate is also simulated on.
const SAMPLES: usize = 3;
/// Their log-normal sigma: estimates from history are off by about this.
const SIGMA: f64 = 0.3;

/// A small seeded generator (xorshift64*), for reproducible samples.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 11) as f64 + 0.5) / (1_u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Try the candidate rules on `graph` within `limits` and return the
/// scheduler of the best (critical path with earliest finish on a tie).
/// Each candidate is simulated on the estimates and on perturbed copies of
/// them and scored by the mean makespan: a rule that only wins when every
/// estimate is exact (placing by load, above all) is not chosen.
pub fn plan(graph: Graph, limits: &Limits) -> (Scheduler, Choice) {
    let speeds = limits.slot_speeds();
    let capacity: f64 = speeds.iter().sum();
    let uniform = speeds.iter().all(|&s| (s - speeds[0]).abs() < 1e-9);
    let mut candidates = vec![
        ("critical path", "critical path", Placement::EarliestFinish),
        (
            "path or dependents' work",
            "path or dependents' work",
            Placement::EarliestFinish,
        ),
        (
            "most dependents",
            "most dependents",
            Placement::EarliestFinish,
        ),
        ("graph order", "graph order", Placement::EarliestFinish),
    ];
    if !uniform {
        candidates.extend([
            (
                "critical path, least loaded",
                "critical path",
                Placement::LeastLoaded,
            ),
            (
                "graph order, least loaded",
                "graph order",
                Placement::LeastLoaded,
            ),
        ]);
    }
    let speedup: Vec<_> = graph.tasks.iter().map(|t| t.speedup).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ graph.len() as u64);
    let mut samples = vec![graph.duration.clone()];
    for _ in 0..SAMPLES {
        samples.push(
            graph
                .duration
                .iter()
                .map(|d| d * (SIGMA * rng.normal()).exp())
                .collect(),
        );
    }
    let waits: &[bool] = if limits.policy == CorePolicy::ByNeed {
        &[true, false]
    } else {
        &[limits.wait_for_cores]
    };
    let mut best: Option<(Scheduler, &'static str, bool, f64)> = None;
    let mut tried = Vec::new();
    for (name, rule, placement) in candidates {
        let order = priority(&graph, rule, capacity);
        for &wait in waits {
            let mut limits = limits.clone();
            limits.placement = placement;
            limits.wait_for_cores = wait;
            let scheduler = Scheduler::with_priority(graph.clone(), limits, order.clone());
            let mut total = 0.0;
            for one in &samples {
                let actual = sim::Actual {
                    one: one.clone(),
                    speedup: speedup.clone(),
                };
                match sim::run(scheduler.clone(), &actual) {
                    Ok(outcome) => total += outcome.makespan,
                    Err(_) => total = f64::INFINITY,
                }
            }
            let score = total / samples.len() as f64;
            tried.push((name, wait, score));
            if score.is_finite()
                && best
                    .as_ref()
                    .is_none_or(|(_, _, _, m)| score < m * (1.0 - 1e-9))
            {
                best = Some((scheduler, name, wait, score));
            }
        }
    }
    match best {
        Some((scheduler, rule, wait_for_cores, makespan)) => (
            scheduler,
            Choice {
                rule,
                wait_for_cores,
                makespan,
                tried,
            },
        ),
        None => (
            Scheduler::new(graph, limits.clone()),
            Choice {
                rule: "critical path",
                wait_for_cores: limits.wait_for_cores,
                makespan: f64::NAN,
                tried,
            },
        ),
    }
}

impl Choice {
    /// The rule, and how builds meet taken cores when that was chosen too.
    pub fn describe(&self, limits: &Limits) -> String {
        if limits.policy != CorePolicy::ByNeed {
            self.rule.to_owned()
        } else if self.wait_for_cores {
            format!("{}, builds wait for a free core", self.rule)
        } else {
            format!("{}, builds start on taken cores", self.rule)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The least makespan the plan tried.
    fn least(choice: &Choice) -> f64 {
        choice
            .tried
            .iter()
            .map(|(_, _, m)| *m)
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn the_plan_is_never_worse_than_a_candidate() {
        // Whichever rule wins, the chosen one's makespan is the least tried,
        // and on unequal slots all six rules are tried.
        let g = crate::graph::of(&[
            (3.0, &[]),
            (1.0, &[]),
            (10.0, &[]),
            (5.0, &[0]),
            (6.0, &[1]),
        ]);
        let (_, choice) = plan(g, &Limits::speeds(vec![1.0, 2.0]));
        assert_eq!(choice.makespan, least(&choice));
        assert_eq!(choice.tried.len(), 6);
    }

    #[test]
    fn by_need_also_tries_builds_that_do_not_wait_for_cores() {
        // Eight independent builds on 4 cores, one long and fully parallel:
        // by need, it takes every core; whether the short ones wait for it
        // is tried both ways, and the least makespan is kept.
        let mut tasks = vec![(400.0, &[][..])];
        tasks.extend(std::iter::repeat_n((10.0, &[][..]), 7));
        let mut g = crate::graph::of(&tasks);
        g.tasks[0].speedup = crate::cores::Speedup::measured(1.0);
        let limits = Limits {
            cores: 4,
            policy: CorePolicy::ByNeed,
            ..Limits::slots(4)
        };
        let (_, choice) = plan(g, &limits);
        assert_eq!(choice.tried.len(), 8);
        assert!(choice.tried.iter().any(|(_, wait, _)| !wait));
        assert_eq!(choice.makespan, least(&choice));
    }
}
