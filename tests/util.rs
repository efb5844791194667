//! Test helpers: a fresh root per test, the real binary, package fixtures built at
//! test time, hand-made (also malicious) archives, and root snapshots.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use md5::Digest as _;

/// The depot binary under test.
pub fn depot_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_depot"))
}

/// Require that a run of depot `args` succeeded; its stdout.
pub fn succeeded(out: &Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "depot {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Require that a run of depot `args` failed; its stderr.
pub fn failed(out: &Output, args: &[&str]) -> String {
    assert!(
        !out.status.success(),
        "depot {args:?} unexpectedly succeeded:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A temporary world: a root, a directory of packages, a scratch directory.
pub struct World {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub pkgs: PathBuf,
    pub scratch: PathBuf,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let pkgs = dir.path().join("pkgs");
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&pkgs).unwrap();
        std::fs::create_dir_all(&scratch).unwrap();
        World {
            dir,
            root,
            pkgs,
            scratch,
        }
    }

    /// A command running depot (or a multi-call name) on this world's root.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env("DEPOT_ROOT", &self.root)
            .env_remove("PKG_PATH")
            .env_remove("PKG_DBDIR")
            .env_remove("DEPOT_FAULT_AFTER")
            .env_remove("BINPKG_SITES")
            .env_remove("FETCH_TIMEOUT")
            .env_remove("FETCH_RETRIES")
            .env_remove("DEPOT_DOWNLOAD_JOBS")
            .env_remove("DEPOT_CONFIG")
            .env_remove("VERIFIED_INSTALLATION")
            .current_dir(&self.scratch);
        c
    }

    pub fn depot(&self, args: &[&str]) -> Output {
        self.command(&depot_bin())
            .args(args)
            .output()
            .expect("run depot")
    }

    /// Run depot and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        Self::ok_with(self.command(&depot_bin()).args(args), args)
    }

    /// Run depot and require success; returns stderr (warnings, notes).
    pub fn ok_stderr(&self, args: &[&str]) -> String {
        let out = self.depot(args);
        assert!(
            out.status.success(),
            "depot {args:?} failed ({}):\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Like [`World::ok`] with `PKG_PATH` set.
    pub fn ok_in(&self, pkg_path: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
        Self::ok_with(
            self.command(&depot_bin())
                .env("PKG_PATH", pkg_path)
                .args(args),
            args,
        )
    }

    /// Like [`World::fails`] with `PKG_PATH` set.
    pub fn fails_in(&self, pkg_path: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
        Self::fails_with(
            self.command(&depot_bin())
                .env("PKG_PATH", pkg_path)
                .args(args),
            args,
        )
    }

    /// Run a prepared command (another program, or depot with extra settings) and
    /// require success; `args` name it in the failure message. Returns stdout.
    pub fn ok_with(command: &mut Command, args: &[&str]) -> String {
        succeeded(&command.output().expect("run depot"), args)
    }

    /// Run depot with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.command(&depot_bin());
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run depot")
    }

    /// Run depot and require failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        Self::fails_with(self.command(&depot_bin()).args(args), args)
    }

    fn fails_with(command: &mut Command, args: &[&str]) -> String {
        failed(&command.output().expect("run depot"), args)
    }

    /// Make `name-version.tgz` in the packages dir from `files` with `depot create --from-dir`.
    pub fn package(&self, pkgname: &str, files: &[(&str, &str)], extra: &[&str]) -> PathBuf {
        let stage = self.scratch.join(format!("stage-{pkgname}"));
        let _ = std::fs::remove_dir_all(&stage);
        std::fs::create_dir_all(&stage).unwrap();
        for (path, content) in files {
            let at = stage.join(path);
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            if let Some(target) = content.strip_prefix("->") {
                std::os::unix::fs::symlink(target, &at).unwrap();
            } else {
                std::fs::write(&at, content).unwrap();
                if path.starts_with("bin/") {
                    std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755)).unwrap();
                }
            }
        }
        let out = self.pkgs.join(format!("{pkgname}.tgz"));
        let stage_s = stage.to_string_lossy().into_owned();
        let out_s = out.to_string_lossy().into_owned();
        let mut args = vec![
            "create",
            "--from-dir",
            &stage_s,
            "-c",
            "-test package",
            "-d",
            "-a test package for depot",
        ];
        args.extend_from_slice(extra);
        args.push(&out_s);
        self.ok(&args);
        out
    }

    /// Everything under the root except the database directory, plus a dump of the database.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        if self.root.exists() {
            for e in walkdir::WalkDir::new(&self.root).sort_by_file_name() {
                let e = e.unwrap();
                let rel = e
                    .path()
                    .strip_prefix(&self.root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if rel == "pkgdb" || rel.starts_with("pkgdb/") {
                    continue;
                }
                let meta = std::fs::symlink_metadata(e.path()).unwrap();
                let desc = if meta.file_type().is_symlink() {
                    format!("link {}", std::fs::read_link(e.path()).unwrap().display())
                } else if meta.is_dir() {
                    format!("dir {:o}", meta.mode() & 0o7777)
                } else {
                    format!(
                        "file {:o} {}",
                        meta.mode() & 0o7777,
                        hex::encode(sha2::Sha256::digest(std::fs::read(e.path()).unwrap()))
                    )
                };
                map.insert(rel, desc);
            }
        }
        let db = self.root.join("pkgdb/pkgdb.sqlite3");
        if db.exists() {
            let conn = rusqlite::Connection::open(&db).unwrap();
            let tables: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for t in tables {
                let mut stmt = conn.prepare(&format!("SELECT * FROM {t}")).unwrap();
                let n = stmt.column_count();
                let mut rows: Vec<String> = stmt
                    .query_map([], |r| {
                        let mut s = Vec::new();
                        for i in 0..n {
                            let v: rusqlite::types::Value = r.get(i)?;
                            s.push(format!("{v:?}"));
                        }
                        Ok(s.join("|"))
                    })
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                rows.sort();
                map.insert(format!("db:{t}"), rows.join("\n"));
            }
        }
        map
    }

    /// What is installed: [`World::snapshot`] without the caches under
    /// `var/` and the imported summaries.
    pub fn installed_state(&self) -> BTreeMap<String, String> {
        let mut map = self.snapshot();
        map.retain(|k, _| {
            !(k == "var"
                || k.starts_with("var/")
                || k.starts_with("etc")
                || k == "db:sites"
                || k == "db:remote_packages")
        });
        map
    }

    /// Symlink a multi-call name (pkg_add, ...) to the binary in the scratch dir.
    pub fn multi_call(&self, name: &str) -> PathBuf {
        let link = self.scratch.join(name);
        if !link.exists() {
            std::os::unix::fs::symlink(depot_bin(), &link).unwrap();
        }
        link
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One entry of a hand-made archive.
pub enum Raw {
    File(&'static str, Vec<u8>),
    Symlink(&'static str, &'static str),
    Hardlink(&'static str, &'static str),
    Char(&'static str),
    /// A pax extended header (records) for the next entry.
    Pax(Vec<(&'static str, Vec<u8>)>),
}

fn set_name(header: &mut tar::Header, name: &str) {
    // Write the name bytes directly so tests can make absolute and `..` names.
    let bytes = name.as_bytes();
    let old = header.as_old_mut();
    old.name = [0; 100];
    old.name[..bytes.len()].copy_from_slice(bytes);
}

/// Write a gzip tar of `entries` verbatim.
pub fn write_raw(path: &Path, entries: &[Raw]) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Raw::File(name, data) => {
                set_name(&mut h, name);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append(&h, data.as_slice()).unwrap();
            }
            Raw::Symlink(name, target) | Raw::Hardlink(name, target) => {
                set_name(&mut h, name);
                h.set_entry_type(if matches!(e, Raw::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_mode(0o755);
                h.set_size(0);
                h.set_link_name(target).unwrap();
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
            Raw::Char(name) => {
                set_name(&mut h, name);
                h.set_entry_type(tar::EntryType::Char);
                h.set_mode(0o644);
                h.set_size(0);
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
            Raw::Pax(records) => {
                let mut data = Vec::new();
                for (k, v) in records {
                    let body_len = k.len() + v.len() + 3;
                    let mut len = body_len + 1;
                    while format!("{len}").len() + body_len != len {
                        len = format!("{len}").len() + body_len;
                    }
                    write!(data, "{len} {k}=").unwrap();
                    data.extend_from_slice(v);
                    data.push(b'\n');
                }
                set_name(&mut h, "PaxHeader");
                h.set_entry_type(tar::EntryType::XHeader);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append(&h, data.as_slice()).unwrap();
            }
        }
    }
    b.into_inner().unwrap().finish().unwrap();
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(md5::Md5::digest(data))
}

/// The usual metadata for a hand-made package: +CONTENTS (given), +COMMENT, +DESC, +BUILD_INFO.
pub fn metadata(contents: &str) -> Vec<Raw> {
    vec![
        Raw::File("+CONTENTS", contents.as_bytes().to_vec()),
        Raw::File("+COMMENT", b"hand made\n".to_vec()),
        Raw::File("+DESC", b"a hand-made package\n".to_vec()),
        Raw::File(
            "+BUILD_INFO",
            b"OPSYS=Linux\nMACHINE_ARCH=x86_64\nOS_VERSION=6.1\nPKGTOOLS_VERSION=20170419\n"
                .to_vec(),
        ),
    ]
}

/// A +CONTENTS for `pkgname` listing `files` (name, content) with MD5s, and the metadata @ignore tail.
pub fn contents_for(pkgname: &str, files: &[(&str, &[u8])]) -> String {
    let mut s = format!("@name {pkgname}\n@cwd /usr/pkg\n");
    for (name, data) in files {
        writeln!(s, "{name}\n@comment MD5:{}", md5_hex(data)).unwrap();
    }
    s.push_str("@cwd .\n@ignore\n+COMMENT\n@ignore\n+DESC\n@ignore\n+BUILD_INFO\n");
    s
}

/// One member of a gzip package archive, as text.
pub fn read_member(path: &Path, name: &str) -> String {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == name {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            return s;
        }
    }
    panic!("{name} not in {}", path.display());
}

/// Report a test as skipped (its tool or permission is missing): a line on
/// stderr that `.ci/run` counts, never a silent pass.
/// Poll `done` every 50 ms; fail the test naming `what` after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn skip(reason: &str) {
    let name = std::thread::current().name().unwrap_or("a test").to_owned();
    eprintln!("SKIPPED {name}: {reason}");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::env::temp_dir().join("depot-tests-skipped"))
        .and_then(|mut f| writeln!(f, "{name}: {reason}"));
}

/// A real HTTP server on 127.0.0.1 serving the files in `dir` (404 for
/// anything else), for as long as the test process runs. Returns its base URL.
pub fn serve_http(dir: PathBuf) -> String {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let file = dir.join(path.trim_start_matches('/'));
                let _ = match std::fs::read(&file) {
                    Ok(body) if file.is_file() => write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .and_then(|()| stream.write_all(&body)),
                    _ => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// A real HTTP server on 127.0.0.1 for repository tests: serves the files in
/// `dir` with an ETag (their SHA-256), answers `If-None-Match` with 304, can
/// answer the next requests with 500, and logs `PATH STATUS` per request.
pub struct RepoServer {
    /// Its base URL.
    pub url: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    fail_next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Requests whose path ends with the key get the value's misbehaviour
    /// once: `truncate` (half the body, then the connection closes), `stall`
    /// (headers, then nothing for a minute) or `500`.
    misbehave: std::sync::Arc<std::sync::Mutex<Vec<(String, &'static str)>>>,
}

impl RepoServer {
    pub fn start(dir: PathBuf) -> RepoServer {
        use std::io::{BufRead, BufReader};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let fail_next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let misbehave =
            std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, &'static str)>::new()));
        let (log2, fail2, misbehave2) = (log.clone(), fail_next.clone(), misbehave.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                let mut if_none_match = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("if-none-match")
                    {
                        if_none_match = Some(v.trim().to_owned());
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let file = dir.join(path.trim_start_matches('/'));
                let failing = fail2
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let trick = {
                    let mut list = misbehave2.lock().unwrap();
                    let at = list.iter().position(|(p, _)| path.ends_with(p.as_str()));
                    at.map(|i| list.remove(i).1)
                };
                let failing = failing || trick == Some("500");
                let (status, body, etag) = if failing {
                    (500, Vec::new(), None)
                } else {
                    match std::fs::read(&file) {
                        Ok(body) if file.is_file() => {
                            let etag = format!("\"{}\"", hex::encode(sha2::Sha256::digest(&body)));
                            if if_none_match.as_deref() == Some(etag.as_str()) {
                                (304, Vec::new(), Some(etag))
                            } else {
                                (200, body, Some(etag))
                            }
                        }
                        _ => (404, Vec::new(), None),
                    }
                };
                log2.lock().unwrap().push(format!(
                    "{path} {status}{}",
                    trick.map(|t| format!(" {t}")).unwrap_or_default()
                ));
                let reason = match status {
                    200 => "OK",
                    304 => "Not Modified",
                    404 => "Not Found",
                    _ => "Internal Server Error",
                };
                let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
                if status != 304 {
                    let _ = write!(head, "Content-Length: {}\r\n", body.len());
                }
                if let Some(etag) = etag {
                    let _ = write!(head, "ETag: {etag}\r\n");
                }
                head.push_str("\r\n");
                let body = match trick {
                    Some("truncate") => &body[..body.len() / 2],
                    Some("stall") => {
                        let _ = stream.write_all(head.as_bytes());
                        let _ = stream.flush();
                        let stalled = stream;
                        std::thread::spawn(move || {
                            std::thread::sleep(std::time::Duration::from_mins(1));
                            drop(stalled);
                        });
                        continue;
                    }
                    _ => &body[..],
                };
                let _ = stream
                    .write_all(head.as_bytes())
                    .and_then(|()| stream.write_all(body));
            }
        });
        RepoServer {
            url: format!("http://127.0.0.1:{port}"),
            log,
            fail_next,
            misbehave,
        }
    }

    /// The next request for a path ending in `path` misbehaves (`truncate`,
    /// `stall` or `500`).
    pub fn misbehave(&self, path: &str, how: &'static str) {
        self.misbehave.lock().unwrap().push((path.to_owned(), how));
    }

    /// Answer the next `n` requests with 500.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// The requests so far (`PATH STATUS`), and forget them.
    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

/// Copy the tree `from` to `to` (directories and regular files).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let at = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&at).unwrap();
        } else {
            std::fs::copy(entry.path(), &at).unwrap();
        }
    }
}
