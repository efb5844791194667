//! Builds on other machines: the pool of nodes (which are up, bringing
//! lost ones back), and one build on a node as a job: send what it needs
//! (recipe, distfiles, dependency packages) by rsync, run
//! `depot bulk build-one` there over ssh, fetch its results by rsync. The
//! master alone writes PACKAGES and the database: a fetched package is
//! checked against the SHA-256 the node computed before it is renamed in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use sched::Scheduler;

use super::drive::{Ending, Job};
use super::nodes::{self, Checked, Node, Ssh};
use super::one::Stats;

/// The nodes of a bulk and whether each is in use.
pub struct Pool {
    /// The nodes, as in the nodes file (refused ones included).
    pub nodes: Vec<Node>,
    ssh: Ssh,
    master_root: PathBuf,
    /// Each slot's node.
    pub slot_node: Vec<usize>,
    state: Vec<State>,
    retry: Duration,
    give_up: Duration,
}

struct State {
    up: bool,
    /// Refused for good (another system): never tried again.
    refused: bool,
    since: Instant,
    next_try: Instant,
    checking: Option<JoinHandle<Result<Checked>>>,
}

impl Pool {
    /// Check every node (in parallel) and start with those that answer.
    /// `retry`: how long a lost node rests before it is tried again;
    /// `give_up`: how long to wait for a node when all are down.
    pub fn start(
        nodes: Vec<Node>,
        master_root: &Path,
        retry: Duration,
        give_up: Duration,
    ) -> Result<Pool> {
        let ssh = Ssh::new()?;
        let results = nodes::check_each(&ssh, &nodes, master_root);
        let now = Instant::now();
        let mut state = Vec::new();
        for (node, result) in nodes.iter().zip(results) {
            let (up, refused) = match result {
                Ok(c) => {
                    crate::output::say!(
                        "node {}: {} slots, power {}, {:.1} GiB free{}",
                        node.name,
                        node.jobs,
                        node.power,
                        c.free as f64 / f64::from(1_u32 << 30),
                        if c.copied { ", depot copied" } else { "" }
                    );
                    (true, false)
                }
                Err(e) => {
                    let refused = nodes::refused(&e);
                    crate::output::caution!(
                        "node {} {}: {}",
                        node.name,
                        if refused { "refused" } else { "down" },
                        nodes::why_not(node, &e)
                    );
                    (false, refused)
                }
            };
            state.push(State {
                up,
                refused,
                since: now,
                next_try: now + retry,
                checking: None,
            });
        }
        if state.iter().all(|s| s.refused) {
            ssh.close(&nodes);
            bail!("no node of the nodes file can build (each is refused above)");
        }
        let slot_node = nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| std::iter::repeat_n(i, n.jobs))
            .collect();
        Ok(Pool {
            nodes,
            ssh,
            master_root: master_root.to_owned(),
            slot_node,
            state,
            retry,
            give_up,
        })
    }

    /// Each slot's speed.
    pub fn speeds(&self) -> Vec<f64> {
        self.slot_node
            .iter()
            .map(|&n| self.nodes[n].slot_speed())
            .collect()
    }

    /// Take the slots of nodes that are not up out of the scheduler's use.
    pub fn apply(&self, scheduler: &mut Scheduler) {
        for (slot, &n) in self.slot_node.iter().enumerate() {
            scheduler.set_slot_up(slot, self.state[n].up);
        }
    }

    /// A node was lost: its slots go out of use until it answers again.
    pub fn down(&mut self, node: usize, why: &str, scheduler: &mut Scheduler) {
        let state = &mut self.state[node];
        if state.up {
            crate::output::caution!(
                "node {} is down ({why}); its builds go to the other nodes",
                self.nodes[node].name
            );
            state.up = false;
            state.since = Instant::now();
            state.next_try = Instant::now() + self.retry;
        }
        self.apply(scheduler);
    }

    /// Try lost nodes again when their rest is over. Returns whether a node
    /// may still come back (false once all have been down for `give_up`).
    pub fn tick(&mut self, scheduler: &mut Scheduler) -> bool {
        let now = Instant::now();
        let mut changed = false;
        for (i, state) in self.state.iter_mut().enumerate() {
            if state.up || state.refused {
                continue;
            }
            if let Some(handle) = state.checking.take_if(|h| h.is_finished()) {
                match handle.join() {
                    Ok(Ok(_)) => {
                        crate::output::say!(
                            "node {} answers again; builds go to it",
                            self.nodes[i].name
                        );
                        state.up = true;
                        changed = true;
                    }
                    _ => state.next_try = now + self.retry,
                }
            } else if state.checking.is_none() && now >= state.next_try {
                let (ssh, node, root) = (
                    self.ssh.clone(),
                    self.nodes[i].clone(),
                    self.master_root.clone(),
                );
                state.checking = Some(std::thread::spawn(move || nodes::check(&ssh, &node, &root)));
            }
        }
        if changed {
            self.apply(scheduler);
        }
        self.state.iter().any(|s| s.up)
            || self
                .state
                .iter()
                .any(|s| !s.refused && now.duration_since(s.since) < self.give_up)
    }

    /// The node of a slot.
    pub fn node_of(&self, slot: usize) -> usize {
        self.slot_node[slot]
    }

    /// Drop the empty result dirs the nodes keep, then close the connections.
    fn close(&self) {
        for (i, node) in self.nodes.iter().enumerate() {
            let (Some(dest), true) = (&node.dest, self.state[i].up) else {
                continue;
            };
            let out = node.work(&self.master_root).join("out");
            let words = [
                "find".to_owned(),
                out.display().to_string(),
                "-mindepth".to_owned(),
                "1".to_owned(),
                "-type".to_owned(),
                "d".to_owned(),
                "-empty".to_owned(),
                "-delete".to_owned(),
            ];
            let _ = nodes::run(self.ssh.command(dest, &words), &node.name);
        }
        self.ssh.close(&self.nodes);
    }

    /// Fetch what builds finished on the nodes while no master listened
    /// (the master was killed after a node's build ended): each package
    /// whose SHA-256 checks out goes to `packages` (`<PACKAGES>/All`).
    /// Returns the adopted builds' stats and node, by PKGNAME.
    pub fn adopt(&self, incoming: &Path, packages: &Path) -> HashMap<String, (Stats, String)> {
        let mut adopted = HashMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let (Some(dest), true) = (&node.dest, self.state[i].up) else {
                continue;
            };
            let into = incoming.join(format!("adopt-{i}"));
            let out = node.work(&self.master_root).join("out");
            let from = format!("{}/", Ssh::remote_path(dest, &out));
            if fs_err::create_dir_all(&into).is_err()
                || nodes::run(
                    self.ssh.rsync(
                        dest,
                        &["--remove-source-files".into(), from],
                        &format!("{}/", into.display()),
                    ),
                    &node.name,
                )
                .is_err()
            {
                continue;
            }
            for entry in fs_err::read_dir(&into).into_iter().flatten().flatten() {
                if let Ok((pkgname, stats)) = take_package(&entry.path(), packages) {
                    crate::output::say!("adopted {pkgname}, built on node {}", node.name);
                    adopted.insert(pkgname, (stats, node.name.clone()));
                }
            }
            let _ = crate::linking::remove_tree(&into);
        }
        adopted
    }

    /// A command on a remote `node` as a job (`Lost` when ssh fails).
    pub fn command_job(&self, node: usize, words: Vec<String>) -> Option<Job> {
        let dest = self.nodes[node].dest.clone()?;
        let ssh = self.ssh.clone();
        Some(Box::new(move || {
            match ssh.command(&dest, &words).stdin(Stdio::null()).status() {
                Ok(s) if s.code() == Some(255) => Ending::Lost("ssh failed".to_owned()),
                other => Ending::Exited(other),
            }
        }))
    }

    /// One build on `node` as a job; what it sends is staged first.
    pub fn job(&self, node: usize, spec: Spec) -> Result<Job> {
        let node = self.nodes[node].clone();
        stage(&node, &spec)
            .with_context(|| format!("cannot stage the files for node {}", node.name))?;
        let ssh = self.ssh.clone();
        let root = self.master_root.clone();
        Ok(Box::new(move || remote_build(&ssh, &node, &root, &spec)))
    }
}

