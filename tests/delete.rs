//! `depot delete`: verification, dependents, recursion, views.

use crate::util::World;

#[test]
fn modified_files_are_reported_and_kept_unless_forced() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let p = w.package(
        "mod-1.0",
        &[("share/mod/conf", "original"), ("bin/mod", "m")],
        &[],
    );
    w.ok(&["add", p.to_str().unwrap()]);
    let file = w.root.join("packages/mod-1.0/share/mod/conf");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&file, "edited").unwrap();
    let before = w.snapshot();
    let err = w.fails(&["delete", "mod-1.0"]);
    assert!(
        err.contains("share/mod/conf") && err.contains("sha256 mismatch") && err.contains("-f"),
        "{err}"
    );
    assert_eq!(before, w.snapshot());
    // pkg_admin check sees it too.
    let out = w.depot(&["admin", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sha256 mismatch"));
    w.ok(&["delete", "-f", "mod-1.0"]);
    assert!(!w.root.join("packages/mod-1.0").exists());
}

#[test]
fn dependents_block_deletion_and_recursion_flags_work() {
    let w = World::new();
    w.package("base-1.0", &[("lib/base", "b")], &[]);
    w.package("mid-1.0", &[("lib/mid", "m")], &["-P", "base>=1"]);
    w.package("top-1.0", &[("bin/top", "t")], &["-P", "mid>=1"]);
    w.ok_in(&w.pkgs, &["add", "top"]);
    let before = w.snapshot();
    let err = w.fails(&["delete", "base-1.0"]);
    assert!(
        err.contains("required by") && err.contains("mid-1.0"),
        "{err}"
    );
    assert_eq!(before, w.snapshot());
    // -r deletes the dependents first.
    w.ok(&["delete", "-r", "mid-1.0"]);
    assert!(!w.root.join("packages/top-1.0").exists());
    assert!(!w.root.join("packages/mid-1.0").exists());
    assert!(w.root.join("packages/base-1.0").exists());
}

#[test]
fn autoremove_takes_automatic_dependencies_no_longer_needed() {
    let w = World::new();
    w.package("leaf-1.0", &[("lib/leaf", "l")], &[]);
    w.package("user-1.0", &[("bin/user", "u")], &["-P", "leaf>=1"]);
    w.ok_in(&w.pkgs, &["add", "user"]);
    w.ok(&["delete", "-A", "user-1.0"]);
    assert!(
        !w.root.join("packages/leaf-1.0").exists(),
        "automatic dependency removed"
    );
    // Without -A it stays.
    let w = World::new();
    w.package("leaf-1.0", &[("lib/leaf", "l")], &[]);
    w.package("user-1.0", &[("bin/user", "u")], &["-P", "leaf>=1"]);
    w.ok_in(&w.pkgs, &["add", "user"]);
    w.ok(&["delete", "user-1.0"]);
    assert!(w.root.join("packages/leaf-1.0").exists());
}

#[test]
fn delete_by_file_and_unregister_only() {
    let w = World::new();
    let p = w.package("byfile-1.0", &[("bin/byfile", "b")], &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    let view_path = w.root.join("bin/byfile");
    w.ok(&["delete", "-F", view_path.to_str().unwrap()]);
    assert!(!w.root.join("packages/byfile-1.0").exists());
    let p = w.package("unreg-1.0", &[("bin/unreg", "u")], &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    w.ok(&["delete", "-N", "unreg-1.0"]);
    assert!(
        w.root.join("packages/unreg-1.0/bin/unreg").exists(),
        "-N keeps the files"
    );
    assert_eq!(w.depot(&["info", "-e", "unreg"]).status.code(), Some(1));
}

#[test]
fn dry_run_deletes_nothing() {
    let w = World::new();
    let p = w.package("stay-1.0", &[("bin/stay", "s")], &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    let before = w.snapshot();
    let out = w.ok(&["delete", "-n", "stay-1.0"]);
    assert!(out.contains("would delete stay-1.0"));
    assert_eq!(before, w.snapshot());
}

#[test]
fn unknown_package_is_a_clear_error() {
    let w = World::new();
    let err = w.fails(&["delete", "ghost-1.0"]);
    assert!(
        err.contains("ghost-1.0: no such package installed"),
        "{err}"
    );
}
