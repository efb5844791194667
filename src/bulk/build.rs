//! The build phase: the scanned graph into the scheduler, with estimates
//! from the build history, and every decision carried out by a
//! `depot bulk build-one` process; outcomes and costs go to pkgdb as they
//! happen, so an interrupted bulk continues where it stopped.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use pkgdb::{BulkPackage, BulkQueries as _, HistoryRow, Queries as _};
use sched::scheduler::Status;
use sched::{CorePolicy, Graph, Limits, Scheduler, Speedup, Start, Task};

use super::Bulk;
use super::drive::{self, After, Ending, Executor, Observer, Started};
use super::nodes::Node;
use super::one::Stats;
use super::remote::{self, Pool};
use crate::build::BuildSettings;
use crate::build::bin_install::{Installer, build_identity, package_identity};
use crate::cli::BulkOptions;

/// The statuses a package ends a bulk with.
pub const STATUSES: &[&str] = &[
    "built",
    "up-to-date",
    "failed",
    "indirect-failed",
    "prefailed",
    "indirect-prefailed",
];

/// `8G`, `512M`, `100K` or bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], t[i..].to_ascii_uppercase()),
        None => (t, String::new()),
    };
    let scale: u64 = match unit.trim_end_matches('B').trim_end_matches('I') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => bail!("{text}: not a size (like 8G, 512M or a number of bytes)"),
    };
    let n: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("{text}: not a size (like 8G, 512M or a number of bytes)"))?;
    Ok((n * scale as f64) as u64)
}

fn pkgbase(pkgname: &str) -> &str {
    pkgname.rsplit_once('-').map_or(pkgname, |(b, _)| b)
}

/// The graph the scheduler sees: one task per scanned package, with the
/// last successful build's wall time, speed-up and peak memory, or a guess
/// from its distfiles' size.
fn tasks(bulk: &Bulk, packages: &[BulkPackage], options: &BulkOptions) -> Result<Vec<Task>> {
    let latest = bulk.read()?.bulk_latest()?;
    let mut total: HashMap<&str, &HistoryRow> = HashMap::new();
    let mut building: HashMap<&str, &HistoryRow> = HashMap::new();
    for row in &latest {
        match row.phase.as_str() {
            "total" => total.insert(row.pkgpath.as_str(), row),
            "build" => building.insert(row.pkgpath.as_str(), row),
            _ => None,
        };
    }
    // Seconds per distfile byte, from the packages with both.
    let mut rates: Vec<f64> = packages
        .iter()
        .filter(|p| p.distfile_size > 0)
        .filter_map(|p| {
            total
                .get(p.pkgpath.as_str())
                .map(|h| h.wall / p.distfile_size as f64)
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    let rate = rates.get(rates.len() / 2).copied();
    let index: HashMap<&str, usize> = packages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.pkgpath.as_str(), i))
        .collect();
    let groups: Vec<(String, BTreeSet<String>)> = options
        .never_together
        .iter()
        .map(|list| {
            (
                list.clone(),
                list.split(',').map(|s| s.trim().to_owned()).collect(),
            )
        })
        .collect();
    Ok(packages
        .iter()
        .map(|p| {
            let history = total.get(p.pkgpath.as_str());
            let estimate = history.map(|h| h.wall).or_else(|| {
                (p.distfile_size > 0).then(|| rate.unwrap_or(1e-5) * p.distfile_size as f64)
            });
            let mut speedup = building
                .get(p.pkgpath.as_str())
                .and_then(|h| Speedup::from_history(h.wall, h.cpu, h.make_jobs as usize))
                .unwrap_or_default();
            speedup.serial = !p.make_jobs_safe;
            Task {
                name: p.pkgname.clone(),
                estimate,
                // A prefailed package never builds: what it needs does not
                // matter (and may be a cycle).
                deps: if p.prefailed.is_some() {
                    Vec::new()
                } else {
                    p.depends
                        .lines()
                        .filter_map(|d| index.get(d).copied())
                        .collect()
                },
                speedup,
                memory: history.map(|h| h.max_rss as u64),
                exclusive: groups
                    .iter()
                    .find(|(_, members)| {
                        members.contains(&p.pkgpath) || members.contains(pkgbase(&p.pkgname))
                    })
                    .map(|(name, _)| name.clone()),
            }
        })
        .collect())
}

