//! Real OpenSSH nodes on 127.0.0.1 for multi-machine bulks: one
//! unprivileged `sshd -D` per node, host and user keys made at test time.
//! Each node stands for a machine of its own: its sessions run under
//! bubblewrap with the node's own directory mounted over the master's root
//! path (as every pbulk node has its own LOCALBASE at the same path).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::skip;

/// A running node.
pub struct Node {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// What it has instead of the master's root.
    pub root: PathBuf,
    sshd: Child,
}

/// Nodes, their keys and the client config.
pub struct Cluster {
    /// `ssh -F <config>`: for DEPOT_SSH.
    pub ssh: String,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The user the nodes log in.
    pub user: String,
    _dir: tempfile::TempDir,
}

fn tool(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .ok()?;
            let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (!p.is_empty()).then(|| PathBuf::from(p))
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// Start `count` nodes standing in for machines whose depot root is at
    /// `master_root`'s path. `None` (reported skipped) without sshd, ssh,
    /// rsync or bubblewrap.
    pub fn start(count: usize, master_root: &Path) -> Option<Cluster> {
        let sshd = tool("sshd", &["/usr/sbin/sshd"]);
        let bwrap = tool("bwrap", &["/usr/bin/bwrap"]);
        let (Some(sshd), Some(bwrap), Some(_), Some(_), Some(keygen)) = (
            sshd,
            bwrap,
            tool("ssh", &[]),
            tool("rsync", &[]),
            tool("ssh-keygen", &[]),
        ) else {
            skip("sshd, ssh, ssh-keygen, rsync or bwrap is not installed");
            return None;
        };
        let root_user = nix_uid() == 0;
        if root_user {
            // sshd run by root wants its privilege separation directory.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for key in ["host", "user"] {
            let ok = Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .status()
                .unwrap()
                .success();
            assert!(ok, "ssh-keygen failed");
        }
        std::fs::copy(d.join("user.pub"), d.join("authorized_keys")).unwrap();
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| {
                let out = Command::new("id").arg("-un").output().unwrap();
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            });
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {k}\n  IdentitiesOnly yes\n  User {user}\n  UserKnownHostsFile {h}\n  StrictHostKeyChecking accept-new\n",
                k = d.join("user").display(),
                h = d.join("known_hosts").display()
            ),
        )
        .unwrap();
        // Sessions start in an empty home: the login shell reads no profile
        // (a user's .bashrc may be slow or take locks, as `pyenv init` does).
        let home = d.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut nodes = Vec::new();
        for i in 0..count {
            let node_root = d.join(format!("node{i}"));
            std::fs::create_dir_all(&node_root).unwrap();
            let port = free_port();
            let config = d.join(format!("sshd{i}.conf"));
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPidFile {pid}\n\
                     StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                     PermitRootLogin prohibit-password\nLogLevel ERROR\nMaxSessions 64\nMaxStartups 64\n\
                     SetEnv HOME={home}\n\
                     ForceCommand {bwrap} --dev-bind / / --bind {node} {master} /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
                    home = home.display(),
                    hk = d.join("host").display(),
                    ak = d.join("authorized_keys").display(),
                    pid = d.join(format!("sshd{i}.pid")).display(),
                    bwrap = bwrap.display(),
                    node = node_root.display(),
                    master = master_root.display(),
                ),
            )
            .unwrap();
            let child = Command::new(&sshd)
                .arg("-D")
                .arg("-f")
                .arg(&config)
                .arg("-E")
                .arg(d.join(format!("sshd{i}.log")))
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            nodes.push(Node {
                port,
                root: node_root,
                sshd: child,
            });
        }
        for node in &nodes {
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", node.port)).is_err() {
                if Instant::now() > deadline {
                    skip("sshd did not start listening");
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Some(Cluster {
            ssh: format!("ssh -F {}", d.join("ssh_config").display()),
            nodes,
            user,
            _dir: dir,
        })
    }

    /// `127.0.0.1:PORT power [extra]` lines.
    pub fn nodes_file(&self, path: &Path, powers: &[&str]) {
        let mut text = String::new();
        for (n, p) in self.nodes.iter().zip(powers) {
            let _ = writeln!(text, "127.0.0.1:{} {p}", n.port);
        }
        std::fs::write(path, text).unwrap();
    }

    /// The machine of node `i` dies: its sshd and everything under it.
    pub fn kill(&mut self, i: usize) {
        kill_tree(self.nodes[i].sshd.id());
        let _ = self.nodes[i].sshd.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            kill_tree(node.sshd.id());
            let _ = node.sshd.wait();
        }
    }
}

fn nix_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(1)
}

/// SIGKILL `pid` and all its descendants (read from /proc).
fn kill_tree(pid: u32) {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            children.entry(ppid).or_default().push(p);
        }
    }
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        if let Some(c) = children.get(&all[i]) {
            all.extend(c);
        }
        i += 1;
    }
    for p in all {
        let _ = Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}
