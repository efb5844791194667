//! Every bad input of the foundation issue: a clear error, and the root exactly as it was.

use crate::util::{Raw, World, contents_for, depot_bin, failed, metadata, write_raw};

/// A world with one package installed, so the root has a database and a view.
fn world() -> World {
    let w = World::new();
    let p = w.package("good-1.0", &[("bin/good", "g")], &[]);
    w.ok(&["add", p.to_str().unwrap()]);
    w
}

/// Install `entries` as a package; expect failure mentioning every `needles`, root unchanged.
fn refused(entries: &[Raw], needles: &[&str]) {
    let w = world();
    let file = w.pkgs.join("bad-1.0.tgz");
    write_raw(&file, entries);
    let before = w.snapshot();
    let err = w.fails(&["add", file.to_str().unwrap()]);
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in: {err}");
    }
    assert_eq!(before, w.snapshot(), "the root changed");
    assert!(!err.contains("panicked"), "{err}");
}

fn good_file() -> (&'static str, &'static [u8]) {
    ("bin/bad", b"payload")
}

#[test]
fn corrupt_archive() {
    let w = world();
    let file = w.pkgs.join("corrupt-1.0.tgz");
    std::fs::write(&file, b"\x1f\x8b\x08\x00this is not gzip data at all").unwrap();
    let before = w.snapshot();
    let err = w.fails(&["add", file.to_str().unwrap()]);
    assert!(err.contains("corrupt-1.0.tgz"), "{err}");
    assert_eq!(before, w.snapshot());
}

#[test]
fn truncated_archive() {
    let w = world();
    let p = w.package("trunc-1.0", &[("share/big", &"x".repeat(200_000))], &[]);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let before = w.snapshot();
    let err = w.fails(&["add", p.to_str().unwrap()]);
    assert!(
        err.contains("trunc-1.0") && (err.contains("truncated") || err.contains("corrupt")),
        "{err}"
    );
    assert_eq!(before, w.snapshot());
}

#[test]
fn missing_contents() {
    refused(
        &[
            Raw::File("+COMMENT", b"c\n".to_vec()),
            Raw::File("+DESC", b"d\n".to_vec()),
        ],
        &["must start with +CONTENTS"],
    );
}

#[test]
fn missing_comment_and_desc() {
    let contents = contents_for("bad-1.0", &[good_file()]);
    refused(
        &[
            Raw::File("+CONTENTS", contents.clone().into_bytes()),
            Raw::File("+DESC", b"d\n".to_vec()),
            Raw::File("bin/bad", b"payload".to_vec()),
        ],
        &["+COMMENT is missing"],
    );
    refused(
        &[
            Raw::File("+CONTENTS", contents.into_bytes()),
            Raw::File("+COMMENT", b"c\n".to_vec()),
            Raw::File("bin/bad", b"payload".to_vec()),
        ],
        &["+DESC is missing"],
    );
}

#[test]
fn misordered_metadata() {
    let contents = contents_for("bad-1.0", &[good_file()]);
    refused(
        &[
            Raw::File("+CONTENTS", contents.into_bytes()),
            Raw::File("+DESC", b"d\n".to_vec()),
            Raw::File("+COMMENT", b"c\n".to_vec()),
            Raw::File("bin/bad", b"payload".to_vec()),
        ],
        &["+COMMENT comes after +DESC"],
    );
}

#[test]
fn payload_out_of_order_and_missing_file() {
    let a: (&str, &[u8]) = ("bin/a", b"a");
    let b: (&str, &[u8]) = ("bin/b", b"b");
    let contents = contents_for("bad-1.0", &[a, b]);
    let mut entries = metadata(&contents);
    entries.push(Raw::File("bin/b", b"b".to_vec()));
    entries.push(Raw::File("bin/a", b"a".to_vec()));
    refused(
        &entries,
        &["out of +CONTENTS order", "expected bin/a", "found bin/b"],
    );
    let mut entries = metadata(&contents);
    entries.push(Raw::File("bin/a", b"a".to_vec()));
    refused(&entries, &["ends before bin/b"]);
}

#[test]
fn unlisted_payload_entry() {
    let contents = contents_for("bad-1.0", &[good_file()]);
    let mut entries = metadata(&contents);
    entries.push(Raw::File("bin/bad", b"payload".to_vec()));
    entries.push(Raw::File("bin/extra", b"sneaky".to_vec()));
    refused(&entries, &["bin/extra", "does not list"]);
}