/// A duration setting in seconds (`[build]` or the environment).
fn seconds(bulk: &Bulk, var: &str, default: u64) -> Result<Duration> {
    match bulk.settings.build_value(var) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .with_context(|| format!("{var}={v}: expected seconds")),
    }
}

/// Run the build phase, on this machine or (with `nodes`) across the
/// nodes. Returns the exit status: 0 when every package built or was up
/// to date.
pub fn run(
    bulk: &Bulk,
    packages: &[BulkPackage],
    options: &BulkOptions,
    nodes: Option<&[Node]>,
) -> Result<i32> {
    let build_settings = BuildSettings::from_env(&bulk.settings)?;
    let cores = options
        .cores
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .max(1);
    let jobs = options.jobs.unwrap_or(cores).max(1);
    let policy = match bulk.settings.build_value("MAKE_JOBS") {
        Some(_) => CorePolicy::Fixed(build_settings.make_jobs),
        None => CorePolicy::ByNeed,
    };
    let memory = options
        .memory_limit
        .as_deref()
        .map(parse_size)
        .transpose()?;
    let graph = Graph::new(tasks(bulk, packages, options)?)
        .map_err(|e| anyhow::anyhow!("the scanned graph: {e}; run `depot bulk scan` again"))?;
    let pool = match nodes {
        Some(nodes) => Some(Pool::start(
            nodes.to_vec(),
            &bulk.settings.root,
            seconds(bulk, "BULK_NODE_RETRY", 30)?,
            seconds(bulk, "BULK_NODE_WAIT", 600)?,
        )?),
        None => None,
    };
    let limits = match &pool {
        // Across machines: a slot per node job, at the node's speed; make
        // jobs are the node's own (`make_jobs=`).
        Some(pool) => Limits {
            memory,
            nodes: pool.slot_node.clone(),
            ..Limits::speeds(pool.speeds())
        },
        None => Limits {
            jobs,
            cores,
            memory,
            policy,
            ..Limits::slots(jobs)
        },
    };
    let dep_tasks: Vec<Vec<usize>> = graph.tasks.iter().map(|t| t.deps.clone()).collect();
    let (mut scheduler, choice) = sched::plan::plan(graph, &limits);
    crate::output::inform!(
        "schedule: {} (simulated {:.0} s on the history)",
        choice.describe(&limits),
        choice.makespan
    );
    if let Some(pool) = &pool {
        pool.apply(&mut scheduler);
    }
    let run_id = pkgdb::now();
    bulk.write(|tx| {
        tx.bulk_clear_outcomes()?;
        tx.bulk_set_meta("run", &run_id.to_string())?;
        Ok(())
    })?;
    let mut recorder = Recorder::new(bulk, packages, run_id);
    for (i, p) in packages.iter().enumerate() {
        if let Some(why) = &p.prefailed
            && scheduler.status(i) != Status::Failed
            && !matches!(scheduler.status(i), Status::IndirectFailed(_))
        {
            let gone = scheduler.fail(i);
            recorder.record(i, "prefailed", None, Some(why), None)?;
            recorder.indirect(&gone, i)?;
        }
    }
    let forced: BTreeSet<&str> = options.force.iter().map(String::as_str).collect();
    let tree = super::scanned_tree(bulk)?;
    let installed = bulk
        .read()?
        .packages()?
        .into_iter()
        .map(|p| (p.pkgname, p.build_info))
        .collect();
    let adopted = pool
        .as_ref()
        .map(|p| {
            p.adopt(
                &bulk.dir.join("incoming"),
                &build_settings.packages.join("All"),
            )
        })
        .unwrap_or_default();
    let mut executor = Builds {
        bulk,
        packages,
        deps: dependency_names(packages),
        dep_tasks,
        installed,
        tree,
        build_settings: &build_settings,
        forced: &forced,
        started: HashMap::new(),
        reasons: HashMap::new(),
        recorder: &mut recorder,
        pool,
        adopted,
        losses: HashMap::new(),
        attempts: 0,
    };
    let mut observer = Progress::new(packages.len());
    let took = drive::drive(&mut scheduler, &mut executor, &mut observer);
    observer.done();
    for scratch in ["stage", "incoming"] {
        let _ = fs_err::remove_dir(bulk.dir.join(scratch));
    }
    // For the report: each node's slots, and how long the build phase took.
    let pool = executor.pool.take();
    let node_slots: Vec<String> = pool.as_ref().map_or_else(Vec::new, |pool| {
        pool.nodes
            .iter()
            .map(|n| format!("{} {}", n.jobs, n.name))
            .collect()
    });
    drop(pool);
    let _ = bulk.write(|tx| {
        tx.bulk_set_meta("nodes", &node_slots.join("\n"))?;
        tx.bulk_set_meta("wall", &took.as_secs_f64().to_string())?;
        Ok(())
    });
    let _ = recorder.flush();
    let unsettled = (0..packages.len())
        .filter(|&t| !recorder.status.contains_key(&t))
        .count();
    let counts = recorder.counts();
    let line: Vec<String> = STATUSES
        .iter()
        .filter_map(|s| counts.get(*s).map(|n| format!("{n} {s}")))
        .collect();
    crate::output::say!(
        "bulk build done in {:.1} s: {}",
        took.as_secs_f64(),
        line.join(", ")
    );
    if let Some(e) = recorder.error.take() {
        return Err(e);
    }
    if unsettled > 0 {
        bail!(
            "{unsettled} packages were not built: every node is down; \
             run `depot bulk` again when they answer (finished builds are kept)"
        );
    }
    let bad = counts
        .iter()
        .filter(|(s, _)| !matches!(s.as_str(), "built" | "up-to-date"))
        .map(|(_, n)| n)
        .sum::<usize>();
    Ok(i32::from(bad > 0))
}

