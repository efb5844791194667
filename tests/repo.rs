//! Binary repositories: `depot repo index`.

use std::io::Read as _;
use std::path::Path;

use sha2::Digest as _;

use crate::util::World;

fn gz_text(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn zst_text(path: &Path) -> String {
    String::from_utf8(zstd::decode_all(std::fs::File::open(path).unwrap()).unwrap()).unwrap()
}

/// The records of a summary, each as its `KEY=value` lines.
fn records(text: &str) -> Vec<Vec<String>> {
    assert!(text.ends_with("\n\n") || text.is_empty(), "{text:?}");
    text.split("\n\n")
        .filter(|r| !r.is_empty())
        .map(|r| r.lines().map(str::to_owned).collect())
        .collect()
}

fn field<'a>(record: &'a [String], key: &str) -> Option<&'a str> {
    record
        .iter()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

#[test]
fn index_writes_both_summaries_with_checksums_and_reads_only_what_changed() {
    let w = World::new();
    w.package(
        "app-1.0",
        &[("bin/app", "#!/bin/sh\necho app\n")],
        &["-P", "lib-[0-9]*"],
    );
    w.package("lib-1.0", &[("lib/liblib.so", "lib\n")], &[]);
    w.package("tool-2.1", &[("bin/tool", "tool\n")], &[]);
    std::fs::write(w.pkgs.join("README"), "not a package\n").unwrap();
    let dir = w.pkgs.to_string_lossy().into_owned();
    let out = w.ok(&["repo", "index", &dir]);
    assert!(
        out.contains("3 packages") && out.contains("3 read"),
        "{out}"
    );

    let gz = gz_text(&w.pkgs.join("pkg_summary.gz"));
    assert_eq!(gz, zst_text(&w.pkgs.join("pkg_summary.zst")));
    let recs = records(&gz);
    assert_eq!(recs.len(), 3);
    for r in &recs {
        let name = field(r, "FILE_NAME").unwrap();
        let bytes = std::fs::read(w.pkgs.join(name)).unwrap();
        assert_eq!(field(r, "FILE_SIZE").unwrap(), bytes.len().to_string());
        let want = format!("sha256 {}", hex::encode(sha2::Sha256::digest(&bytes)));
        assert_eq!(field(r, "FILE_CKSUM").unwrap(), want);
        assert_eq!(r[0], format!("PKGNAME={}", name.trim_end_matches(".tgz")));
        assert_eq!(field(r, "COMMENT"), Some("test package"));
        assert_eq!(field(r, "DESCRIPTION"), Some("a test package for depot"));
    }
    let app = recs.iter().find(|r| r[0] == "PKGNAME=app-1.0").unwrap();
    assert_eq!(field(app, "DEPENDS"), Some("lib-[0-9]*"));
    // The record is `depot info -X` of the file plus FILE_CKSUM.
    let info = w.ok(&["info", "-X", &w.pkgs.join("app-1.0.tgz").to_string_lossy()]);
    let without_cksum: Vec<String> = app
        .iter()
        .filter(|l| !l.starts_with("FILE_CKSUM="))
        .cloned()
        .collect();
    assert_eq!(records(&info), vec![without_cksum]);

    // Nothing changed: nothing read, same summary.
    let out = w.ok(&["repo", "index", &dir]);
    assert!(
        out.contains("3 packages") && out.contains("0 read"),
        "{out}"
    );
    assert_eq!(gz_text(&w.pkgs.join("pkg_summary.gz")), gz);

    // One replaced, one gone, one new: those are read, the gone one dropped.
    std::fs::remove_file(w.pkgs.join("tool-2.1.tgz")).unwrap();
    w.package("lib-1.0", &[("lib/liblib.so", "lib, rebuilt\n")], &[]);
    w.package("extra-0.1", &[("share/extra", "x\n")], &[]);
    let out = w.ok(&["repo", "index", &dir]);
    assert!(
        out.contains("3 packages") && out.contains("2 read") && out.contains("1 gone"),
        "{out}"
    );
    let recs = records(&zst_text(&w.pkgs.join("pkg_summary.zst")));
    let names: Vec<&str> = recs.iter().map(|r| field(r, "PKGNAME").unwrap()).collect();
    assert_eq!(names, ["app-1.0", "extra-0.1", "lib-1.0"]);
    let lib = recs.iter().find(|r| r[0] == "PKGNAME=lib-1.0").unwrap();
    let bytes = std::fs::read(w.pkgs.join("lib-1.0.tgz")).unwrap();
    assert_eq!(
        field(lib, "FILE_CKSUM").unwrap(),
        format!("sha256 {}", hex::encode(sha2::Sha256::digest(&bytes)))
    );
    // No temporary files are left beside the summaries.
    for e in std::fs::read_dir(&w.pkgs).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp-"), "{name}");
    }
}

