//! `depot bulk simulate`: the real scheduler on a graph in dag_bench.py's
//! JSON format, on a virtual clock (or, with `--execute`, running `sleep`s
//! through the same executor loop as a bulk build).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use rand::{RngExt as _, SeedableRng as _};
use sched::{CorePolicy, Graph, Limits, Placement, Scheduler, Speedup, Start, Task, sim};
use serde::Deserialize;

use super::drive::{self, After, Ending, Executor, Observer, Started};
use super::remote::Pool;
use crate::cli::SimulateArgs;

#[derive(Deserialize)]
struct GraphFile {
    jobs: Vec<JobRecord>,
}

#[derive(Deserialize)]
struct JobRecord {
    name: String,
    duration: f64,
    #[serde(default)]
    deps: Vec<String>,
    /// CPU seconds used at `make_jobs` (with `duration` the wall time there).
    cpu: Option<f64>,
    make_jobs: Option<usize>,
    /// Amdahl's parallel fraction.
    parallel: Option<f64>,
    memory: Option<u64>,
}

/// The priority rule the scheduler uses (other than critical path only to compare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rule {
    /// The rule whose simulation on the estimates finishes first (depot's).
    Plan,
    /// Longest duration-weighted path to the end first.
    CriticalPath,
    /// Most transitive dependents first (pbulk's).
    Pbulk,
    /// Graph order (first in, first out).
    Fifo,
    /// Graph order, to the machine with the least running builds per unit
    /// of power (FreeBSD portbuild's).
    Portbuild,
}

/// A graph read from JSON, with what the scheduler sees and what is real.
pub struct Loaded {
    /// Names, in file order.
    pub names: Vec<String>,
    /// Each job's real time at one make job.
    pub one: Vec<f64>,
    /// Each job's real speed-up.
    pub speedup: Vec<Speedup>,
    /// Dependencies by index.
    pub deps: Vec<Vec<usize>>,
    /// Recorded peak memory.
    pub memory: Vec<Option<u64>>,
}