impl Drop for Pool {
    /// However the bulk ends (errors included), no multiplexed connection
    /// outlives it.
    fn drop(&mut self) {
        self.close();
    }
}

/// What one build on a node needs, on the master.
pub struct Spec {
    /// A name unique to this attempt (`<pkgname>.<n>`).
    pub id: String,
    /// `category/name`.
    pub pkgpath: String,
    /// The master's recipe tree.
    pub tree: PathBuf,
    /// Distfiles to send (those the master has).
    pub distfiles: Vec<PathBuf>,
    /// Dependency packages to send (the whole closure: `add` installs a
    /// package's own dependencies from beside it).
    pub packages: Vec<PathBuf>,
    /// The direct dependencies' PKGNAMEs.
    pub deps: Vec<String>,
    /// MAKE_JOBS.
    pub make_jobs: usize,
    /// Where ssh's output goes (the build's `depot.log`).
    pub log: PathBuf,
    /// A directory to assemble what is sent.
    pub stage: PathBuf,
    /// Where the results land.
    pub incoming: PathBuf,
}

/// Symlink `target` at `at`, making the parents.
fn stage_link(target: &Path, at: &Path) -> Result<()> {
    if let Some(parent) = at.parent() {
        fs_err::create_dir_all(parent)?;
    }
    std::os::unix::fs::symlink(target, at).with_context(|| format!("cannot link {}", at.display()))
}