/// One package's outcome, waiting to be written.
struct Outcome {
    pkgpath: String,
    status: &'static str,
    cause: Option<String>,
    reason: Option<String>,
    make_jobs: Option<i64>,
    duration: Option<f64>,
    built_files: Option<String>,
    node: Option<String>,
    history: Vec<HistoryRow>,
}

/// A build that ran: its make jobs, what it cost, and where.
struct Ran<'s> {
    make_jobs: usize,
    stats: &'s Stats,
    node: Option<&'s str>,
}

/// Writes outcomes and costs to pkgdb. A build's outcome and costs are
/// written the moment it ends; outcomes decided without building (up to
/// date, prefailed, indirect) are batched, since a rerun decides them
/// again should they be lost.
struct Recorder<'a> {
    bulk: &'a Bulk,
    packages: &'a [BulkPackage],
    run: i64,
    status: HashMap<usize, &'static str>,
    pending: Vec<Outcome>,
    error: Option<anyhow::Error>,
}

/// Outcomes batched before a write.
const BATCH: usize = 256;

impl<'a> Recorder<'a> {
    fn new(bulk: &'a Bulk, packages: &'a [BulkPackage], run: i64) -> Recorder<'a> {
        Recorder {
            bulk,
            packages,
            run,
            status: HashMap::new(),
            pending: Vec::new(),
            error: None,
        }
    }

    fn record(
        &mut self,
        task: usize,
        status: &'static str,
        cause: Option<&str>,
        reason: Option<&str>,
        ran: Option<&Ran<'_>>,
    ) -> Result<()> {
        self.status.insert(task, status);
        let p = &self.packages[task];
        let now = pkgdb::now();
        let node = ran.and_then(|r| r.node).map(str::to_owned);
        let history: Vec<HistoryRow> = ran
            .map(|r| {
                let s = r.stats;
                s.costs
                    .iter()
                    .map(|c| HistoryRow {
                        run: self.run,
                        pkgpath: p.pkgpath.clone(),
                        pkgname: p.pkgname.clone(),
                        phase: c.phase.clone(),
                        wall: c.wall,
                        cpu: c.cpu,
                        max_rss: c.max_rss,
                        wrkdir_bytes: s.wrkdir_bytes,
                        make_jobs: r.make_jobs as i64,
                        ok: s.ok
                            || (c.phase != "total" && Some(&c.phase) != s.failed_phase.as_ref()),
                        finished: now,
                        node: node.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.pending.push(Outcome {
            pkgpath: p.pkgpath.clone(),
            status,
            cause: cause.map(str::to_owned),
            reason: reason.map(str::to_owned),
            make_jobs: ran.map(|r| r.make_jobs as i64),
            duration: ran.and_then(|r| r.stats.costs.last()).map(|c| c.wall),
            built_files: (status == "built").then(|| p.files.clone()),
            node,
            history,
        });
        if ran.is_some() || self.pending.len() >= BATCH {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Write what is pending, in one transaction.
    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let result = self.bulk.write(|tx| {
            for o in &pending {
                tx.bulk_set_outcome(
                    &o.pkgpath,
                    o.status,
                    o.cause.as_deref(),
                    o.reason.as_deref(),
                    o.make_jobs,
                    o.duration,
                    o.built_files.as_deref(),
                    o.node.as_deref(),
                )?;
                tx.bulk_add_history(&o.history)?;
            }
            Ok(())
        });
        if let Err(e) = &result
            && self.error.is_none()
        {
            self.error = Some(anyhow::anyhow!("{e:#}"));
        }
        result
    }

    /// Dependents of a failure that will now never build.
    fn indirect(&mut self, gone: &[usize], cause: usize) -> Result<()> {
        let prefailed = self.status.get(&cause) == Some(&"prefailed");
        let status = if prefailed {
            "indirect-prefailed"
        } else {
            "indirect-failed"
        };
        let name = self.packages[cause].pkgname.clone();
        for &g in gone {
            self.record(g, status, Some(&name), None, None)?;
        }
        Ok(())
    }

    fn counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for s in self.status.values() {
            *counts.entry((*s).to_owned()).or_insert(0) += 1;
        }
        counts
    }
}

/// Starts `depot bulk build-one` for each package that is not up to date,
/// here or on a node.
struct Builds<'a, 'r> {
    bulk: &'a Bulk,
    packages: &'a [BulkPackage],
    tree: PathBuf,
    build_settings: &'a BuildSettings,
    forced: &'a BTreeSet<&'a str>,
    /// Each package's dependencies, as PKGNAMEs.
    deps: Vec<Vec<String>>,
    /// Each package's dependencies, as indexes.
    dep_tasks: Vec<Vec<usize>>,
    /// The `+BUILD_INFO` of every package installed in the root when the run began.
    installed: HashMap<String, String>,
    started: HashMap<usize, Launched>,
    reasons: HashMap<usize, String>,
    recorder: &'r mut Recorder<'a>,
    /// The nodes, in a multi-machine bulk.
    pool: Option<Pool>,
    /// Builds the nodes finished while no master listened, by PKGNAME.
    adopted: HashMap<String, (Stats, String)>,
    /// How often each package's build was lost with its node.
    losses: HashMap<usize, usize>,
    /// Attempts started (names each attempt's files).
    attempts: usize,
}

/// A build under way.
struct Launched {
    /// MAKE_JOBS it runs with (a node's own in a multi-machine bulk).
    make_jobs: usize,
    /// Its stats file (local), or the directory its results land in (remote).
    results: PathBuf,
    /// The node it runs on, in a multi-machine bulk.
    node: Option<usize>,
    remote: bool,
}

/// Builds lost with their node this often fail (a build that kills its node).
const MAX_LOSSES: usize = 3;

/// The files that differ between two `sha256 name` lists.
fn changed_files(before: &str, now: &str) -> Vec<String> {
    let parse = |text: &str| -> std::collections::BTreeMap<String, String> {
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(sha, name)| (name.to_owned(), sha.to_owned()))
            .collect()
    };
    let (a, b) = (parse(before), parse(now));
    let mut names: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|n| a.get(*n) != b.get(*n))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether a package must be built.
pub enum Verdict {
    /// Its package is up to date; what the package records of its build
    /// (recipe hash, dependencies).
    UpToDate((String, Vec<String>)),
    /// Build it, for this reason.
    Build(String),
}

/// Why a package must be built: forced; no package; another recipe hash
/// (naming the files that changed); built with other dependencies; or a
/// dependency's package is newer than its own (the dependency was rebuilt
/// since). Otherwise it is up to date.
pub fn verdict(
    p: &BulkPackage,
    deps: &[String],
    settings: &BuildSettings,
    forced: bool,
) -> Verdict {
    match reason(p, deps, settings, forced) {
        Ok(identity) => Verdict::UpToDate(identity),
        Err(why) => Verdict::Build(why),
    }
}

fn reason(
    p: &BulkPackage,
    deps: &[String],
    settings: &BuildSettings,
    forced: bool,
) -> Result<(String, Vec<String>), String> {
    if forced {
        return Err("forced".to_owned());
    }
    let package_file = settings.package_file(&p.pkgname);
    let Some((hash, with)) = package_identity(&package_file) else {
        return Err("new: no package yet".to_owned());
    };
    if hash != p.recipe_hash {
        let files = p
            .built_files
            .as_deref()
            .map(|b| changed_files(b, &p.files))
            .unwrap_or_default();
        return Err(if files.is_empty() {
            "recipe changed".to_owned()
        } else {
            format!("recipe changed: {}", files.join(", "))
        });
    }
    let mtime = |f: &std::path::Path| fs_err::metadata(f).and_then(|m| m.modified()).ok();
    let own = mtime(&package_file);
    let rebuilt: Vec<&str> = deps
        .iter()
        .filter(|d| !with.contains(d) || mtime(&settings.package_file(d)) > own)
        .map(String::as_str)
        .collect();
    if !rebuilt.is_empty() {
        return Err(format!("dependency rebuilt: {}", rebuilt.join(", ")));
    }
    Ok((hash, with))
}

/// Each package's dependencies as the PKGNAMEs the scan chose, sorted.
pub fn dependency_names(packages: &[BulkPackage]) -> Vec<Vec<String>> {
    let by_path: HashMap<&str, &str> = packages
        .iter()
        .map(|p| (p.pkgpath.as_str(), p.pkgname.as_str()))
        .collect();
    packages
        .iter()
        .map(|p| {
            let mut deps: Vec<String> = p
                .depends
                .lines()
                .filter_map(|d| by_path.get(d).map(|n| (*n).to_owned()))
                .collect();
            deps.sort();
            deps.dedup();
            deps
        })
        .collect()
}

impl Builds<'_, '_> {
    /// Install an up-to-date package unless exactly that build is installed
    /// (a fresh root reusing PACKAGES, or a stale install of its PKGNAME).
    fn ensure_installed(
        &self,
        pkgname: &str,
        file: &std::path::Path,
        identity: &(String, Vec<String>),
    ) -> Result<()> {
        let installed = self.installed.get(pkgname).map(String::as_str);
        if installed.and_then(build_identity).as_ref() == Some(identity) {
            return Ok(());
        }
        let reporter = crate::build::Terminal { quiet: true };
        let installer = Installer {
            settings: &self.bulk.settings,
            build: self.build_settings,
            reporter: &reporter,
            binpkg_sites: Vec::new(),
            remote: None,
            view: None,
        };
        super::one::install_replacing(self.bulk, &installer, pkgname, file, installed)
    }
}

impl Builds<'_, '_> {
    /// Settle an up-to-date package, or start its build.
    fn launch(&mut self, start: Start) -> Result<Started> {
        let packages = self.packages;
        let p = &packages[start.task];
        let file = self.build_settings.package_file(&p.pkgname);
        let forced = self.forced.contains("all")
            || self.forced.contains(p.pkgpath.as_str())
            || self.forced.contains(pkgbase(&p.pkgname));
        let why = match verdict(p, &self.deps[start.task], self.build_settings, forced) {
            Verdict::Build(why) => why,
            Verdict::UpToDate(identity) => {
                if let Some((stats, node)) = self.adopted.remove(&p.pkgname) {
                    // A node built it while no master listened.
                    self.recorder.record(
                        start.task,
                        "built",
                        None,
                        Some("adopted from the node that built it"),
                        Some(&Ran {
                            make_jobs: 1,
                            stats: &stats,
                            node: Some(&node),
                        }),
                    )?;
                    return Ok(Started::Settled(true));
                }
                // Across machines, each node installs what its builds need.
                if self.pool.is_none() {
                    self.ensure_installed(&p.pkgname, &file, &identity)
                        .with_context(|| format!("installing {}", file.display()))?;
                }
                self.recorder
                    .record(start.task, "up-to-date", None, None, None)?;
                return Ok(Started::Settled(true));
            }
        };
        let logs = self.bulk.log_dir(&p.pkgname);
        if logs.exists() {
            crate::linking::remove_tree(&logs)?;
        }
        fs_err::create_dir_all(&logs)?;
        self.attempts += 1;
        let node = self.pool.as_ref().map(|pool| pool.node_of(start.slot));
        let (remote, make_jobs) = match (&self.pool, node) {
            (Some(pool), Some(n)) => (pool.nodes[n].dest.is_some(), pool.nodes[n].make_jobs),
            _ => (false, start.make_jobs),
        };
        let (job, results) = if let (true, Some(pool), Some(n)) = (remote, &self.pool, node) {
            let incoming = self
                .bulk
                .dir
                .join("incoming")
                .join(format!("{}.{}", p.pkgname, self.attempts));
            let spec = remote::Spec {
                id: format!("{}.{}.{}", p.pkgname, self.recorder.run, self.attempts),
                pkgpath: p.pkgpath.clone(),
                tree: self.tree.clone(),
                distfiles: if pool.nodes[n].distfiles.is_some() {
                    Vec::new()
                } else {
                    self.distfiles(start.task)?
                },
                packages: self
                    .closure(start.task)
                    .iter()
                    .map(|d| self.build_settings.package_file(d))
                    .collect(),
                deps: self.deps[start.task].clone(),
                make_jobs,
                log: logs.join("depot.log"),
                stage: self
                    .bulk
                    .dir
                    .join("stage")
                    .join(format!("{}.{}", p.pkgname, self.attempts)),
                incoming: incoming.clone(),
            };
            (Started::Job(pool.job(n, spec)?), incoming)
        } else {
            let stats = logs.join(".stats.json");
            let child = self
                .local_command(start.task, make_jobs, &logs, &stats)?
                .spawn()
                .context("cannot start its build")?;
            (Started::child(child), stats)
        };
        self.reasons.insert(start.task, why);
        self.started.insert(
            start.task,
            Launched {
                make_jobs,
                results,
                node,
                remote,
            },
        );
        Ok(job)
    }

    /// `depot bulk build-one` on this machine.
    fn local_command(
        &self,
        task: usize,
        make_jobs: usize,
        logs: &std::path::Path,
        stats: &std::path::Path,
    ) -> Result<Command> {
        let p = &self.packages[task];
        let output = fs_err::File::create(logs.join("depot.log"))?.into_parts().0;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["bulk", "build-one"])
            .arg(self.tree.join(&p.pkgpath))
            .arg("--make-jobs")
            .arg(make_jobs.to_string())
            .arg("--logs")
            .arg(logs)
            .arg("--stats")
            .arg(stats)
            .env("DEPOT_ROOT", &self.bulk.settings.root)
            .env("PKG_DBDIR", &self.bulk.settings.dbdir)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output);
        if self.bulk.settings.config_file.is_file() {
            command.env("DEPOT_CONFIG", &self.bulk.settings.config_file);
        }
        if self.pool.is_some() {
            // The master as a node: install what the build needs first.
            command
                .arg("--install-deps")
                .arg(&self.build_settings.packages);
        }
        for d in &self.deps[task] {
            command.arg("--dep").arg(d);
        }
        Ok(command)
    }

    /// The PKGNAMEs a package needs installed: its dependencies and theirs
    /// (by the graph's indexes).
    fn closure(&self, task: usize) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = vec![task];
        while let Some(t) = stack.pop() {
            for &i in &self.dep_tasks[t] {
                if seen.insert(i) {
                    stack.push(i);
                }
            }
        }
        seen.into_iter()
            .map(|i| self.packages[i].pkgname.clone())
            .collect()
    }

    /// A package's distfiles, fetched (and checked) on the master, which
    /// sends them: nodes need not reach the master sites.
    fn distfiles(&self, task: usize) -> Result<Vec<PathBuf>> {
        let dir = self.tree.join(&self.packages[task].pkgpath);
        let recipe = crate::build::Recipe::load(&dir)?;
        let reporter = crate::build::Terminal { quiet: true };
        let build = crate::build::Build {
            recipe: &recipe,
            settings: self.build_settings,
            deps: &[],
            reporter: &reporter,
        };
        crate::build::fetch::fetch(&build)?;
        crate::build::fetch::checksum(&build)?;
        Ok(recipe
            .distfiles()
            .into_iter()
            .chain(recipe.file.patchfiles.iter().cloned())
            .map(|f| self.build_settings.distdir.join(f))
            .filter(|f| f.is_file())
            .collect())
    }

    /// A remote build's results: the package into PACKAGES (checked), the
    /// logs beside `depot.log`. `Err`: they cannot be taken (lost).
    fn take_remote(&self, task: usize, incoming: &std::path::Path) -> Result<Stats> {
        let p = &self.packages[task];
        let result = remote::take_package(incoming, &self.build_settings.packages.join("All"));
        remote::take_logs(incoming, &self.bulk.log_dir(&p.pkgname));
        let (pkgname, stats) = result?;
        if stats.ok && pkgname != p.pkgname {
            bail!("the node built {pkgname}, not {}", p.pkgname);
        }
        Ok(stats)
    }
}