#[test]
fn absolute_path_and_dotdot() {
    for evil in ["/etc/evil", "../evil", "bin/../../evil"] {
        let contents = format!(
            "@name bad-1.0\n@cwd /usr/pkg\n{evil}\n@comment MD5:{}\n@cwd .\n@ignore\n+COMMENT\n@ignore\n+DESC\n",
            crate::util::md5_hex(b"x")
        );
        let mut entries = metadata(&contents);
        let name: &'static str = Box::leak(evil.to_owned().into_boxed_str());
        entries.push(Raw::File(name, b"x".to_vec()));
        refused(&entries, &[evil]);
    }
    // A tar entry named with `..` where the packing list says something harmless.
    let contents = contents_for("bad-1.0", &[good_file()]);
    let mut entries = metadata(&contents);
    entries.push(Raw::File("../bin/bad", b"payload".to_vec()));
    refused(&entries, &["../bin/bad"]);
}

#[test]
fn escaping_symlink_and_hardlink() {
    let contents =
        "@name bad-1.0\n@cwd /usr/pkg\nbin/link\n@cwd .\n@ignore\n+COMMENT\n@ignore\n+DESC\n";
    for target in ["../../../etc/passwd", "/etc/passwd"] {
        let mut entries = metadata(contents);
        let t: &'static str = Box::leak(target.to_owned().into_boxed_str());
        entries.push(Raw::Symlink("bin/link", t));
        refused(&entries, &["bin/link", "escapes the depot dir"]);
    }
    let contents = format!(
        "@name bad-1.0\n@cwd /usr/pkg\nbin/real\n@comment MD5:{}\nbin/link\n@cwd .\n@ignore\n+COMMENT\n@ignore\n+DESC\n",
        crate::util::md5_hex(b"r")
    );
    let mut entries = metadata(&contents);
    entries.push(Raw::File("bin/real", b"r".to_vec()));
    entries.push(Raw::Hardlink("bin/link", "../../etc/passwd"));
    refused(&entries, &["hard link bin/link"]);
}

#[test]
fn device_node() {
    let contents =
        "@name bad-1.0\n@cwd /usr/pkg\ndev/null\n@cwd .\n@ignore\n+COMMENT\n@ignore\n+DESC\n";
    let mut entries = metadata(contents);
    entries.push(Raw::Char("dev/null"));
    refused(&entries, &["dev/null", "device node"]);
}

#[test]
fn md5_and_sha256_mismatch() {
    let contents = contents_for("bad-1.0", &[("bin/bad", b"what the list says")]);
    let mut entries = metadata(&contents);
    entries.push(Raw::File("bin/bad", b"something else".to_vec()));
    refused(&entries, &["MD5 mismatch for bin/bad"]);
    let contents = format!(
        "@name bad-1.0\n@cwd /usr/pkg\nbin/bad\n@comment SHA256:{}\n@cwd .\n@ignore\n+COMMENT\n@ignore\n+DESC\n",
        "0".repeat(64)
    );
    let mut entries = metadata(&contents);
    entries.push(Raw::File("bin/bad", b"payload".to_vec()));
    refused(&entries, &["sha256 mismatch for bin/bad"]);
}

#[test]
fn dependency_nobody_provides() {
    let w = world();
    let p = w.package(
        "needy-1.0",
        &[("bin/needy", "n")],
        &["-P", "unobtainium>=1"],
    );
    let before = w.snapshot();
    let err = w.fails_in(&w.pkgs, &["add", p.to_str().unwrap()]);
    assert!(
        err.contains("needy-1.0 requires unobtainium>=1") && err.contains("PKG_PATH"),
        "{err}"
    );
    assert_eq!(before, w.snapshot());
    // Named without a directory, from beside it: the place searched reads ".".
    let args = ["add", "needy-1.0.tgz"];
    let out = w
        .command(&depot_bin())
        .current_dir(&w.pkgs)
        .args(args)
        .output()
        .unwrap();
    let err = failed(&out, &args);
    assert!(err.contains("not found in .;"), "{err}");
    assert_eq!(before, w.snapshot());
    // A dependency chain where the second link is missing installs nothing at all.
    w.package(
        "first-1.0",
        &[("lib/first", "f")],
        &["-P", "unobtainium>=1"],
    );
    let p = w.package("chain-1.0", &[("bin/chain", "c")], &["-P", "first>=1"]);
    w.fails_in(&w.pkgs, &["add", p.to_str().unwrap()]);
    assert_eq!(before, w.snapshot());
}

#[test]
fn a_path_conflict_in_the_view_is_refused() {
    let w = world();
    let p = w.package("clash-1.0", &[("bin/good", "different content")], &[]);
    let before = w.snapshot();
    let err = w.fails(&["add", p.to_str().unwrap()]);
    assert!(
        err.contains("bin/good") && err.contains("good-1.0") && err.contains("clash-1.0"),
        "{err}"
    );
    assert!(err.contains("depot view priority default"), "{err}");
    assert_eq!(before, w.snapshot());
}

