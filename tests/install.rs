//! `depot install` / `upgrade` from sites over HTTP (a real server on
//! 127.0.0.1), signed summaries, the download cache and `config show`.

use std::path::PathBuf;
use std::process::Output;

use crate::util::{RepoServer, World, depot_bin};

/// app-1.0 -> mid-[0-9]* -> lib>=1: a three-level closure, in `w.pkgs`.
fn three_levels(w: &World) {
    w.package(
        "app-1.0",
        &[("bin/app", "#!/bin/sh\necho app 1.0\n")],
        &["-P", "mid-[0-9]*"],
    );
    w.package("mid-1.0", &[("share/mid/data", "mid\n")], &["-P", "lib>=1"]);
    w.package("lib-1.0", &[("lib/liblib.so", "lib\n")], &[]);
}

/// A site: `<scratch>/site/All` is `w.pkgs`, indexed, served over HTTP.
fn site(w: &World) -> RepoServer {
    let base = w.scratch.join("site");
    if !base.exists() {
        std::fs::create_dir_all(&base).unwrap();
        std::os::unix::fs::symlink(&w.pkgs, base.join("All")).unwrap();
    }
    index(w);
    RepoServer::start(base)
}

fn index(w: &World) {
    w.ok(&["repo", "index", &w.pkgs.to_string_lossy()]);
}

/// depot with BINPKG_SITES, a short timeout and one retry.
fn depot(w: &World, sites: &str, args: &[&str]) -> Output {
    w.run_env(
        args,
        &[
            ("BINPKG_SITES", sites),
            ("FETCH_TIMEOUT", "5"),
            ("FETCH_RETRIES", "1"),
        ],
    )
}

fn ok(out: &Output) -> String {
    crate::util::succeeded(out, &[])
}

fn fails(out: &Output) -> String {
    crate::util::failed(out, &[])
}

