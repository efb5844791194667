//! Vulnerability audits as pkg_admin does them: a pkg-vulnerabilities file
//! made at test time (with its `#CHECKSUM SHA512` line computed as
//! pkg_install computes it), fetched over file:// and HTTP, checked,
//! audited against installed packages, views and names, and consulted by
//! `depot add` before it installs.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

use crate::util::{World, depot_bin, serve_http, stderr, stdout};

/// pkg_install's digest: the file without blank lines and `Hash:`,
/// `# $NetBSD` and `#CHECKSUM` lines.
fn with_checksum(text: &str) -> String {
    let digest_input: String = text
        .split_inclusive('\n')
        .filter(|l| {
            *l != "\n"
                && !l.starts_with("Hash:")
                && !l.starts_with("# $NetBSD")
                && !l.starts_with("#CHECKSUM")
        })
        .collect();
    format!(
        "{text}#CHECKSUM SHA512 {}\n",
        hex::encode(sha2::Sha512::digest(digest_input.as_bytes()))
    )
}

fn vulnerabilities() -> String {
    with_checksum(
        "# $NetBSD: pkg-vulnerabilities,v 1.9000 2026/11/25 00:00:00 test Exp $\n\
         #FORMAT 1.1.0\n\
         #\n\
         # Made by depot's tests.\n\
         #\n\
         tool<2.0\tremote-code-execution\thttps://example.org/CVE-1\n\
         tool<1.5\tdenial-of-service\thttps://example.org/CVE-2\n\
         other-[0-9]*\teol\thttps://example.org/eol\n\
         {old,older}-1.*\tbuffer-overflow\thttps://example.org/CVE-3\n",
    )
}

/// A list file of its own (`list-N`) in the world's directory.
fn write_list(w: &World, text: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = w.dir.path().join(format!("list-{n}"));
    std::fs::write(&path, text).unwrap();
    path
}

fn fetch(w: &World, url: &str) -> std::process::Output {
    w.command(&depot_bin())
        .env("PKG_VULN_URL", url)
        .args(["admin", "fetch-pkg-vulnerabilities"])
        .output()
        .unwrap()
}