/// Read a dag_bench.py graph. Jobs with no `parallel`, `cpu` and
/// `make_jobs` get a parallel fraction drawn from `rng`: a quarter scale
/// badly (0 … 0.3, configure-bound), the rest well (0.6 … 0.97).
pub fn load(path: &Path, rng: &mut rand::rngs::StdRng) -> Result<Loaded> {
    let text = fs_err::read_to_string(path)?;
    let file: GraphFile = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a graph in dag_bench.py's format", path.display()))?;
    let index: HashMap<&str, usize> = file
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.name.as_str(), i))
        .collect();
    let mut loaded = Loaded {
        names: Vec::new(),
        one: Vec::new(),
        speedup: Vec::new(),
        deps: Vec::new(),
        memory: Vec::new(),
    };
    for job in &file.jobs {
        let mut deps = Vec::new();
        for d in &job.deps {
            let Some(&i) = index.get(d.as_str()) else {
                bail!(
                    "{}: job {} depends on {d}, which is not in the graph",
                    path.display(),
                    job.name
                );
            };
            deps.push(i);
        }
        let drawn = if rng.random::<f64>() < 0.25 {
            rng.random_range(0.0..0.3)
        } else {
            rng.random_range(0.6..0.97)
        };
        let (one, speedup) = match (job.parallel, job.cpu, job.make_jobs) {
            (Some(f), _, _) => (job.duration, Speedup::measured(f)),
            (None, Some(cpu), Some(m)) => match Speedup::from_history(job.duration, cpu, m) {
                Some(s) => (cpu.max(job.duration), s),
                None => (job.duration, Speedup::measured(0.0)),
            },
            _ => (job.duration, Speedup::measured(drawn)),
        };
        loaded.names.push(job.name.clone());
        loaded.one.push(one);
        loaded.speedup.push(speedup);
        loaded.deps.push(deps);
        loaded.memory.push(job.memory);
    }
    Ok(loaded)
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut rand::rngs::StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Run `depot bulk simulate`. `root`: the root whose path nodes use (with `--nodes`).
pub fn run(args: &SimulateArgs, root: Option<&std::path::Path>) -> Result<i32> {
    let pool = match (&args.nodes, root) {
        (Some(file), Some(root)) => Some(Pool::start(
            super::nodes::load(file)?,
            root,
            std::time::Duration::from_secs(30),
            std::time::Duration::from_mins(1),
        )?),
        _ => None,
    };
    let speeds = pool
        .as_ref()
        .map_or_else(|| args.speeds.clone(), Pool::speeds);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let loaded = load(&args.graph, &mut rng)?;
    let n = loaded.names.len();
    for &speed in &speeds {
        if !(speed.is_finite() && speed > 0.0) {
            bail!("--speeds: {speed} is not a speed (a positive factor, like 1,1,2,4)");
        }
    }
    let jobs = args.jobs.unwrap_or(speeds.len()).max(1);
    let cores = args.cores.unwrap_or(jobs).max(1);
    let policy = match (&args.policy, args.cores) {
        (Some(p), _) => p.parse_policy()?,
        (None, Some(_)) => CorePolicy::ByNeed,
        (None, None) => CorePolicy::Fixed(1),
    };
    // What is real: the estimates perturbed by a log-normal factor the
    // scheduler does not see. What it sees: the estimates, some hidden.
    let mut actual = loaded.one.clone();
    if args.noise > 0.0 {
        for d in &mut actual {
            *d *= (args.noise * normal(&mut rng)).exp();
        }
    }
    let tasks: Vec<Task> = (0..n)
        .map(|i| {
            let hidden = args.missing > 0.0 && rng.random::<f64>() < args.missing;
            Task {
                name: loaded.names[i].clone(),
                estimate: (!hidden).then_some(loaded.one[i]),
                deps: loaded.deps[i].clone(),
                speedup: if hidden {
                    Speedup::default()
                } else {
                    loaded.speedup[i]
                },
                memory: loaded.memory[i],
                exclusive: None,
            }
        })
        .collect();
    let graph = Graph::new(tasks).map_err(|e| anyhow::anyhow!("{}: {e}", args.graph.display()))?;
    let lower_bound = if !speeds.is_empty() {
        graph.lower_bound_speeds(&actual, &speeds)
    } else if args.cores.is_some() {
        let path: Vec<f64> = (0..n)
            .map(|i| loaded.speedup[i].time(actual[i], cores))
            .collect();
        graph.lower_bound_split(&path, &actual, cores as f64)
    } else {
        graph.lower_bound(&actual, jobs)
    };
    let limits = Limits {
        jobs,
        cores,
        memory: args.memory,
        policy,
        speeds: speeds.clone(),
        nodes: pool.as_ref().map_or_else(Vec::new, |p| p.slot_node.clone()),
        placement: if args.rule == Rule::Portbuild {
            Placement::LeastLoaded
        } else {
            Placement::EarliestFinish
        },
        wait_for_cores: true,
    };
    let priority = match args.rule {
        Rule::Plan | Rule::CriticalPath => graph.bottom_levels(&graph.cautious()),
        Rule::Pbulk => graph
            .transitive_dependents(&graph.duration)
            .0
            .iter()
            .map(|&c| f64::from(c))
            .collect(),
        Rule::Fifo | Rule::Portbuild => (0..n).map(|i| -f64::from(i as u32)).collect(),
    };
    let scheduler = if args.rule == Rule::Plan {
        let (scheduler, choice) = sched::plan::plan(graph, &limits);
        eprintln!(
            "plan: {} (simulated {:.1} s on the estimates)",
            choice.describe(&limits),
            choice.makespan
        );
        scheduler
    } else {
        Scheduler::with_priority(graph, limits, priority)
    };
    let makespan = if let Some(scale) = args.execute {
        let simulated = sim::run(
            scheduler.clone(),
            &sim::Actual {
                one: actual.clone(),
                speedup: loaded.speedup.clone(),
            },
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.graph.display()))?;
        let mut executor = Sleeper {
            seconds: actual.iter().map(|d| d * scale).collect(),
            pool,
            overhead: 0.0,
            ended: 0,
        };
        let mut scheduler = scheduler;
        let took = drive::drive(&mut scheduler, &mut executor, &mut Quiet);
        println!(
            "simulated={:.3} overhead_ms={:.2}",
            simulated.makespan * scale,
            executor.overhead / executor.ended.max(1) as f64 * 1000.0
        );
        let done = (0..n)
            .filter(|&t| scheduler.status(t) == sched::scheduler::Status::Done)
            .count();
        if done != n {
            bail!("{} of {n} sleeps failed", n - done);
        }
        println!("scale={scale} wall={:.3}", took.as_secs_f64());
        took.as_secs_f64() / scale
    } else {
        let outcome = sim::run(
            scheduler,
            &sim::Actual {
                one: actual,
                speedup: loaded.speedup.clone(),
            },
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.graph.display()))?;
        outcome.makespan
    };
    println!(
        "makespan={makespan:.3} lower_bound={lower_bound:.3} ratio={:.4}",
        makespan / lower_bound.max(f64::MIN_POSITIVE)
    );
    Ok(0)
}

/// Runs `sleep` for each task, here or over ssh on a node: the executor
/// of the real-execution benchmark. Adds up each job's time beyond its sleep.
struct Sleeper {
    seconds: Vec<f64>,
    pool: Option<Pool>,
    overhead: f64,
    ended: usize,
}

impl Executor for Sleeper {
    fn start(&mut self, start: Start) -> Result<Started> {
        if let Some(pool) = &self.pool {
            let words = vec![
                "sleep".to_owned(),
                format!("{:.3}", self.seconds[start.task]),
            ];
            if let Some(job) = pool.command_job(pool.node_of(start.slot), words) {
                return Ok(Started::Job(job));
            }
        }
        let child = Command::new("sleep")
            .arg(format!("{:.3}", self.seconds[start.task]))
            .spawn()
            .context("cannot run sleep")?;
        Ok(Started::child(child))
    }

    fn ended(
        &mut self,
        _scheduler: &mut Scheduler,
        task: usize,
        ending: Ending,
        took: std::time::Duration,
    ) -> After {
        self.overhead += took.as_secs_f64() - self.seconds[task];
        self.ended += 1;
        After::Settled(matches!(ending, Ending::Exited(Ok(s)) if s.success()))
    }
}

struct Quiet;

impl Observer for Quiet {
    fn finished(&mut self, _: &Scheduler, _: usize, _: bool, _: bool, _: &[usize]) {}
}
