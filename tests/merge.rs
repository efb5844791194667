//! `depot merge`: overlay recipe trees merged into build trees as
//! portshaker does. Sources are real directories, git repositories and rsync
//! copies made at test time; the real upstream recipes are merged and
//! bulk-built (from `bulk::real_recipes_…`, sharing its packages).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::build::{build_env, recipe};
use crate::util::{World, depot_bin, skip, stderr, stdout};

fn merge(w: &World, config: &Path, args: &[&str]) -> Output {
    w.command(&depot_bin())
        .arg("merge")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run depot merge")
}

fn merged(w: &World, config: &Path, args: &[&str]) -> String {
    let out = merge(w, config, args);
    assert!(
        out.status.success(),
        "depot merge {args:?} failed:\n{}",
        stderr(&out)
    );
    format!("{}{}", stdout(&out), stderr(&out))
}

fn small(tree: &Path, path: &str, version: &str, extra: &str) -> PathBuf {
    let name = path.rsplit('/').next().unwrap();
    recipe(
        tree,
        path,
        &format!(
            "distname = \"{name}-{version}\"\ncategories = [\"misc\"]\ncomment = \"{name}\"\ndistfiles = []\nno_build = true\n{extra}"
        ),
        &[],
    )
}

/// Every file under `tree` (through its symlink) with its content.
fn snapshot(tree: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !tree.exists() {
        return out;
    }
    for e in walkdir::WalkDir::new(tree).follow_root_links(true) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(tree)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn manifest(tree: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(tree.join(".depot-merge.json")).unwrap()).unwrap()
}

fn origin(tree: &Path, unit: &str) -> String {
    manifest(tree)["units"][unit]["origin"]
        .as_str()
        .unwrap_or_else(|| panic!("{unit} not merged"))
        .to_owned()
}