impl Executor for Builds<'_, '_> {
    /// Whatever goes wrong before a build runs fails that package, with the
    /// error as its reason, and the bulk goes on.
    fn start(&mut self, start: Start) -> Result<Started> {
        match self.launch(start) {
            Ok(started) => Ok(started),
            Err(e) => {
                let why = format!("{e:#}");
                self.recorder
                    .record(start.task, "failed", None, Some(&why), None)?;
                Ok(Started::Settled(false))
            }
        }
    }

    fn ended(
        &mut self,
        scheduler: &mut Scheduler,
        task: usize,
        ending: Ending,
        took: Duration,
    ) -> After {
        let Some(launched) = self.started.remove(&task) else {
            return After::Settled(false);
        };
        let node_name = launched
            .node
            .zip(self.pool.as_ref())
            .map(|(n, pool)| pool.nodes[n].name.clone());
        let status = match ending {
            Ending::Exited(status) => status,
            Ending::Lost(why) => return self.lost(scheduler, task, &launched, &why),
        };
        let mut stats: Stats = if launched.remote {
            match self.take_remote(task, &launched.results) {
                Ok(stats) => stats,
                Err(e) => return self.lost(scheduler, task, &launched, &format!("{e:#}")),
            }
        } else {
            fs_err::read(&launched.results)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        };
        let exited = status.as_ref().is_ok_and(ExitStatus::success);
        if stats.costs.is_empty() {
            stats.costs.push(super::one::Cost {
                phase: "total".to_owned(),
                wall: took.as_secs_f64(),
                ..super::one::Cost::default()
            });
        }
        let ok = exited && stats.ok;
        if !ok && stats.error.is_none() {
            stats.error = Some(match &status {
                Ok(s) => format!("the build process ended with {s}"),
                Err(e) => format!("the build process: {e}"),
            });
        }
        let why = self.reasons.remove(&task);
        let note = if ok {
            why
        } else {
            Some(format!(
                "{}{}",
                stats
                    .failed_phase
                    .as_deref()
                    .map(|ph| format!("{ph}: "))
                    .unwrap_or_default(),
                stats.error.as_deref().unwrap_or("failed")
            ))
        };
        let _ = self.recorder.record(
            task,
            if ok { "built" } else { "failed" },
            None,
            note.as_deref(),
            Some(&Ran {
                make_jobs: launched.make_jobs,
                stats: &stats,
                node: node_name.as_deref(),
            }),
        );
        After::Settled(ok)
    }

