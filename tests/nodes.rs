//! Bulk builds across machines: real sshd nodes on 127.0.0.1 (see
//! `sshd.rs`), a node killed midway, the master killed midway, nodes
//! refused, and bad nodes files.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use crate::build::{build_env, tool_recipe};
use crate::sshd::Cluster;
use crate::util::{World, depot_bin, stderr, stdout, wait_for};

fn depends(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap();
    format!("depends = [\"{name}>=1:../../{path}\"]")
}

fn bulk_command(w: &World, cluster: &Cluster, args: &[&str]) -> Command {
    let mut c = w.command(&depot_bin());
    build_env(w, &mut c);
    c.env("DEPOT_SSH", &cluster.ssh)
        .env("BULK_NODE_RETRY", "1")
        .env("BULK_NODE_WAIT", "60")
        .arg("bulk")
        .args(args);
    c
}

fn packages(w: &World) -> Vec<(String, SystemTime)> {
    let mut all: Vec<(String, SystemTime)> = std::fs::read_dir(w.dir.path().join("packages/All"))
        .map(|d| {
            d.flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.metadata().unwrap().modified().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    all.sort();
    all
}

fn statuses(w: &World) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(w.root.join("var/bulk/report.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let s = |p: &serde_json::Value, k: &str| p[k].as_str().unwrap_or_default().to_owned();
    r.as_array()
        .unwrap()
        .iter()
        .map(|p| (s(p, "pkgname"), s(p, "status"), s(p, "node")))
        .collect()
}

/// s00 (the others but the last three need it), s01 … s11; each sleeps 2 s.
fn sleep_tree(tree: &Path) {
    for i in 0..12 {
        let mut head = format!("distname = \"s{i:02}-1.0\"\npost-build = \"sleep 2\"");
        if (1..9).contains(&i) {
            head = format!("{head}\n{}", depends("misc/s00"));
        }
        tool_recipe(tree, &format!("misc/s{i:02}"), &head, &format!("s{i}"));
    }
}

fn finish(child: std::process::Child) -> Output {
    child.wait_with_output().unwrap()
}

#[test]
fn a_node_killed_midway_and_a_master_killed_midway_lose_nothing() {
    let w = World::new();
    let Some(mut cluster) = Cluster::start(3, &w.root) else {
        return;
    };
    let tree = w.dir.path().join("tree");
    sleep_tree(&tree);
    let nodes = w.dir.path().join("nodes");
    cluster.nodes_file(&nodes, &["1", "1", "2"]);
    let out = bulk_command(&w, &cluster, &["nodes", "check"])
        .arg(&nodes)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out).matches(": ok, ").count(),
        3,
        "{}",
        stdout(&out)
    );

    // Kill the power-2 node once a build runs on it.
    let child = bulk_command(&w, &cluster, &["--tree", tree.to_str().unwrap()])
        .arg("--nodes")
        .arg(&nodes)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let work = cluster.nodes[2].root.join("var/bulk-node/work");
    wait_for("a build on node 2", Duration::from_mins(2), || {
        std::fs::read_dir(&work).is_ok_and(|mut d| d.next().is_some())
    });
    cluster.kill(2);
    let out = finish(child);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("is down"), "{err}");
    assert!(err.contains("with its node; it goes to another"), "{err}");
    let all = statuses(&w);
    assert_eq!(all.len(), 12);
    assert!(all.iter().all(|(_, s, _)| s == "built"), "{all:?}");
    let files = packages(&w);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<String> = (0..12).map(|i| format!("s{i:02}-1.0.tgz")).collect();
    assert_eq!(names, expected, "exactly one package each, nothing partial");
    let report = std::fs::read_to_string(w.root.join("var/bulk/report.txt")).unwrap();
    assert!(report.contains("nodes:"), "{report}");
    // Results were fetched and removed from the surviving nodes.
    for node in &cluster.nodes[..2] {
        let out = node.root.join("var/bulk-node/out");
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?} left in {}", out.display());
    }

    // The master killed midway: finished builds are kept, the rest built.
    let began = SystemTime::now();
    let mut child = bulk_command(&w, &cluster, &["--force", "all"])
        .arg("--nodes")
        .arg(&nodes)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("three finished builds", Duration::from_mins(2), || {
        packages(&w).iter().filter(|(_, t)| *t > began).count() >= 3
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let finished: Vec<(String, SystemTime)> = packages(&w)
        .into_iter()
        .filter(|(_, t)| *t > began)
        .collect();
    assert!(finished.len() < 12, "the master was killed too late");
    let out = bulk_command(&w, &cluster, &[])
        .arg("--nodes")
        .arg(&nodes)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let after = packages(&w);
    for (name, time) in &finished {
        let now = after.iter().find(|(n, _)| n == name).unwrap();
        assert_eq!(&now.1, time, "{name} was rebuilt");
    }
    assert_eq!(after.len(), 12);
    assert!(
        statuses(&w)
            .iter()
            .all(|(_, s, _)| s == "built" || s == "up-to-date")
    );
    // A second run builds nothing.
    let out = bulk_command(&w, &cluster, &[])
        .arg("--nodes")
        .arg(&nodes)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(statuses(&w).iter().all(|(_, s, _)| s == "up-to-date"));
}

#[test]
fn bad_nodes_and_nodes_files_are_refused_with_the_reason() {
    let w = World::new();
    let nodes = w.dir.path().join("nodes");
    for (text, says) in [
        ("host\n", "has no power"),
        ("host fast\n", "not a positive number"),
        ("host 1 colour=red\n", "unknown key"),
    ] {
        std::fs::write(&nodes, text).unwrap();
        let out = w.depot(&["bulk", "nodes", "check", nodes.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(says), "{text:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("nodes:1"), "{}", stderr(&out));
    }
    let Some(cluster) = Cluster::start(2, &w.root) else {
        return;
    };
    // A node whose depot is built for another system is refused, and
    // one that does not answer is reported down; the good one builds.
    let fake = w.dir.path().join("fake-depot");
    std::fs::write(&fake, "#!/bin/sh\necho freebsd aarch64 0000\n").unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&fake)
        .status()
        .unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    std::fs::write(
        &nodes,
        format!(
            "127.0.0.1:{} 1 depot={}\n127.0.0.1:{dead_port} 1\n{}@127.0.0.1:{} 1\n",
            cluster.nodes[0].port,
            fake.display(),
            cluster.user,
            cluster.nodes[1].port
        ),
    )
    .unwrap();
    let mut c = w.command(&depot_bin());
    c.env("DEPOT_SSH", &cluster.ssh);
    let out = c
        .args(["bulk", "nodes", "check", nodes.to_str().unwrap()])
        .output()
        .unwrap();
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("REFUSED") && said.contains("freebsd/aarch64"),
        "{said}"
    );
    assert!(
        said.contains(&format!("127.0.0.1:{dead_port}: DOWN")),
        "{said}"
    );
    assert!(said.contains(": ok, "), "{said}");

    // A bulk over these nodes builds on the good one.
    let tree = w.dir.path().join("tree");
    tool_recipe(&tree, "misc/a", "distname = \"a-1.0\"", "a");
    tool_recipe(
        &tree,
        "misc/b",
        &format!("distname = \"b-1.0\"\n{}", depends("misc/a")),
        "b",
    );
    let out = bulk_command(&w, &cluster, &["--tree", tree.to_str().unwrap()])
        .env("BULK_NODE_WAIT", "5")
        .arg("--nodes")
        .arg(&nodes)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("refused") && err.contains("freebsd/aarch64"),
        "{err}"
    );
    let good = format!("{}@127.0.0.1:{}", cluster.user, cluster.nodes[1].port);
    for (name, status, node) in statuses(&w) {
        assert_eq!(status, "built", "{name}");
        assert_eq!(node, good, "{name}");
    }
    let run = Command::new(w.root.join("packages/b-1.0/bin/tool")).output();
    // The master's root has nothing installed: nodes build in their own roots.
    assert!(run.is_err());
}