/// Assemble what a build on `node` needs as symlinks in the spec's stage
/// dir (on the master: an error here is the master's, not the node's).
fn stage(node: &Node, spec: &Spec) -> Result<()> {
    if spec.stage.exists() {
        crate::linking::remove_tree(&spec.stage)?;
    }
    fs_err::create_dir_all(spec.stage.join("packages/All"))?;
    if node.tree.is_none() {
        stage_link(
            &spec.tree.join(&spec.pkgpath),
            &spec.stage.join("tree").join(&spec.pkgpath),
        )?;
    }
    if node.distfiles.is_none() {
        for f in &spec.distfiles {
            if let Some(name) = f.file_name() {
                stage_link(f, &spec.stage.join("distfiles").join(name))?;
            }
        }
    }
    for p in &spec.packages {
        if let Some(name) = p.file_name() {
            stage_link(p, &spec.stage.join("packages/All").join(name))?;
        }
    }
    Ok(())
}

/// Send, build, fetch. The job fails as `Lost` when the node (not the
/// build) fails: ssh or rsync cannot reach it, or no results come back.
fn remote_build(ssh: &Ssh, node: &Node, master_root: &Path, spec: &Spec) -> Ending {
    let Some(dest) = &node.dest else {
        return Ending::Lost("not a remote node".to_owned());
    };
    let work = node.work(master_root);
    // 1. What the build needs, in one rsync (symlinks followed). Builds sent to
    // one node at once land in the same directories: each send holds its files
    // in a directory of its own until it renames them, or one send's cleanup
    // can take another's holding directory (rsync's shared `.~tmp~`).
    let sent = nodes::run(
        ssh.rsync(
            dest,
            &[
                "--copy-links".into(),
                format!("--partial-dir=.~depot-{}~", spec.id),
                format!("{}/", spec.stage.display()),
            ],
            &format!("{}/", Ssh::remote_path(dest, &work)),
        ),
        &node.name,
    );
    let _ = crate::linking::remove_tree(&spec.stage);
    if let Err(e) = sent {
        return Ending::Lost(format!("cannot send the build's files: {e:#}"));
    }
    // 2. The build, with its output in the master's log.
    let out = work.join("out").join(&spec.id);
    let tree = node.tree.clone().unwrap_or_else(|| work.join("tree"));
    let distdir = node
        .distfiles
        .clone()
        .unwrap_or_else(|| work.join("distfiles"));
    let path = |p: &Path| p.display().to_string();
    let mut words = vec![
        "env".to_owned(),
        format!("DEPOT_ROOT={}", path(&node.root(master_root))),
        format!("PACKAGES={}", path(&work.join("packages"))),
        format!("DISTDIR={}", path(&distdir)),
        format!("WRKOBJDIR={}", path(&work.join("work"))),
        node.depot(master_root),
        "bulk".to_owned(),
        "build-one".to_owned(),
        path(&tree.join(&spec.pkgpath)),
        "--make-jobs".to_owned(),
        spec.make_jobs.to_string(),
        "--logs".to_owned(),
        path(&out.join("logs")),
        "--stats".to_owned(),
        path(&out.join("stats.json")),
        "--keep-package".to_owned(),
        path(&out),
        "--install-deps".to_owned(),
        path(&work.join("packages")),
        "--watch-stdin".to_owned(),
        "--scratch".to_owned(),
        path(&work),
    ];
    for d in &spec.deps {
        words.push("--dep".to_owned());
        words.push(d.clone());
    }
    let status = (|| -> std::io::Result<std::process::ExitStatus> {
        let log = std::fs::File::create(&spec.log)?;
        let mut child = ssh
            .command(dest, &words)
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        // Held open while the build runs: its end tells the node to stop.
        let stdin = child.stdin.take();
        let status = child.wait();
        drop(stdin);
        status
    })();
    let status = match status {
        Ok(s) if s.code() == Some(255) => {
            return Ending::Lost(format!(
                "ssh to {} failed or the connection dropped",
                node.name
            ));
        }
        other => other,
    };
    // 3. The results (stats, logs, package), removed from the node.
    let _ = fs_err::create_dir_all(&spec.incoming);
    let fetched = nodes::run(
        ssh.rsync(
            dest,
            &[
                "--remove-source-files".into(),
                format!("{}/", Ssh::remote_path(dest, &out)),
            ],
            &format!("{}/", spec.incoming.display()),
        ),
        &node.name,
    );
    if let Err(e) = fetched {
        return Ending::Lost(format!("cannot fetch the build's results: {e:#}"));
    }
    if !spec.incoming.join("stats.json").is_file() {
        return Ending::Lost(format!(
            "the build was killed on {} before it could say how it went",
            node.name
        ));
    }
    Ending::Exited(status)
}