#[test]
fn second_writer_is_refused_while_one_runs() {
    let w = world();
    // Hold the lock with a slow +INSTALL script.
    let gate = w.scratch.join("gate");
    let script = w.scratch.join("slow.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch {0}.started\nwhile [ ! -e {0} ]; do sleep 0.05; done\n",
            gate.display()
        ),
    )
    .unwrap();
    let slow = w.package(
        "slow-1.0",
        &[("bin/slow", "s")],
        &["-i", script.to_str().unwrap()],
    );
    let other = w.package("other-1.0", &[("bin/other", "o")], &[]);
    let mut child = w
        .command(&crate::util::depot_bin())
        .args(["add", slow.to_str().unwrap()])
        .spawn()
        .unwrap();
    let started = w.scratch.join("gate.started");
    for _ in 0..400 {
        if started.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(started.exists(), "the first writer never started");
    let err = w.fails(&["add", other.to_str().unwrap()]);
    assert!(
        err.contains("another depot process") && err.contains("lock"),
        "{err}"
    );
    std::fs::write(&gate, "").unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!w.root.join("packages/other-1.0").exists());
    // Readers were never blocked, and now the second writer goes through.
    w.ok(&["add", other.to_str().unwrap()]);
}

#[test]
fn interrupted_install_is_cleaned_up_by_the_next_run() {
    let w = world();
    let script = w.scratch.join("hang.sh");
    let gate = w.scratch.join("hang.started");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntouch {}\nsleep 60\n", gate.display()),
    )
    .unwrap();
    let p = w.package(
        "hang-1.0",
        &[("bin/hang", "h")],
        &["-i", script.to_str().unwrap()],
    );
    let before = w.snapshot();
    let mut child = w
        .command(&crate::util::depot_bin())
        .args(["add", p.to_str().unwrap()])
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if gate.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let staging: Vec<_> = std::fs::read_dir(w.root.join("packages/.work"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("staging-"))
        .collect();
    assert_eq!(staging.len(), 1, "the killed install left its staging dir");
    // admin check (a reader) reports it; the next writer removes it.
    let out = w.depot(&["admin", "check"]);
    assert!(out.status.success(), "the installed packages are fine");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("staging-hang-1.0") && report.contains("interrupted"),
        "{report}"
    );
    w.ok(&["admin", "rebuild-tree"]);
    assert_eq!(before, w.snapshot());
}

