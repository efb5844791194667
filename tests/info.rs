//! `depot info`: pkg_info's formats.

use crate::util::{Raw, World, contents_for, metadata, write_raw};

fn setup() -> World {
    let w = World::new();
    let a = w.package(
        "alpha-1.0",
        &[("bin/alpha", "a"), ("share/doc/alpha/README", "r")],
        &[],
    );
    let b = w.package("a-very-long-package-name-2.5nb1", &[("bin/long", "l")], &[]);
    w.ok(&["add", a.to_str().unwrap(), b.to_str().unwrap()]);
    w
}

#[test]
fn index_lines_are_padded_to_twenty_columns() {
    let w = setup();
    let out = w.ok(&["info"]);
    assert_eq!(
        out,
        "a-very-long-package-name-2.5nb1 test package\nalpha-1.0           test package\n"
    );
    let out = w.ok(&["info", "-I", "alpha"]);
    assert_eq!(out, "alpha-1.0           test package\n");
}

#[test]
fn default_sections_and_quiet() {
    let w = setup();
    // Invoked as pkg_info: pkg_info's default sections, exactly.
    let pkg_info = w.multi_call("pkg_info");
    let out = w.command(&pkg_info).arg("alpha-1.0").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Information for alpha-1.0:\n\nComment:\ntest package\n\nDescription:\na test package for depot\n\n\n"
    );
    // depot info adds where the package is linked.
    let out = w.ok(&["info", "alpha-1.0"]);
    assert_eq!(
        out,
        "Information for alpha-1.0:\n\nComment:\ntest package\n\nDescription:\na test package for depot\n\nViews:\ndefault\n\n\n"
    );
    let out = w.ok(&["info", "-q", "-c", "alpha-1.0"]);
    assert_eq!(out, "test package\n");
    let out = w.ok(&["info", "-Q", "OPSYS", "alpha-1.0"]);
    assert_eq!(out, "Linux\n");
}

#[test]
fn exists_best_file_owner_and_sizes() {
    let w = setup();
    assert_eq!(w.ok(&["info", "-E", "alpha>=0.5"]), "alpha-1.0\n");
    assert_eq!(w.ok(&["info", "-qe", "alpha"]), "");
    let depot_file = w.root.join("packages/alpha-1.0/bin/alpha");
    let view_file = w.root.join("bin/alpha");
    for f in [&depot_file, &view_file] {
        let out = w.ok(&["info", "-qF", "-c", f.to_str().unwrap()]);
        assert_eq!(out, "test package\n", "{}", f.display());
    }
    let err = w.fails(&["info", "-F", "/nonexistent/file"]);
    assert!(err.contains("No matching pkg"), "{err}");
    let out = w.ok(&["info", "-s", "alpha-1.0"]);
    assert!(out.contains("Size of this package in bytes: 2\n"), "{out}");
}