/// Read a fetched build's stats; when it built, check its package against
/// the node's SHA-256 and rename it into `packages` (via a temporary name
/// in the same directory: nothing half-copied is ever a package). Returns
/// the PKGNAME (from the package file name) and the stats.
pub fn take_package(incoming: &Path, packages: &Path) -> Result<(String, Stats)> {
    let stats: Stats = serde_json::from_slice(&fs_err::read(incoming.join("stats.json"))?)
        .context("the build's stats cannot be read")?;
    let Some((name, sha)) = stats.package.clone().filter(|_| stats.ok) else {
        return Ok((String::new(), stats));
    };
    if name.contains('/') || name.starts_with('.') {
        bail!("the node named its package {}", crate::quote::name(&name));
    }
    let file = incoming.join(&name);
    let (got, _) = crate::build::recipe::hash_file(&file)?;
    if got != sha {
        bail!("{name}: SHA-256 {got} after the transfer, {sha} on the node");
    }
    fs_err::create_dir_all(packages)?;
    let part = packages.join(format!(".{name}.part"));
    fs_err::copy(&file, &part)?;
    fs_err::rename(&part, packages.join(&name))?;
    let pkgname = name.strip_suffix(".tgz").unwrap_or(&name).to_owned();
    Ok((pkgname, stats))
}

/// Move the fetched logs into the build's log directory (beside the
/// master's `depot.log`), then drop what was fetched.
pub fn take_logs(incoming: &Path, logs: &Path) {
    if let Ok(entries) = fs_err::read_dir(incoming.join("logs")) {
        for entry in entries.flatten() {
            let _ = fs_err::rename(entry.path(), logs.join(entry.file_name()));
        }
    }
    let _ = crate::linking::remove_tree(incoming);
}