#[test]
fn audit_reports_in_pkg_admins_format_and_exits_1() {
    let w = World::new();
    let t1 = w.package("tool-1.0", &[("bin/tool", "one")], &[]);
    let t2 = w.package("tool-2.0", &[("bin/tool2", "two")], &[]);
    let other = w.package("other-3", &[("share/other", "x")], &[]);
    w.ok(&[
        "add",
        t1.to_str().unwrap(),
        t2.to_str().unwrap(),
        other.to_str().unwrap(),
    ]);
    // No list yet: a clear error saying what to run.
    let err = w.fails(&["admin", "audit"]);
    assert!(err.contains("fetch-pkg-vulnerabilities"), "{err}");

    let list = write_list(&w, &vulnerabilities());
    let out = fetch(&w, &format!("file://{}", list.display()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(w.root.join("pkgdb/pkg-vulnerabilities").is_file());

    let out = w.depot(&["admin", "audit"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Package tool-1.0 has a remote-code-execution vulnerability, see https://example.org/CVE-1\n\
         Package tool-1.0 has a denial-of-service vulnerability, see https://example.org/CVE-2\n"
    );
    // -q: names only; -t: one class; -e: end-of-life too; a pattern.
    let out = w.depot(&["admin", "audit", "-q", "-t", "denial-of-service"]);
    assert_eq!(stdout(&out), "tool-1.0\n");
    let out = w.depot(&["admin", "audit", "-e", "other"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "Package other-3 has reached end-of-life (eol), see https://www.NetBSD.org/support/security/eol-packages\n"
    );
    // IGNORE_URLS leaves an advisory out; -i takes it back in.
    let ignoring = [(
        "IGNORE_URLS",
        "https://example.org/CVE-1 https://example.org/x",
    )];
    let out = w.run_env(&["admin", "audit", "-q"], &ignoring);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(1), "tool-1.0\n".to_owned())
    );
    let out = w.run_env(&["admin", "audit", "-i"], &ignoring);
    assert!(stdout(&out).contains("CVE-1") && stdout(&out).contains("CVE-2"));
    let only = [(
        "IGNORE_URLS",
        "https://example.org/CVE-1 https://example.org/CVE-2",
    )];
    let out = w.run_env(&["admin", "audit"], &only);
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), String::new()));
    let out = w.depot(&["admin", "-v", "audit", "tool>=2"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("No vulnerabilities found"),
        "{}",
        stderr(&out)
    );

    // audit-pkg and audit-batch take names, installed or not.
    let out = w.depot(&["admin", "audit-pkg", "old-1.2", "new-1.0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "Package old-1.2 has a buffer-overflow vulnerability, see https://example.org/CVE-3\n"
    );
    let batch = w.dir.path().join("names");
    std::fs::write(&batch, "older-1.0\n\nfine-2\n").unwrap();
    let out = w.depot(&["admin", "audit-batch", "-q", batch.to_str().unwrap()]);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(1), "older-1.0\n".to_owned())
    );
    // audit-history: every entry for a PKGBASE.
    let out = w.ok(&["admin", "audit-history", "tool", "older"]);
    assert_eq!(
        out,
        "tool<2.0 remote-code-execution https://example.org/CVE-1\n\
         tool<1.5 denial-of-service https://example.org/CVE-2\n\
         {old,older}-1.* buffer-overflow https://example.org/CVE-3\n"
    );
    // The multi-call name behaves the same.
    let pkg_admin = w.multi_call("pkg_admin");
    let out = w.command(&pkg_admin).arg("audit").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("Package tool-1.0 has a remote-code-execution"));
    // JSON.
    let out = w.depot(&["admin", "audit", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json[0]["pkgname"], "tool-1.0");
    assert_eq!(json[0]["vulnerability"]["class"], "remote-code-execution");

    // A view: the default view holds tool-1.0 (the first added) and other-3.
    let out = w.depot(&["view", "audit", "default"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("view default: 1 vulnerable member(s)"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("Package tool-1.0 has a remote-code-execution"));
    w.ok(&["view", "create", "clean"]);
    w.ok(&["view", "add", "clean", "tool-2.0"]);
    let out = w.depot(&["view", "audit", "clean"]);
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), String::new()));
}

#[test]
fn a_tampered_or_cut_list_is_refused_and_the_kept_one_stays() {
    let w = World::new();
    let good = vulnerabilities();
    let list = write_list(&w, &good);
    let out = fetch(&w, &format!("file://{}", list.display()));
    assert!(out.status.success(), "{}", stderr(&out));
    let kept = std::fs::read(w.root.join("pkgdb/pkg-vulnerabilities")).unwrap();

    // One line changed: the checksum no longer matches.
    let tampered = good.replace("tool<2.0", "tool<0.1");
    let bad = write_list(&w, &tampered);
    let err = w.fails(&["admin", "check-pkg-vulnerabilities", bad.to_str().unwrap()]);
    assert!(err.contains("SHA512 hash doesn't match"), "{err}");
    let out = fetch(&w, &format!("file://{}", bad.display()));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("kept as it was"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(w.root.join("pkgdb/pkg-vulnerabilities")).unwrap(),
        kept
    );
    // The checksum line cut off.
    let cut: String = good
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("#CHECKSUM"))
        .collect();
    let bad = write_list(&w, &cut);
    let err = w.fails(&["admin", "check-pkg-vulnerabilities", bad.to_str().unwrap()]);
    assert!(err.contains("no #CHECKSUM line"), "{err}");
    // Not a list at all.
    let err = w.fails(&["admin", "check-pkg-vulnerabilities", "/etc/hostname"]);
    assert!(err.contains("#FORMAT"), "{err}");
    // The kept file was tampered with in place: audits refuse it too.
    let path = w.root.join("pkgdb/pkg-vulnerabilities");
    std::fs::write(&path, tampered).unwrap();
    let err = w.fails(&["admin", "audit"]);
    assert!(err.contains("hash doesn't match"), "{err}");
    // The good one checks; gzip-compressed over HTTP as the real site serves it.
    w.ok(&["admin", "check-pkg-vulnerabilities", list.to_str().unwrap()]);
    let site = w.dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, good.as_bytes()).unwrap();
    std::fs::write(site.join("pkg-vulnerabilities.gz"), gz.finish().unwrap()).unwrap();
    let url = serve_http(site);
    let out = fetch(&w, &format!("{url}/pkg-vulnerabilities.gz"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        w.depot(&["admin", "audit-pkg", "tool-1.9"]).status.code(),
        Some(1)
    );
}