/// A config file of its own (`merge-N.toml`) in the world's directory.
fn write_config(w: &World, text: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = w.dir.path().join(format!("merge-{n}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn versions_decide_bang_takes_the_later_and_conflicts_are_reported() {
    let w = World::new();
    let m = w.dir.path().join("m");
    let (up, local) = (m.join("upstream"), m.join("local"));
    small(&up, "misc/same", "1.0", "");
    small(&local, "misc/same", "1.0", "");
    small(&up, "misc/newer", "1.0", "");
    small(&local, "misc/newer", "1.0", "pkgrevision = 2\n");
    small(&up, "misc/older", "1.10", "");
    small(&local, "misc/older", "1.9", "");
    small(&up, "misc/clash", "2.0", "");
    small(&local, "misc/clash", "2.0", "comment_extra = 1\n");
    std::fs::write(local.join("misc/clash/DESCR"), "local words\n").unwrap();
    small(&local, "misc/only-local", "0.1", "");
    std::fs::write(up.join("README"), "upstream readme\n").unwrap();
    let tree = w.dir.path().join("tree");
    let config = |flags: &str, fail: bool| {
        write_config(
            &w,
            &format!(
                "mirror_base_dir = \"m\"\nfail_on_conflict = {fail}\n[target.main]\ntree = \"tree\"\nmerge_from = [\"upstream\", \"local{flags}\"]\n"
            ),
        )
    };

    // -n: every origin and the conflict, nothing written.
    let c = config("", false);
    let out = merge(&w, &c, &["-n"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "misc/newer",
        "local (newer-1.0nb2)",
        "upstream: newer-1.0, older than local's newer-1.0nb2",
        "local: older-1.9, older than upstream's older-1.10: not taken",
        "misc/only-local",
        "conflict in main: misc/clash (clash-2.0) and local differ in DESCR, recipe.toml",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    assert!(!tree.exists(), "a dry run wrote {}", tree.display());

    // fail_on_conflict: refused, tree untouched (first absent, then as it was).
    let c = config("", true);
    let out = merge(&w, &c, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("misc/clash (clash-2.0) and local differ in DESCR, recipe.toml")
            && err.contains("fail_on_conflict is set")
            && err.contains("was not touched"),
        "{err}"
    );
    assert!(!tree.exists());
    let c = config("", false);
    let said = merged(&w, &c, &[]);
    assert!(said.contains("kept upstream's"), "{said}");
    assert_eq!(origin(&tree, "misc/clash"), "upstream");
    assert_eq!(origin(&tree, "misc/newer"), "local");
    assert_eq!(origin(&tree, "misc/older"), "upstream");
    assert_eq!(origin(&tree, "misc/same"), "upstream");
    assert_eq!(origin(&tree, "README"), "upstream");
    let before = snapshot(&tree);
    let link_before = std::fs::read_link(&tree).unwrap();
    std::fs::write(local.join("misc/same/DESCR"), "now different\n").unwrap();
    let c = config("", true);
    let out = merge(&w, &c, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("misc/same (same-1.0) and local differ in DESCR"));
    assert_eq!(snapshot(&tree), before);
    assert_eq!(std::fs::read_link(&tree).unwrap(), link_before);

    // `!`: the later source's recipe is taken.
    let c = config("!", true);
    merged(&w, &c, &[]);
    assert_eq!(origin(&tree, "misc/clash"), "local");
    assert_eq!(origin(&tree, "misc/same"), "local");
    assert_eq!(
        std::fs::read_to_string(tree.join("misc/clash/DESCR")).unwrap(),
        "local words\n"
    );
    // --explain names the origin and each file's source.
    let out = merged(&w, &c, &["--explain", "misc/clash"]);
    assert!(
        out.contains("from: local (clash-2.0)") && out.contains("taken over upstream's"),
        "{out}"
    );
}

#[test]
fn a_reader_that_resolves_the_tree_once_sees_one_generation() {
    // Generation 1 has 400 recipes at 1.0, generation 2 the same at 2.0; a
    // reader resolving the tree once (as a bulk does) sees only one version
    // in a pass, and the generation it read stays while the next merge runs.
    let w = World::new();
    let up = w.dir.path().join("m/upstream");
    for i in 0..400 {
        small(&up, &format!("misc/r{i:03}"), "1.0", "");
    }
    let c = write_config(
        &w,
        "mirror_base_dir = \"m\"\n[target.main]\ntree = \"tree\"\nmerge_from = [\"upstream\"]\n",
    );
    merged(&w, &c, &[]);
    for i in 0..400 {
        small(&up, &format!("misc/r{i:03}"), "2.0", "");
    }
    let tree = w.dir.path().join("tree");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (tree, stop) = (tree.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut passes = 0;
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || passes == 0 {
                let pinned = tree.canonicalize().unwrap();
                let mut versions = std::collections::BTreeSet::new();
                for e in std::fs::read_dir(pinned.join("misc")).unwrap() {
                    let text =
                        std::fs::read_to_string(e.unwrap().path().join("recipe.toml")).unwrap();
                    let first = text.lines().next().unwrap();
                    versions.insert(first.rsplit('-').next().unwrap().to_owned());
                }
                assert_eq!(versions.len(), 1, "a mixed tree: {versions:?}");
                seen.extend(versions);
                passes += 1;
            }
            (passes, seen)
        })
    };
    merged(&w, &c, &[]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (passes, _) = reader.join().unwrap();
    assert!(passes > 0);
    let store = w.dir.path().join(".tree.merge");
    assert!(
        store.join("g1/misc/r000/recipe.toml").is_file(),
        "the previous generation went"
    );
    let text = std::fs::read_to_string(tree.join("misc/r399/recipe.toml")).unwrap();
    assert!(text.contains("r399-2.0"), "{text}");
    // The merge after next removes generation 1; two stay.
    small(&up, "misc/r000", "3.0", "");
    merged(&w, &c, &[]);
    assert!(!store.join("g1").exists() && store.join("g2").is_dir() && store.join("g3").is_dir());
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@localhost"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
}

/// Make `dir` a git repository on `branch` with everything in it committed.
fn git_repo(dir: &Path, branch: &str) {
    git(dir, &["init", "-q", "-b", branch]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "one"]);
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn git_rsync_and_command_sources_are_updated_before_the_merge() {
    if !have("git") || !have("rsync") {
        skip("git or rsync is not installed");
        return;
    }
    let w = World::new();
    let repo = w.dir.path().join("repo");
    small(&repo, "misc/from-git", "1.0", "");
    git_repo(&repo, "main");
    let far = w.dir.path().join("far");
    small(&far, "misc/from-rsync", "1.0", "");
    let made = w.dir.path().join("made");
    small(&made, "misc/from-command", "1.0", "");
    let c = write_config(
        &w,
        &format!(
            "mirror_base_dir = \"m\"\n\
             [source.g]\ngit = \"{}\"\nbranch = \"main\"\n\
             [source.r]\nrsync = \"{}\"\n\
             [source.c]\ncommand = \"rm -rf c && cp -r {} c\"\npost_update = \"echo updated > $DEPOT_MERGE_DIR.stamp\"\n\
             [target.main]\ntree = \"tree\"\nmerge_from = [\"g\", \"r\", \"c\"]\npost_merge = \"ls $DEPOT_MERGE_TREE/misc > {}\"\n",
            repo.display(),
            far.display(),
            made.display(),
            w.dir.path().join("listing").display()
        ),
    );
    merged(&w, &c, &[]);
    let tree = w.dir.path().join("tree");
    for (unit, source) in [
        ("misc/from-git", "g"),
        ("misc/from-rsync", "r"),
        ("misc/from-command", "c"),
    ] {
        assert_eq!(origin(&tree, unit), source);
    }
    assert_eq!(
        std::fs::read_to_string(w.dir.path().join("m/c.stamp")).unwrap(),
        "updated\n"
    );
    assert_eq!(
        std::fs::read_to_string(w.dir.path().join("listing")).unwrap(),
        "from-command\nfrom-git\nfrom-rsync\n"
    );
    let rev = manifest(&tree)["sources"][0]["revision"]
        .as_str()
        .unwrap()
        .to_owned();
    // A new commit upstream and a new file on the rsync side reach the tree.
    small(&repo, "misc/from-git", "1.1", "");
    git(&repo, &["commit", "-qam", "two"]);
    small(&far, "misc/second", "1.0", "");
    let said = merged(&w, &c, &[]);
    assert!(
        said.contains("changed misc/from-git from g (from-git-1.1)"),
        "{said}"
    );
    assert!(said.contains("new misc/second from r"), "{said}");
    assert_ne!(
        manifest(&tree)["sources"][0]["revision"].as_str().unwrap(),
        rev
    );
    // -M merges without updating: a change at the far side is not seen.
    small(&far, "misc/third", "1.0", "");
    merged(&w, &c, &["-M"]);
    assert!(!tree.join("misc/third").exists());
}

#[test]
fn bad_sources_and_configs_are_refused_and_the_target_is_untouched() {
    let w = World::new();
    let m = w.dir.path().join("m");
    let up = m.join("upstream");
    small(&up, "misc/a", "1.0", "");
    let tree = w.dir.path().join("tree");
    let base = "mirror_base_dir = \"m\"\nfail_on_conflict = true\n";
    let good = write_config(
        &w,
        &format!("{base}[target.main]\ntree = \"tree\"\nmerge_from = [\"upstream\", \"local\"]\n"),
    );
    small(&m.join("local"), "misc/b", "1.0", "");
    merged(&w, &good, &[]);
    let before = snapshot(&tree);
    let link = std::fs::read_link(&tree).unwrap();
    let untouched = |what: &str| {
        assert_eq!(snapshot(&tree), before, "{what}: the tree changed");
        assert_eq!(std::fs::read_link(&tree).unwrap(), link, "{what}: switched");
    };

    // A source whose update fails: its name and output, no target touched.
    let c = write_config(
        &w,
        &format!(
            "{base}[source.local]\ncommand = \"echo cannot reach the mirror >&2; exit 3\"\n[target.main]\ntree = \"tree\"\nmerge_from = [\"upstream\", \"local\"]\n"
        ),
    );
    let out = merge(&w, &c, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("source local could not be updated; no target was touched")
            && err.contains("cannot reach the mirror")
            && err.contains("exit status: 3"),
        "{err}"
    );
    untouched("failed update");

    // A recipe directory without recipe.toml in a plain source.
    std::fs::create_dir_all(m.join("local/misc/nothing/patches")).unwrap();
    std::fs::write(m.join("local/misc/nothing/patches/patch-a"), "x").unwrap();
    let out = merge(&w, &good, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("source local: misc/nothing has no recipe.toml") && err.contains("`local+`"),
        "{err}"
    );
    untouched("no recipe.toml");
    std::fs::remove_dir_all(m.join("local/misc/nothing")).unwrap();

    // A symlink escaping its source, and one through `..` out of it.
    let secret = w.dir.path().join("secret");
    std::fs::write(&secret, "do not copy\n").unwrap();
    std::os::unix::fs::symlink(&secret, m.join("local/misc/b/DESCR")).unwrap();
    std::os::unix::fs::symlink("../../../../secret", m.join("local/misc/b/PLIST")).unwrap();
    let out = merge(&w, &good, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("misc/b/DESCR is a symlink to")
            && err.contains("misc/b/PLIST is a symlink to ../../../../secret")
            && err.contains("outside the source tree"),
        "{err}"
    );
    assert!(!err.contains("do not copy"));
    untouched("escaping symlink");
    std::fs::remove_file(m.join("local/misc/b/DESCR")).unwrap();
    std::fs::remove_file(m.join("local/misc/b/PLIST")).unwrap();
    // A symlink that stays inside is followed.
    std::os::unix::fs::symlink("../../misc/b/recipe.toml", m.join("local/misc/b/DESCR")).unwrap();
    merged(&w, &good, &[]);
    assert!(
        std::fs::read_to_string(tree.join("misc/b/DESCR"))
            .unwrap()
            .contains("b-1.0")
    );
    let before = snapshot(&tree);
    let link = std::fs::read_link(&tree).unwrap();
    let untouched = |what: &str| {
        assert_eq!(snapshot(&tree), before, "{what}: the tree changed");
        assert_eq!(std::fs::read_link(&tree).unwrap(), link, "{what}: switched");
    };

    // Config errors name the file and line.
    for (text, expect) in [
        (
            format!(
                "{base}[target.main]\ntree = \"tree\"\nmerge_from = [\"upstream\",\n  \"../../etc\"]\n"
            ),
            ".toml:6",
        ),
        (
            format!("{base}[target.main]\ntree = \"tree\"\nmerge_form = [\"upstream\"]\n"),
            ".toml:5",
        ),
        (
            format!(
                "{base}[source.x]\ngit = \"a\"\nrsync = \"b\"\n[target.main]\ntree = \"tree\"\nmerge_from = [\"x\"]\n"
            ),
            ".toml:3",
        ),
    ] {
        let c = write_config(&w, &text);
        let out = merge(&w, &c, &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(expect), "{expect}: {}", stderr(&out));
        untouched(expect);
    }
    let conf = w.dir.path().join("portshaker.conf");
    std::fs::write(&conf, "ports_trees=main\nmain_ports_tree=tree\nrm -rf /\n").unwrap();
    let out = merge(&w, &conf, &[]);
    assert!(
        stderr(&out).contains("portshaker.conf:3"),
        "{}",
        stderr(&out)
    );

    // A source that does not exist, and a target not made by depot merge.
    let c = write_config(
        &w,
        &format!(
            "{base}[target.main]\ntree = \"tree\"\nmerge_from = [\"upstream\", \"nowhere\"]\n"
        ),
    );
    let out = merge(&w, &c, &[]);
    assert!(stderr(&out).contains("source nowhere"), "{}", stderr(&out));
    untouched("missing source");
    let own = w.dir.path().join("own");
    std::fs::create_dir_all(own.join("mine")).unwrap();
    std::fs::write(own.join("mine/keep"), "mine\n").unwrap();
    let c = write_config(
        &w,
        &format!("{base}[target.main]\ntree = \"own\"\nmerge_from = [\"upstream\"]\n"),
    );
    let out = merge(&w, &c, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("was not made by depot merge"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(own.join("mine/keep")).unwrap(),
        "mine\n"
    );
    let out = merge(&w, &good, &["--explain", "../../etc/passwd"]);
    assert!(stderr(&out).contains("category/name"), "{}", stderr(&out));
}

#[test]
fn a_portshaker_conf_gives_the_same_target_as_the_toml() {
    let w = World::new();
    let m = w.dir.path().join("m");
    small(&m.join("upstream"), "misc/a", "1.0", "");
    small(&m.join("upstream"), "misc/b", "1.0", "");
    small(&m.join("local"), "misc/b", "1.0", "x = 1\n");
    std::fs::create_dir_all(m.join("patches/misc/a/patches")).unwrap();
    std::fs::write(m.join("patches/misc/a/patches/patch-x"), "patch\n").unwrap();
    let toml = write_config(
        &w,
        "mirror_base_dir = \"m\"\n[target.main]\ntree = \"by-toml\"\nmerge_from = [\"upstream\", \"local!\", \"patches+\"]\n",
    );
    merged(&w, &toml, &[]);
    let conf = w.dir.path().join("portshaker.conf");
    std::fs::write(
        &conf,
        "#---[ as the man page writes it ]---\n\
         mirror_base_dir=\"m\"\nbase=\"${mirror_base_dir}/..\"\n\
         ports_trees=\"main\"\n\
         main_ports_tree=\"${base}/by-conf\"\n\
         main_merge_from='upstream local! patches+'\n\
         use_zfs=yes\n\
         main_postmerge() {\n\techo \"merged main\" > post-merge-ran\n}\n",
    )
    .unwrap();
    let out = merge(&w, &conf, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("use_zfs is ignored"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        snapshot(&w.dir.path().join("by-toml"))
            .into_iter()
            .filter(|(k, _)| k != ".depot-merge.json")
            .collect::<Vec<_>>(),
        snapshot(&w.dir.path().join("by-conf"))
            .into_iter()
            .filter(|(k, _)| k != ".depot-merge.json")
            .collect::<Vec<_>>()
    );
    let units = |t: &str| manifest(&w.dir.path().join(t))["units"].clone();
    for unit in ["misc/a", "misc/b"] {
        assert_eq!(
            units("by-toml")[unit]["recipe_hash"],
            units("by-conf")[unit]["recipe_hash"]
        );
        assert_eq!(
            units("by-toml")[unit]["origin"],
            units("by-conf")[unit]["origin"]
        );
    }
    assert_eq!(origin(&w.dir.path().join("by-conf"), "misc/b"), "local");
    assert!(
        w.dir
            .path()
            .join("by-conf/misc/a/patches/patch-x")
            .is_file()
    );
    assert_eq!(
        std::fs::read_to_string(m.join("post-merge-ran")).unwrap(),
        "merged main\n"
    );
}

/// Called by the real-recipes bulk test with its world (whose packages the
/// six upstream recipes built): upstream (the six), a local tree with a
/// newer hello (nb1) and a new recipe, and a patches-only tree adding a
/// patch to lzop. The bulk on the merged tree builds those three only; a
/// second merge changes no recipe hash and a second bulk builds nothing.
pub fn merged_tree_bulk_builds_only_what_the_merge_changed(w: &World, recipes: &Path, site: &str) {
    let m = w.dir.path().join("merge-sources");
    let up = m.join("upstream");
    crate::util::copy_tree(recipes, &up);
    let local = m.join("local");
    let hello = std::fs::read_to_string(up.join("misc/hello/recipe.toml")).unwrap();
    let hello = hello.replace(
        "distname = \"hello-2.10\"\n",
        "distname = \"hello-2.10\"\npkgrevision = 1\n",
    );
    recipe(&local, "misc/hello", &hello, &[]);
    std::fs::copy(
        up.join("misc/hello/distinfo"),
        local.join("misc/hello/distinfo"),
    )
    .unwrap();
    recipe(
        &local,
        "misc/greeting",
        "distname = \"greeting-1.0\"\ncategories = [\"misc\"]\ncomment = \"A greeting\"\ndistfiles = []\nno_build = true\ndepends = [\"hello>=2.10nb1:../../misc/hello\"]\ndo-install = \"mkdir -p ${DESTDIR}${PREFIX}/share/greeting && echo hi > ${DESTDIR}${PREFIX}/share/greeting/hi\"\n",
        &[],
    );
    let patch = "--- src/version.h.orig\n+++ src/version.h\n@@ -1,5 +1,5 @@\n #define LZOP_VERSION            0x1040\n #define LZOP_VERSION_STRING     \"1.04\"\n-#define LZOP_VERSION_DATE       \"Aug 10th 2017\"\n+#define LZOP_VERSION_DATE       \"Aug 10th 2017 (depot local patch)\"\n \n /* vim:set ts=4 sw=4 et: */\n";
    let patches = m.join("patches/archivers/lzop/patches");
    std::fs::create_dir_all(&patches).unwrap();
    std::fs::write(patches.join("patch-src_version.h"), patch).unwrap();
    // As pkgsrc's local patches come: with the distinfo that records them.
    let distinfo = format!(
        "{}SHA256 (patch-src_version.h) = {}\n",
        std::fs::read_to_string(up.join("archivers/lzop/distinfo")).unwrap(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(patch.as_bytes()))
    );
    std::fs::write(patches.parent().unwrap().join("distinfo"), distinfo).unwrap();
    let config = w.dir.path().join("depot-merge.toml");
    std::fs::write(
        &config,
        format!(
            "mirror_base_dir = \"{}\"\nfail_on_conflict = true\n[target.build]\ntree = \"merged\"\nmerge_from = [\"upstream\", \"local\", \"patches+\"]\n",
            m.display()
        ),
    )
    .unwrap();
    merged(w, &config, &[]);
    let tree = w.dir.path().join("merged");
    for (unit, from) in [
        ("archivers/lzo", "upstream"),
        ("archivers/lzop", "upstream"),
        ("devel/zlib", "upstream"),
        ("graphics/libpng", "upstream"),
        ("lang/lua", "upstream"),
        ("misc/hello", "local"),
        ("misc/greeting", "local"),
    ] {
        assert_eq!(origin(&tree, unit), from, "{unit}");
    }
    for file in ["patches/patch-src_version.h", "distinfo", "recipe.toml"] {
        let from = if file == "recipe.toml" {
            "upstream"
        } else {
            "patches"
        };
        assert_eq!(
            manifest(&tree)["units"]["archivers/lzop"]["files"][format!("archivers/lzop/{file}")]["source"],
            from,
            "{file}"
        );
    }
    // Its own bulk dir (report, logs); the same database and packages.
    let bulk_dir = w.dir.path().join("merged-bulk");
    let bulk = |args: &[&str]| {
        let mut c = w.command(&depot_bin());
        build_env(w, &mut c);
        c.env("MASTER_SITE_OVERRIDE", site)
            .env("BULKDIR", &bulk_dir)
            .args(["bulk", "--tree"])
            .arg(&tree)
            .args(args)
            .output()
            .unwrap()
    };
    let out = bulk(&["--jobs", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Each package's status in the bulk's report.json.
    let statuses =
        || -> BTreeMap<String, String> { crate::bulk::statuses(&bulk_dir).into_iter().collect() };
    let status = statuses();
    for (pkg, expected) in [
        ("hello-2.10nb1", "built"),
        ("lzop-1.04", "built"),
        ("greeting-1.0", "built"),
        ("lzo-2.10", "up-to-date"),
        ("zlib-1.2.13", "up-to-date"),
        ("libpng-1.6.39", "up-to-date"),
        ("lua-5.4.4", "up-to-date"),
    ] {
        assert_eq!(
            status.get(pkg).map(String::as_str),
            Some(expected),
            "{pkg}: {status:?}"
        );
    }
    // The patched lzop says so.
    let fresh = World::new();
    fresh.ok(&[
        "add",
        w.dir
            .path()
            .join("packages/All/lzo-2.10.tgz")
            .to_str()
            .unwrap(),
    ]);
    fresh.ok(&[
        "add",
        w.dir
            .path()
            .join("packages/All/lzop-1.04.tgz")
            .to_str()
            .unwrap(),
    ]);
    let version = Command::new(fresh.root.join("bin/lzop"))
        .arg("-V")
        .output()
        .unwrap();
    let said = format!("{}{}", stdout(&version), stderr(&version));
    assert!(said.contains("depot local patch"), "{said}");

    // A second merge with no source change: every recipe hash as it was,
    // and the bulk after it builds nothing.
    let hashes = |t: &Path| -> BTreeMap<String, serde_json::Value> {
        manifest(t)["units"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, u)| (k.clone(), u["recipe_hash"].clone()))
            .collect()
    };
    let first = hashes(&tree);
    let said = merged(w, &config, &[]);
    assert!(said.contains("unchanged"), "{said}");
    assert_eq!(hashes(&tree), first);
    let out = bulk(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (pkg, status) in statuses() {
        assert_eq!(status, "up-to-date", "{pkg}");
    }
}

#[test]
fn a_portshaker_d_git_script_is_read_for_its_clone_uri() {
    if !have("git") {
        skip("git is not installed");
        return;
    }
    let w = World::new();
    let repo = w.dir.path().join("repo");
    small(&repo, "misc/from-script", "1.0", "");
    git_repo(&repo, "trunk");
    let etc = w.dir.path().join("etc");
    std::fs::create_dir_all(etc.join("portshaker.d")).unwrap();
    // A script as portshaker's users write them; only its assignments are read.
    std::fs::write(
        etc.join("portshaker.d/mine"),
        format!(
            "#!/bin/sh\n. /usr/local/share/portshaker/portshaker.subr\nmethod=\"git\"\nif [ \"$1\" != '--' ]; then\n\terr 1 \"Extra arguments\"\nfi\nshift\ngit_clone_uri=\"{}\"\ngit_branch=\"trunk\"\nrun_portshaker_command $*\n",
            repo.display()
        ),
    )
    .unwrap();
    std::fs::write(
        etc.join("portshaker.d/other"),
        "#!/bin/sh\nmethod=\"portsnap\"\n",
    )
    .unwrap();
    small(&w.dir.path().join("m/other"), "misc/kept", "1.0", "");
    let conf = etc.join("portshaker.conf");
    std::fs::write(
        &conf,
        "mirror_base_dir=\"../m\"\nports_trees=\"main\"\nmain_ports_tree=\"../tree\"\nmain_merge_from=\"other mine\"\n",
    )
    .unwrap();
    let out = merge(&w, &conf, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("method=portsnap is not one depot runs"),
        "{}",
        stderr(&out)
    );
    let tree = w.dir.path().join("tree");
    assert_eq!(origin(&tree, "misc/from-script"), "mine");
    assert_eq!(origin(&tree, "misc/kept"), "other");
    assert!(w.dir.path().join("m/mine/.git").is_dir());
}
