//! `depot add`: side by side, views, dependencies, conflicts, scripts, formats.

use crate::util::World;

#[test]
fn side_by_side_and_replace_switches_the_default_view() {
    let w = World::new();
    let p1 = w.package("tool-1.0", &[("bin/tool", "one")], &[]);
    let p2 = w.package("tool-2.0", &[("bin/tool", "two")], &[]);
    w.ok(&["add", p1.to_str().unwrap()]);
    let out = w.ok(&["add", p2.to_str().unwrap()]);
    assert!(out.contains("keeps tool-1.0"), "{out}");
    assert_eq!(
        std::fs::read_to_string(w.root.join("bin/tool")).unwrap(),
        "one"
    );
    // Both installed.
    assert_eq!(w.ok(&["info", "-e", "tool"]), "tool-1.0\ntool-2.0\n");
    // A third version with -U takes over the view; the old stays in the depot.
    let p3 = w.package("tool-3.0", &[("bin/tool", "three")], &[]);
    w.ok(&["add", "-U", p3.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(w.root.join("bin/tool")).unwrap(),
        "three"
    );
    assert!(w.root.join("packages/tool-1.0/bin/tool").is_file());
    // -u with an older version does not switch.
    let p0 = w.package("tool-0.5", &[("bin/tool", "half")], &[]);
    w.ok(&["add", "-u", p0.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(w.root.join("bin/tool")).unwrap(),
        "three"
    );
}

#[test]
fn installed_files_are_read_only_and_realpath_lands_in_packages() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let p = w.package("ro-1.0", &[("bin/ro", "x"), ("share/ro/data", "d")], &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    let file = w.root.join("packages/ro-1.0/share/ro/data");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o222, 0, "mode {mode:o}");
    let real = std::fs::canonicalize(w.root.join("share/ro/data")).unwrap();
    assert!(
        real.starts_with(std::fs::canonicalize(w.root.join("packages")).unwrap()),
        "{}",
        real.display()
    );
    // bin stays a real directory in the generation (always-real), share/ro folds into one link.
    let gen_dir = std::fs::canonicalize(w.root.join("views/default")).unwrap();
    assert!(
        std::fs::symlink_metadata(gen_dir.join("bin"))
            .unwrap()
            .is_dir()
    );
    assert!(
        std::fs::symlink_metadata(gen_dir.join("share"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn no_view_installs_into_the_depot_only() {
    let w = World::new();
    let p = w.package("quiet-1.0", &[("bin/quiet", "q")], &[]);
    w.ok(&["add", "--no-view", p.to_str().unwrap()]);
    assert!(w.root.join("packages/quiet-1.0/bin/quiet").is_file());
    assert!(std::fs::symlink_metadata(w.root.join("bin")).is_err());
}

#[test]
fn dependencies_come_from_pkg_path_exact_blddep_first_and_are_automatic() {
    let w = World::new();
    w.package("dep-1.0", &[("lib/dep1", "1")], &[]);
    w.package("dep-1.5", &[("lib/dep15", "15")], &[]);
    w.package("dep-2.0", &[("lib/dep2", "2")], &[]);
    // Built against dep-1.5 (installed at create time): pkg_add prefers the @blddep.
    w.ok(&[
        "add",
        "--no-view",
        w.pkgs.join("dep-1.5.tgz").to_str().unwrap(),
    ]);
    let app = w.package("app-1.0", &[("bin/app", "a")], &["-P", "dep>=1.0"]);
    w.ok(&["delete", "dep-1.5"]);
    let contents = crate::util::read_member(&app, "+CONTENTS");
    assert!(
        contents.contains("@blddep dep-1.5\n@pkgdep dep>=1.0\n"),
        "{contents}"
    );
    w.ok_in(&w.pkgs, &["add", "app-1.0"]);
    assert!(
        w.root.join("packages/dep-1.5").is_dir(),
        "the exact @blddep package is preferred"
    );
    assert!(!w.root.join("packages/dep-2.0").exists());
    let json = w.ok(&["info", "--json", "dep-1.5"]);
    assert!(json.contains("\"automatic\": true"), "{json}");
    let json = w.ok(&["info", "--json", "app-1.0"]);
    assert!(json.contains("\"automatic\": false"), "{json}");
}

#[test]
fn pkg_path_best_match_across_entries() {
    let w = World::new();
    let other = w.scratch.join("other");
    std::fs::create_dir_all(&other).unwrap();
    w.package("multi-1.0", &[("bin/m", "1")], &[]);
    let p2 = w.package("multi-2.0", &[("bin/m", "2")], &[]);
    std::fs::rename(&p2, other.join("multi-2.0.tgz")).unwrap();
    let path = format!("{};file://{}", w.pkgs.display(), other.display());
    w.ok_in(&path, &["add", "multi"]);
    assert!(w.root.join("packages/multi-2.0").is_dir());
    assert_eq!(
        w.ok_in(&path, &["admin", "findbest", "multi<2"]),
        format!("{}\n", w.pkgs.join("multi-1.0.tgz").display())
    );
}

#[test]
fn scripts_exec_and_display_run_with_the_depot_dir() {
    let w = World::new();
    let log = w.scratch.join("log");
    let install = w.scratch.join("install.sh");
    std::fs::write(
        &install,
        format!(
            "#!/bin/sh\necho \"$2 $1 $PKG_PREFIX\" >> {}\n",
            log.display()
        ),
    )
    .unwrap();
    let deinstall = w.scratch.join("deinstall.sh");
    std::fs::write(
        &deinstall,
        format!("#!/bin/sh\necho \"$2 $1\" >> {}\n", log.display()),
    )
    .unwrap();
    let display = w.scratch.join("display");
    std::fs::write(&display, "Read me after installing.\n").unwrap();
    // A hand-written packing list with @exec/@unexec.
    let proto = w.scratch.join("proto");
    std::fs::create_dir_all(proto.join("bin")).unwrap();
    std::fs::write(proto.join("bin/s"), "s").unwrap();
    let plist = w.scratch.join("plist");
    std::fs::write(
        &plist,
        format!(
            "bin/s\n@exec echo exec %D %F %f >> {log}\n@unexec echo unexec %B >> {log}\n",
            log = log.display()
        ),
    )
    .unwrap();
    let out_pkg = w.pkgs.join("scripted-1.0.tgz");
    w.ok(&[
        "create",
        "-c",
        "-c",
        "-d",
        "-d",
        "-f",
        plist.to_str().unwrap(),
        "-p",
        proto.to_str().unwrap(),
        "-i",
        install.to_str().unwrap(),
        "-k",
        deinstall.to_str().unwrap(),
        "-D",
        display.to_str().unwrap(),
        out_pkg.to_str().unwrap(),
    ]);
    let out = w.ok(&["add", out_pkg.to_str().unwrap()]);
    assert!(out.contains("Read me after installing."), "{out}");
    let depot_dir = w.root.join("packages/scripted-1.0");
    let text = std::fs::read_to_string(&log).unwrap();
    let d = depot_dir.display();
    assert_eq!(
        text,
        format!("PRE-INSTALL scripted-1.0 {d}\nexec {d} bin/s s\nPOST-INSTALL scripted-1.0 {d}\n")
    );
    w.ok(&["delete", "scripted-1.0"]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.ends_with(&format!(
            "DEINSTALL scripted-1.0\nunexec {d}/bin\nPOST-DEINSTALL scripted-1.0\n"
        )),
        "{text}"
    );
}

#[test]
fn failing_pre_install_leaves_the_root_unchanged() {
    let w = World::new();
    let keep = w.package("keep-1.0", &[("bin/keep", "k")], &[]);
    w.ok(&["add", keep.to_str().unwrap()]);
    let script = w.scratch.join("fail.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$2\" = PRE-INSTALL ] && exit 3\nexit 0\n",
    )
    .unwrap();
    let p = w.package(
        "broken-1.0",
        &[("bin/broken", "b")],
        &["-i", script.to_str().unwrap()],
    );
    let before = w.snapshot();
    let err = w.fails(&["add", p.to_str().unwrap()]);
    assert!(err.contains("PRE-INSTALL failed"), "{err}");
    assert_eq!(before, w.snapshot());
    // -I skips the script.
    w.ok(&["add", "-I", p.to_str().unwrap()]);
    assert!(w.root.join("packages/broken-1.0").is_dir());
}

#[test]
fn conflicts_are_checked_both_ways() {
    let w = World::new();
    let a = w.package("alpha-1.0", &[("bin/alpha", "a")], &["-C", "beta-[0-9]*"]);
    let b = w.package("beta-1.0", &[("bin/beta", "b")], &[]);
    w.ok(&["add", a.to_str().unwrap()]);
    let before = w.snapshot();
    let err = w.fails(&["add", b.to_str().unwrap()]);
    assert!(err.contains("alpha-1.0 conflicts with beta-1.0"), "{err}");
    assert_eq!(before, w.snapshot());
    // And the other way round.
    let w = World::new();
    let a = w.package("alpha-1.0", &[("bin/alpha", "a")], &["-C", "beta-[0-9]*"]);
    let b = w.package("beta-1.0", &[("bin/beta", "b")], &[]);
    w.ok(&["add", b.to_str().unwrap()]);
    let before = w.snapshot();
    let err = w.fails(&["add", a.to_str().unwrap()]);
    assert!(
        err.contains("alpha-1.0 conflicts with installed beta-1.0"),
        "{err}"
    );
    assert_eq!(before, w.snapshot());
}

#[test]
fn every_compression_is_detected_by_magic() {
    let w = World::new();
    for (name, suffix) in [
        ("gz", "tgz"),
        ("bz", "tbz"),
        ("xz", "txz"),
        ("zst", "tzst"),
        ("plain", "tar"),
    ] {
        let pkgname = format!("comp{name}-1.0");
        let stage = w.scratch.join(&pkgname);
        std::fs::create_dir_all(stage.join("share")).unwrap();
        std::fs::write(stage.join("share").join(name), name).unwrap();
        let file = w.pkgs.join(format!("{pkgname}.{suffix}"));
        w.ok(&[
            "create",
            "--from-dir",
            stage.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        // Misleading suffix: detection is by magic.
        let renamed = w.scratch.join(format!("{pkgname}.tgz"));
        std::fs::copy(&file, &renamed).unwrap();
        w.ok(&["add", renamed.to_str().unwrap()]);
        assert_eq!(
            std::fs::read_to_string(
                w.root
                    .join("packages")
                    .join(&pkgname)
                    .join("share")
                    .join(name)
            )
            .unwrap(),
            name
        );
    }
}

#[test]
fn already_installed_is_not_an_error() {
    let w = World::new();
    let p = w.package("twice-1.0", &[("bin/twice", "t")], &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    let out = w.ok(&["add", p.to_str().unwrap()]);
    assert!(out.contains("already installed"), "{out}");
}

#[test]
fn dry_run_changes_nothing() {
    let w = World::new();
    let p = w.package("dry-1.0", &[("bin/dry", "d")], &[]);
    let before = w.snapshot();
    let out = w.ok(&["add", "-n", p.to_str().unwrap()]);
    assert!(out.contains("would install dry-1.0"), "{out}");
    assert_eq!(before, w.snapshot());
}

#[test]
fn hard_links_survive_create_and_add() {
    use std::os::unix::fs::MetadataExt;
    let w = World::new();
    let stage = w.scratch.join("hl");
    std::fs::create_dir_all(stage.join("bin")).unwrap();
    std::fs::write(stage.join("bin/one"), "same inode").unwrap();
    std::fs::hard_link(stage.join("bin/one"), stage.join("bin/two")).unwrap();
    let file = w.pkgs.join("hl-1.0.tgz");
    w.ok(&[
        "create",
        "--from-dir",
        stage.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    w.ok(&["add", file.to_str().unwrap()]);
    let dir = w.root.join("packages/hl-1.0/bin");
    let (a, b) = (
        std::fs::metadata(dir.join("one")).unwrap(),
        std::fs::metadata(dir.join("two")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert_eq!(
        std::fs::read_to_string(dir.join("two")).unwrap(),
        "same inode"
    );
    w.ok(&["admin", "check"]);
}

#[test]
fn set_id_and_sticky_bits_are_kept_write_bits_dropped_and_checked() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let stage = w.scratch.join("stage");
    std::fs::create_dir_all(stage.join("bin")).unwrap();
    for (name, mode) in [
        ("suid", 0o4755),
        ("sgid", 0o2755),
        ("plain", 0o755),
        ("bymode", 0o755),
    ] {
        let path = stage.join("bin").join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho {name}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    // @mode in the packing list wins over the archive's mode, as in pkg_add.
    let plist = w.scratch.join("PLIST");
    std::fs::write(
        &plist,
        "bin/suid\nbin/sgid\nbin/plain\n@mode u+s,g+s\nbin/bymode\n",
    )
    .unwrap();
    let out = w.pkgs.join("modes-1.0.tgz");
    w.ok(&[
        "create",
        "-c",
        "-modes",
        "-d",
        "-modes",
        "-f",
        plist.to_str().unwrap(),
        "-p",
        stage.to_str().unwrap(),
        "-I",
        "/usr/pkg",
        out.to_str().unwrap(),
    ]);
    w.ok(&["add", out.to_str().unwrap()]);
    let mode = |name: &str| {
        std::fs::metadata(w.root.join("packages/modes-1.0/bin").join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("suid"), 0o4555);
    assert_eq!(mode("sgid"), 0o2555);
    assert_eq!(mode("plain"), 0o555);
    assert_eq!(mode("bymode"), 0o6555);
    let info = w.ok(&["info", "-v", "modes-1.0"]);
    assert!(
        info.contains("Set-id and sticky files:\nbin/suid (mode 4555, setuid)\nbin/sgid (mode 2555, setgid)\nbin/bymode (mode 6555, setuid, setgid)\n"),
        "{info}"
    );
    w.ok(&["admin", "check"]);
    // A changed mode is reported by admin check; delete verifies content only.
    let suid = w.root.join("packages/modes-1.0/bin/suid");
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = w.depot(&["admin", "check"]);
    assert!(!out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("bin/suid: mode changed (recorded 4555, found 0555)"),
        "{report}"
    );
    w.ok(&["delete", "modes-1.0"]);
}