#[test]
fn pax_headers_with_binary_charset_are_read() {
    let w = world();
    let name = "share/long/".to_owned() + &"n".repeat(120);
    let contents = format!(
        "@name paxed-1.0\n@cwd /usr/pkg\n{name}\n@comment MD5:{}\n@cwd .\n@ignore\n+COMMENT\n@ignore\n+DESC\n@ignore\n+BUILD_INFO\n",
        crate::util::md5_hex(b"long")
    );
    let mut entries = vec![Raw::Pax(vec![("hdrcharset", b"BINARY".to_vec())])];
    entries.extend(metadata(&contents));
    entries.push(Raw::Pax(vec![
        ("hdrcharset", b"BINARY".to_vec()),
        ("path", name.clone().into_bytes()),
    ]));
    entries.push(Raw::File("share/long/truncated-in-ustar", b"long".to_vec()));
    let file = w.pkgs.join("paxed-1.0.tgz");
    write_raw(&file, &entries);
    w.ok(&["add", file.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(w.root.join("packages/paxed-1.0").join(&name)).unwrap(),
        "long"
    );
}

#[test]
fn an_error_never_quotes_what_a_foreign_file_holds() {
    let w = world();
    // Something shaped like /etc/shadow, and the same inside a gzip stream.
    let secret = "root:$6$s3cr3th4sh:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n".repeat(20);
    let plain = w.scratch.join("shadow");
    std::fs::write(&plain, &secret).unwrap();
    let zipped = w.scratch.join("shadow.tgz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&zipped).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut gz, secret.as_bytes()).unwrap();
    gz.finish().unwrap();
    let before = w.snapshot();
    for file in [&plain, &zipped] {
        let err = w.fails(&["add", file.to_str().unwrap()]);
        assert!(!err.contains("s3cr3t") && !err.contains("daemon"), "{err}");
        assert!(
            err.contains("not a package") || err.contains("corrupt"),
            "{err}"
        );
        assert!(err.lines().count() <= 2, "{err}");
    }
    assert_eq!(before, w.snapshot());
}

#[test]
fn names_with_escapes_or_thousands_of_characters_are_quoted_short_and_escaped() {
    let w = world();
    let evil = "evil\x1b[31mred\x07-1.0.tgz";
    let err = w.fails(&["add", evil]);
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    assert!(err.contains("evil\\e[31mred\\x07"), "{err}");
    let long = "n".repeat(5000);
    let out = w.depot(&["info", &long]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.len() < 400, "{} bytes: {err}", err.len());
    assert!(err.contains('…'), "{err}");
    let err = w.fails(&["delete", &long]);
    assert!(err.len() < 400 && err.contains('…'), "{err}");
    // A packing list command with escapes is quoted escaped in the warning.
    let contents = contents_for("esc-1.0", &[good_file()]) + "@bogus \x1b]0;owned\x07\n";
    let file = w.pkgs.join("esc-1.0.tgz");
    let mut entries = metadata(&contents);
    entries.push(Raw::File("bin/bad", b"payload".to_vec()));
    write_raw(&file, &entries);
    let out = w.depot(&["add", "-n", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains('\x1b') && err.contains("\\e]0;owned\\x07"),
        "{err:?}"
    );
}

#[test]
fn things_that_are_not_package_files_are_named_for_what_they_are() {
    let w = world();
    let before = w.snapshot();
    let fifo = w.scratch.join("fifo-1.0.tgz");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (arg, what) in [
        ("/dev/zero", "character device"),
        (fifo.to_str().unwrap(), "FIFO"),
        (w.scratch.to_str().unwrap(), "directory"),
    ] {
        let err = w.fails(&["add", arg]);
        assert!(
            err.contains(what) && !err.contains("no such"),
            "{arg}: {err}"
        );
    }
    assert_eq!(before, w.snapshot());
}

#[test]
fn file_urls_name_local_files_only() {
    let w = world();
    let p = w.package("url-1.0", &[("bin/url", "u")], &[]);
    let local = format!("file://localhost{}", p.display());
    assert!(
        w.ok(&["add", "-n", &local])
            .contains("would install url-1.0")
    );
    let plain = format!("file://{}", p.display());
    assert!(
        w.ok(&["add", "-n", &plain])
            .contains("would install url-1.0")
    );
    let escaped = format!("file://{}", p.display()).replace("url-1.0", "url%2D1.0");
    assert!(
        w.ok(&["add", "-n", &escaped])
            .contains("would install url-1.0")
    );
    let err = w.fails(&["add", "-n", &format!("file://elsewhere{}", p.display())]);
    assert!(
        err.contains("file:///path or file://localhost/path"),
        "{err}"
    );
}

#[test]
fn a_pattern_matching_several_packages_is_refused_with_the_list() {
    let w = world();
    w.package("alpha-1.0", &[("bin/alpha", "a")], &[]);
    w.package("alpha-1.1", &[("bin/alpha", "a")], &[]);
    w.package("beta-2.0", &[("bin/beta", "b")], &[]);
    let before = w.snapshot();
    let err = w.fails_in(&w.pkgs, &["add", "-n", "*"]);
    assert!(
        err.contains("matches 3 different packages") && err.contains("alpha beta good"),
        "{err}"
    );
    assert_eq!(before, w.snapshot());
    // Versions of one package are not ambiguous: the best one is taken.
    let out = w.ok_in(&w.pkgs, &["add", "-n", "alpha-[0-9]*"]);
    assert!(out.contains("would install alpha-1.1"), "{out}");
}

#[test]
fn a_duplicate_entry_is_named() {
    let contents = contents_for("bad-1.0", &[good_file(), good_file()]);
    let mut entries = metadata(&contents);
    entries.push(Raw::File("bin/bad", b"payload".to_vec()));
    entries.push(Raw::File("bin/bad", b"payload".to_vec()));
    refused(&entries, &["duplicate entry bin/bad"]);
}

#[test]
fn a_failing_command_on_a_fresh_root_leaves_no_root_behind() {
    let w = World::new();
    for args in [
        &["delete", "foo"][..],
        &["add", "nothing-1.0.tgz"],
        &["view", "remove", "default", "foo"],
        &["admin", "set", "automatic=YES", "foo"],
    ] {
        w.fails(args);
        assert!(!w.root.exists(), "depot {args:?} left {}", w.root.display());
    }
    // A root that exists keeps everything of its own.
    std::fs::create_dir_all(w.root.join("etc")).unwrap();
    w.fails(&["delete", "foo"]);
    assert!(w.root.join("etc").is_dir() && !w.root.join("pkgdb").exists());
    // A command that succeeds keeps its database.
    w.ok(&["view", "create", "kept"]);
    assert!(w.root.join("pkgdb/pkgdb.sqlite3").exists());
}
