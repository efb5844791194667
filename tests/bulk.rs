//! Bulk builds: scan, prefailed and failed packages with their dependents,
//! up-to-date and rebuild reasons, resuming after kill -9, reports (checked
//! in headless Chromium), upload and install from the uploaded repository,
//! and the scheduler's simulator. Tiny recipes keep most of this fast; the
//! real upstream recipes are bulk-built once.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::build::{build_env, distfiles, recipe, tool_recipe};
use crate::util::{World, depot_bin, failed, skip, stderr, stdout, wait_for};

fn bulk(w: &World, args: &[&str]) -> Output {
    let mut c = w.command(&depot_bin());
    build_env(w, &mut c);
    c.arg("bulk").args(args);
    c.output().expect("run depot bulk")
}

fn report(w: &World) -> serde_json::Value {
    read_report(&w.root.join("var/bulk"))
}

fn read_report(bulk_dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(bulk_dir.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Each package's (PKGNAME, status) in the report.json of `bulk_dir`.
pub(crate) fn statuses(bulk_dir: &Path) -> Vec<(String, String)> {
    read_report(bulk_dir)
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["pkgname"].as_str().unwrap().to_owned(),
                p["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every log of every failed build, for an assertion's message.
fn failed_logs(w: &World) -> String {
    let mut text = String::new();
    for p in report(w).as_array().unwrap() {
        if p["status"] != "failed" {
            continue;
        }
        let dir = w
            .root
            .join("var/bulk/logs")
            .join(p["pkgname"].as_str().unwrap());
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let body = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: String = body
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            let _ = writeln!(text, "--- {}\n{tail}", entry.path().display());
        }
    }
    text
}

fn status_of(w: &World, pkgpath: &str) -> (String, String, String) {
    let r = report(w);
    let rec = r
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pkgpath"] == pkgpath)
        .unwrap_or_else(|| panic!("{pkgpath} not in {r}"));
    let s = |k: &str| rec[k].as_str().unwrap_or_default().to_owned();
    (s("status"), s("cause"), s("reason"))
}

fn depends(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap();
    format!("depends = [\"{name}>=1:../../{path}\"]")
}

/// a, b (needs a); broken (does not compile), after-broken (needs it);
/// orphan (needs a recipe that is not there), after-orphan; a cycle.
fn tiny_tree(t: &Path) {
    tool_recipe(t, "misc/a", "distname = \"a-1.0\"", "a");
    tool_recipe(
        t,
        "misc/b",
        &format!("distname = \"b-1.0\"\n{}", depends("misc/a")),
        "b",
    );
    let broken = tool_recipe(t, "misc/broken", "distname = \"broken-1.0\"", "x");
    std::fs::write(broken.join("files/tool.c"), "this is not C\n").unwrap();
    tool_recipe(
        t,
        "misc/after-broken",
        &format!(
            "distname = \"after-broken-1.0\"\n{}",
            depends("misc/broken")
        ),
        "y",
    );
    tool_recipe(
        t,
        "misc/orphan",
        &format!("distname = \"orphan-1.0\"\n{}", depends("misc/nothere")),
        "o",
    );
    tool_recipe(
        t,
        "misc/after-orphan",
        &format!(
            "distname = \"after-orphan-1.0\"\n{}",
            depends("misc/orphan")
        ),
        "p",
    );
    tool_recipe(
        t,
        "misc/cyc1",
        &format!("distname = \"cyc1-1.0\"\n{}", depends("misc/cyc2")),
        "c",
    );
    tool_recipe(
        t,
        "misc/cyc2",
        &format!("distname = \"cyc2-1.0\"\n{}", depends("misc/cyc1")),
        "d",
    );
}

#[test]
fn a_bulk_fails_alone_names_causes_and_rebuilds_only_what_changed() {
    let w = World::new();
    let tree = w.dir.path().join("tree");
    tiny_tree(&tree);
    let t = tree.to_str().unwrap();
    let out = bulk(&w, &["--tree", t, "--jobs", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("misc/orphan: prefailed: dependency nothere>=1 names")
            && err.contains("dependency cycle: misc/cyc"),
        "{err}"
    );
    assert_eq!(status_of(&w, "misc/a").0, "built");
    assert_eq!(status_of(&w, "misc/b").0, "built");
    let (s, _, why) = status_of(&w, "misc/broken");
    assert_eq!(s, "failed");
    assert!(why.starts_with("build:"), "{why}");
    assert_eq!(
        status_of(&w, "misc/after-broken"),
        ("indirect-failed".into(), "broken-1.0".into(), String::new())
    );
    assert_eq!(status_of(&w, "misc/orphan").0, "prefailed");
    assert_eq!(
        status_of(&w, "misc/after-orphan"),
        (
            "indirect-prefailed".into(),
            "orphan-1.0".into(),
            String::new()
        )
    );
    assert_eq!(status_of(&w, "misc/cyc1").0, "prefailed");
    // The failure's log is linked and holds the compiler's complaint.
    let r = report(&w);
    let broken = r
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pkgpath"] == "misc/broken")
        .unwrap();
    let log = w
        .root
        .join("var/bulk")
        .join(broken["log"].as_str().unwrap());
    assert!(
        std::fs::read_to_string(&log).unwrap().contains("error"),
        "{}",
        log.display()
    );
    // The text report ranks failures by how many packages they broke.
    let text = std::fs::read_to_string(w.root.join("var/bulk/report.txt")).unwrap();
    assert!(
        text.contains("broken-1.0") && text.contains("breaks 1"),
        "{text}"
    );
    // What the builds cost is recorded, per phase.
    let csv = stdout(&bulk(&w, &["history", "--csv"]));
    assert!(
        csv.lines()
            .any(|l| l.starts_with(|c: char| c.is_ascii_digit())
                && l.contains(",misc/a,a-1.0,build,")),
        "{csv}"
    );
    // The built packages are installed in the root, each in its depot dir.
    let run = Command::new(w.root.join("packages/b-1.0/bin/tool"))
        .output()
        .unwrap();
    assert_eq!(stdout(&run), "b\n");

    // A second run builds nothing that built.
    let package_a = w.dir.path().join("packages/All/a-1.0.tgz");
    let before = std::fs::metadata(&package_a).unwrap().modified().unwrap();
    bulk(&w, &["--jobs", "2"]);
    assert_eq!(status_of(&w, "misc/a").0, "up-to-date");
    assert_eq!(status_of(&w, "misc/b").0, "up-to-date");
    assert_eq!(status_of(&w, "misc/broken").0, "failed");
    let after = std::fs::metadata(&package_a).unwrap().modified().unwrap();
    assert_eq!(before, after);

    // Changing a rebuilds a and b, naming the file and the dependency.
    std::fs::write(
        tree.join("misc/a/files/tool.c"),
        "#include <stdio.h>\nint main(void) { puts(\"a2\"); return 0; }\n",
    )
    .unwrap();
    let explain = stdout(&bulk(&w, &["explain", "misc/a"]));
    assert!(
        explain.contains("next bulk builds it: recipe changed: files/tool.c"),
        "{explain}"
    );
    bulk(&w, &["--jobs", "2"]);
    let (s, _, why) = status_of(&w, "misc/a");
    assert_eq!(
        (s.as_str(), why.as_str()),
        ("built", "recipe changed: files/tool.c")
    );
    let (s, _, why) = status_of(&w, "misc/b");
    assert_eq!(
        (s.as_str(), why.as_str()),
        ("built", "dependency rebuilt: a-1.0")
    );
    let run = Command::new(w.root.join("packages/a-1.0/bin/tool"))
        .output()
        .unwrap();
    assert_eq!(stdout(&run), "a2\n");
}

/// Without a sandbox each build's root is checked for what it wrote; what
/// the bulk itself writes meanwhile (the next build's logs, the report) is
/// not the build's doing and fails nothing.
#[test]
fn an_unconfined_bulk_is_not_failed_by_its_own_logs() {
    let w = World::new();
    let tree = w.dir.path().join("tree");
    tool_recipe(
        &tree,
        "misc/slow",
        "distname = \"slow-1.0\"\npre-build = \"sleep 3\"",
        "s",
    );
    for name in ["fast1", "fast2", "fast3"] {
        tool_recipe(
            &tree,
            &format!("misc/{name}"),
            &format!("distname = \"{name}-1.0\""),
            name,
        );
    }
    let mut c = w.command(&depot_bin());
    build_env(&w, &mut c);
    let out = c
        .args(["bulk", "--tree", tree.to_str().unwrap(), "--jobs", "2"])
        .env("DEPOT_NO_SANDBOX", "1")
        // One make job each: two builds run at once on two cores.
        .env("MAKE_JOBS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        stderr(&out),
        failed_logs(&w)
    );
    for name in ["slow", "fast1", "fast2", "fast3"] {
        assert_eq!(status_of(&w, &format!("misc/{name}")).0, "built", "{name}");
    }
}

#[test]
fn a_bulk_killed_midway_continues_without_rebuilding_what_finished() {
    let w = World::new();
    let tree = w.dir.path().join("tree");
    tool_recipe(&tree, "misc/a", "distname = \"a-1.0\"", "a");
    tool_recipe(
        &tree,
        "misc/b",
        &format!(
            "distname = \"b-1.0\"\n{}\npost-build = \"sleep 5\"",
            depends("misc/a")
        ),
        "b",
    );
    tool_recipe(
        &tree,
        "misc/c",
        &format!("distname = \"c-1.0\"\n{}", depends("misc/b")),
        "c",
    );
    let start = |group: bool| {
        let mut c = w.command(&depot_bin());
        build_env(&w, &mut c);
        c.args(["bulk", "--tree", tree.to_str().unwrap(), "--jobs", "2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if group {
            c.process_group(0);
        }
        c.spawn().unwrap()
    };
    let b_recipe = tree.join("misc/b");
    let b_builds = || build_one_of(&b_recipe).is_some();
    let package_a = w.dir.path().join("packages/All/a-1.0.tgz");
    let a_time = std::cell::OnceCell::new();
    // The next run finishes b and c and leaves a alone.
    let continues = || {
        let out = bulk(&w, &["--jobs", "2"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(status_of(&w, "misc/a").0, "up-to-date");
        assert_eq!(status_of(&w, "misc/b").0, "built");
        assert_eq!(status_of(&w, "misc/c").0, "built");
        assert_eq!(
            std::fs::metadata(&package_a).unwrap().modified().unwrap(),
            *a_time.get().unwrap()
        );
    };
    let mut child = start(false);
    // Kill depot while b builds (a is done: b's build has started).
    let b_log = w.root.join("var/bulk/logs/b-1.0/depot.log");
    wait_for("b's build", Duration::from_mins(1), || b_log.exists());
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    a_time
        .set(std::fs::metadata(&package_a).unwrap().modified().unwrap())
        .unwrap();
    assert!(!w.dir.path().join("packages/All/c-1.0.tgz").exists());
    continues();
    let run = Command::new(w.root.join("packages/c-1.0/bin/tool"))
        .output()
        .unwrap();
    assert_eq!(stdout(&run), "c\n");

    // One build killed (kill -9 of its build-one process) while b is
    // rebuilt: the bulk goes on, b fails and c waits on it; the next run
    // builds those two and leaves a alone.
    let recipe_file = b_recipe.join("recipe.toml");
    let text = std::fs::read_to_string(&recipe_file).unwrap();
    let b_sleeps = |seconds: u32| {
        std::fs::write(
            &recipe_file,
            text.replace("sleep 5", &format!("sleep {seconds}")),
        )
        .unwrap();
    };
    b_sleeps(30);
    let child = start(false);
    wait_for("b's build", Duration::from_mins(1), b_builds);
    std::thread::sleep(Duration::from_millis(500));
    let builder = build_one_of(&b_recipe).unwrap();
    let killed = Command::new("kill")
        .args(["-9", &builder.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(status_of(&w, "misc/a").0, "up-to-date");
    let (status, _, reason) = status_of(&w, "misc/b");
    assert_eq!(status, "failed", "{}", stderr(&out));
    assert!(reason.contains("SIGKILL"), "{reason}");
    assert_eq!(status_of(&w, "misc/c").0, "indirect-failed");
    // Nothing finished was lost: the packages of the run before are there.
    for pkg in ["a-1.0.tgz", "b-1.0.tgz", "c-1.0.tgz"] {
        assert!(
            w.dir.path().join("packages/All").join(pkg).is_file(),
            "{pkg}"
        );
    }
    b_sleeps(1);
    continues();

    // Ctrl-C: SIGINT to the whole process group, as a terminal sends it,
    // while b is rebuilt: no build outlives it.
    b_sleeps(20);
    let child = start(true);
    wait_for("b's build", Duration::from_mins(1), b_builds);
    std::thread::sleep(Duration::from_millis(500));
    let interrupted = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(interrupted.success());
    assert!(!child.wait_with_output().unwrap().status.success());
    wait_for(
        "b's build to end after Ctrl-C",
        Duration::from_secs(10),
        || !b_builds(),
    );
    b_sleeps(2);
    continues();
}

/// The pid of the `depot bulk build-one` process building `recipe`.
fn build_one_of(recipe: &Path) -> Option<u32> {
    let want = recipe.as_os_str().as_encoded_bytes();
    for entry in std::fs::read_dir("/proc").ok()? {
        let entry = entry.ok()?;
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.contains(&&b"build-one"[..]) && args.contains(&want) {
            return Some(pid);
        }
    }
    None
}

/// The build of `pkgname` in the last bulk: when it started and ended (the
/// recipe's post-build prints both).
fn build_interval(w: &World, pkgname: &str) -> (f64, f64) {
    let logs = w.root.join("var/bulk/logs").join(pkgname);
    let mut text = String::new();
    for entry in std::fs::read_dir(&logs).unwrap() {
        text += &std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
    }
    let stamp = |mark: &str| -> f64 {
        text.lines()
            .rev()
            .find_map(|l| l.strip_prefix(mark))
            .unwrap_or_else(|| panic!("no {mark} in the logs of {pkgname}: {text}"))
            .trim()
            .parse()
            .unwrap()
    };
    (stamp("T-start "), stamp("T-end "))
}

fn apart(a: (f64, f64), b: (f64, f64)) -> bool {
    a.1 <= b.0 || b.1 <= a.0
}

#[test]
fn never_together_and_the_memory_limit_keep_builds_apart() {
    let w = World::new();
    let tree = w.dir.path().join("tree");
    // m1, m2 each hold 64 MiB for a second; n1, n2 just take a second.
    for (name, work) in [
        (
            "m1",
            "dd if=/dev/zero of=/dev/null bs=64M count=2 2>/dev/null; sleep 1",
        ),
        (
            "m2",
            "dd if=/dev/zero of=/dev/null bs=64M count=2 2>/dev/null; sleep 1",
        ),
        ("n1", "sleep 1"),
        ("n2", "sleep 1"),
    ] {
        tool_recipe(
            &tree,
            &format!("misc/{name}"),
            &format!(
                "distname = \"{name}-1.0\"\npost-build = 'echo T-start $(date +%s.%N); {work}; echo T-end $(date +%s.%N)'"
            ),
            name,
        );
    }
    // Each pair alone in the bulk (a limited list), two slots.
    let pair = |a: &str, b: &str, more: &[&str]| {
        let list = w.dir.path().join("list");
        std::fs::write(&list, format!("misc/{a}\nmisc/{b}\n")).unwrap();
        let mut args = vec![
            "--tree",
            tree.to_str().unwrap(),
            "--limited-list",
            list.to_str().unwrap(),
            "--jobs",
            "2",
            // Cores enough that neither build waits for one.
            "--cores",
            "8",
        ];
        args.extend(more);
        let out = bulk(&w, &args);
        assert!(
            out.status.success(),
            "{}\n{}",
            stderr(&out),
            failed_logs(&w)
        );
        let interval = |p: &str| build_interval(&w, &format!("{p}-1.0"));
        (interval(a), interval(b))
    };
    let (n1, n2) = pair("n1", "n2", &["--never-together", "misc/n1,n2"]);
    assert!(apart(n1, n2), "n1 {n1:?} and n2 {n2:?} overlap");
    // Without a limit m1 and m2 build together; the history has each
    // one's peak memory, and with a limit below two of them they do not.
    let (m1, m2) = pair("m1", "m2", &[]);
    assert!(!apart(m1, m2), "m1 {m1:?} and m2 {m2:?} did not overlap");
    let out = bulk(&w, &["history", "--csv"]);
    let rss = |pkg: &str| -> u64 {
        stdout(&out)
            .lines()
            .find(|l| l.contains(&format!(",{pkg},total,")))
            .and_then(|l| l.split(',').nth(6))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no history of {pkg}: {}", stdout(&out)))
    };
    assert!(rss("m1-1.0") >= 64 << 20, "{}", rss("m1-1.0"));
    let (m1, m2) = pair("m1", "m2", &["--force", "all", "--memory-limit", "100M"]);
    assert!(apart(m1, m2), "m1 {m1:?} and m2 {m2:?} overlap");
}

#[test]
fn bad_bulk_input_is_refused_with_what_to_do() {
    let w = World::new();
    let refused = |args: &[&str], needle: &str| {
        let err = failed(&bulk(&w, args), args);
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    refused(&["build"], "run `depot bulk scan");
    refused(&["--tree", "/nonexistent/tree"], "is not a directory");
    // Options given before the phase count as well.
    refused(
        &["--tree", "/nonexistent/tree", "scan"],
        "/nonexistent/tree is not a directory",
    );
    refused(
        &["--tree", ".", "--memory-limit", "lots"],
        "lots: not a size",
    );
    // A mistyped upload target is refused before the builds, not after.
    refused(
        &["--tree", ".", "--upload", "builder:"],
        "give the repository directory after the host",
    );
    // Nothing of the root was made.
    assert!(!w.root.exists(), "a failed bulk left {}", w.root.display());
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

fn dump_dom(browser: &Path, url: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--dump-dom",
            url,
        ])
        .output()
        .unwrap();
    stdout(&out)
}

#[test]
fn real_recipes_bulk_build_upload_and_install_from_the_upload() {
    let dist = distfiles();
    if !dist.join("lzop-1.04.tar.gz").exists() {
        skip("../shared/distfiles is not beside the checkout");
        return;
    }
    let w = World::new();
    let tree = w.dir.path().join("tree");
    let recipes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("recipes");
    crate::util::copy_tree(&recipes, &tree);
    // A deliberately broken recipe beside the real ones, and one needing it.
    recipe(
        &tree,
        "misc/broken",
        "distname = \"broken-1.0\"\ncategories = [\"misc\"]\ncomment = \"Broken\"\ndistfiles = []\ndo-build = \"echo broken-on-purpose; exit 3\"\n",
        &[],
    );
    recipe(
        &tree,
        "misc/needs-broken",
        "distname = \"needs-broken-1.0\"\ncategories = [\"misc\"]\ncomment = \"Needs broken\"\ndistfiles = []\ndepends = [\"broken>=1:../../misc/broken\"]\nno_build = true\n",
        &[],
    );
    let site = format!("file://{}/", dist.canonicalize().unwrap().display());
    let upload = w.dir.path().join("repo");
    let mut c = w.command(&depot_bin());
    build_env(&w, &mut c);
    let out = c
        .args(["bulk", "--tree", tree.to_str().unwrap(), "--jobs", "2"])
        .arg("--upload")
        .arg(&upload)
        .env("MASTER_SITE_OVERRIDE", &site)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for path in [
        "archivers/lzo",
        "archivers/lzop",
        "devel/zlib",
        "graphics/libpng",
        "lang/lua",
        "misc/hello",
    ] {
        assert_eq!(
            status_of(&w, path).0,
            "built",
            "{path}: {}\n{}",
            stderr(&out),
            failed_logs(&w)
        );
    }
    assert_eq!(status_of(&w, "misc/broken").0, "failed");
    assert_eq!(status_of(&w, "misc/needs-broken").0, "indirect-failed");
    across_nodes_as_here(&w, &tree, &site);
    crate::merge::merged_tree_bulk_builds_only_what_the_merge_changed(&w, &recipes, &site);

    // A fresh root installs lzop from the upload.
    let fresh = World::new();
    let site = format!("file://{}", upload.display());
    let out = fresh.run_env(&["install", "lzop"], &[("BINPKG_SITES", &site)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lzop = Command::new(fresh.root.join("bin/lzop"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        stdout(&lzop).contains("1.04") || stderr(&lzop).contains("1.04"),
        "{}",
        stderr(&lzop)
    );

    // The HTML report, in a real browser: every package with its status; a log opens.
    let Some(browser) = chromium() else {
        skip("chromium is not installed");
        return;
    };
    let page = w.root.join("var/bulk/report.html");
    let dom = dump_dom(&browser, &format!("file://{}", page.display()));
    for (name, status) in [
        ("lzop-1.04", "built"),
        ("zlib-1.2.13", "built"),
        ("broken-1.0", "failed"),
        ("needs-broken-1.0", "indirect-failed"),
    ] {
        assert!(
            dom.contains(&format!(
                "<td>{name}</td><td class=\"status\">{status}</td>"
            )),
            "{name} {status} not in the page:\n{dom}"
        );
    }
    let r = report(&w);
    let log = r
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pkgpath"] == "misc/broken")
        .and_then(|p| p["log"].as_str())
        .unwrap()
        .to_owned();
    assert!(dom.contains(&format!("href=\"{log}\"")), "{dom}");
    let opened = dump_dom(
        &browser,
        &format!("file://{}", w.root.join("var/bulk").join(&log).display()),
    );
    assert!(opened.contains("broken-on-purpose"), "{opened}");
}

/// The same tree across three sshd nodes of powers 1, 1, 2: the same
/// statuses and the same packages (same files) as the local bulk in `here`;
/// a second run builds nothing.
fn across_nodes_as_here(here: &World, tree: &Path, site: &str) {
    let w = World::new();
    let Some(cluster) = crate::sshd::Cluster::start(3, &w.root) else {
        return;
    };
    let nodes = w.dir.path().join("nodes");
    cluster.nodes_file(&nodes, &["1", "1", "2"]);
    let run = |args: &[&str]| {
        let mut c = w.command(&depot_bin());
        build_env(&w, &mut c);
        c.env("DEPOT_SSH", &cluster.ssh)
            .env("MASTER_SITE_OVERRIDE", site)
            .arg("bulk")
            .args(args)
            .arg("--nodes")
            .arg(&nodes)
            .output()
            .unwrap()
    };
    let out = run(&["--tree", tree.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary = |w: &World| statuses(&w.root.join("var/bulk"));
    assert_eq!(
        summary(&w),
        summary(here),
        "{}\n{}",
        stderr(&out),
        failed_logs(&w)
    );
    let nodes_used: std::collections::BTreeSet<String> = report(&w)
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["node"].as_str().map(str::to_owned))
        .collect();
    assert!(nodes_used.len() >= 2, "{nodes_used:?}");
    let listing = |w: &World, pkg: &str| -> Vec<String> {
        let file = w.dir.path().join("packages/All").join(pkg);
        let contents = crate::util::read_member(&file, "+CONTENTS");
        contents
            .lines()
            // Files and dependencies; @cwd and comments name each root.
            .filter(|l| !l.starts_with('@') || l.starts_with("@pkgdep"))
            .map(str::to_owned)
            .collect()
    };
    for pkg in [
        "lzop-1.04.tgz",
        "zlib-1.2.13.tgz",
        "lua-5.4.4.tgz",
        "libpng-1.6.39.tgz",
    ] {
        assert_eq!(listing(&w, pkg), listing(here, pkg), "{pkg}");
    }
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for (name, status) in summary(&w) {
        assert!(
            matches!(status.as_str(), "up-to-date" | "failed" | "indirect-failed"),
            "{name} {status}: {}",
            stderr(&out)
        );
    }

    // Upload to another machine by rsync over ssh: the packages, then the
    // summary; a fresh root installs from what arrived.
    let upload = |target: &str| {
        let mut c = w.command(&depot_bin());
        build_env(&w, &mut c);
        c.env("DEPOT_SSH", &cluster.ssh)
            .args(["bulk", "upload", target])
            .output()
            .unwrap()
    };
    let remote = w.dir.path().join("remote-repo");
    let target = format!("127.0.0.1:{}:{}", cluster.nodes[0].port, remote.display());
    let out = upload(&target);
    assert!(out.status.success(), "{}", stderr(&out));
    let built: std::collections::BTreeSet<String> =
        std::fs::read_dir(w.dir.path().join("packages/All"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("broken") && !n.starts_with("needs-broken"))
            .collect();
    let arrived: std::collections::BTreeSet<String> = std::fs::read_dir(remote.join("All"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("pkg_summary"))
        .collect();
    assert_eq!(arrived, built);
    assert!(remote.join("All/pkg_summary.gz").is_file());
    // A second upload sends nothing new and leaves the repository whole.
    let out = upload(&target);
    assert!(out.status.success(), "{}", stderr(&out));
    let fresh = World::new();
    let out = fresh.run_env(
        &["install", "lzop"],
        &[("BINPKG_SITES", &format!("file://{}", remote.display()))],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(fresh.root.join("bin/lzop").exists());
    // A host that does not answer: an error naming it, the repository unchanged.
    let before = std::fs::read(remote.join("All/pkg_summary.gz")).unwrap();
    let out = upload(&format!("127.0.0.1:1:{}", remote.display()));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("upload to 127.0.0.1:") && stderr(&out).contains("did not complete"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(remote.join("All/pkg_summary.gz")).unwrap(),
        before
    );
    // A remote target without a directory is refused before anything moves.
    let out = upload("127.0.0.1:");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("give the repository directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn simulate_prints_makespan_and_bound_and_critical_path_beats_fifo() {
    let w = World::new();
    let graph = w.scratch.join("g.json");
    // A fan-out behind one long chain: FIFO starts the short jobs first.
    let mut jobs = vec![
        serde_json::json!({"name": "root", "duration": 1.0, "deps": []}),
        serde_json::json!({"name": "long1", "duration": 10.0, "deps": ["root"]}),
        serde_json::json!({"name": "long2", "duration": 10.0, "deps": ["long1"]}),
    ];
    for i in 0..8 {
        jobs.push(serde_json::json!({"name": format!("s{i}"), "duration": 2.0, "deps": ["root"]}));
    }
    // Put the long chain last in file order.
    jobs.rotate_left(1);
    jobs.rotate_right(1);
    let long1 = jobs.remove(1);
    jobs.push(long1);
    let long2 = jobs.remove(1);
    jobs.push(long2);
    std::fs::write(&graph, serde_json::json!({ "jobs": jobs }).to_string()).unwrap();
    let g = graph.to_str().unwrap();
    let last = |rule: &str| -> (f64, f64) {
        let out = w.ok(&["bulk", "simulate", g, "--jobs", "2", "--rule", rule]);
        let line = out.lines().last().unwrap().to_owned();
        let field = |k: &str| -> f64 {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(k))
                .unwrap()
                .parse()
                .unwrap()
        };
        (field("makespan="), field("lower_bound="))
    };
    let (cp, bound) = last("critical-path");
    let (fifo, _) = last("fifo");
    // Bound: root 1 + chain 20 = 21; critical path meets it.
    assert!((bound - 21.0).abs() < 1e-6, "{bound}");
    assert!((cp - 21.0).abs() < 1e-6, "{cp}");
    assert!(fifo > cp, "fifo {fifo} cp {cp}");
}
