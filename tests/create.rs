//! `depot create`: pkg_create's format and flags.

use std::process::Command;

use crate::util::{World, read_member};

fn list_archive(path: &std::path::Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn layout_matches_pkg_install() {
    let w = World::new();
    let proto = w.scratch.join("proto");
    std::fs::create_dir_all(proto.join("bin")).unwrap();
    std::fs::create_dir_all(proto.join("lib")).unwrap();
    std::fs::write(proto.join("bin/b"), "bbb").unwrap();
    std::fs::write(proto.join("lib/a"), "aaa").unwrap();
    std::os::unix::fs::symlink("a", proto.join("lib/link")).unwrap();
    let plist = w.scratch.join("PLIST");
    // Deliberately not sorted: the payload must follow +CONTENTS order exactly.
    std::fs::write(
        &plist,
        "@comment $NetBSD$\nbin/b\nlib/link\nlib/a\n@pkgdir share/empty\n",
    )
    .unwrap();
    let comment = w.scratch.join("comment");
    std::fs::write(&comment, "from a file\n").unwrap();
    let bi = w.scratch.join("build-info");
    std::fs::write(&bi, "OPSYS=NetBSD\nPKGPATH=misc/layout\n").unwrap();
    let out = w.pkgs.join("layout-1.0.tgz");
    w.ok(&[
        "create",
        "-c",
        comment.to_str().unwrap(),
        "-d",
        "-text given inline",
        "-f",
        plist.to_str().unwrap(),
        "-p",
        proto.to_str().unwrap(),
        "-I",
        "/opt/pkg",
        "-B",
        bi.to_str().unwrap(),
        "-C",
        "oldlayout-[0-9]*",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        list_archive(&out),
        [
            "+CONTENTS",
            "+COMMENT",
            "+DESC",
            "+BUILD_INFO",
            "+SIZE_PKG",
            "bin/b",
            "lib/link",
            "lib/a"
        ]
    );
    let contents = read_member(&out, "+CONTENTS");
    let md5b = crate::util::md5_hex(b"bbb");
    let md5a = crate::util::md5_hex(b"aaa");
    let expected_start = format!(
        "@name layout-1.0\n@cwd /opt/pkg\n@pkgcfl oldlayout-[0-9]*\n@comment $NetBSD$\nbin/b\n@comment MD5:{md5b}\n@comment SHA256:"
    );
    assert!(contents.starts_with(&expected_start), "{contents}");
    assert!(
        contents.contains(&format!(
            "lib/link\n@comment Symlink:a\nlib/a\n@comment MD5:{md5a}\n"
        )),
        "{contents}"
    );
    assert!(contents.ends_with(
        "@pkgdir share/empty\n@cwd .\n@ignore\n+COMMENT\n@ignore\n+DESC\n@ignore\n+BUILD_INFO\n@ignore\n+SIZE_PKG\n"
    ), "{contents}");
    assert_eq!(read_member(&out, "+COMMENT"), "from a file\n");
    assert_eq!(read_member(&out, "+DESC"), "text given inline\n");
    let build_info = read_member(&out, "+BUILD_INFO");
    assert!(
        build_info.starts_with("OPSYS=NetBSD\nPKGPATH=misc/layout\n"),
        "{build_info}"
    );
    for var in ["MACHINE_ARCH=", "OS_VERSION=", "PKGTOOLS_VERSION="] {
        assert!(build_info.contains(var), "{build_info}");
    }
    // It installs, with the empty @pkgdir.
    w.ok(&["add", out.to_str().unwrap()]);
    assert!(w.root.join("packages/layout-1.0/share/empty").is_dir());
    assert_eq!(
        std::fs::read_link(w.root.join("packages/layout-1.0/lib/link"))
            .unwrap()
            .to_str(),
        Some("a")
    );
}

#[test]
fn plist_from_stdin_and_missing_arguments() {
    let w = World::new();
    let proto = w.scratch.join("proto");
    std::fs::create_dir_all(&proto).unwrap();
    std::fs::write(proto.join("f"), "f").unwrap();
    let out = w.pkgs.join("stdin-1.0.tgz");
    let mut child = w
        .command(&crate::util::depot_bin())
        .args([
            "create",
            "-c",
            "-c",
            "-d",
            "-d",
            "-f",
            "-",
            "-p",
            proto.to_str().unwrap(),
            out.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"f\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert!(list_archive(&out).contains(&"f".to_owned()));
    let err = w.fails(&["create", "-d", "-d", "-f", "x", "y-1.0.tgz"]);
    assert!(
        err.contains("comment string is missing (-c comment)"),
        "{err}"
    );
    let err = w.fails(&[
        "create",
        "-c",
        "-c",
        "-d",
        "-d",
        "-f",
        "/nonexistent/plist",
        "y-1.0.tgz",
    ]);
    assert!(err.contains("/nonexistent/plist"), "{err}");
    let err = w.fails(&[
        "create",
        "-c",
        "-c",
        "-d",
        "-d",
        "-F",
        "lzma",
        "-f",
        "-",
        "y-1.0.tgz",
    ]);
    assert!(err.contains("unsupported compression type"), "{err}");
}

#[test]
fn a_listed_file_that_is_missing_is_an_error_and_leaves_no_output() {
    let w = World::new();
    let plist = w.scratch.join("plist");
    std::fs::write(&plist, "bin/nothere\n").unwrap();
    let out = w.pkgs.join("missing-1.0.tgz");
    let err = w.fails(&[
        "create",
        "-c",
        "-c",
        "-d",
        "-d",
        "-f",
        plist.to_str().unwrap(),
        "-p",
        w.scratch.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(err.contains("bin/nothere"), "{err}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(&w.pkgs).unwrap().count(),
        0,
        "no temporary file left"
    );
}

#[test]
fn system_tar_reads_what_depot_writes() {
    let w = World::new();
    let p = w.package("systar-1.0", &[("bin/x", "x"), ("share/a/b/c", "c")], &[]);
    let out = Command::new("tar").arg("tzf").arg(&p).output().unwrap();
    assert!(out.status.success());
    let names = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        names,
        "+CONTENTS\n+COMMENT\n+DESC\n+BUILD_INFO\n+SIZE_PKG\nbin/x\nshare/a/b/c\n"
    );
}

#[test]
fn an_output_name_without_a_package_suffix_gets_tgz() {
    let w = World::new();
    let stage = w.scratch.join("s");
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::write(stage.join("f"), "f").unwrap();
    let out = w.pkgs.join("nosuffix-1.0");
    w.ok(&[
        "create",
        "--from-dir",
        stage.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(w.pkgs.join("nosuffix-1.0.tgz").is_file());
    assert!(!out.exists());
    assert_eq!(
        read_member(&w.pkgs.join("nosuffix-1.0.tgz"), "+CONTENTS")
            .lines()
            .next(),
        Some("@name nosuffix-1.0")
    );
}

#[test]
fn create_refuses_names_add_would_refuse_and_unknown_suffixes() {
    let w = World::new();
    let stage = w.scratch.join("stage");
    std::fs::create_dir_all(stage.join("bin")).unwrap();
    std::fs::write(stage.join("bin/x"), "x").unwrap();
    let stage_s = stage.to_str().unwrap();
    for (out, needle) in [
        ("nonameversion.tgz", "not of the form name-version"),
        ("a b-1.0.tgz", "white space"),
        ("z-1.0.zip", "unknown package suffix .zip"),
    ] {
        let path = w.pkgs.join(out);
        let err = w.fails(&["create", "--from-dir", stage_s, path.to_str().unwrap()]);
        assert!(err.contains(needle), "{out}: {err}");
        assert!(
            std::fs::read_dir(&w.pkgs).unwrap().next().is_none(),
            "{out} left a file"
        );
    }
    // No suffix still means .tgz, as pkg_create does.
    w.ok(&[
        "create",
        "--from-dir",
        stage_s,
        w.pkgs.join("z-1.0").to_str().unwrap(),
    ]);
    assert!(w.pkgs.join("z-1.0.tgz").is_file());
    // A missing --from-dir says so once.
    let err = w.fails(&[
        "create",
        "--from-dir",
        "nonexist",
        w.pkgs.join("y-1.0.tgz").to_str().unwrap(),
    ]);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(err.contains("nonexist"), "{err}");
}