#[test]
fn add_warns_and_check_vulnerabilities_always_refuses() {
    let w = World::new();
    let list = write_list(&w, &vulnerabilities());
    assert!(
        fetch(&w, &format!("file://{}", list.display()))
            .status
            .success()
    );
    let t1 = w.package("tool-1.0", &[("bin/tool", "one")], &[]);
    let before = w.snapshot();
    let out = w
        .command(&depot_bin())
        .env("CHECK_VULNERABILITIES", "always")
        .args(["add", t1.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Package tool-1.0 has a remote-code-execution vulnerability")
            && stderr(&out).contains("nothing was installed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(w.snapshot(), before);
    let err = w.ok_stderr(&["add", t1.to_str().unwrap()]);
    assert!(
        err.contains("warning: Package tool-1.0 has a remote-code-execution vulnerability"),
        "{err}"
    );
    assert!(w.root.join("bin/tool").exists());
    let t2 = w.package("tool-2.0", &[("bin/tool2", "two")], &[]);
    let err = w.ok_stderr(&["add", t2.to_str().unwrap()]);
    assert!(!err.contains("vulnerability"), "{err}");
}

#[test]
fn signature_is_checked_with_gpgv_when_asked() {
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("gpg") || !have("gpgv") {
        crate::util::skip("gpg/gpgv are not installed");
        return;
    }
    let w = World::new();
    let home = w.dir.path().join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", stderr(&out));
        out
    };
    gpg(&[
        "--quick-gen-key",
        "pkgvuln@example.org",
        "ed25519",
        "sign",
        "never",
    ]);
    let plain = w.dir.path().join("plain");
    std::fs::write(&plain, vulnerabilities()).unwrap();
    let signed = w.dir.path().join("signed");
    gpg(&[
        "--clearsign",
        "--output",
        signed.to_str().unwrap(),
        plain.to_str().unwrap(),
    ]);
    let keyring = w.dir.path().join("pkgvuln.gpg");
    let exported = gpg(&["--export", "pkgvuln@example.org"]);
    std::fs::write(&keyring, exported.stdout).unwrap();
    let run = |file: &Path| {
        w.command(&depot_bin())
            .env("GPG_KEYRING_PKGVULN", &keyring)
            .args(["admin", "check-pkg-vulnerabilities", "-s"])
            .arg(file)
            .output()
            .unwrap()
    };
    let out = run(&signed);
    assert!(out.status.success(), "{}", stderr(&out));
    // Changed inside the signed text (checksum recomputed, so only the signature can tell).
    let text = std::fs::read_to_string(&signed).unwrap();
    let body_end = text.find("#CHECKSUM").unwrap();
    let start = text.find("#FORMAT").unwrap();
    let forged_body = text[start..body_end].replace("tool<2.0", "tool<0.1");
    let head = &text[..start];
    let tail = &text[text[body_end..].find('\n').unwrap() + body_end + 1..];
    let digest_text = format!(
        "{}{}",
        &head["-----BEGIN PGP SIGNED MESSAGE-----\n".len()..],
        forged_body
    );
    let checked = with_checksum(&digest_text);
    let forged = format!("-----BEGIN PGP SIGNED MESSAGE-----\n{checked}{tail}");
    let forged_path = w.dir.path().join("forged");
    std::fs::write(&forged_path, forged).unwrap();
    w.ok(&[
        "admin",
        "check-pkg-vulnerabilities",
        forged_path.to_str().unwrap(),
    ]);
    let out = run(&forged_path);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("signature does not verify"),
        "{}",
        stderr(&out)
    );
}
