//! The round trip through the multi-call names that the foundation issue names.

use crate::util::{World, stdout};

#[test]
fn pkg_tools_round_trip_through_multi_call_names() {
    let w = World::new();
    let pkg_create = w.multi_call("pkg_create");
    let pkg_add = w.multi_call("pkg_add");
    let pkg_info = w.multi_call("pkg_info");
    let pkg_admin = w.multi_call("pkg_admin");
    let pkg_delete = w.multi_call("pkg_delete");

    // A dependency and two versions of an app, made with pkg_create's own flags.
    let make = |name: &str, files: &[(&str, &str)], deps: Option<&str>| {
        let prefix = w.scratch.join(format!("proto-{name}"));
        let mut plist = String::new();
        for (path, content) in files {
            let at = prefix.join(path);
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(&at, content).unwrap();
            plist.push_str(path);
            plist.push('\n');
        }
        let plist_file = w.scratch.join(format!("{name}.plist"));
        std::fs::write(&plist_file, plist).unwrap();
        let mut c = w.command(&pkg_create);
        c.args([
            "-c",
            &format!("-{name} comment"),
            "-d",
            &format!("-{name} description"),
            "-f",
        ])
        .arg(&plist_file)
        .arg("-p")
        .arg(&prefix)
        .arg("-I")
        .arg("/usr/pkg");
        if let Some(d) = deps {
            c.args(["-P", d]);
        }
        c.arg(w.pkgs.join(format!("{name}.tgz")));
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "pkg_create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    make(
        "libfoo-1.0",
        &[
            ("lib/libfoo.so", "libfoo 1.0"),
            ("include/foo.h", "int foo;"),
        ],
        None,
    );
    make("app-1.0", &[("bin/app", "app 1.0")], Some("libfoo>=1.0"));
    make("app-2.0", &[("bin/app", "app 2.0")], Some("libfoo>=1.0"));

    // PKG_PATH=dir pkg_add app-1.0 installs the dependency automatically.
    World::ok_with(
        w.command(&pkg_add).env("PKG_PATH", &w.pkgs).arg("app-1.0"),
        &["pkg_add", "app-1.0"],
    );
    assert!(w.root.join("packages/libfoo-1.0/lib/libfoo.so").is_file());
    assert!(w.root.join("packages/app-1.0/bin/app").is_file());
    let json = w.ok(&["info", "--json", "libfoo-1.0"]);
    assert!(json.contains("\"automatic\": true"), "{json}");

    // app-2.0 goes side by side.
    let out = World::ok_with(
        w.command(&pkg_add).env("PKG_PATH", &w.pkgs).arg("app-2.0"),
        &["pkg_add", "app-2.0"],
    );
    assert!(
        out.contains("depot view switch default app-1.0 app-2.0"),
        "{out}"
    );
    assert!(w.root.join("packages/app-2.0/bin/app").is_file());
    assert_eq!(
        std::fs::read_to_string(w.root.join("bin/app")).unwrap(),
        "app 1.0"
    );

    // pkg_info -L / -R / -e answer as pkg_info does.
    let out = w
        .command(&pkg_info)
        .args(["-L", "app-1.0"])
        .output()
        .unwrap();
    let depot_dir = w.root.join("packages/app-1.0");
    assert_eq!(
        stdout(&out),
        format!(
            "Information for app-1.0:\n\nFiles:\n{}/bin/app\n\n",
            depot_dir.display()
        )
    );
    let out = w
        .command(&pkg_info)
        .args(["-qL", "app-1.0"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), format!("{}/bin/app\n", depot_dir.display()));
    let out = w
        .command(&pkg_info)
        .args(["-R", "libfoo"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        "Information for libfoo-1.0:\n\nRequired by:\napp-1.0\napp-2.0\n\n\n"
    );
    let out = w.command(&pkg_info).args(["-e", "app"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out), "app-1.0\napp-2.0\n");
    let out = w
        .command(&pkg_info)
        .args(["-e", "nonesuch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");

    // pkg_admin check is clean.
    let out = w.command(&pkg_admin).arg("check").output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );

    // pkg_delete of a required package is refused, naming who needs it.
    let out = w.command(&pkg_delete).arg("libfoo-1.0").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("app-1.0") && err.contains("app-2.0"), "{err}");
    assert!(w.root.join("packages/libfoo-1.0").is_dir());

    // Deleting all leaves no depot dirs.
    for p in ["app-2.0", "app-1.0", "libfoo-1.0"] {
        let out = w.command(&pkg_delete).arg(p).output().unwrap();
        assert!(
            out.status.success(),
            "{p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let left: Vec<_> = std::fs::read_dir(w.root.join("packages"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        std::fs::symlink_metadata(w.root.join("bin")).is_err(),
        "the default view's bin link should be gone"
    );
}
