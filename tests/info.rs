//! `depot info`: pkg_info's formats.

use crate::util::World;

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
    let out = w.ok(&["info", "-L", p.to_str().unwrap()]);
    assert_eq!(
        out,
        "Information for file-3.1:\n\nFiles:\n/usr/pkg/bin/f\n\n"
    );
}

#[test]
fn missing_package_exits_one() {
    let w = setup();
    let out = w.depot(&["info", "nothing-here"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("can't find package `nothing-here'"));
}
