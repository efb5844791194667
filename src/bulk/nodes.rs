//! The machines of a multi-machine bulk: the nodes file, reaching a node
//! over OpenSSH (and rsync over it), and checking that a node can build.
//!
//! The nodes file has one node per line, `host power [key=value…]`, as
//! FreeBSD portbuild's `mlist` (`hostname power`, accepted unchanged). The
//! host is an ssh destination (`user@host:port` allowed); `local` or
//! `localhost` is the master itself. Keys: `jobs=` its slots (default: the
//! power), `root=` its depot root (default: the master's root path, as
//! pbulk's LOCALBASE is the same on every node), `work=` its scratch
//! (default `<root>/var/bulk-node`), `depot=` the depot binary on it
//! (default: the master's, copied to `<work>/bin/depot`), `tree=` and
//! `distfiles=` where it sees the master's recipe tree and distfiles when
//! they are shared (NFS; otherwise what a build needs is sent by rsync),
//! `make_jobs=` MAKE_JOBS for its builds (default 1).
//!
//! Every ssh runs with BatchMode (never a prompt), a connect timeout and a
//! heartbeat (ServerAliveInterval), multiplexed over one connection per
//! node (ControlMaster): a build costs three round trips, not three
//! handshakes. `DEPOT_SSH` replaces the `ssh` command (`ssh -F config`),
//! as rsync's `RSYNC_RSH`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

/// One machine of the nodes file.
#[derive(Debug, Clone)]
pub struct Node {
    /// The host as written (the node's name in reports).
    pub name: String,
    /// How to reach it; `None` for the master itself.
    pub dest: Option<Dest>,
    /// Its power: its slots' speeds add up to it.
    pub power: f64,
    /// Its slots (builds at once).
    pub jobs: usize,
    /// Its depot root, when not the master's root path.
    pub root: Option<PathBuf>,
    /// Its scratch, when not `<root>/var/bulk-node`.
    pub work: Option<PathBuf>,
    /// The depot binary on it, when given.
    pub depot: Option<String>,
    /// Where it sees the master's recipe tree (shared).
    pub tree: Option<PathBuf>,
    /// Where it sees the master's distfiles (shared).
    pub distfiles: Option<PathBuf>,
    /// MAKE_JOBS of its builds.
    pub make_jobs: usize,
}

/// An ssh destination: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// The login, if given.
    pub user: Option<String>,
    /// The host name or address (or a `Host` of the ssh config).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
}