#[test]
fn a_bad_package_file_is_named_and_the_old_summary_stays() {
    let w = World::new();
    w.package("good-1.0", &[("bin/good", "good\n")], &[]);
    let dir = w.pkgs.to_string_lossy().into_owned();
    w.ok(&["repo", "index", &dir]);
    let before = std::fs::read(w.pkgs.join("pkg_summary.gz")).unwrap();
    std::fs::write(w.pkgs.join("broken-1.0.tgz"), b"this is not a package").unwrap();
    let err = w.fails(&["repo", "index", &dir]);
    assert!(err.contains("broken-1.0.tgz"), "{err}");
    assert_eq!(
        std::fs::read(w.pkgs.join("pkg_summary.gz")).unwrap(),
        before
    );

    let missing = w.scratch.join("no-such-dir").to_string_lossy().into_owned();
    let err = w.fails(&["repo", "index", &missing]);
    assert!(err.contains("no-such-dir") && err.contains("All/"), "{err}");
}

/// Two packages in `w.pkgs`, indexed.
fn indexed_repo(w: &World) {
    w.package("app-1.0", &[("bin/app", "app\n")], &["-P", "lib-[0-9]*"]);
    w.package("lib-1.0", &[("lib/liblib.so", "lib\n")], &[]);
    w.ok(&["repo", "index", &w.pkgs.to_string_lossy()]);
}

/// A repository served over HTTP, indexed, with the server that serves it.
fn served_repo(w: &World) -> crate::util::RepoServer {
    indexed_repo(w);
    crate::util::RepoServer::start(w.pkgs.clone())
}

fn avail(w: &World, sites: &str, args: &[&str]) -> std::process::Output {
    w.command(&crate::util::depot_bin())
        .env("BINPKG_SITES", sites)
        .env("FETCH_TIMEOUT", "5")
        .arg("avail")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn avail_lists_an_http_site_and_asks_again_with_the_etag() {
    let w = World::new();
    // BINPKG_SITES names the base; packages and summary are under All/.
    let base = w.scratch.join("site");
    std::fs::create_dir_all(&base).unwrap();
    indexed_repo(&w);
    std::os::unix::fs::symlink(&w.pkgs, base.join("All")).unwrap();
    let server_base = crate::util::RepoServer::start(base.clone());
    let out = avail(&w, &server_base.url, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("app-1.0") && text.contains("lib-1.0"),
        "{text}"
    );
    assert!(text.contains("test package"), "{text}");
    assert_eq!(server_base.take_log(), ["/All/pkg_summary.zst 200"]);
    // The second time the cached copy is still good: 304, same answer.
    let again = avail(&w, &server_base.url, &["--json"]);
    assert!(again.status.success());
    assert_eq!(server_base.take_log(), ["/All/pkg_summary.zst 304"]);
    let json: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pkgname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app-1.0", "lib-1.0"]);
    assert!(w.root.join("var/cache/summaries").is_dir());
}

#[test]
fn a_server_error_is_retried_and_failures_name_the_site() {
    let w = World::new();
    let server = served_repo(&w);
    let site = format!("{}/", server.url.trim_end_matches('/'));
    // A PKG_PATH entry is the directory of packages itself (no All/).
    let pkg_path = |w: &World, path: &str| {
        w.command(&crate::util::depot_bin())
            .env("PKG_PATH", path)
            .env("FETCH_TIMEOUT", "5")
            .env("FETCH_RETRIES", "2")
            .arg("avail")
            .output()
            .unwrap()
    };
    // 500 once, then the summary.
    server.fail_next(1);
    let out = pkg_path(&w, &site);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        server.take_log(),
        ["/pkg_summary.zst 500", "/pkg_summary.zst 200"]
    );
    // 500 every time: the error names the URL and the tries.
    server.fail_next(10);
    let out = pkg_path(&w, &site);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pkg_summary.zst") && err.contains("500"),
        "{err}"
    );
    server.fail_next(0);
    server.take_log();

    // A site without a summary.
    let empty = w.scratch.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let bare = crate::util::RepoServer::start(empty.clone());
    let out = pkg_path(&w, &bare.url);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no pkg_summary"),
        "{err}"
    );
    assert_eq!(bare.take_log().len(), 4, "each format is tried once");

    // A corrupt summary is refused and not cached; once fixed, it is used.
    std::fs::write(empty.join("pkg_summary.gz"), b"not gzip at all").unwrap();
    let out = pkg_path(&w, &bare.url);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("pkg_summary.gz")
            && err.contains("not a usable summary"),
        "{err}"
    );
    let cached: Vec<_> = walkdir::WalkDir::new(w.root.join("var/cache/summaries"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("pkg_summary.gz")
        })
        .collect();
    assert!(cached.is_empty(), "a corrupt summary was cached");
    std::fs::copy(w.pkgs.join("pkg_summary.gz"), empty.join("pkg_summary.gz")).unwrap();
    let out = pkg_path(&w, &bare.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Nobody listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = pkg_path(&w, &closed);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(&closed), "{err}");
}

/// A fetch that fails leaves a fresh root as it was: the cache is made only
/// when a summary is stored.
#[test]
fn a_failed_fetch_makes_nothing_in_the_root() {
    let w = World::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let before = w.snapshot();
    let out = w
        .command(&crate::util::depot_bin())
        .env("BINPKG_SITES", &closed)
        .env("FETCH_RETRIES", "0")
        .arg("avail")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("BINPKG_SITES"),
        "{err}"
    );
    assert_eq!(w.snapshot(), before);
}