    fn cascaded(&mut self, cause: usize, gone: &[usize]) {
        let _ = self.recorder.indirect(gone, cause);
    }

    fn tick(&mut self, scheduler: &mut Scheduler) -> bool {
        self.pool.as_mut().is_some_and(|pool| pool.tick(scheduler))
    }
}

impl Builds<'_, '_> {
    /// A build was lost with its node: the node goes down and the build
    /// back in the queue, unless it was lost too often (then it failed).
    fn lost(
        &mut self,
        scheduler: &mut Scheduler,
        task: usize,
        launched: &Launched,
        why: &str,
    ) -> After {
        let _ = crate::linking::remove_tree(&launched.results);
        if let (Some(pool), Some(n)) = (self.pool.as_mut(), launched.node) {
            pool.down(n, why, scheduler);
        }
        let losses = self.losses.entry(task).or_insert(0);
        *losses += 1;
        if *losses < MAX_LOSSES {
            self.reasons.remove(&task);
            return After::Retry;
        }
        let note = format!("lost with its node {MAX_LOSSES} times; last: {why}");
        let _ = self
            .recorder
            .record(task, "failed", None, Some(&note), None);
        After::Settled(false)
    }
}

/// Plain lines, or one live line on a terminal.
struct Progress {
    total: usize,
    finished: usize,
    bar: Option<indicatif::ProgressBar>,
    started: HashMap<usize, Instant>,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            total,
            finished: 0,
            bar,
            started: HashMap::new(),
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn started(&mut self, scheduler: &Scheduler, start: Start) {
        self.started.insert(start.task, Instant::now());
        if crate::output::verbose() > 0 {
            self.line(&format!(
                "[{}/{}] start {} with {} make job(s)",
                self.finished,
                self.total,
                scheduler.graph().tasks[start.task].name,
                start.make_jobs
            ));
        }
    }

