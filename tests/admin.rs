//! `depot admin`: pmatch, lsall/lsbest, set/unset, rebuild-tree, import/export.

use std::fmt::Write as _;

use crate::util::{World, md5_hex};

#[test]
fn conformance_table_through_pkg_admin_pmatch() {
    let table = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/pattern-match.tsv"
    );
    let text = std::fs::read_to_string(table)
        .expect("../shared/conformance/pattern-match.tsv is required beside the repository");
    let w = World::new();
    let pkg_admin = w.multi_call("pkg_admin");
    let mut rows = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let status = w
            .command(&pkg_admin)
            .args(["pmatch", cols[0], cols[1]])
            .status()
            .unwrap();
        assert_eq!(
            status.success(),
            cols[2] == "true",
            "pmatch {} {}",
            cols[0],
            cols[1]
        );
        rows += 1;
    }
    assert_eq!(rows, 89);
}

#[test]
fn lsall_lsbest_and_flags() {
    let w = World::new();
    for v in ["1.0", "1.10", "1.9"] {
        w.package(&format!("ls-{v}"), &[("bin/ls", v)], &[]);
    }
    let all = w.ok(&["admin", "lsall", &format!("{}/ls>=1.5", w.pkgs.display())]);
    assert_eq!(
        all,
        format!("{0}/ls-1.10.tgz\n{0}/ls-1.9.tgz\n", w.pkgs.display())
    );
    let best = w.ok(&["admin", "lsbest", &format!("{}/ls", w.pkgs.display())]);
    assert_eq!(best, format!("{}/ls-1.10.tgz\n", w.pkgs.display()));
    w.ok(&["add", w.pkgs.join("ls-1.9.tgz").to_str().unwrap()]);
    w.ok(&["admin", "set", "automatic=YES", "ls-1.9"]);
    assert!(
        w.ok(&["info", "--json", "ls-1.9"])
            .contains("\"automatic\": true")
    );
    assert_eq!(w.ok(&["info", "-u"]), "");
    w.ok(&["admin", "unset", "automatic", "ls-1.9"]);
    assert!(
        w.ok(&["info", "--json", "ls-1.9"])
            .contains("\"automatic\": false")
    );
}

#[test]
fn rebuild_tree_recomputes_required_by() {
    let w = World::new();
    w.package("lib-1.0", &[("lib/l1", "1")], &[]);
    w.package("lib-2.0", &[("lib/l2", "2")], &[]);
    w.package("prog-1.0", &[("bin/prog", "p")], &["-P", "lib>=1"]);
    w.ok(&[
        "add",
        "--no-view",
        w.pkgs.join("lib-1.0.tgz").to_str().unwrap(),
    ]);
    w.ok(&["add", w.pkgs.join("prog-1.0.tgz").to_str().unwrap()]);
    assert_eq!(w.ok(&["info", "-qR", "lib-1.0"]), "prog-1.0\n");
    w.ok(&[
        "add",
        "--no-view",
        w.pkgs.join("lib-2.0.tgz").to_str().unwrap(),
    ]);
    w.ok(&["admin", "rebuild-tree"]);
    assert_eq!(w.ok(&["info", "-qR", "lib-2.0"]), "prog-1.0\n");
    assert_eq!(w.ok(&["info", "-qR", "lib-1.0"]), "");
}

