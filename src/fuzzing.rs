//! Entry points for the fuzz targets in `fuzz/`: each takes arbitrary bytes,
//! runs one of depot's readers of what others wrote on them exactly as the
//! commands do, and panics only when an invariant breaks (a crash the fuzzer
//! reports). Errors are the expected answer to bad input and pass silently.
//!
//! Also used by the regression tests (`tests/fuzz_regressions.rs`), which
//! replay every input the fuzzers ever found.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::package::{archive, meta, pattern, plist::PackingList, summary};

/// A scratch directory for the targets that read files, made once per
/// process and removed at exit by nobody (the fuzzer's process is short
/// lived; its files are small).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("depot-fuzz-{}", std::process::id()));
        let _ = fs_err::remove_dir_all(&dir);
        must(fs_err::create_dir_all(&dir));
        dir
    })
}

/// A scratch file operation that must work (the fuzzer's own set-up).
fn must<T>(result: std::io::Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("fuzz scratch: {e}"))
}

/// `+CONTENTS`: parse, write, parse again; the two parses agree, and
/// writing is stable (written text parses to what wrote it).
pub fn contents(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (first, _) = PackingList::parse(&text);
    let written = first.to_text();
    let (second, warnings) = PackingList::parse(&written);
    assert!(
        warnings.is_empty(),
        "written +CONTENTS has unknown commands: {warnings:?}\n{written}"
    );
    assert_eq!(first, second, "+CONTENTS changed through write:\n{written}");
    assert_eq!(written, second.to_text(), "writing is not stable");
    // What the installer asks of a packing list must not panic either.
    let _ = first.name();
    let _ = first.prefix();
    let _ = first.dependencies();
    let _ = first.files();
}

/// Patterns and dewey versions: `data` is `pattern\nversion\nversion`.
/// Matching never panics; dewey ordering is total (antisymmetric and
/// transitive on the three names); a range pattern's answer agrees with
/// the ordering.
pub fn patterns(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let pat = parts.next().unwrap_or_default();
    let a = parts.next().unwrap_or_default();
    let b = parts.next().unwrap_or_default();
    for name in [a, b] {
        let _ = pattern::pkg_match(pat, name);
        let _ = pattern::invalid_pkgname(name);
        let _ = pattern::split_pkgname(name);
    }
    let _ = pattern::malformed(pat);
    let _ = pattern::base_prefix(pat);
    let _ = pattern::find_best(pat, [a, b]);
    let _ = pattern::glob_match(pat, a);
    // Versions: antisymmetry and reflexivity.
    let (va, vb) = (version_of(a), version_of(b));
    let ab = pattern::dewey_compare(va, vb);
    assert_eq!(
        ab,
        pattern::dewey_compare(vb, va).reverse(),
        "dewey order is not antisymmetric: {va:?} {vb:?}"
    );
    assert_eq!(pattern::dewey_compare(va, va), Ordering::Equal, "{va:?}");
    // Transitivity over a third version taken from the pattern.
    let vc = version_of(pat);
    let bc = pattern::dewey_compare(vb, vc);
    let ac = pattern::dewey_compare(va, vc);
    if ab != Ordering::Greater && bc != Ordering::Greater {
        assert_ne!(
            ac,
            Ordering::Greater,
            "dewey order is not transitive: {va:?} <= {vb:?} <= {vc:?}"
        );
    }
    // A plain range `base>=V` matches `base-W` exactly when W >= V.
    if let Some((base, bound)) = pat.split_once(">=")
        && !base.is_empty()
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !bound.is_empty()
        && bound
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        && pattern::malformed(pat).is_none()
        && !vb.is_empty()
        && vb
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
    {
        let name = format!("{base}-{vb}");
        if pattern::split_pkgname(&name).is_some_and(|(n, v)| n == base && v == vb) {
            let matched = pattern::pkg_match(pat, &name);
            let ordered = pattern::dewey_compare(vb, bound) != Ordering::Less;
            assert_eq!(matched, ordered, "{pat} vs {name}");
        }
    }
}

/// The version part of a would-be PKGNAME (after its last `-`), or the
/// whole text.
fn version_of(name: &str) -> &str {
    name.rsplit_once('-').map_or(name, |(_, v)| v)
}