impl Dest {
    /// `[user@]host[:port]`.
    pub fn parse(text: &str) -> Result<Dest, String> {
        let (user, rest) = match text.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u.to_owned()), r),
            Some(_) => return Err(format!("{text}: an empty user before @")),
            None => (None, text),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("{text}: {p} is not a port"))?,
                ),
            ),
            _ => (rest, None),
        };
        if host.is_empty() || host.starts_with('-') || host.chars().any(char::is_whitespace) {
            return Err(format!("{text}: not a host"));
        }
        Ok(Dest {
            user,
            host: host.to_owned(),
            port,
        })
    }

    /// `user@host` (no port: ssh takes it with -p).
    pub fn login(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

impl Node {
    /// Its depot root: `root=`, or the master's root path.
    pub fn root(&self, master_root: &Path) -> PathBuf {
        self.root.clone().unwrap_or_else(|| master_root.to_owned())
    }

    /// Its scratch.
    pub fn work(&self, master_root: &Path) -> PathBuf {
        self.work
            .clone()
            .unwrap_or_else(|| self.root(master_root).join("var/bulk-node"))
    }

    /// The depot binary to run on it.
    pub fn depot(&self, master_root: &Path) -> String {
        self.depot.clone().unwrap_or_else(|| {
            self.work(master_root)
                .join("bin/depot")
                .display()
                .to_string()
        })
    }

    /// Each slot's speed: the power shared by the slots.
    pub fn slot_speed(&self) -> f64 {
        self.power / self.jobs.max(1) as f64
    }
}

/// Read a nodes file.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Node>> {
    let mut nodes: Vec<Node> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", file.display(), i + 1);
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let host = words.next().unwrap_or_default();
        let Some(power) = words.next() else {
            bail!(
                "{}: `{host}` has no power; write `host power [key=value…]`",
                at()
            );
        };
        let power: f64 = match power.parse() {
            Ok(p) if p > 0.0 && f64::is_finite(p) => p,
            _ => bail!(
                "{}: power {} is not a positive number",
                at(),
                crate::quote::name(power)
            ),
        };
        let local = matches!(host, "local" | "localhost");
        let dest = if local {
            None
        } else {
            Some(
                Dest::parse(host)
                    .map_err(|e| anyhow::anyhow!("{}: {}", at(), crate::quote::name(&e)))?,
            )
        };
        let mut node = Node {
            name: host.to_owned(),
            dest,
            power,
            jobs: (power.round() as usize).max(1),
            root: None,
            work: None,
            depot: None,
            tree: None,
            distfiles: None,
            make_jobs: 1,
        };
        for word in words {
            let Some((key, value)) = word.split_once('=') else {
                bail!("{}: {} is not key=value", at(), crate::quote::name(word));
            };
            let path = || -> Result<PathBuf> {
                let p = PathBuf::from(value);
                if !p.is_absolute() {
                    bail!("{}: {key}={value} is not an absolute path", at());
                }
                Ok(p)
            };
            let count = || -> Result<usize> {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("{}: {key}={value} is not a positive number", at()))
            };
            match key {
                "jobs" => node.jobs = count()?,
                "make_jobs" => node.make_jobs = count()?,
                "root" => node.root = Some(path()?),
                "work" => node.work = Some(path()?),
                "tree" => node.tree = Some(path()?),
                "distfiles" => node.distfiles = Some(path()?),
                "depot" => node.depot = Some(path()?.display().to_string()),
                _ => bail!(
                    "{}: unknown key {}; known: jobs, root, work, depot, tree, distfiles, make_jobs",
                    at(),
                    crate::quote::name(key)
                ),
            }
        }
        if nodes.iter().any(|n| n.name == node.name) {
            bail!("{}: node {host} is listed twice", at());
        }
        nodes.push(node);
    }
    if nodes.is_empty() {
        bail!(
            "{}: no nodes (one per line: `host power [key=value…]`)",
            file.display()
        );
    }
    Ok(nodes)
}

/// Read the nodes file at `path`.
pub fn load(path: &Path) -> Result<Vec<Node>> {
    let text = fs_err::read_to_string(path)
        .with_context(|| format!("cannot read the nodes file {}", path.display()))?;
    parse(&text, path)
}

/// How to run ssh and rsync to the nodes.
#[derive(Debug, Clone)]
pub struct Ssh {
    /// The ssh command and its options (multiplexing, timeouts).
    base: Vec<String>,
    /// Holds the control sockets; removed (with the connections) at the end.
    control: PathBuf,
}

/// Seconds to connect before a node counts as down.
const CONNECT_TIMEOUT: u32 = 10;
/// Heartbeat: a node that does not answer 3 of these (seconds) is down.
const ALIVE_INTERVAL: u32 = 5;

