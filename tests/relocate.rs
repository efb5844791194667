//! A root that is moved, copied or reached through a symlink: the database and
//! the views refer to the root they are in, never to where it was.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{World, depot_bin};

/// Run depot on `root` instead of the world's own root; require success.
fn ok_at(w: &World, root: &Path, args: &[&str]) -> String {
    World::ok_with(
        w.command(&depot_bin()).env("DEPOT_ROOT", root).args(args),
        args,
    )
}

/// Every symlink under `dir`, resolved: each must land inside `inside`.
fn links_escaping(dir: &Path, inside: &Path) -> Vec<PathBuf> {
    let inside = inside.canonicalize().unwrap();
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(walkdir::DirEntry::path_is_symlink)
        .filter(|e| {
            e.path()
                .canonicalize()
                .map_or(true, |real| !real.starts_with(&inside))
        })
        .map(|e| e.path().to_owned())
        .collect()
}

#[test]
fn a_copied_root_reached_through_a_symlink_uses_its_own_files() {
    let w = World::new();
    let rel = w.package(
        "rel-1.0",
        &[
            ("bin/rel", "#!/bin/sh\necho rel one\n"),
            ("share/rel/data", "data\n"),
        ],
        &[],
    );
    w.ok(&["add", rel.to_str().unwrap()]);
    w.ok(&["view", "create", "named"]);
    w.ok(&["view", "add", "named", "rel-1.0"]);

    // Copy the root, then move the original away so that nothing can lean on it.
    let copy = w.dir.path().join("copy");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&w.root)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let gone = w.dir.path().join("gone");
    std::fs::rename(&w.root, &gone).unwrap();
    let via = w.dir.path().join("via");
    std::os::unix::fs::symlink(&copy, &via).unwrap();

    assert!(ok_at(&w, &via, &["view", "check", "default"]).contains("matches its plan"));
    assert!(ok_at(&w, &via, &["view", "check", "named"]).contains("matches its plan"));
    let files = ok_at(&w, &via, &["info", "-qL", "rel-1.0"]);
    let want = via.join("packages/rel-1.0/bin/rel");
    assert!(files.lines().any(|l| Path::new(l) == want), "{files}");
    assert!(!files.contains(gone.to_str().unwrap()), "{files}");
    // admin check reads the copy's files: damage there is found.
    ok_at(&w, &via, &["admin", "check"]);
    let data = copy.join("packages/rel-1.0/share/rel/data");
    std::fs::remove_file(&data).unwrap();
    std::fs::write(&data, "changed\n").unwrap();
    let out = w
        .command(&depot_bin())
        .env("DEPOT_ROOT", &via)
        .args(["admin", "check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains(
            &via.join("packages/rel-1.0/share/rel/data")
                .display()
                .to_string()
        ),
        "{report}"
    );
    std::fs::remove_file(&data).unwrap();
    std::fs::write(&data, "data\n").unwrap();

    // A package added there links into the copy; a repair stays inside it too.
    let other = w.package(
        "other-1.0",
        &[("bin/other", "#!/bin/sh\necho other\n")],
        &[],
    );
    ok_at(&w, &via, &["add", other.to_str().unwrap()]);
    let run = Command::new(via.join("bin/other")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "other\n");
    ok_at(&w, &via, &["view", "check", "default", "--repair"]);
    ok_at(&w, &via, &["view", "add", "named", "other-1.0"]);
    assert!(
        links_escaping(&copy, &copy).is_empty(),
        "{:?}",
        links_escaping(&copy, &copy)
    );
    // The database records depot dirs relative to the root, none of the old root.
    let conn = rusqlite::Connection::open(copy.join("pkgdb/pkgdb.sqlite3")).unwrap();
    let dirs: Vec<String> = conn
        .prepare("SELECT depot_dir FROM packages")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(dirs.iter().all(|d| d.starts_with("packages/")), "{dirs:?}");

    // Delete works on the copy's files and leaves the original alone.
    ok_at(&w, &via, &["view", "remove", "named", "rel-1.0"]);
    ok_at(&w, &via, &["delete", "rel-1.0"]);
    assert!(!copy.join("packages/rel-1.0").exists());
    assert!(gone.join("packages/rel-1.0/bin/rel").exists());
}

#[test]
fn a_moved_root_works_from_its_new_place() {
    let w = World::new();
    let p = w.package("mv-1.0", &[("bin/mv1", "#!/bin/sh\necho moved\n")], &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    let moved = w.dir.path().join("moved");
    std::fs::rename(&w.root, &moved).unwrap();
    assert!(ok_at(&w, &moved, &["view", "check", "default"]).contains("matches its plan"));
    let run = Command::new(moved.join("bin/mv1")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "moved\n");
    // -F finds the owner through the view and through the depot dir.
    assert!(
        ok_at(
            &w,
            &moved,
            &["info", "-Fe", moved.join("bin/mv1").to_str().unwrap()]
        )
        .contains("mv-1.0")
    );
    ok_at(&w, &moved, &["delete", "mv-1.0"]);
    assert!(!moved.join("packages/mv-1.0").exists());
    assert!(!moved.join("bin/mv1").exists());
}