/// The archive reader: the bytes as a package file, read as `depot add`
/// reads it and unpacked into a fresh depot dir. It refuses with an error
/// or writes only inside that dir.
pub fn archive(data: &[u8]) {
    let root = scratch().join("archive");
    if root.exists() {
        let _ = crate::linking::remove_tree(&root);
    }
    must(fs_err::create_dir_all(&root));
    let file = root.join("p-1.0.tgz");
    must(fs_err::write(&file, data));
    let outside = root.join("outside");
    must(fs_err::create_dir_all(&outside));
    let Ok(metadata) = archive::read_metadata(&file) else {
        return;
    };
    let contents = metadata.text("+CONTENTS").unwrap_or_default();
    let (plist, _) = PackingList::parse(&contents);
    let pkgname = plist.name().unwrap_or("p-1.0").to_owned();
    if pattern::invalid_pkgname(&pkgname).is_some() {
        return;
    }
    let dest = root.join("packages").join(&pkgname);
    if let Some(parent) = dest.parent() {
        let _ = fs_err::create_dir_all(parent);
    }
    let _ = crate::install::extract::extract(
        &file,
        None,
        &pkgname,
        &metadata,
        &plist,
        &dest,
        &mut |_| Ok(()),
    );
    // Nothing but the package file, `outside` (still empty) and the depot dir.
    let strays: Vec<PathBuf> = walkdir::WalkDir::new(&root)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().to_owned())
        .filter(|p| {
            p != &file && p != &outside && p != &root.join("packages") && !p.starts_with(&dest)
        })
        .collect();
    assert!(
        strays.is_empty(),
        "written outside the depot dir: {strays:?}"
    );
}

/// `pkg_summary`: records split and parse without panicking; a record that
/// parses keeps its PKGNAME and its text.
pub fn summary(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for record in summary::records(&text) {
        let _ = summary::value(record, "PKGNAME");
        let _ = summary::values(record, "DEPENDS").count();
        if let Ok(parsed) = summary::Record::parse(record) {
            assert!(
                !parsed.pkgname.is_empty(),
                "a record with no PKGNAME parsed"
            );
            assert!(
                summary::value(record, "PKGNAME").is_some(),
                "PKGNAME from nowhere"
            );
        }
    }
    let _ = summary::parse(&text);
}

/// A recipe: the bytes as `recipe.toml`, loaded as the builder loads it.
pub fn recipe(data: &[u8]) {
    let dir = scratch().join("tree/misc/fuzzed");
    must(fs_err::create_dir_all(&dir));
    let file = dir.join("recipe.toml");
    must(fs_err::write(&file, data));
    if let Ok(recipe) = crate::build::Recipe::load(&dir) {
        assert!(
            pattern::invalid_pkgname(&recipe.pkgname).is_none(),
            "a recipe loaded with PKGNAME {:?}",
            recipe.pkgname
        );
        let _ = recipe.distfiles();
    }
}

/// The merge config, both forms: `depot-merge.toml` and portshaker.conf.
/// The sh reader only parses here: nothing is run.
pub fn merge_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = scratch().join("depot-merge.toml");
    let _ = crate::merge::config::from_toml(&path, &text, scratch().join("mirror"));
    let _ = crate::merge::shconf::parse(&scratch().join("portshaker.conf"), &text);
    for line in text.lines() {
        let _ = crate::merge::config::parse_merge_from(line);
    }
}

/// `+BUILD_INFO` and `+SIZE_PKG`/`+SIZE_ALL`: variables are read as the
/// installer and `info -Q` read them; completing a build info twice adds
/// nothing the first time did not.
pub fn build_info(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for var in [
        "OPSYS",
        "MACHINE_ARCH",
        "OS_VERSION",
        "PKGTOOLS_VERSION",
        "ABI",
    ] {
        if let Some(value) = meta::build_info_var(&text, var) {
            assert!(!value.contains('\n'), "{var} spans lines: {value:?}");
        }
    }
    let once = meta::complete_build_info(&text);
    let twice = meta::complete_build_info(&once);
    assert_eq!(once, twice, "completing +BUILD_INFO is not idempotent");
    let _ = text.trim().parse::<u64>();
    let metadata = archive::Metadata {
        files: vec![
            ("+BUILD_INFO".to_owned(), data.to_vec()),
            ("+SIZE_PKG".to_owned(), data.to_vec()),
        ],
    };
    let _ = metadata.text("+SIZE_PKG");
}

/// pkg-vulnerabilities: the `#CHECKSUM`-checked list parses or is refused;
/// a parsed list audits any name without panicking.
pub fn vulnerabilities(data: &[u8]) {
    let _ = crate::audit::parse(data);
    // The fuzzer cannot forge a SHA-512: give the text its right #CHECKSUM
    // line so that what follows the check is reached too.
    let text = String::from_utf8_lossy(data);
    let mut signed = text.clone().into_owned();
    if !signed.is_empty() && !signed.ends_with('\n') {
        signed.push('\n');
    }
    signed.push_str(&crate::audit::checksum_line(&signed));
    if let Ok(list) = crate::audit::parse(signed.as_bytes()) {
        let filter = crate::audit::Filter {
            eol: true,
            ..crate::audit::Filter::default()
        };
        for name in ["hello-2.10", "a-1", "x-0nb1"] {
            let _ = list.audit(name, &filter);
            let _ = list.history(name.rsplit_once('-').map_or(name, |(b, _)| b));
        }
    }
}