impl Ssh {
    /// ssh from `DEPOT_SSH` (default `ssh`), multiplexed through sockets in
    /// a fresh directory.
    pub fn new() -> Result<Ssh> {
        let command = std::env::var("DEPOT_SSH").unwrap_or_else(|_| "ssh".to_owned());
        let mut base = shlex::split(&command)
            .filter(|w| !w.is_empty())
            .with_context(|| format!("DEPOT_SSH={command}: not a command"))?;
        // Unix socket paths are short (108 bytes): keep them under /tmp.
        let control = tempfile::Builder::new()
            .prefix("depot-ssh-")
            .tempdir_in("/tmp")
            .context("cannot make a directory for ssh's control sockets")?
            .keep();
        for option in [
            "BatchMode=yes".to_owned(),
            format!("ConnectTimeout={CONNECT_TIMEOUT}"),
            format!("ServerAliveInterval={ALIVE_INTERVAL}"),
            "ServerAliveCountMax=3".to_owned(),
            "ControlMaster=auto".to_owned(),
            format!("ControlPath={}/%C", control.display()),
            "ControlPersist=120".to_owned(),
            "LogLevel=ERROR".to_owned(),
        ] {
            base.push("-o".to_owned());
            base.push(option);
        }
        Ok(Ssh { base, control })
    }

    fn args(&self, dest: &Dest) -> Vec<String> {
        let mut args = self.base.clone();
        if let Some(port) = dest.port {
            args.push("-p".to_owned());
            args.push(port.to_string());
        }
        args
    }

    /// `ssh dest -- command`, with the words quoted for the remote shell.
    pub fn command(&self, dest: &Dest, words: &[String]) -> Command {
        let args = self.args(dest);
        let mut command = Command::new(&args[0]);
        command
            .args(&args[1..])
            .arg(dest.login())
            .arg("--")
            .arg(quote(words));
        command
    }

    /// `rsync -a -e ssh… sources dest`, quiet.
    pub fn rsync(&self, dest: &Dest, sources: &[String], target: &str) -> Command {
        self.rsync_with(dest, &[], sources, target)
    }

    /// [`Ssh::rsync`] with more rsync options (before the operands).
    pub fn rsync_with(
        &self,
        dest: &Dest,
        options: &[&str],
        sources: &[String],
        target: &str,
    ) -> Command {
        let mut command = Command::new("rsync");
        let args = self.args(dest);
        let remote_shell: Vec<&str> = args.iter().map(String::as_str).collect();
        command
            .args(["-a", "--delay-updates", "-e"])
            .arg(shlex::try_join(remote_shell).unwrap_or_default())
            .args(options)
            .args(sources)
            .arg(target)
            .stdin(Stdio::null());
        command
    }

    /// `login:path` for rsync.
    pub fn remote_path(dest: &Dest, path: &Path) -> String {
        format!("{}:{}", dest.login(), path.display())
    }

    /// Close the shared connections and remove their sockets.
    pub fn close(&self, nodes: &[Node]) {
        self.close_dests(nodes.iter().filter_map(|n| n.dest.as_ref()));
    }

    /// Close the shared connections to `dests` and remove the sockets.
    pub fn close_dests<'a>(&self, dests: impl IntoIterator<Item = &'a Dest>) {
        for dest in dests {
            let args = self.args(dest);
            let _ = Command::new(&args[0])
                .args(&args[1..])
                .args(["-O", "exit"])
                .arg(dest.login())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs_err::remove_dir_all(&self.control);
    }
}

/// Words quoted for a POSIX shell.
pub fn quote(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shlex::try_quote(w).map_or_else(|_| "''".to_owned(), std::borrow::Cow::into_owned))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A node that cannot build (another OS or architecture, another depot).
#[derive(Debug)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Why a check failed, for a line that names the node already; for a node
/// that does not answer, with what to try.
pub fn why_not(node: &Node, error: &anyhow::Error) -> String {
    let text = format!("{error:#}");
    let prefix = format!("node {}: ", node.name);
    let reason = text.strip_prefix(&prefix).unwrap_or(&text);
    match &node.dest {
        Some(dest) if !refused(error) => format!(
            "{reason}; check that `ssh{} {}` logs in without a prompt (DEPOT_SSH chooses the ssh command)",
            dest.port.map_or_else(String::new, |p| format!(" -p {p}")),
            dest.login()
        ),
        _ => reason.to_owned(),
    }
}

/// Whether a check's error refuses the node for good (rather than: it is down).
pub fn refused(error: &anyhow::Error) -> bool {
    error.downcast_ref::<Refusal>().is_some()
}