#[test]
fn packing_list_summary_and_json() {
    let w = setup();
    let out = w.ok(&["info", "-f", "alpha-1.0"]);
    assert!(out.contains("Packing list:\n\tPackage name: alpha-1.0\n\tCWD to: /usr/pkg\n\tFile: bin/alpha\n\tComment: MD5:"), "{out}");
    assert!(
        out.contains("Ignore next file:\n\tFile: +COMMENT (ignored)\n"),
        "{out}"
    );
    let out = w.ok(&["info", "-X", "alpha-1.0"]);
    assert!(
        out.starts_with("PKGNAME=alpha-1.0\nCOMMENT=test package\nSIZE_PKG=2\n"),
        "{out}"
    );
    assert!(
        out.ends_with("DESCRIPTION=a test package for depot\n\n"),
        "{out}"
    );
    let out = w.ok(&["info", "--json", "-L", "alpha-1.0"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["pkgname"], "alpha-1.0");
    assert_eq!(v[0]["views"][0], "default");
    assert_eq!(v[0]["files"].as_array().unwrap().len(), 2);
}

#[test]
fn info_on_a_package_file() {
    let w = World::new();
    let p = w.package("file-3.1", &[("bin/f", "f")], &[]);
    let out = w.ok(&["info", "-q", "-d", p.to_str().unwrap()]);
    assert_eq!(out, "a test package for depot\n");
    // The header names the file as it was given, as pkg_info does.
    let out = w.ok(&["info", "-L", p.to_str().unwrap()]);
    assert_eq!(
        out,
        format!(
            "Information for {}:\n\nFiles:\n/usr/pkg/bin/f\n\n",
            p.display()
        )
    );
}

#[test]
fn summary_records_and_sizes_follow_pkg_info() {
    let w = World::new();
    let build_info = w.scratch.join("BUILD_INFO");
    // Deliberately not in pkg_info's list order: -X keeps this order.
    std::fs::write(
        &build_info,
        "MACHINE_ARCH=x86_64\nOPSYS=Linux\nHOMEPAGE=https://example.org/\nOS_VERSION=6.1\nCATEGORIES=devel\nPKGTOOLS_VERSION=20170419\nCC_VERSION=gcc-12\n",
    )
    .unwrap();
    let size_all = w.scratch.join("SIZE_ALL");
    std::fs::write(&size_all, "12345\n").unwrap();
    w.package("dep-1.0", &[("lib/dep", "d")], &[]);
    let p = w.package(
        "summ-1.0",
        &[("bin/summ", "s")],
        &[
            "-P",
            "dep>=1",
            "-C",
            "oldsumm-[0-9]*",
            "-B",
            build_info.to_str().unwrap(),
            "-S",
            size_all.to_str().unwrap(),
        ],
    );
    let expected_head = "PKGNAME=summ-1.0\nDEPENDS=dep>=1\nCONFLICTS=oldsumm-[0-9]*\nCOMMENT=test package\nSIZE_PKG=1\nMACHINE_ARCH=x86_64\nOPSYS=Linux\nHOMEPAGE=https://example.org/\nOS_VERSION=6.1\nCATEGORIES=devel\nPKGTOOLS_VERSION=20170419\n";
    // On the package file: FILE_NAME and FILE_SIZE before the description.
    let out = w.ok(&["info", "-X", p.to_str().unwrap()]);
    let file_size = std::fs::metadata(&p).unwrap().len();
    assert_eq!(
        out,
        format!(
            "{expected_head}FILE_NAME=summ-1.0.tgz\nFILE_SIZE={file_size}\nDESCRIPTION=a test package for depot\n\n"
        )
    );
    w.ok_in(&w.pkgs, &["add", p.to_str().unwrap()]);
    let out = w.ok(&["info", "-X", "summ-1.0"]);
    assert_eq!(
        out,
        format!("{expected_head}DESCRIPTION=a test package for depot\n\n")
    );
    // -s and -S print what the package records.
    assert_eq!(w.ok(&["info", "-qs", "summ-1.0"]), "1\n\n");
    assert_eq!(
        w.ok(&["info", "-S", "summ-1.0"]),
        "Information for summ-1.0:\n\nSize in bytes including required pkgs: 12345\n\n\n"
    );
    // A package recording no sizes: no SIZE_PKG line, and -s/-S print nothing.
    let bare = w.pkgs.join("bare-1.0.tgz");
    let contents = contents_for("bare-1.0", &[("bin/bare", b"b")]);
    let mut entries = metadata(&contents);
    entries.push(Raw::File("bin/bare", b"b".to_vec()));
    write_raw(&bare, &entries);
    assert!(
        !w.ok(&["info", "-X", bare.to_str().unwrap()])
            .contains("SIZE_PKG")
    );
    assert_eq!(w.ok(&["info", "-qsS", bare.to_str().unwrap()]), "");
}

#[test]
fn multi_call_names_speak_as_themselves() {
    let w = World::new();
    let pkg_info = w.multi_call("pkg_info");
    let out = w.command(&pkg_info).arg("-h").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: pkg_info [OPTIONS]"), "{help}");
    assert!(!help.contains("pkg_info info"), "{help}");
    let out = w.command(&pkg_info).arg("nothing-here").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("pkg_info: can't find package"), "{err}");
    let pkg_admin = w.multi_call("pkg_admin");
    let out = w
        .command(&pkg_admin)
        .args(["pmatch", "-h"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: pkg_admin pmatch"));
    // An argument starting with `-` is a package name to pmatch, as in pkg_admin.
    let out = w
        .command(&pkg_admin)
        .args(["pmatch", "foo", "-1.0"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A malformed chained range matches as pkg_install reads it, with a warning.
    let out = w
        .command(&pkg_admin)
        .args(["pmatch", "foo<2>=1", "foo-2.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("pkg_admin: warning: pattern foo<2>=1 is malformed"),
        "{err}"
    );
}

#[test]
fn missing_package_exits_one() {
    let w = setup();
    let out = w.depot(&["info", "nothing-here"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("can't find package `nothing-here'"));
}
