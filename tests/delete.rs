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

/// hello-1.0 and hello-2.0 installed; tool-1.0 (`hello>=1.0`) in the default view
/// beside hello-1.0, though its dependency resolved to hello-2.0 globally.
fn tool_beside_the_older_hello() -> World {
    let w = World::new();
    let h1 = w.package("hello-1.0", &[("lib/libhello.so", "one")], &[]);
    let h2 = w.package("hello-2.0", &[("lib/libhello.so", "two")], &[]);
    let tool = w.package("tool-1.0", &[("bin/tool", "t")], &["-P", "hello>=1.0"]);
    w.ok(&["add", h1.to_str().unwrap()]);
    w.ok(&["add", "--no-view", h2.to_str().unwrap()]);
    w.ok(&["add", tool.to_str().unwrap()]);
    w
}

#[test]
fn delete_refuses_to_leave_a_view_member_without_its_dependency() {
    let w = tool_beside_the_older_hello();
    // Within the default view, tool-1.0 uses hello-1.0.
    let required = w.ok(&["info", "-qR", "hello-1.0"]);
    assert_eq!(required.trim(), "tool-1.0", "{required}");
    let before = w.snapshot();
    let err = w.fails(&["delete", "hello-1.0"]);
    assert!(
        err.contains("view default")
            && err.contains("tool-1.0")
            && err.contains("hello>=1.0")
            && err.contains("nothing was deleted"),
        "{err}"
    );
    let err = w.fails(&["delete", "-n", "hello-1.0"]);
    assert!(err.contains("tool-1.0"), "{err}");
    assert_eq!(before, w.snapshot());
    // Globally it resolved to hello-2.0, which may go since hello-1.0 also
    // satisfies it: the dependency is resolved again, to hello-1.0, which then
    // cannot go either way.
    w.ok(&["delete", "hello-2.0"]);
    let conn = rusqlite::Connection::open(w.root.join("pkgdb/pkgdb.sqlite3")).unwrap();
    let resolved: String = conn
        .query_row(
            "SELECT p.pkgname FROM dependencies d JOIN packages p ON p.id = d.resolved_id",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(resolved, "hello-1.0");
    let err = w.fails(&["delete", "hello-1.0"]);
    assert!(err.contains("tool-1.0 needs hello>=1.0"), "{err}");
}

#[test]
fn view_changes_refuse_to_leave_a_dependency_unmet_unless_forced() {
    let w = tool_beside_the_older_hello();
    let before = w.snapshot();
    let err = w.fails(&["view", "remove", "default", "hello-1.0"]);
    assert!(
        err.contains("tool-1.0 needs hello>=1.0") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(before, w.snapshot());
    // A named view with the tool alone: refused, with the command that fixes it.
    w.ok(&["view", "create", "work"]);
    let err = w.fails(&["view", "add", "work", "tool-1.0"]);
    assert!(
        err.contains("view work: tool-1.0 needs hello>=1.0")
            && err.contains("depot view add work hello-2.0"),
        "{err}"
    );
    w.ok(&["view", "add", "work", "hello-1.0", "tool-1.0"]);
    // Switching to another version that satisfies it is fine.
    w.ok(&["view", "switch", "work", "hello-1.0", "hello-2.0"]);
    let out = w.depot(&["view", "remove", "--force", "work", "hello-2.0"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: view work: tool-1.0 needs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn delete_after_a_switch_names_the_generations_it_forgets() {
    let w = tool_beside_the_older_hello();
    w.ok(&["view", "switch", "default", "hello-1.0", "hello-2.0"]);
    let out = w.depot(&["delete", "-n", "hello-1.0"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("would forget generations 1, 2 of view default"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = w.ok_stderr(&["delete", "hello-1.0"]);
    assert!(
        err.contains("forgot generations 1, 2 of view default, which held hello-1.0"),
        "{err}"
    );
    // With hello-1.0 gone, tool's dependency still resolves (to hello-2.0), and
    // -r takes the tool with it.
    assert_eq!(w.ok(&["info", "-qR", "hello-2.0"]).trim(), "tool-1.0");
    w.ok(&["delete", "-r", "hello-2.0"]);
    assert!(!w.root.join("packages/tool-1.0").exists());
    assert!(!w.root.join("bin/tool").exists());
}

#[test]
fn a_file_changed_later_in_place_is_still_found_by_delete() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let p = w.package("later-1.0", &[("share/later/data", "aaaa")], &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    // Well after the install settled, the same number of bytes, written in place.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let file = w.root.join("packages/later-1.0/share/later/data");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&file, "bbbb").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
    let err = w.fails(&["delete", "later-1.0"]);
    assert!(err.contains("sha256 mismatch"), "{err}");
    assert!(file.exists());
}

#[test]
fn problems_in_several_directories_come_in_packing_list_order() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let names: Vec<String> = (0..8)
        .flat_map(|d| (0..2).map(move |f| format!("share/d{d}/f{f}")))
        .collect();
    let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "same")).collect();
    let p = w.package("spread-1.0", &files, &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    // Checked a directory at a time on all cores; reported in the packing list's order.
    let listed = w.ok(&["info", "-qL", "spread-1.0"]);
    let changed: Vec<&str> = listed.lines().filter(|l| l.ends_with("/f1")).collect();
    assert_eq!(changed.len(), 8, "{listed}");
    for path in &changed {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(path, "edited").unwrap();
    }
    let in_order = |text: &str| {
        let at: Vec<usize> = changed
            .iter()
            .map(|p| text.find(p).unwrap_or(usize::MAX))
            .collect();
        at.windows(2).all(|w| w[0] < w[1]) && at.iter().all(|&i| i != usize::MAX)
    };
    let err = w.fails(&["delete", "spread-1.0"]);
    assert!(in_order(&err), "{err}");
    assert!(!err.contains("/f0"), "{err}");
    let out = w.depot(&["admin", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(in_order(&text), "{text}");
}