/// Check every node at once; the results in the nodes' order.
pub fn check_each(ssh: &Ssh, nodes: &[Node], master_root: &Path) -> Vec<Result<Checked>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| s.spawn(|| check(ssh, n, master_root)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the check panicked")))
            })
            .collect()
    })
}

/// What a node said about itself.
#[derive(Debug, Clone)]
pub struct Checked {
    /// `uname -s` lowercased and `uname -m`.
    pub os: String,
    /// The machine.
    pub arch: String,
    /// Free space in its work dir, bytes.
    pub free: u64,
    /// Whether the master's depot binary was copied to it.
    pub copied: bool,
}

/// This machine's OS and architecture, as `uname` names them.
fn master_system() -> (String, String) {
    (
        std::env::consts::OS.to_owned(),
        std::env::consts::ARCH.to_owned(),
    )
}

/// `depot bulk node-info`: what the master compares (OS, architecture, and
/// a digest of this binary, to know whether to copy its own).
pub fn node_info() -> Result<i32> {
    let (os, arch) = master_system();
    println!("{os} {arch} {}", self_digest()?);
    Ok(0)
}

/// The SHA-256 of the running binary.
pub fn self_digest() -> Result<String> {
    let exe = std::env::current_exe().context("cannot find the depot binary")?;
    Ok(crate::build::recipe::hash_file(&exe)?.0)
}

/// Reach a node, compare its system with the master's, put the master's
/// depot binary on it when it has none (or another), and read its free
/// space. An error says why the node cannot build.
pub fn check(ssh: &Ssh, node: &Node, master_root: &Path) -> Result<Checked> {
    let (os, arch) = master_system();
    let Some(dest) = &node.dest else {
        let work = node.work(master_root);
        fs_err::create_dir_all(&work)?;
        return Ok(Checked {
            os,
            arch,
            free: free_space(&work),
            copied: false,
        });
    };
    let work = node.work(master_root);
    let depot = node.depot(master_root);
    let script = format!(
        "mkdir -p {w}/bin && uname -s && uname -m && df -Pk {w} | tail -n 1 && \
         ({d} bulk node-info 2>/dev/null || echo none)",
        w = quote(&[work.display().to_string()]),
        d = quote(std::slice::from_ref(&depot)),
    );
    let said = run(
        ssh.command(dest, &["sh".into(), "-c".into(), script]),
        &node.name,
    )?;
    let lines: Vec<&str> = said.lines().collect();
    let [uname_s, uname_m, df, info, ..] = lines.as_slice() else {
        bail!(
            "node {}: unexpected answer to the check: {}",
            node.name,
            crate::quote::name(&said)
        );
    };
    let (node_os, node_arch) = (
        uname_s.trim().to_ascii_lowercase(),
        uname_m.trim().to_owned(),
    );
    if (node_os.as_str(), node_arch.as_str()) != (os.as_str(), arch.as_str()) {
        return Err(Refusal(format!(
            "node {} is {node_os}/{node_arch}, the master {os}/{arch}: its packages would not be the master's; \
             remove it from the nodes file",
            node.name
        ))
        .into());
    }
    let free = df
        .split_whitespace()
        .nth(3)
        .and_then(|k| k.parse::<u64>().ok())
        .map_or(0, |k| k * 1024);
    let mine = self_digest()?;
    let fields: Vec<&str> = info.split_whitespace().collect();
    let mut copied = false;
    match fields.as_slice() {
        [their_os, their_arch, _] if (*their_os, *their_arch) != (os.as_str(), arch.as_str()) => {
            return Err(Refusal(format!(
                "node {}: its depot ({depot}) is built for {their_os}/{their_arch}, the master's for {os}/{arch}",
                node.name
            ))
            .into());
        }
        [_, _, digest] if *digest == mine => {}
        _ if node.depot.is_some() => {
            return Err(Refusal(format!(
                "node {}: depot={depot} is not the master's depot binary ({}); \
                 install the same one, or leave depot= out to have it copied",
                node.name,
                crate::quote::name(info)
            ))
            .into());
        }
        _ => {
            let exe = std::env::current_exe()?;
            let target = Ssh::remote_path(dest, Path::new(&depot));
            run(
                ssh.rsync(dest, &[exe.display().to_string()], &target),
                &node.name,
            )
            .with_context(|| format!("node {}: cannot copy the depot binary", node.name))?;
            copied = true;
        }
    }
    Ok(Checked {
        os: node_os,
        arch: node_arch,
        free,
        copied,
    })
}

