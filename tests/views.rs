//! Views: named views, generations, switch, rollback, env, conflicts, folding
//! (the behaviours GNU Stow's t/stow.t, t/unstow.t, t/foldable.t and
//! t/cleanup_invalid_links.t test, ported to depot's model), and crash safety.

use std::path::Path;
use std::process::Command;

use crate::util::{World, depot_bin, stdout};

fn install(w: &World, pkgname: &str, files: &[(&str, &str)]) {
    let p = w.package(pkgname, files, &[]);
    w.ok(&["add", "--no-view", p.to_str().unwrap()]);
}

fn is_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

fn is_real_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

/// Run a shell snippet after `eval "$(depot env VIEW)"`.
fn in_env(w: &World, view: &str, snippet: &str) -> String {
    let script = format!(
        "eval \"$('{}' env {view})\" && {snippet}",
        depot_bin().display()
    );
    World::ok_with(
        Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("DEPOT_ROOT", &w.root),
        &["sh", "-c", &script],
    )
}

#[test]
fn two_versions_in_two_views_switch_and_rollback() {
    let w = World::new();
    install(
        &w,
        "tool-1.0",
        &[("bin/tool", "#!/bin/sh\necho tool one\n")],
    );
    install(
        &w,
        "tool-2.0",
        &[("bin/tool", "#!/bin/sh\necho tool two\n")],
    );
    w.ok(&["view", "create", "old"]);
    w.ok(&["view", "add", "old", "tool-1.0"]);
    w.ok(&["view", "create", "new"]);
    w.ok(&["view", "add", "new", "tool-2.0"]);
    assert_eq!(in_env(&w, "old", "tool"), "tool one\n");
    assert_eq!(in_env(&w, "new", "tool"), "tool two\n");
    // Switching env does not pile up: the other view leaves PATH.
    assert_eq!(
        in_env(
            &w,
            "old",
            &format!("eval \"$('{}' env new)\" && tool", depot_bin().display())
        ),
        "tool two\n"
    );
    // switch then rollback flip a view between them.
    w.ok(&["view", "switch", "old", "tool-1.0", "tool-2.0"]);
    assert_eq!(in_env(&w, "old", "tool"), "tool two\n");
    w.ok(&["view", "rollback", "old"]);
    assert_eq!(in_env(&w, "old", "tool"), "tool one\n");
    // realpath lands in packages/.
    let real = std::fs::canonicalize(w.root.join("views/old/bin/tool")).unwrap();
    assert!(
        real.starts_with(std::fs::canonicalize(w.root.join("packages")).unwrap()),
        "{}",
        real.display()
    );
    // depot run uses the view too.
    let out = w
        .command(&depot_bin())
        .args(["run", "new", "--", "tool"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tool two\n");
    // info shows the views that hold a package.
    let json = w.ok(&["info", "--json", "tool-1.0"]);
    assert!(json.contains("\"old\""), "{json}");
}

#[test]
fn rollback_goes_to_the_recorded_parent_not_n_minus_one() {
    let w = World::new();
    install(&w, "a-1.0", &[("bin/a", "a")]);
    install(&w, "b-1.0", &[("bin/b", "b")]);
    w.ok(&["view", "create", "v"]); // generation 1: empty
    w.ok(&["view", "add", "v", "a-1.0"]); // 2: a
    w.ok(&["view", "add", "v", "b-1.0"]); // 3: a b
    w.ok(&["view", "rollback", "v", "--to", "1"]); // back to empty
    w.ok(&["view", "add", "v", "b-1.0"]); // 4: b, parent 1
    w.ok(&["view", "rollback", "v"]);
    let gens = w.ok(&["view", "generations", "v"]);
    assert!(
        gens.lines()
            .any(|l| l.starts_with('*') && l.contains(" 1 ")),
        "{gens}"
    );
    assert!(!w.root.join("views/v/bin/a").exists() && !w.root.join("views/v/bin/b").exists());
    let err = w.fails(&["view", "rollback", "v", "--to", "99"]);
    assert!(err.contains("no generation 99"), "{err}");
}

#[test]
fn a_clash_is_refused_naming_the_path_and_the_view_is_unchanged() {
    let w = World::new();
    install(&w, "one-1.0", &[("bin/same", "one"), ("share/one/x", "x")]);
    install(&w, "two-1.0", &[("bin/same", "two"), ("bin/other", "o")]);
    install(&w, "three-1.0", &[("bin/same", "three")]);
    w.ok(&["view", "create", "v"]);
    w.ok(&["view", "add", "v", "one-1.0"]);
    let before = w.snapshot();
    let err = w.fails(&["view", "add", "v", "two-1.0", "three-1.0"]);
    assert!(
        err.contains("bin/same: shipped by one-1.0 and three-1.0 and two-1.0"),
        "{err}"
    );
    assert!(err.contains("depot view priority v"), "{err}");
    // It names the package already in the view: `view priority` takes only members.
    assert!(err.contains("depot view priority v one-1.0 -1"), "{err}");
    assert!(
        err.contains("depot view prefer v bin/same one-1.0"),
        "{err}"
    );
    assert_eq!(before, w.snapshot(), "the view changed");
    // Resolution by priority: lower wins.
    w.ok(&["view", "add", "v", "--priority", "5", "two-1.0"]);
    assert_eq!(
        std::fs::read_to_string(w.root.join("views/v/bin/same")).unwrap(),
        "one"
    );
    w.ok(&["view", "priority", "v", "two-1.0", "-1"]);
    assert_eq!(
        std::fs::read_to_string(w.root.join("views/v/bin/same")).unwrap(),
        "two"
    );
    // Or by a per-path preference.
    w.ok(&["view", "prefer", "v", "bin/same", "one-1.0"]);
    assert_eq!(
        std::fs::read_to_string(w.root.join("views/v/bin/same")).unwrap(),
        "one"
    );
}

#[test]
fn identical_content_is_not_a_conflict_but_file_versus_directory_always_is() {
    let w = World::new();
    install(&w, "twin-1.0", &[("share/licenses/MIT", "same text")]);
    install(&w, "twin2-1.0", &[("share/licenses/MIT", "same text")]);
    install(&w, "dir-1.0", &[("lib/thing/inner", "i")]);
    install(&w, "file-1.0", &[("lib/thing", "f")]);
    w.ok(&["view", "create", "v"]);
    w.ok(&["view", "add", "v", "twin-1.0", "twin2-1.0"]);
    w.ok(&["view", "add", "v", "dir-1.0"]);
    let before = w.snapshot();
    let err = w.fails(&["view", "add", "v", "--priority", "-9", "file-1.0"]);
    assert!(
        err.contains("lib/thing: a file in file-1.0 but a directory in dir-1.0"),
        "{err}"
    );
    assert_eq!(before, w.snapshot());
}

#[test]
fn folding_splits_and_folds_again_like_stow() {
    let w = World::new();
    install(&w, "p-1.0", &[("share/doc/p/README", "p"), ("bin/p", "p")]);
    install(&w, "q-1.0", &[("share/doc/q/README", "q")]);
    w.ok(&["view", "create", "v"]);
    w.ok(&["view", "add", "v", "p-1.0"]);
    let v = std::fs::canonicalize(w.root.join("views/v")).unwrap();
    // Minimal folding: share belongs to p alone, so it is one link; bin always stays real.
    assert!(is_link(&v.join("share")));
    assert!(is_real_dir(&v.join("bin")));
    // A second package contributing to share/doc splits the fold down to where they differ.
    w.ok(&["view", "add", "v", "q-1.0"]);
    let v = std::fs::canonicalize(w.root.join("views/v")).unwrap();
    assert!(is_real_dir(&v.join("share")) && is_real_dir(&v.join("share/doc")));
    assert!(is_link(&v.join("share/doc/p")) && is_link(&v.join("share/doc/q")));
    // When one remains, it folds again.
    w.ok(&["view", "remove", "v", "q-1.0"]);
    let v = std::fs::canonicalize(w.root.join("views/v")).unwrap();
    assert!(is_link(&v.join("share")));
    // The fold never points into a generation, only into the depot.
    let target = std::fs::read_link(v.join("share")).unwrap();
    assert!(
        target.to_string_lossy().contains("packages/p-1.0/share"),
        "{}",
        target.display()
    );
    w.ok(&["view", "check", "v"]);
}

#[test]
fn ignore_rules_apply_before_conflicts() {
    let w = World::new();
    install(
        &w,
        "i1-1.0",
        &[
            ("info/dir", "one"),
            ("share/i1/x.orig", "o"),
            ("share/i1/x", "x"),
            ("bin/i1", "1"),
        ],
    );
    install(&w, "i2-1.0", &[("info/dir", "two"), ("bin/i2~", "backup")]);
    w.ok(&["view", "create", "v"]);
    w.ok(&["view", "add", "v", "i1-1.0", "i2-1.0"]);
    let v = w.root.join("views/v");
    assert!(!v.join("info/dir").exists());
    assert!(!v.join("bin/i2~").exists());
    assert!(
        !v.join("share/i1/x.orig").exists(),
        "ignored entries keep their directory from folding"
    );
    assert!(v.join("share/i1/x").exists());
    assert!(!v.join("+CONTENTS").exists());
    w.ok(&["view", "ignore", "v", "share/i1/*"]);
    assert!(!w.root.join("views/v/share/i1/x").exists());
}

#[test]
fn a_view_holds_one_version_of_each_package() {
    let w = World::new();
    install(&w, "dup-1.0", &[("bin/dup", "1")]);
    install(&w, "dup-2.0", &[("bin/dup", "2")]);
    w.ok(&["view", "create", "v"]);
    w.ok(&["view", "add", "v", "dup-1.0"]);
    let err = w.fails(&["view", "add", "v", "dup-2.0"]);
    assert!(err.contains("depot view switch v dup-1.0 dup-2.0"), "{err}");
}

#[test]
fn the_default_view_lives_at_the_root_and_delete_respects_named_views() {
    let w = World::new();
    let p = w.package(
        "rooted-1.0",
        &[
            ("bin/rooted", "r"),
            ("lib/librooted.so", "l"),
            ("share/rooted/data", "d"),
        ],
        &[],
    );
    w.ok(&["add", p.to_str().unwrap()]);
    for top in ["bin", "lib", "share"] {
        assert_eq!(
            std::fs::read_link(w.root.join(top)).unwrap(),
            Path::new("views/default").join(top)
        );
    }
    assert_eq!(
        std::fs::read_to_string(w.root.join("share/rooted/data")).unwrap(),
        "d"
    );
    w.ok(&["view", "create", "named"]);
    w.ok(&["view", "add", "named", "rooted-1.0"]);
    let before = w.snapshot();
    let err = w.fails(&["delete", "rooted-1.0"]);
    assert!(err.contains("still in view(s) named"), "{err}");
    assert_eq!(before, w.snapshot());
    w.ok(&["delete", "--remove-from-views", "rooted-1.0"]);
    assert!(!w.root.join("views/named/bin/rooted").exists());
    assert!(
        std::fs::symlink_metadata(w.root.join("bin")).is_err(),
        "root links of an empty default view are gone"
    );
}

#[test]
fn links_and_files_we_do_not_own_are_never_touched() {
    let w = World::new();
    std::fs::create_dir_all(w.root.join("share")).unwrap();
    std::fs::write(w.root.join("share/mine"), "user file").unwrap();
    std::os::unix::fs::symlink("/somewhere/else", w.root.join("man")).unwrap();
    let p = w.package(
        "polite-1.0",
        &[("share/polite/x", "x"), ("man/man1/polite.1", "m")],
        &[],
    );
    let out = w.depot(&["add", p.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(w.root.join("share/mine")).unwrap(),
        "user file"
    );
    assert_eq!(
        std::fs::read_link(w.root.join("man")).unwrap(),
        Path::new("/somewhere/else")
    );
    // The view itself is complete at views/default.
    assert!(w.root.join("views/default/share/polite/x").exists());
}

#[test]
fn dangling_links_we_own_are_replaced_and_check_reports_damage() {
    let w = World::new();
    install(&w, "dl-1.0", &[("bin/dl", "d"), ("share/dl/a", "a")]);
    w.ok(&["view", "create", "v"]);
    w.ok(&["view", "add", "v", "dl-1.0"]);
    let generation = std::fs::canonicalize(w.root.join("views/v")).unwrap();
    // Damage the live generation by hand.
    std::fs::remove_file(generation.join("bin/dl")).unwrap();
    std::os::unix::fs::symlink("../nowhere", generation.join("bin/dl")).unwrap();
    let out = w.depot(&["view", "check", "v"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bin/dl: points to ../nowhere"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("depot view check --repair v"));
    // --repair writes a new generation from the plan; the damaged one stays for the record.
    let repaired = w.ok(&["view", "check", "--repair", "v"]);
    assert!(repaired.contains("repaired as generation 3"), "{repaired}");
    w.ok(&["view", "check", "v"]);
    assert_eq!(
        std::fs::read_to_string(w.root.join("views/v/bin/dl")).unwrap(),
        "d"
    );
    w.ok(&["view", "rollback", "v"]);
    assert_eq!(w.depot(&["view", "check", "v"]).status.code(), Some(1));
    // The next change builds a fresh generation: no dangling link survives.
    install(&w, "dl2-1.0", &[("bin/dl2", "2")]);
    w.ok(&["view", "add", "v", "dl2-1.0"]);
    w.ok(&["view", "check", "v"]);
    assert_eq!(
        std::fs::read_to_string(w.root.join("views/v/bin/dl")).unwrap(),
        "d"
    );
}

#[test]
fn never_links_into_the_depot_itself() {
    let w = World::new();
    let p = w.package(
        "sneaky-1.0",
        &[("packages/evil", "e"), ("bin/sneaky", "s")],
        &[],
    );
    w.ok(&["view", "create", "x"]); // the root exists, with its database
    let before = w.snapshot();
    let err = w.fails(&["add", p.to_str().unwrap()]);
    assert!(err.contains("packages/evil: reserved by depot"), "{err}");
    assert_eq!(before, w.snapshot());
}

#[test]
fn gc_keeps_what_views_use() {
    let w = World::new();
    install(&w, "g-1.0", &[("bin/g", "1")]);
    install(&w, "g-2.0", &[("bin/g", "2")]);
    w.ok(&["view", "create", "v"]);
    w.ok(&["view", "add", "v", "g-1.0"]);
    for _ in 0..3 {
        w.ok(&["view", "switch", "v", "g-1.0", "g-2.0"]);
        w.ok(&["view", "switch", "v", "g-2.0", "g-1.0"]);
    }
    let out = w.ok(&["gc", "--keep", "1"]);
    assert!(out.contains("removed generation"), "{out}");
    // Both versions stay: --no-view installs are kept, and g-1.0 is in the view.
    assert!(w.root.join("packages/g-1.0").is_dir() && w.root.join("packages/g-2.0").is_dir());
    assert_eq!(
        std::fs::read_to_string(w.root.join("views/v/bin/g")).unwrap(),
        "1"
    );
    w.ok(&["view", "rollback", "v"]);
    w.ok(&["view", "check", "v"]);
}

#[test]
fn env_prints_settings_for_each_shell_and_never_ld_library_path() {
    let w = World::new();
    install(&w, "e-1.0", &[("bin/e", "e")]);
    w.ok(&["view", "create", "v"]);
    for shell in ["sh", "bash", "zsh", "fish"] {
        let out = w.ok(&["env", "v", "--shell", shell]);
        for var in ["PATH", "MANPATH", "INFOPATH", "PKG_CONFIG_PATH"] {
            assert!(out.contains(var), "{shell}: {out}");
        }
        assert!(!out.contains("LD_LIBRARY_PATH"));
        assert!(out.contains(&w.root.join("views/v/bin").display().to_string()));
    }
    let err = w.fails(&["env", "nosuch"]);
    assert!(err.contains("no view named nosuch"), "{err}");
}

#[test]
fn a_crash_at_any_point_of_a_view_change_leaves_the_view_usable() {
    let w = World::new();
    install(
        &w,
        "c-1.0",
        &[
            ("bin/c", "#!/bin/sh\necho c1\n"),
            ("share/c/a", "a"),
            ("share/c/b", "b"),
        ],
    );
    install(
        &w,
        "c-2.0",
        &[
            ("bin/c", "#!/bin/sh\necho c2\n"),
            ("share/c/a", "a2"),
            ("lib/libc2", "l"),
        ],
    );
    w.ok(&["view", "create", "v"]);
    w.ok(&["view", "add", "v", "c-1.0"]);
    let mut crashed = 0;
    for n in 1..40 {
        let out = w
            .command(&depot_bin())
            .env("DEPOT_FAULT_AFTER", n.to_string())
            .args(["view", "switch", "v", "c-1.0", "c-2.0"])
            .output()
            .unwrap();
        // After every crash the view is intact: exactly the old or the new version.
        let text = std::fs::read_to_string(w.root.join("views/v/bin/c")).unwrap();
        assert!(
            text.contains("echo c1") || text.contains("echo c2"),
            "after fault {n}: {text}"
        );
        if out.status.success() {
            // It got through: switch back for the next round.
            assert!(text.contains("echo c2"));
            w.ok(&["view", "switch", "v", "c-2.0", "c-1.0"]);
            break;
        }
        crashed += 1;
        // A check (a reader, which changes nothing) finds the view clean, or names
        // a recorded change whose switch the crash cut off; the next writer
        // finishes that and removes what the crash left.
        let check = w.depot(&["view", "check", "v"]);
        assert!(
            check.status.success() || stdout(&check).contains("interrupted after it was recorded"),
            "after fault {n}: {}",
            stdout(&check)
        );
        assert!(
            w.ok(&["view", "check", "v", "--repair"])
                .contains("matches its plan")
        );
        let leftovers: Vec<_> = std::fs::read_dir(w.root.join("views/.gen/v"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "after fault {n}: {leftovers:?}");
    }
    assert!(
        crashed > 3,
        "the fault hook should have fired several times ({crashed})"
    );
}

#[test]
fn env_replaces_view_directories_and_keeps_the_users_own() {
    let w = World::new();
    w.ok(&["view", "create", "a"]);
    w.ok(&["view", "create", "b"]);
    let own = w.root.join("lib/mytools");
    let old_view = w.root.join("views/a/bin");
    let path = format!("{}:{}:/usr/bin", old_view.display(), own.display());
    let out = w
        .command(&depot_bin())
        .env("PATH", &path)
        .args(["env", "b"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("PATH=")).unwrap();
    let b = w.root.join("views/b");
    assert_eq!(
        line,
        format!(
            "PATH='{0}/bin:{0}/sbin:{1}:/usr/bin'; export PATH;",
            b.display(),
            own.display()
        )
    );
}

/// Every entry of a view's current generation: path and what it is (a link's
/// target, or a directory), read from disk.
fn tree(w: &World, view: &str) -> Vec<(String, String)> {
    let top = std::fs::canonicalize(w.root.join("views").join(view)).unwrap();
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&top).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(&top)
            .unwrap()
            .display()
            .to_string();
        let what = if entry.path_is_symlink() {
            std::fs::read_link(entry.path())
                .unwrap()
                .display()
                .to_string()
        } else {
            "dir".to_owned()
        };
        out.push((rel, what));
    }
    out
}

#[test]
fn each_change_plans_only_what_it_touches_and_matches_a_view_built_from_scratch() {
    let w = World::new();
    install(
        &w,
        "a-1",
        &[
            ("bin/a", "a1"),
            ("share/doc/a/README", "a"),
            ("share/common/x", "x"),
        ],
    );
    install(
        &w,
        "b-1",
        &[
            ("bin/b", "b"),
            ("share/doc/b/README", "b"),
            ("share/common/x", "x"),
            ("lib/libb.so", "b"),
        ],
    );
    install(
        &w,
        "c-1",
        &[("share/doc/a/EXTRA", "c"), ("share/c/data", "c")],
    );
    install(
        &w,
        "a-2",
        &[
            ("bin/a", "a2"),
            ("share/doc/a/README", "a2"),
            ("share/a2/only", "a2"),
        ],
    );
    install(&w, "d-1", &[("bin/a", "d")]);
    w.ok(&["view", "create", "v"]);
    let steps: &[&[&str]] = &[
        &["view", "add", "v", "a-1"],
        &["view", "add", "v", "b-1"],
        &["view", "add", "v", "c-1"],
        &["view", "remove", "v", "a-1"],
        &["view", "add", "v", "a-2"],
        &["view", "add", "v", "--priority", "5", "d-1"],
        &["view", "priority", "v", "d-1", "-1"],
        &["view", "prefer", "v", "bin/a", "a-2"],
        &["view", "switch", "v", "a-2", "a-1"],
        &["view", "remove", "v", "c-1"],
        &["view", "remove", "v", "b-1"],
        &["view", "remove", "v", "d-1"],
    ];
    for (n, step) in steps.iter().enumerate() {
        w.ok(step);
        // The full planner agrees with what the change wrote.
        w.ok(&["view", "check", "v"]);
        // And a view built in one go from the same members and rules is identical.
        let fresh = format!("fresh{n}");
        w.ok(&["view", "create", &fresh]);
        let members = w.ok(&["view", "list"]);
        let line = members.lines().find(|l| l.starts_with("v ")).unwrap();
        let names: Vec<&str> = line.split_whitespace().skip(3).collect();
        if n >= 7 {
            w.ok(&["view", "prefer", &fresh, "bin/a", "a-2"]);
        }
        for name in &names {
            let priority = if *name == "d-1" {
                if n >= 6 { "-1" } else { "5" }
            } else {
                "0"
            };
            w.ok(&["view", "add", &fresh, "--priority", priority, name]);
        }
        assert_eq!(tree(&w, "v"), tree(&w, &fresh), "after step {n}: {step:?}");
    }
    // The folds ended where they should: share belongs to a-1 alone again.
    let v = std::fs::canonicalize(w.root.join("views/v")).unwrap();
    assert!(is_link(&v.join("share")));
}

#[test]
fn deleting_a_package_forgets_the_generations_that_held_it() {
    let w = World::new();
    let a = w.package("fa-1.0", &[("bin/fa", "a")], &[]);
    let b = w.package("fb-1.0", &[("bin/fb", "b")], &[]);
    w.ok(&["add", a.to_str().unwrap()]);
    w.ok(&["add", b.to_str().unwrap()]);
    let gens = w.ok(&["view", "generations", "default"]);
    let numbers = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim_start_matches(['*', ' ']).split_whitespace().next())
            .filter(|n| n.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_owned)
            .collect()
    };
    let before = numbers(&gens);
    assert_eq!(before.len(), 2, "{gens}");
    // The default view's info shows where a package is linked.
    assert!(w.ok(&["info", "fb-1.0"]).contains("Views:\ndefault\n"));
    w.ok(&["delete", "fb-1.0"]);
    // The generation that held fb-1.0 cannot come back without it: forgotten, on disk too.
    let after = numbers(&w.ok(&["view", "generations", "default"]));
    assert!(!after.contains(&before[1]), "{after:?}");
    assert!(after.contains(&before[0]), "{after:?}");
    assert!(!w.root.join("views/.gen/default").join(&before[1]).exists());
    w.ok(&["view", "check", "default"]);
    // Rolling back goes to the generation before it, which only held fa-1.0.
    let err = w.fails(&["view", "rollback", "default"]);
    assert!(err.contains("no generation"), "{err}");
    w.ok(&["view", "rollback", "default", "--to", &before[0]]);
    assert!(w.root.join("bin/fa").exists() && !w.root.join("bin/fb").exists());
    w.ok(&["gc"]);
    w.ok(&["view", "check", "default"]);
}

#[test]
fn a_removal_in_a_large_view_refolds_what_one_package_is_left_with() {
    // More members than the catalog reads one by one, so owners are found
    // through the database's path index.
    let w = World::new();
    let mut args = vec!["add".to_owned(), "--no-view".to_owned()];
    for i in 0..40 {
        let name = format!("fill{i}-1.0");
        let bin = format!("bin/fill{i}");
        let doc = format!("share/fill/{i}");
        let p = w.package(&name, &[(bin.as_str(), "f"), (doc.as_str(), "d")], &[]);
        args.push(p.to_str().unwrap().to_owned());
    }
    for (name, file) in [("x-1.0", "share/xy/x"), ("y-1.0", "share/xy/y")] {
        let p = w.package(name, &[(file, name)], &[]);
        args.push(p.to_str().unwrap().to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    w.ok(&args);
    w.ok(&["view", "create", "big"]);
    let mut add = vec!["view", "add", "big", "x-1.0", "y-1.0"];
    let fills: Vec<String> = (0..40).map(|i| format!("fill{i}-1.0")).collect();
    add.extend(fills.iter().map(String::as_str));
    w.ok(&add);
    let v = std::fs::canonicalize(w.root.join("views/big")).unwrap();
    assert!(is_real_dir(&v.join("share/xy")));
    w.ok(&["view", "remove", "big", "x-1.0"]);
    w.ok(&["view", "check", "big"]);
    let v = std::fs::canonicalize(w.root.join("views/big")).unwrap();
    assert!(
        is_link(&v.join("share/xy")),
        "share/xy should fold into y-1.0"
    );
    assert!(is_real_dir(&v.join("share/fill")));
    w.ok(&["view", "remove", "big", "fill7-1.0"]);
    w.ok(&["view", "check", "big"]);
    assert!(!w.root.join("views/big/share/fill/7").exists());
    assert!(w.root.join("views/big/share/fill/8").exists());
}

/// The numbered generation directories of a view, and whether trash remains.
fn generation_dirs(w: &World, view: &str) -> (Vec<u64>, bool) {
    let mut numbers = Vec::new();
    let mut trash = false;
    for e in std::fs::read_dir(w.root.join("views/.gen").join(view)).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        match name.parse() {
            Ok(n) => numbers.push(n),
            Err(_) => trash |= name.starts_with(".trash-"),
        }
    }
    numbers.sort_unstable();
    (numbers, trash)
}

/// Wait (up to 5 s) for a view's trash to be gone: what reapers remove in the background.
fn wait_for_reapers(w: &World, view: &str) {
    let mut waited = 0;
    while generation_dirs(w, view).1 && waited < 100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        waited += 1;
    }
}

#[test]
fn each_view_keeps_a_window_of_generations_with_their_sizes() {
    let w = World::new();
    install(&w, "win-1.0", &[("bin/win", "1"), ("share/win/a", "a")]);
    install(&w, "win-2.0", &[("bin/win", "2"), ("share/win/b", "b")]);
    w.ok(&["view", "create", "v"]);
    w.ok(&["view", "add", "v", "win-1.0"]);
    for _ in 0..8 {
        w.ok(&["view", "switch", "v", "win-1.0", "win-2.0"]);
        w.ok(&["view", "switch", "v", "win-2.0", "win-1.0"]);
    }
    // 18 generations were made; the default window keeps 10, on disk too.
    let (numbers, _) = generation_dirs(&w, "v");
    assert_eq!(numbers, (9..=18).collect::<Vec<u64>>());
    let listing = w.ok(&["view", "generations", "v"]);
    assert_eq!(listing.lines().count(), 10, "{listing}");
    // Each generation's size: its directories and links, as on disk.
    let current = w.root.join("views/.gen/v/18");
    let entries = walkdir::WalkDir::new(&current).into_iter().count();
    let line = listing.lines().find(|l| l.starts_with('*')).unwrap();
    assert!(
        line.contains(" 18 ") && line.contains(&format!(" {entries} inodes")),
        "{listing}"
    );
    let bytes: u64 = walkdir::WalkDir::new(&current)
        .into_iter()
        .map(|e| std::fs::symlink_metadata(e.unwrap().path()).unwrap().len())
        .sum();
    let shown = if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!(
            "{:.1} KiB",
            f64::from(u32::try_from(bytes).unwrap()) / 1024.0
        )
    };
    assert!(line.contains(&shown), "{bytes}: {line}");
    // A window of none is refused in words, not as a range of integers.
    for args in [&["view", "keep", "v", "0"][..], &["gc", "--keep", "0"]] {
        let error = w.fails(args);
        assert!(
            error.contains("always keeps its current generation: give 1 or more"),
            "{error}"
        );
    }
    assert!(
        w.fails(&["view", "keep", "v", "ten"])
            .contains("is not a number of generations")
    );
    // A smaller window, set on the view, applies at once; rollback still works.
    w.ok(&["view", "keep", "v", "3"]);
    let (numbers, _) = generation_dirs(&w, "v");
    assert_eq!(numbers, vec![16, 17, 18]);
    w.ok(&["view", "rollback", "v"]);
    w.ok(&["view", "check", "v"]);
    // What was pruned is removed in the background.
    wait_for_reapers(&w, "v");
    assert!(
        !generation_dirs(&w, "v").1,
        "pruned generations were not removed"
    );
}

#[test]
fn a_small_pruned_generation_goes_at_once_and_a_large_one_to_a_reaper() {
    let w = World::new();
    install(&w, "sm-1.0", &[("bin/sm", "1")]);
    install(&w, "sm-2.0", &[("bin/sm", "2")]);
    let many: Vec<(String, String)> = (0..150)
        .map(|i| (format!("bin/lg{i}"), i.to_string()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    install(&w, "lg-1.0", &many);
    w.ok(&["view", "create", "s"]);
    w.ok(&["view", "add", "s", "sm-1.0"]);
    w.ok(&["view", "keep", "s", "1"]);
    // A generation of a few links is removed by the change itself: nothing is
    // left for later once the command returns.
    w.ok(&["view", "switch", "s", "sm-1.0", "sm-2.0"]);
    w.ok(&["view", "switch", "s", "sm-2.0", "sm-1.0"]);
    assert_eq!(generation_dirs(&w, "s"), (vec![3, 4], false));
    // One of 150 links (bin/ is shared, so each file is a link) goes to a
    // reaper in the background, which removes all of it.
    w.ok(&["view", "add", "s", "lg-1.0"]);
    w.ok(&["view", "switch", "s", "sm-1.0", "sm-2.0"]);
    w.ok(&["view", "switch", "s", "sm-2.0", "sm-1.0"]);
    wait_for_reapers(&w, "s");
    assert_eq!(generation_dirs(&w, "s"), (vec![6, 7], false));
    w.ok(&["view", "check", "s"]);
    assert!(w.root.join("views/s/bin/lg149").exists());
}

#[test]
fn trash_a_reaper_holds_is_left_to_it_and_a_dead_reapers_is_removed() {
    let w = World::new();
    install(&w, "tr-1.0", &[("bin/tr", "1")]);
    w.ok(&["view", "create", "t"]);
    w.ok(&["view", "add", "t", "tr-1.0"]);
    // Trash as a prune leaves it: a generation moved into a `.trash-*` directory.
    let trash = w.root.join("views/.gen/t/.trash-1-999999");
    std::fs::create_dir_all(trash.join("1/bin")).unwrap();
    std::os::unix::fs::symlink("../../x", trash.join("1/bin/tr")).unwrap();
    // A reaper at work holds it locked: the next writer leaves it alone
    // rather than removing it again on the user's time.
    let held = std::fs::File::open(&trash).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).unwrap();
    w.ok(&["view", "remove", "t", "tr-1.0"]);
    assert!(
        trash.join("1/bin/tr").symlink_metadata().is_ok(),
        "a reaper's trash was taken from it"
    );
    // A reaper that died (the lock went with it): the next writer removes it.
    drop(held);
    w.ok(&["view", "add", "t", "tr-1.0"]);
    assert!(!trash.exists(), "trash without a reaper was left behind");
    w.ok(&["view", "check", "t"]);
}

#[test]
fn a_writer_cut_off_is_cleaned_up_after_and_gc_looks_even_when_none_was() {
    let w = World::new();
    install(&w, "cu-1.0", &[("bin/cu", "1")]);
    w.ok(&["view", "create", "c"]);
    w.ok(&["view", "add", "c", "cu-1.0"]);
    // Every writer so far finished: the lock file names nobody.
    let lock = w.root.join("pkgdb/lock");
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "");
    // What a writer killed mid-change leaves in a view: an unrecorded generation.
    let stale = w.root.join("views/.gen/c/77");
    std::fs::create_dir_all(stale.join("bin")).unwrap();
    // With its pid still in the lock file, the next writer cleans up after it,
    // whatever it changes.
    std::fs::write(&lock, "999999").unwrap();
    install(&w, "other-1.0", &[("bin/other", "1")]);
    assert!(
        !stale.exists(),
        "the next writer left what a killed one made"
    );
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "");
    // The same left behind some other way, after writers that finished:
    // `depot gc` looks anyway.
    std::fs::create_dir_all(stale.join("bin")).unwrap();
    w.ok(&["gc"]);
    assert!(!stale.exists(), "gc left an unrecorded generation");
    w.ok(&["view", "check", "c"]);
}

#[test]
fn the_config_file_sets_the_window_and_a_bad_one_is_named() {
    let w = World::new();
    install(&w, "cw-1.0", &[("bin/cw", "1")]);
    install(&w, "cw-2.0", &[("bin/cw", "2")]);
    std::fs::create_dir_all(w.root.join("etc")).unwrap();
    let config = w.root.join("etc/depot.toml");
    std::fs::write(&config, "[views]\nkeep = 2\n").unwrap();
    w.ok(&["view", "create", "c"]);
    for _ in 0..3 {
        w.ok(&["view", "add", "c", "cw-1.0"]);
        w.ok(&["view", "switch", "c", "cw-1.0", "cw-2.0"]);
        w.ok(&["view", "remove", "c", "cw-2.0"]);
    }
    assert_eq!(generation_dirs(&w, "c").0.len(), 2);
    for (text, needle) in [
        ("[views]\nkeep = 0\n", "keep = 0"),
        ("[views]\nkept = 3\n", "unknown field `kept`"),
        ("[views\n", "depot.toml"),
    ] {
        std::fs::write(&config, text).unwrap();
        let err = w.fails(&["view", "list"]);
        assert!(
            err.contains("etc/depot.toml") && err.contains(needle),
            "{text}: {err}"
        );
    }
}

/// Each generation's link plan is a file beside it, read by the next change.
/// A plan that is missing, cut short or tampered with (a path climbing out of
/// the view, an entry below a link) is not used: the view is planned from its
/// members instead, comes out whole, and nothing is written outside it.
#[test]
fn a_damaged_plan_file_is_planned_again_never_followed() {
    let w = World::new();
    install(&w, "a-1.0", &[("bin/a", "a\n"), ("share/a/doc", "a\n")]);
    install(&w, "b-1.0", &[("bin/b", "b\n")]);
    install(&w, "c-1.0", &[("bin/c", "c\n")]);
    install(&w, "d-1.0", &[("bin/d", "d\n")]);
    w.ok(&["view", "create", "v"]);
    w.ok(&["view", "add", "v", "a-1.0"]);
    let gen_root = w.root.join("views/.gen/v");
    let current = || {
        std::fs::read_link(w.root.join("views/v"))
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let plan = |n: &str| gen_root.join(format!("{n}.plan"));
    assert!(
        plan(&current()).is_file(),
        "the plan is written beside its generation"
    );
    let text = String::from_utf8(std::fs::read(plan(&current())).unwrap()).unwrap();
    assert!(text.contains("bin/a"), "{text:?}");

    // Tampered: an entry that would land outside the view, and one below a link.
    let tampered = text.replace("bin/a\0", "../../escaped\0");
    std::fs::write(plan(&current()), tampered).unwrap();
    w.ok(&["view", "add", "v", "b-1.0"]);
    for outside in ["escaped", "views/escaped", "views/.gen/escaped"] {
        assert!(
            std::fs::symlink_metadata(w.root.join(outside)).is_err(),
            "{outside}"
        );
    }
    let below_link = String::from_utf8(std::fs::read(plan(&current())).unwrap())
        .unwrap()
        .replace("bin/b\0", "share/a/x\0");
    std::fs::write(plan(&current()), below_link).unwrap();
    w.ok(&["view", "add", "v", "c-1.0"]);
    assert!(!w.root.join("packages/a-1.0/share/a/x").exists());
    // Cut short, then missing.
    let bytes = std::fs::read(plan(&current())).unwrap();
    std::fs::write(plan(&current()), &bytes[..bytes.len() - 3]).unwrap();
    w.ok(&["view", "remove", "v", "c-1.0"]);
    std::fs::remove_file(plan(&current())).unwrap();
    w.ok(&["view", "add", "v", "d-1.0"]);

    let v = w.root.join("views/v");
    for (name, want) in [("a", "a\n"), ("b", "b\n"), ("d", "d\n")] {
        assert_eq!(
            std::fs::read_to_string(v.join("bin").join(name)).unwrap(),
            want
        );
    }
    assert!(!v.join("bin/c").exists());
    // `view check` fails on any difference from a plan made from scratch.
    w.ok(&["view", "check", "v"]);
    // Pruned and abandoned generations take their plans with them.
    for entry in std::fs::read_dir(&gen_root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_suffix(".plan") {
            assert!(gen_root.join(n).is_dir(), "{name} has no generation");
        }
    }
}