#[test]
fn export_then_import_round_trips() {
    let w = World::new();
    w.package("exp-1.0", &[("lib/e", "e")], &[]);
    w.package("expuser-1.0", &[("bin/u", "u")], &["-P", "exp>=1"]);
    w.ok_in(&w.pkgs, &["add", "expuser"]);
    let tree = w.scratch.join("pkgdb-export");
    w.ok(&["admin", "export", tree.to_str().unwrap()]);
    let contents = std::fs::read_to_string(tree.join("exp-1.0/+CONTENTS")).unwrap();
    assert!(
        contents.contains(&format!(
            "@cwd {}\n",
            w.root.join("packages/exp-1.0").display()
        )),
        "{contents}"
    );
    assert_eq!(
        std::fs::read_to_string(tree.join("exp-1.0/+REQUIRED_BY")).unwrap(),
        "expuser-1.0\n"
    );
    assert_eq!(
        std::fs::read_to_string(tree.join("exp-1.0/+INSTALLED_INFO")).unwrap(),
        "automatic=yes\n"
    );
    assert!(tree.join("exp-1.0/+COMMENT").is_file());
    // Import it into a fresh database.
    let w2 = World::new();
    let out = w2.ok(&["admin", "import", tree.to_str().unwrap()]);
    assert!(out.contains("imported 2 package(s)"), "{out}");
    assert_eq!(w2.ok(&["info", "-qR", "exp-1.0"]), "expuser-1.0\n");
    assert!(
        w2.ok(&["info", "--json", "exp-1.0"])
            .contains("\"automatic\": true")
    );
    // The imported files are where pkg_install left them, and check verifies them there.
    w2.ok(&["admin", "check"]);
    assert_eq!(
        w2.ok(&[
            "info",
            "-qF",
            "-c",
            w.root.join("packages/exp-1.0/lib/e").to_str().unwrap()
        ]),
        "test package\n"
    );
}

#[test]
fn import_of_a_non_pkgdb_is_a_clear_error() {
    let w = World::new();
    let err = w.fails(&["admin", "import", w.scratch.to_str().unwrap()]);
    assert!(err.contains("no package directories"), "{err}");
}

#[test]
fn deleting_an_imported_package_removes_its_files_as_pkg_delete_does() {
    let w = World::new();
    let prefix = w.scratch.join("oldprefix");
    let dbdir = w.scratch.join("oldpkgdb");
    let files: &[(&str, &str)] = &[
        ("bin/old", "#!/bin/sh\necho old\n"),
        ("share/old/data", "data\n"),
        ("etc/old.conf", "setting=1\n"),
    ];
    let mut contents = format!("@name old-1.0\n@cwd {}\n", prefix.display());
    for (path, content) in files {
        let at = prefix.join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(&at, content).unwrap();
        writeln!(
            contents,
            "{path}\n@comment MD5:{}",
            md5_hex(content.as_bytes())
        )
        .unwrap();
    }
    // Another package's file in the same prefix keeps share/ alive.
    std::fs::create_dir_all(prefix.join("share/keep")).unwrap();
    std::fs::write(prefix.join("share/keep/file"), "not ours").unwrap();
    std::fs::create_dir_all(dbdir.join("old-1.0")).unwrap();
    std::fs::write(dbdir.join("old-1.0/+CONTENTS"), contents).unwrap();
    std::fs::write(dbdir.join("old-1.0/+COMMENT"), "old\n").unwrap();
    std::fs::write(dbdir.join("old-1.0/+DESC"), "an old package\n").unwrap();
    std::fs::write(
        dbdir.join("old-1.0/+DEINSTALL"),
        format!(
            "#!/bin/sh\necho \"$2\" >> {}/deinstall.log\n",
            w.scratch.display()
        ),
    )
    .unwrap();
    w.ok(&["admin", "import", dbdir.to_str().unwrap()]);
    w.ok(&["admin", "check"]);
    // The user edited the config file: pkg_delete keeps it.
    std::fs::write(prefix.join("etc/old.conf"), "setting=2\n").unwrap();
    let err = w.ok_stderr(&["delete", "old-1.0"]);
    assert!(
        err.contains("kept") && err.contains("etc/old.conf"),
        "{err}"
    );
    assert!(!prefix.join("bin/old").exists() && !prefix.join("bin").exists());
    assert!(!prefix.join("share/old").exists());
    assert!(prefix.join("share/keep/file").exists());
    assert_eq!(
        std::fs::read_to_string(prefix.join("etc/old.conf")).unwrap(),
        "setting=2\n"
    );
    assert!(!w.depot(&["info", "-e", "old"]).status.success());
    // Its +DEINSTALL ran, from the database, in both phases.
    assert_eq!(
        std::fs::read_to_string(w.scratch.join("deinstall.log")).unwrap(),
        "DEINSTALL\nPOST-DEINSTALL\n"
    );
}