    fn requeued(&mut self, scheduler: &Scheduler, task: usize) {
        self.started.remove(&task);
        self.line(&format!(
            "[{}/{}] lost {} with its node; it goes to another",
            self.finished,
            self.total,
            scheduler.graph().tasks[task].name
        ));
    }

    fn finished(
        &mut self,
        scheduler: &Scheduler,
        task: usize,
        ran: bool,
        ok: bool,
        gone: &[usize],
    ) {
        self.finished += 1 + gone.len();
        if let Some(bar) = &self.bar {
            bar.set_position(self.finished as u64);
        }
        let took = self
            .started
            .remove(&task)
            .map(|t| t.elapsed().as_secs_f64());
        // Up-to-date packages pass silently, and with -q those that built;
        // the summary counts them.
        if ok && (!ran || crate::output::quiet()) {
            return;
        }
        let what = if ok { "built" } else { "FAILED" };
        let name = &scheduler.graph().tasks[task].name;
        let took = if ran {
            format!(" ({:.1} s)", took.unwrap_or_default())
        } else {
            String::new()
        };
        let dependents = if gone.is_empty() {
            String::new()
        } else {
            format!("; {} dependents will not build", gone.len())
        };
        self.line(&format!(
            "[{}/{}] {what} {name}{took}{dependents}",
            self.finished, self.total
        ));
    }

    fn tick(&mut self, scheduler: &Scheduler, elapsed: Duration) {
        let Some(bar) = &self.bar else { return };
        let running: Vec<String> = scheduler
            .running()
            .iter()
            .map(|&t| {
                let secs = self.started.get(&t).map_or(0, |s| s.elapsed().as_secs());
                format!("{} {secs}s", scheduler.graph().tasks[t].name)
            })
            .collect();
        bar.set_message(format!(
            "{:.0}s, ETA {:.0}s: {}",
            elapsed.as_secs_f64(),
            scheduler.eta(elapsed.as_secs_f64()),
            running.join(", ")
        ));
    }
}