fn run_app(w: &World) -> String {
    let out = std::process::Command::new(w.root.join("bin/app"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Package files downloaded into the cache (any name, partial ones included).
fn cached(w: &World) -> Vec<String> {
    let dir = w.root.join("var/cache/packages");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn downloads(log: &[String]) -> Vec<&String> {
    log.iter().filter(|l| l.contains(".tgz")).collect()
}

#[test]
fn install_brings_the_closure_and_upgrade_keeps_the_old_version_for_rollback() {
    let w = World::new();
    three_levels(&w);
    let server = site(&w);
    let url = server.url.clone();

    // -n (on a second root, so that `w`'s stays fresh): the plan, nothing
    // downloaded or installed.
    let dry = World::new();
    ok(&depot(&dry, &url, &["avail"]));
    let before = dry.installed_state();
    let plan = ok(&depot(&dry, &url, &["install", "-n", "app"]));
    for name in ["lib-1.0", "mid-1.0", "app-1.0", "3 packages to download"] {
        assert!(plan.contains(name), "{plan}");
    }
    assert!(downloads(&server.take_log()).is_empty());
    assert_eq!(dry.installed_state(), before);

    // From a fresh root.
    assert!(!w.root.exists());
    let out = depot(&w, &url, &["install", "app"]);
    let text = ok(&out);
    assert!(text.contains("installed 3 packages"), "{text}");
    // Dependencies first.
    let order = text.find("lib-1.0").unwrap() < text.find("mid-1.0").unwrap()
        && text.find("mid-1.0").unwrap() < text.find("app-1.0").unwrap();
    assert!(order, "{text}");
    assert_eq!(run_app(&w), "app 1.0\n");
    let info: serde_json::Value =
        serde_json::from_str(&w.ok(&["info", "--json", "lib", "mid", "app"])).unwrap();
    let automatic: Vec<(String, bool)> = info
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["pkgname"].as_str().unwrap().to_owned(),
                p["automatic"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        automatic.contains(&("lib-1.0".to_owned(), true)),
        "{automatic:?}"
    );
    assert!(
        automatic.contains(&("mid-1.0".to_owned(), true)),
        "{automatic:?}"
    );
    assert!(
        automatic.contains(&("app-1.0".to_owned(), false)),
        "{automatic:?}"
    );
    assert!(w.root.join("share/mid/data").exists());
    // An HTTP site's files are cached, complete and named as on the site.
    assert_eq!(cached(&w), ["app-1.0.tgz", "lib-1.0.tgz", "mid-1.0.tgz"]);
    let log = server.take_log();
    assert_eq!(downloads(&log).len(), 3, "{log:?}");

    // Again: nothing to do, nothing downloaded, the summary asked with its ETag.
    let again = ok(&depot(&w, &url, &["install", "app"]));
    assert!(again.contains("app-1.0 is installed"), "{again}");
    let log = server.take_log();
    assert_eq!(log, ["/All/pkg_summary.zst 304"]);

    // The site gains app-2.0; upgrade installs it beside 1.0 and switches the view.
    w.package(
        "app-2.0",
        &[("bin/app", "#!/bin/sh\necho app 2.0\n")],
        &["-P", "mid-[0-9]*"],
    );
    index(&w);
    let plan = ok(&depot(&w, &url, &["upgrade", "-n"]));
    assert!(plan.contains("app-1.0 -> 2.0"), "{plan}");
    assert_eq!(run_app(&w), "app 1.0\n");
    let out = ok(&depot(&w, &url, &["upgrade"]));
    assert!(out.contains("app-1.0 -> app-2.0"), "{out}");
    assert_eq!(run_app(&w), "app 2.0\n");
    assert!(w.root.join("packages/app-1.0/bin/app").exists());
    let out = ok(&depot(&w, &url, &["upgrade"]));
    assert!(out.contains("everything is up to date"), "{out}");

    w.ok(&["view", "rollback", "default"]);
    assert_eq!(run_app(&w), "app 1.0\n");
}

#[test]
fn what_cannot_be_met_is_listed_at_once_before_any_download() {
    let w = World::new();
    w.package(
        "app-1.0",
        &[("bin/app", "app\n")],
        &["-P", "mid-[0-9]* gone>=1"],
    );
    w.package("mid-1.0", &[("share/mid", "mid\n")], &["-P", "lib>=2"]);
    w.package("lib-1.0", &[("lib/liblib", "lib\n")], &[]);
    let server = site(&w);
    ok(&depot(&w, &server.url, &["avail"]));
    let before = w.installed_state();
    let err = fails(&depot(&w, &server.url, &["install", "app", "nosuch"]));
    for want in [
        "gone>=1, needed by app-1.0",
        "lib>=2, needed by mid-1.0",
        "nosuch: no site offers",
        "nothing was downloaded",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    assert!(downloads(&server.take_log()).is_empty());
    assert_eq!(w.installed_state(), before);
    assert!(cached(&w).is_empty());
}

#[test]
fn failed_downloads_install_nothing_and_never_poison_the_cache() {
    let w = World::new();
    three_levels(&w);
    let server = site(&w);
    let url = server.url.clone();
    ok(&depot(&w, &url, &["avail"]));
    let before = w.installed_state();
    let no_retry = |args: &[&str], timeout: &str| {
        w.run_env(
            args,
            &[
                ("BINPKG_SITES", &url),
                ("FETCH_TIMEOUT", timeout),
                ("FETCH_RETRIES", "0"),
            ],
        )
    };
    let site_all = format!("{url}/All");
    let check_nothing = |what: &str, err: &str, file: &str| {
        assert!(err.contains(&site_all), "{what}: {err}");
        assert!(err.contains(file), "{what}: {err}");
        assert_eq!(w.installed_state(), before, "{what}");
        assert!(
            !cached(&w).iter().any(|n| n.contains(file)),
            "{what}: {:?}",
            cached(&w)
        );
    };

    // A download cut short.
    server.misbehave("/lib-1.0.tgz", "truncate");
    let err = fails(&no_retry(&["install", "app"], "5"));
    check_nothing("truncated", &err, "lib-1.0.tgz");

    // A server that stalls: the timeout ends it.
    w.ok(&["clean-cache"]);
    server.misbehave("/mid-1.0.tgz", "stall");
    let started = std::time::Instant::now();
    let err = fails(&no_retry(&["install", "app"], "2"));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    check_nothing("stalled", &err, "mid-1.0.tgz");

    // A package replaced on the server after the summary was made.
    w.ok(&["clean-cache"]);
    let lib = w.pkgs.join("lib-1.0.tgz");
    let good = std::fs::read(&lib).unwrap();
    std::fs::copy(w.pkgs.join("mid-1.0.tgz"), &lib).unwrap();
    let err = fails(&no_retry(&["install", "app"], "5"));
    assert!(err.contains("the summary says"), "{err}");
    check_nothing("swapped", &err, "lib-1.0.tgz");
    std::fs::write(&lib, &good).unwrap();

    // A summary that lists a file the site does not have.
    w.ok(&["clean-cache"]);
    let mid = w.pkgs.join("mid-1.0.tgz");
    let mid_bytes = std::fs::read(&mid).unwrap();
    std::fs::remove_file(&mid).unwrap();
    let err = fails(&no_retry(&["install", "app"], "5"));
    assert!(err.contains("404") && err.contains("out of date"), "{err}");
    check_nothing("missing", &err, "mid-1.0.tgz");
    std::fs::write(&mid, &mid_bytes).unwrap();

    // A corrupt summary.
    let summaries: Vec<(PathBuf, Vec<u8>)> = ["pkg_summary.gz", "pkg_summary.zst"]
        .iter()
        .map(|n| {
            let p = w.pkgs.join(n);
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    std::fs::write(&summaries[1].0, b"\x28\xb5\x2f\xfd garbage").unwrap();
    let err = fails(&no_retry(&["install", "app"], "5"));
    assert!(
        err.contains("pkg_summary.zst") && err.contains("not a usable summary"),
        "{err}"
    );
    assert_eq!(w.installed_state(), before);
    for (p, bytes) in &summaries {
        std::fs::write(p, bytes).unwrap();
    }

    // Nobody listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = fails(&w.run_env(
        &["install", "app"],
        &[("BINPKG_SITES", &closed), ("FETCH_RETRIES", "0")],
    ));
    assert!(err.contains(&closed), "{err}");
    assert_eq!(w.installed_state(), before);

    // Answers 500 once, then the file: retried, and it all installs.
    w.ok(&["clean-cache"]);
    server.take_log();
    server.misbehave("/app-1.0.tgz", "500");
    ok(&depot(&w, &url, &["install", "app"]));
    let log = server.take_log();
    assert!(
        log.contains(&"/All/app-1.0.tgz 500 500".to_owned()),
        "{log:?}"
    );
    assert!(log.contains(&"/All/app-1.0.tgz 200".to_owned()), "{log:?}");
    assert_eq!(run_app(&w), "app 1.0\n");
    assert_eq!(cached(&w), ["app-1.0.tgz", "lib-1.0.tgz", "mid-1.0.tgz"]);
}

#[test]
fn a_cached_package_is_checked_before_it_is_used() {
    let w = World::new();
    three_levels(&w);
    let server = site(&w);
    ok(&depot(&w, &server.url, &["install", "--no-view", "lib"]));
    assert_eq!(cached(&w), ["lib-1.0.tgz"]);
    // Damage the cached copy; the next install downloads it again.
    w.ok(&["delete", "lib"]);
    std::fs::write(w.root.join("var/cache/packages/lib-1.0.tgz"), b"damaged").unwrap();
    server.take_log();
    ok(&depot(&w, &server.url, &["install", "lib"]));
    assert!(
        server
            .take_log()
            .contains(&"/All/lib-1.0.tgz 200".to_owned())
    );
    assert!(w.root.join("lib/liblib.so").exists());
    // An intact cached copy is used without asking the site.
    w.ok(&["delete", "lib"]);
    ok(&depot(&w, &server.url, &["install", "lib"]));
    assert!(downloads(&server.take_log()).is_empty());

    let out = ok(&depot(&w, &server.url, &["clean-cache"]));
    assert!(out.contains("removed 1 file"), "{out}");
    assert!(cached(&w).is_empty());
}

/// `depot.toml` trusting `key` for the site at `url`.
fn trust(w: &World, url: &str, key: &str) {
    std::fs::create_dir_all(w.root.join("etc")).unwrap();
    std::fs::write(
        w.root.join("etc/depot.toml"),
        format!("binpkg_sites = [\"{url}\"]\n\n[sites.\"{url}\"]\nkeys = [\"{key}\"]\n"),
    )
    .unwrap();
}

fn public_key(w: &World, prefix: &str) -> String {
    let out = w.ok(&["repo", "keygen", &w.scratch.join(prefix).to_string_lossy()]);
    assert!(out.contains(".pub"), "{out}");
    let text = std::fs::read_to_string(w.scratch.join(format!("{prefix}.pub"))).unwrap();
    text.lines().nth(1).unwrap().to_owned()
}

/// depot with the sites of the config file only.
fn configured(w: &World, args: &[&str]) -> Output {
    w.run_env(args, &[("FETCH_TIMEOUT", "5"), ("FETCH_RETRIES", "0")])
}

#[test]
fn a_site_with_keys_needs_a_good_signature() {
    let w = World::new();
    three_levels(&w);
    let server = site(&w);
    let url = server.url.clone();
    let key = public_key(&w, "site");
    let other = public_key(&w, "other");
    let secret = w.scratch.join("site.sec").to_string_lossy().into_owned();
    let signed = w.ok(&[
        "repo",
        "index",
        "--sign",
        &secret,
        &w.pkgs.to_string_lossy(),
    ]);
    assert!(signed.contains("signed"), "{signed}");
    assert!(w.pkgs.join("pkg_summary.minisig").exists());
    ok(&depot(&w, &url, &["avail"]));
    let before = w.installed_state();

    // Signed by a key the config does not trust.
    trust(&w, &url, &other);
    let err = fails(&configured(&w, &["install", "app"]));
    assert!(err.contains(&url) && err.contains("not trusted"), "{err}");
    assert_eq!(w.installed_state(), before);

    // Changed after it was signed: the old signature beside a new summary.
    trust(&w, &url, &key);
    let signature = std::fs::read(w.pkgs.join("pkg_summary.minisig")).unwrap();
    w.package("extra-1.0", &[("share/extra", "x\n")], &[]);
    index(&w);
    assert!(
        !w.pkgs.join("pkg_summary.minisig").exists(),
        "an unsigned index drops the old signature"
    );
    let err = fails(&configured(&w, &["install", "app"]));
    assert!(err.contains(&url) && err.contains("not signed"), "{err}");
    std::fs::write(w.pkgs.join("pkg_summary.minisig"), &signature).unwrap();
    let err = fails(&configured(&w, &["install", "app"]));
    assert!(
        err.contains(&url) && err.contains("does not verify"),
        "{err}"
    );
    assert_eq!(w.installed_state(), before);

    // Signed again with the trusted key: it installs, with no warning about keys.
    w.ok(&[
        "repo",
        "index",
        "--sign",
        &secret,
        &w.pkgs.to_string_lossy(),
    ]);
    // A package swapped after signing is still caught by its checksum.
    let lib = w.pkgs.join("lib-1.0.tgz");
    let good = std::fs::read(&lib).unwrap();
    std::fs::copy(w.pkgs.join("extra-1.0.tgz"), &lib).unwrap();
    let err = fails(&configured(&w, &["install", "app"]));
    assert!(
        err.contains("lib-1.0.tgz") && err.contains("the summary says"),
        "{err}"
    );
    assert_eq!(w.installed_state(), before);
    std::fs::write(&lib, good).unwrap();
    let out = configured(&w, &["install", "app"]);
    ok(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("no trusted keys"));
    assert_eq!(run_app(&w), "app 1.0\n");
}

#[test]
fn config_show_says_where_each_setting_came_from() {
    let w = World::new();
    std::fs::create_dir_all(w.root.join("etc")).unwrap();
    std::fs::write(
        w.root.join("etc/depot.toml"),
        "binpkg_sites = \"http://a.example/${arch} http://b.example\"\npkg_path = [\"/srv/pkgs\"]\n\n[download]\njobs = 8\ntimeout = 60\n\n[views]\nkeep = 3\n\n[build]\npackages = \"/srv/packages\"\nmake_jobs = 3\n",
    )
    .unwrap();
    let show = |env: &[(&str, &str)]| -> serde_json::Value {
        serde_json::from_str(&ok(&w.run_env(&["config", "show", "--json"], env))).unwrap()
    };
    let get = |v: &serde_json::Value, key: &str| -> (String, String) {
        let o = v
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["key"] == key)
            .unwrap();
        (
            o["value"].as_str().unwrap().to_owned(),
            o["from"].as_str().unwrap().to_owned(),
        )
    };
    let v = show(&[]);
    let file = format!("config {}", w.root.join("etc/depot.toml").display());
    assert_eq!(get(&v, "download.jobs"), ("8".to_owned(), file.clone()));
    assert_eq!(get(&v, "views.keep"), ("3".to_owned(), file.clone()));
    assert_eq!(get(&v, "download.retries").1, "default");
    assert_eq!(
        get(&v, "binpkg_sites"),
        (
            "http://a.example/${arch} http://b.example".to_owned(),
            file.clone()
        )
    );
    assert_eq!(get(&v, "pkg_path"), ("/srv/pkgs".to_owned(), file.clone()));
    assert_eq!(
        get(&v, "build.packages"),
        ("/srv/packages".to_owned(), file.clone())
    );
    assert_eq!(get(&v, "build.make_jobs"), ("3".to_owned(), file));
    // The environment overrides the file.
    let v = show(&[
        ("DEPOT_DOWNLOAD_JOBS", "2"),
        ("BINPKG_SITES", "http://c.example"),
    ]);
    assert_eq!(
        get(&v, "download.jobs"),
        ("2".to_owned(), "environment DEPOT_DOWNLOAD_JOBS".to_owned())
    );
    assert_eq!(get(&v, "binpkg_sites").0, "http://c.example");
    let v = show(&[("MAKE_JOBS", "5")]);
    assert_eq!(
        get(&v, "build.make_jobs"),
        ("5".to_owned(), "environment MAKE_JOBS".to_owned())
    );
    let text = w.ok(&["config", "show"]);
    assert!(
        text.contains("download.jobs") && text.contains("# config"),
        "{text}"
    );

    // A bad file, a bad value and a missing --config are errors that name them.
    std::fs::write(
        w.root.join("etc/depot.toml"),
        "[download]\njobs = \"many\"\n",
    )
    .unwrap();
    let err = w.fails(&["config", "show"]);
    assert!(err.contains("depot.toml"), "{err}");
    std::fs::write(
        w.root.join("etc/depot.toml"),
        "[sites.\"http://x\"]\nkeys = [\"not a key\"]\n",
    )
    .unwrap();
    let err = w.fails(&["config", "show"]);
    assert!(
        err.contains("depot.toml") && err.contains("minisign public key"),
        "{err}"
    );
    let missing = w.scratch.join("nope.toml");
    let err = w.fails(&["--config", &missing.to_string_lossy(), "config", "show"]);
    assert!(err.contains("nope.toml"), "{err}");
}

#[test]
fn search_and_show_read_the_imported_summaries() {
    let w = World::new();
    three_levels(&w);
    let server = site(&w);
    let out = ok(&depot(&w, &server.url, &["search", "MID"]));
    assert!(out.contains("mid-1.0") && !out.contains("app-1.0"), "{out}");
    let none = depot(&w, &server.url, &["search", "zzz"]);
    assert!(!none.status.success());
    let json: serde_json::Value =
        serde_json::from_str(&ok(&depot(&w, &server.url, &["show", "--json", "app"]))).unwrap();
    let app = &json[0];
    assert_eq!(app["pkgname"], "app-1.0");
    assert_eq!(app["depends"][0], "mid-[0-9]*");
    assert_eq!(app["site"], format!("{}/All", server.url));
    assert_eq!(app["sha256"].as_str().unwrap().len(), 64);
    let text = ok(&depot(&w, &server.url, &["show", "lib>=1"]));
    assert!(
        text.contains("PKGNAME=lib-1.0") && text.contains("FILE_CKSUM=sha256 "),
        "{text}"
    );
    let err = fails(&depot(&w, &server.url, &["show", "nosuch"]));
    assert!(err.contains("nosuch"), "{err}");
}

#[test]
fn add_takes_a_url_and_pkg_path_takes_http_sites() {
    let w = World::new();
    three_levels(&w);
    let server = site(&w);
    let all = format!("{}/All", server.url);
    // A URL: the package, its dependencies found on the same site.
    w.ok(&["add", &format!("{all}/app-1.0.tgz")]);
    assert_eq!(run_app(&w), "app 1.0\n");
    assert!(w.root.join("lib/liblib.so").exists());
    w.ok(&["delete", "-r", "lib"]);
    assert!(!w.root.join("bin/app").exists());

    // PKG_PATH with an HTTP entry works as a directory does, for names and deps.
    let pkg_path = format!("{};{all}", w.scratch.join("empty").display());
    ok(&w.run_env(&["add", "app"], &[("PKG_PATH", &pkg_path)]));
    assert_eq!(run_app(&w), "app 1.0\n");

    // A file the site's summary does not list, and a file that is not a package name.
    let err = w.fails(&["add", &format!("{all}/nosuch-1.0.tgz")]);
    assert!(err.contains("does not list nosuch-1.0.tgz"), "{err}");
    let err = w.fails(&["add", &format!("{all}/README")]);
    assert!(err.contains("not a package file name"), "{err}");
    let err = w.fails(&["add", "ftp://example.org/x-1.0.tgz"]);
    assert!(err.contains("http(s)://"), "{err}");
}

/// A signed package as pkg_install's `pkg_admin gpg-sign-package` makes one:
/// an ar archive of +PKG_HASH, its detached signature and the package.
fn sign_package(
    w: &World,
    gnupg: &std::path::Path,
    package: &std::path::Path,
    out: &std::path::Path,
) {
    use sha2::Digest as _;
    let bytes = std::fs::read(package).unwrap();
    let name = package.file_name().unwrap().to_string_lossy().into_owned();
    let pkgname = name.trim_end_matches(".tgz");
    let mut hash = format!(
        "pkgsrc signature\n\nversion: 1\npkgname: {pkgname}\nalgorithm: SHA512\nblock size: 65536\nfile size: {}\n\n",
        bytes.len()
    );
    for block in bytes.chunks(65536) {
        hash.push_str(&hex::encode(sha2::Sha512::digest(block)));
        hash.push('\n');
    }
    hash.push_str("end pkgsrc signature\n");
    let dir = w.scratch.join(format!("sign-{pkgname}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("+PKG_HASH"), hash).unwrap();
    std::fs::copy(package, dir.join(&name)).unwrap();
    let status = std::process::Command::new("gpg")
        .env("GNUPGHOME", gnupg)
        .args([
            "--batch",
            "--yes",
            "--detach-sign",
            "-o",
            "+PKG_GPG_SIGNATURE",
            "+PKG_HASH",
        ])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_file(out);
    let status = std::process::Command::new("ar")
        .arg("rc")
        .arg(out)
        .args(["+PKG_HASH", "+PKG_GPG_SIGNATURE", &name])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A GnuPG home with a new signing key, and a keyring of its public key.
fn gpg_key(w: &World, name: &str) -> (PathBuf, PathBuf) {
    let home = w.scratch.join(format!("gnupg-{name}"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let status = std::process::Command::new("gpg")
        .env("GNUPGHOME", &home)
        .args(["--batch", "--passphrase", "", "--quick-gen-key"])
        .arg(format!("depot test {name} <{name}@example.org>"))
        .args(["ed25519", "sign", "never"])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let keyring = w.scratch.join(format!("{name}.gpg"));
    let out = std::process::Command::new("gpg")
        .env("GNUPGHOME", &home)
        .args(["--batch", "--export"])
        .output()
        .unwrap();
    std::fs::write(&keyring, out.stdout).unwrap();
    (home, keyring)
}

#[test]
fn signed_packages_are_checked_and_required_with_verified_installation_always() {
    for tool in ["gpg", "gpgv", "ar"] {
        let found = std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok();
        if !found {
            crate::util::skip(&format!("{tool} is not installed"));
            return;
        }
    }
    let w = World::new();
    let plain = w.package("app-1.0", &[("bin/app", "#!/bin/sh\necho app 1.0\n")], &[]);
    let (home, keyring) = gpg_key(&w, "signer");
    let (_, stranger) = gpg_key(&w, "stranger");
    let signed_dir = w.scratch.join("signed");
    std::fs::create_dir_all(&signed_dir).unwrap();
    let signed = signed_dir.join("app-1.0.tgz");
    sign_package(&w, &home, &plain, &signed);
    let add = |file: &std::path::Path, keyring: &std::path::Path, verified: &str| {
        w.command(&depot_bin())
            .env("GPG_KEYRING_VERIFY", keyring)
            .env("VERIFIED_INSTALLATION", verified)
            .arg("add")
            .arg(file)
            .output()
            .unwrap()
    };
    w.ok(&["view", "list"]);
    let before = w.installed_state();
    // Unsigned, with `always`: refused.
    let err = fails(&add(&plain, &keyring, "always"));
    assert!(
        err.contains("not signed") && err.contains("VERIFIED_INSTALLATION"),
        "{err}"
    );
    assert_eq!(w.installed_state(), before);
    // Signed by a key the keyring does not hold: refused.
    let err = fails(&add(&signed, &stranger, "always"));
    assert!(err.contains("does not verify"), "{err}");
    assert_eq!(w.installed_state(), before);
    // The package inside changed after signing: refused whatever the setting.
    let other = w.package("app-1.0", &[("bin/app", "#!/bin/sh\necho evil\n")], &[]);
    let tampered = signed_dir.join("tampered").join("app-1.0.tgz");
    std::fs::create_dir_all(tampered.parent().unwrap()).unwrap();
    let dir = w.scratch.join("sign-app-1.0");
    std::fs::copy(&other, dir.join("app-1.0.tgz")).unwrap();
    let status = std::process::Command::new("ar")
        .arg("rc")
        .arg(&tampered)
        .args(["+PKG_HASH", "+PKG_GPG_SIGNATURE", "app-1.0.tgz"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let err = fails(&add(&tampered, &keyring, "never"));
    assert!(err.contains("+PKG_HASH"), "{err}");
    assert_eq!(w.installed_state(), before);
    // Signed by the trusted key: installed, and it runs.
    ok(&add(&signed, &keyring, "always"));
    assert_eq!(run_app(&w), "app 1.0\n");
}

/// A repository made by `depot repo index` over a directory (a bulk build's
/// PACKAGES/All) is a site through file:// too, checked the same way.
#[test]
fn a_file_url_site_installs_and_checks_its_files_in_place() {
    let w = World::new();
    three_levels(&w);
    index(&w);
    let site = format!("file://{}", w.scratch.join("site").display());
    std::fs::create_dir_all(w.scratch.join("site")).unwrap();
    std::os::unix::fs::symlink(&w.pkgs, w.scratch.join("site/All")).unwrap();
    ok(&depot(&w, &site, &["install", "app"]));
    assert_eq!(run_app(&w), "app 1.0\n");
    assert!(cached(&w).is_empty(), "local files are used where they are");
    // A file that no longer matches its summary is refused.
    w.ok(&["delete", "-r", "lib"]);
    std::fs::copy(w.pkgs.join("mid-1.0.tgz"), w.pkgs.join("lib-1.0.tgz")).unwrap();
    let err = fails(&depot(&w, &site, &["install", "app"]));
    assert!(
        err.contains("lib-1.0.tgz") && err.contains("the summary says"),
        "{err}"
    );
}

/// A reader that stops early (`depot config show | head -1`) ends the run
/// quietly: status 0, no panic message.
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let w = World::new();
    let mut child = w
        .command(&depot_bin())
        .args(["config", "show"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