/// Free bytes on the file system of `dir`.
fn free_space(dir: &Path) -> u64 {
    rustix::fs::statvfs(dir).map_or(0, |s| s.f_bavail.saturating_mul(s.f_frsize))
}

/// Run a command on the way to `node`; its stdout, or an error with its stderr.
pub fn run(command: Command, node: &str) -> Result<String> {
    run_as(command, &format!("node {node}"))
}

/// Run a command; its stdout, or an error naming `who` with its stderr.
pub fn run_as(mut command: Command, who: &str) -> Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{who}: cannot run {}", command.get_program().display()))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        bail!(
            "{who}: {} ({})",
            crate::quote::name(err.trim()),
            output.status
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `depot bulk nodes check`: check every node and print a line for each.
/// Exit status 1 when a node cannot build.
pub fn check_all(path: &Path, master_root: &Path) -> Result<i32> {
    let nodes = load(path)?;
    let ssh = Ssh::new()?;
    let results = check_each(&ssh, &nodes, master_root);
    ssh.close(&nodes);
    let mut bad = 0;
    for (node, result) in nodes.iter().zip(results) {
        match result {
            Ok(c) => println!(
                "{}: ok, {}/{}, power {}, {} slots, {:.1} GiB free{}",
                node.name,
                c.os,
                c.arch,
                node.power,
                node.jobs,
                c.free as f64 / f64::from(1_u32 << 30),
                if c.copied { ", depot copied" } else { "" }
            ),
            Err(e) => {
                bad += 1;
                let what = if refused(&e) { "REFUSED" } else { "DOWN" };
                println!("{}: {what}: {}", node.name, why_not(node, &e));
            }
        }
    }
    Ok(i32::from(bad > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portbuild_lines_and_keys() {
        let text = "# mlist\nbuild1 2\nbob@10.0.0.2:2222 1 jobs=3 root=/r work=/w\nlocal 4\n";
        let nodes = parse(text, Path::new("nodes")).unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].jobs, 2);
        assert!((nodes[0].slot_speed() - 1.0).abs() < 1e-12);
        let d = nodes[1].dest.as_ref().unwrap();
        assert_eq!(
            (d.user.as_deref(), d.host.as_str(), d.port),
            (Some("bob"), "10.0.0.2", Some(2222))
        );
        assert_eq!(nodes[1].jobs, 3);
        assert_eq!(nodes[1].work(Path::new("/m")), PathBuf::from("/w"));
        assert!(nodes[2].dest.is_none());
        assert_eq!(
            nodes[0].work(Path::new("/m")),
            PathBuf::from("/m/var/bulk-node")
        );
    }

    #[test]
    fn bad_lines_are_named() {
        for (text, says) in [
            ("a\n", "has no power"),
            ("a x\n", "not a positive number"),
            ("a 0\n", "not a positive number"),
            ("a 1 jobs=0\n", "jobs=0"),
            ("a 1 colour=red\n", "unknown key"),
            ("a 1 root=rel\n", "not an absolute path"),
            ("a 1\na 2\n", "listed twice"),
            ("a:port 1\n", "not a port"),
            ("# nothing\n", "no nodes"),
        ] {
            let err = parse(text, Path::new("nodes")).unwrap_err().to_string();
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }
}
