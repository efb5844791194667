//! Readers need no write access: an ordinary user on a root owned by root, a
//! read-only mount, and a writer holding the lock with a transaction open.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::util::{World, depot_bin, skip};

/// The commands that only read, as an ordinary user runs them.
const READERS: &[&[&str]] = &[
    &["info"],
    &["info", "-L", "rd-1.0"],
    &["info", "-e", "rd"],
    &["view", "list"],
    &["view", "generations", "default"],
    &["view", "check", "default"],
    &["admin", "check"],
    &["admin", "pmatch", "rd>=1", "rd-1.0"],
    &["env"],
    &["run", "default", "--", "rd"],
];

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Run depot as `nobody` (uid and gid 65534) on the world's root.
fn as_nobody(w: &World, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(depot_bin())
        .args(args)
        .env("DEPOT_ROOT", &w.root)
        .env_remove("PKG_DBDIR")
        .current_dir("/")
        .output()
        .unwrap()
}

/// A world whose directories `nobody` may enter, with one package in the default view.
fn world_with_package() -> World {
    let w = World::new();
    std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = w.package("rd-1.0", &[("bin/rd", "#!/bin/sh\necho read\n")], &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    w
}

fn assert_readers_work(w: &World, run: impl Fn(&[&str]) -> Output) {
    for args in READERS {
        let out = run(args);
        assert!(
            out.status.success(),
            "depot {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let listing = String::from_utf8_lossy(&run(&["info", "-L", "rd-1.0"]).stdout).into_owned();
    assert!(
        listing.contains(&w.root.join("packages/rd-1.0/bin/rd").display().to_string()),
        "{listing}"
    );
}

#[test]
fn an_ordinary_user_reads_a_root_owned_root_while_a_writer_holds_it() {
    if !is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        return skip("needs root and setpriv to run depot as another user");
    }
    let w = world_with_package();
    let before = w.snapshot();
    // A writer holds the lock and has a write transaction open.
    let lock = std::fs::File::open(w.root.join("pkgdb/lock")).unwrap();
    lock.lock().unwrap();
    let mut conn = rusqlite::Connection::open(w.root.join("pkgdb/pkgdb.sqlite3")).unwrap();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.execute("UPDATE packages SET comment = 'uncommitted'", [])
        .unwrap();
    assert_readers_work(&w, |args| as_nobody(&w, args));
    // Readers see what is committed, not the open transaction.
    let info = as_nobody(&w, &["info"]);
    assert!(!String::from_utf8_lossy(&info.stdout).contains("uncommitted"));
    // A writer is told the lock is taken, not a raw permission error.
    let out = as_nobody(&w, &["view", "create", "mine"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lock"), "{err}");
    drop(tx);
    drop(conn);
    lock.unlock().unwrap();
    assert_eq!(before, w.snapshot(), "a reader changed the root");
}

#[test]
fn an_ordinary_user_reads_a_database_last_closed_without_its_wal() {
    if !is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        return skip("needs root and setpriv to run depot as another user");
    }
    let w = world_with_package();
    // As an older depot left it: the WAL checkpointed and removed.
    let conn = rusqlite::Connection::open(w.root.join("pkgdb/pkgdb.sqlite3")).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    drop(conn);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(w.root.join(format!("pkgdb/pkgdb.sqlite3{suffix}")));
    }
    assert_readers_work(&w, |args| as_nobody(&w, args));
}

/// Whether this machine lets a test make a private read-only bind mount.
fn can_mount_read_only(w: &World) -> bool {
    let root = w.root.display().to_string();
    Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            &format!("mount --bind -o ro '{root}' '{root}'"),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run depot with `args` on the world's root bind-mounted read-only (in a
/// mount namespace of its own).
fn on_read_only_mount(w: &World, args: &[&str]) -> Output {
    let root = w.root.display().to_string();
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            &format!(
                "mount --bind -o ro '{root}' '{root}' && exec '{}' {}",
                depot_bin().display(),
                quoted.join(" ")
            ),
        ])
        .env("DEPOT_ROOT", &w.root)
        .current_dir("/")
        .output()
        .unwrap()
}

#[test]
fn readers_work_on_a_read_only_mount() {
    if !is_root() || Command::new("unshare").arg("--version").output().is_err() {
        return skip("needs root and unshare to make a read-only bind mount");
    }
    let w = world_with_package();
    if !can_mount_read_only(&w) {
        return skip("this machine does not allow a private read-only bind mount");
    }
    let before = w.snapshot();
    assert_readers_work(&w, |args| on_read_only_mount(&w, args));
    // And a writer there says the file system is read-only.
    let out = on_read_only_mount(&w, &["view", "create", "ro"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(before, w.snapshot());
    assert!(w.root.join("bin/rd").exists());
}

/// A way to run depot on a world's root without write access to it.
type RunAs<'a> = dyn Fn(&[&str]) -> Output + 'a;

fn wal_len(w: &World) -> u64 {
    std::fs::metadata(w.root.join("pkgdb/pkgdb.sqlite3-wal")).map_or(0, |m| m.len())
}

#[test]
fn view_changes_left_in_the_wal_are_read_without_write_access_and_installs_checkpoint() {
    if !is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        return skip("needs root and setpriv to run depot as another user");
    }
    let w = world_with_package();
    assert_eq!(wal_len(&w), 0, "an install checkpoints when it is done");
    // A view change leaves its few pages in the WAL for a later writer.
    w.ok(&["view", "create", "side"]);
    w.ok(&["view", "add", "side", "rd-1.0"]);
    assert!(wal_len(&w) > 0, "a view change checkpointed");
    let before = w.snapshot();
    let mut readers: Vec<Box<RunAs<'_>>> = vec![Box::new(|args: &[&str]| as_nobody(&w, args))];
    if Command::new("unshare").arg("--version").output().is_ok() && can_mount_read_only(&w) {
        readers.push(Box::new(|args: &[&str]| on_read_only_mount(&w, args)));
    }
    for run in &readers {
        assert_readers_work(&w, run);
        let list = String::from_utf8_lossy(&run(&["view", "list"]).stdout).into_owned();
        assert!(
            list.lines()
                .any(|l| l.starts_with("side ") && l.contains("rd-1.0")),
            "a reader missed the change left in the WAL:\n{list}"
        );
        let out = run(&["view", "check", "side"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(before, w.snapshot(), "a reader changed the root");
    // Many view changes: a writer checkpoints once the WAL passes the bound,
    // so it never grows much beyond it.
    let bound = pkgdb::DEFERRED_CHECKPOINT_BYTES;
    let mut most = 0;
    for _ in 0..40 {
        w.ok(&["view", "remove", "side", "rd-1.0"]);
        w.ok(&["view", "add", "side", "rd-1.0"]);
        most = most.max(wal_len(&w));
    }
    assert!(most <= 2 * bound, "the WAL grew to {most} bytes");
    // An install checkpoints and truncates it.
    let p = w.package("rd2-1.0", &[("bin/rd2", "two\n")], &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    assert_eq!(wal_len(&w), 0);
    let list = String::from_utf8_lossy(&as_nobody(&w, &["view", "list"]).stdout).into_owned();
    assert!(list.contains("rd2-1.0"), "{list}");
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn readers_work_and_writers_say_so_on_a_full_disk() {
    if !is_root() {
        return skip("needs root to mount a small tmpfs");
    }
    let w = World::new();
    let disk = w.dir.path().join("disk");
    let Some(_disk) = SmallDisk::mount(&disk, "4m") else {
        return skip("this machine does not allow mounting a tmpfs");
    };
    let root = disk.join("root");
    let small = w.package("rd-1.0", &[("bin/rd", "#!/bin/sh\necho read\n")], &[]);
    let run = |args: &[&str]| {
        w.command(&depot_bin())
            .env("DEPOT_ROOT", &root)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["add", small.to_str().unwrap()]).status.success());
    // Fill the disk to the last block.
    let mut fill = std::fs::File::create(disk.join("fill")).unwrap();
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut fill, &block).is_ok() {}
    drop(fill);
    for args in READERS {
        let out = run(args);
        assert!(
            out.status.success(),
            "depot {args:?} on a full disk: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A package that does not fit: the error says why, and the root is as it was.
    let big_content = "x".repeat(64 * 1024);
    let big = w.package("big-1.0", &[("share/big/data", big_content.as_str())], &[]);
    let before = snapshot_of(&root);
    let out = run(&["add", big.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No space left on device") || err.contains("full"),
        "{err}"
    );
    assert_eq!(before, snapshot_of(&root));
}

/// Every path under `root` with its kind, except the database's own files.
fn snapshot_of(root: &Path) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.path().starts_with(root.join("pkgdb")))
        .map(|e| format!("{} {:?}", e.path().display(), e.file_type()))
        .collect()
}
