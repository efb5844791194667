//! The builder: recipes through fetch … package, buildlink isolation, the
//! sandbox, bin-install, and every bad input the builder issue names. Tiny
//! recipes made at test time (a C file and a Makefile, no tarball) keep these
//! fast; the real upstream tarballs are built once in `real_packages`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{World, depot_bin, serve_http, skip, stderr, stdout};

/// Build areas outside the root, so that "the root is unchanged" means something.
pub(crate) fn build_env(w: &World, c: &mut Command) {
    c.env("WRKOBJDIR", w.dir.path().join("work"))
        .env("PACKAGES", w.dir.path().join("packages"))
        .env("DISTDIR", w.dir.path().join("distfiles"))
        .env("MAKE_JOBS", "2")
        .env_remove("MASTER_SITE_OVERRIDE")
        .env_remove("MASTER_SITE_BACKUP")
        .env_remove("BINPKG_SITES")
        .env_remove("DEPOT_NO_SANDBOX");
}

fn run(w: &World, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = w.command(&depot_bin());
    build_env(w, &mut c);
    c.args(args);
    c.envs(env.iter().copied());
    c.output().expect("run depot")
}

fn ok(w: &World, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(w, args, env);
    assert!(
        out.status.success(),
        "depot {args:?} failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    format!("{}{}", stdout(&out), stderr(&out))
}

fn fails(w: &World, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(w, args, env);
    assert!(
        !out.status.success(),
        "depot {args:?} succeeded:\n{}",
        stdout(&out)
    );
    stderr(&out)
}

/// Write a recipe: `recipe.toml` and any other files (paths relative to the recipe dir).
pub(crate) fn recipe(tree: &Path, path: &str, toml: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = tree.join(path);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("recipe.toml"), toml).unwrap();
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// A recipe for a tiny C program `tool` that prints `text`; no distfile.
pub(crate) fn tool_recipe(tree: &Path, path: &str, head: &str, text: &str) -> PathBuf {
    let toml = format!(
        "{head}\ncategories = [\"misc\"]\ncomment = \"A tiny tool\"\ndistfiles = []\npost-extract = \"cp ${{FILESDIR}}/* ${{WRKSRC}}/\"\n"
    );
    let makefile = "all: tool\ntool: tool.c\n\t$(CC) $(CPPFLAGS) -o tool tool.c $(LDFLAGS)\ninstall:\n\tmkdir -p $(DESTDIR)$(PREFIX)/bin\n\tcp tool $(DESTDIR)$(PREFIX)/bin/tool\n";
    let source = format!("#include <stdio.h>\nint main(void) {{ puts(\"{text}\"); return 0; }}\n");
    recipe(
        tree,
        path,
        &toml,
        &[("files/Makefile", makefile), ("files/tool.c", &source)],
    )
}

fn tree(w: &World) -> PathBuf {
    w.dir.path().join("tree")
}

fn packages(w: &World) -> Vec<String> {
    let all = w.dir.path().join("packages/All");
    let mut names: Vec<String> = std::fs::read_dir(&all)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_tiny_recipe_builds_packages_installs_and_resumes() {
    let w = World::new();
    let dir = tool_recipe(
        &tree(&w),
        "misc/tool",
        "distname = \"tool-1.0\"",
        "tool one",
    );
    let d = dir.to_str().unwrap();
    let out = ok(&w, &["build", d, "--install"], &[]);
    for phase in [
        "fetch",
        "extract",
        "configure",
        "build",
        "install",
        "package",
    ] {
        assert!(out.contains(&format!("=> {phase} tool-1.0")), "{out}");
    }
    assert_eq!(packages(&w), ["tool-1.0.tgz"]);
    assert!(w.dir.path().join("packages/misc/tool-1.0.tgz").exists());
    let run = Command::new(w.root.join("bin/tool")).output().unwrap();
    assert_eq!(stdout(&run), "tool one\n");
    // PREFIX is the depot dir.
    assert!(w.root.join("packages/tool-1.0/bin/tool").is_file());
    let info = w.ok(&["info", "-B", "tool"]);
    assert!(
        info.contains("PKGPATH=misc/tool") && info.contains("RECIPE_HASH="),
        "{info}"
    );

    // Every phase is done: a second run does nothing.
    let again = ok(&w, &["build", d], &[]);
    assert!(!again.contains("=> "), "{again}");
    // A changed recipe starts again from the beginning.
    std::fs::write(
        dir.join("files/tool.c"),
        "#include <stdio.h>\nint main(void) { puts(\"tool two\"); return 0; }\n",
    )
    .unwrap();
    let changed = ok(&w, &["build", d], &[]);
    assert!(changed.contains("=> extract tool-1.0"), "{changed}");

    // The other targets.
    let shown = ok(&w, &["build", d, "show-distfiles"], &[]);
    assert_eq!(shown, "");
    let declared = recipe(
        &tree(&w),
        "misc/needs",
        "distname = \"needs-1.0\"\ncategories = [\"misc\"]\ncomment = \"n\"\ndepends = [\"tool>=1:../../misc/tool\", \"absent-[0-9]*:../../misc/absent\"]\n",
        &[],
    );
    let deps = ok(
        &w,
        &["build", declared.to_str().unwrap(), "show-depends"],
        &[],
    );
    assert!(
        deps.contains("depends\ttool>=1\t") && deps.contains("\ttool-1.0\n"),
        "{deps}"
    );
    assert!(
        deps.contains("absent-[0-9]*") && deps.contains("not installed"),
        "{deps}"
    );
    let files = ok(
        &w,
        &["build", declared.to_str().unwrap(), "show-distfiles"],
        &[],
    );
    assert_eq!(files, "needs-1.0.tar.gz\n");
    let plist = ok(&w, &["build", d, "print-plist"], &[]);
    assert!(
        plist.contains("@cwd ") && plist.contains("bin/tool"),
        "{plist}"
    );
    ok(&w, &["build", d, "clean"], &[]);
    assert!(!w.dir.path().join("work/misc/tool").exists());
}

#[test]
fn recipe_errors_name_the_file_line_and_key() {
    let w = World::new();
    let t = tree(&w);
    let cases = [
        (
            "missing",
            "distname = \"x-1.0\"\ncategories = [\"misc\"]\n",
            "missing field `comment`",
        ),
        (
            "unknown",
            "distname = \"x-1.0\"\ncategories = [\"misc\"]\ncomment = \"x\"\nconfigure_argz = []\n",
            "recipe.toml:4",
        ),
        (
            "wrongtype",
            "distname = \"x-1.0\"\ncategories = [\"misc\"]\ncomment = \"x\"\ngnu_configure = \"yes\"\n",
            "recipe.toml:4: key `gnu_configure`",
        ),
    ];
    for (name, toml, expected) in cases {
        let dir = recipe(&t, &format!("misc/{name}"), toml, &[]);
        let err = fails(&w, &["build", dir.to_str().unwrap()], &[]);
        assert!(err.contains(expected), "{name}: {err}");
        assert!(
            err.contains(&dir.join("recipe.toml").display().to_string()),
            "{err}"
        );
    }
    let err = fails(
        &w,
        &["build", t.join("misc/unknown").to_str().unwrap()],
        &[],
    );
    assert!(err.contains("configure_argz"), "{err}");
    // Nothing was made: no root, no package.
    assert!(!w.root.exists());
    assert!(packages(&w).is_empty());
}

/// A distfile made at test time: `name-1.0/` with a Makefile and a C file.
fn make_distfile(dir: &Path, name: &str) -> (PathBuf, String, u64) {
    use sha2::Digest as _;
    let src = dir.join("src").join(format!("{name}-1.0"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("Makefile"),
        format!("all: {name}\n{name}: main.c\n\t$(CC) -o {name} main.c\ninstall:\n\tmkdir -p $(DESTDIR)$(PREFIX)/bin\n\tcp {name} $(DESTDIR)$(PREFIX)/bin/\n"),
    )
    .unwrap();
    std::fs::write(
        src.join("main.c"),
        "#include <stdio.h>\nint main(void) { puts(\"original\"); return 0; }\n",
    )
    .unwrap();
    let sites = dir.join("site");
    std::fs::create_dir_all(&sites).unwrap();
    let file = sites.join(format!("{name}-1.0.tar.gz"));
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&file)
        .arg("-C")
        .arg(dir.join("src"))
        .arg(format!("{name}-1.0"))
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&file).unwrap();
    (
        sites,
        hex::encode(sha2::Sha256::digest(&bytes)),
        bytes.len() as u64,
    )
}

fn distinfo(file: &str, sha: &str, size: u64) -> String {
    format!("$NetBSD$\n\nSHA256 ({file}) = {sha}\nSize ({file}) = {size} bytes\n")
}

#[test]
fn fetch_over_http_tries_every_site_and_checksum_mismatch_is_refused() {
    let w = World::new();
    let (site, sha, size) = make_distfile(w.dir.path(), "fetchme");
    let url = serve_http(site.clone());
    let toml = format!(
        "distname = \"fetchme-1.0\"\ncategories = [\"misc\"]\ncomment = \"c\"\nmaster_sites = [\"{url}/missing/\", \"file:///nonexistent/dir/\", \"{url}/\"]\n"
    );
    let dir = recipe(
        &tree(&w),
        "misc/fetchme",
        &toml,
        &[("distinfo", &distinfo("fetchme-1.0.tar.gz", &sha, size))],
    );
    let d = dir.to_str().unwrap();
    // Found on the third site, over HTTP.
    ok(&w, &["build", d, "checksum"], &[]);
    assert!(w.dir.path().join("distfiles/fetchme-1.0.tar.gz").is_file());

    // A site list where every site fails: each is named.
    // A port nothing listens on: the connection is refused.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let toml_bad = format!(
        "distname = \"nowhere-1.0\"\ncategories = [\"misc\"]\ncomment = \"c\"\nmaster_sites = [\"{url}/missing/\", \"{refused}/\", \"file:///nonexistent/dir/\"]\n"
    );
    let bad = recipe(&tree(&w), "misc/nowhere", &toml_bad, &[]);
    let err = fails(&w, &["build", bad.to_str().unwrap(), "fetch"], &[]);
    assert!(
        err.contains(&format!("{url}/missing/nowhere-1.0.tar.gz")),
        "{err}"
    );
    assert!(err.contains("404"), "{err}");
    assert!(
        err.contains(&format!("{refused}/nowhere-1.0.tar.gz")),
        "{err}"
    );
    assert!(
        err.contains("file:///nonexistent/dir/nowhere-1.0.tar.gz"),
        "{err}"
    );

    // MASTER_SITE_OVERRIDE comes first.
    let over = recipe(
        &tree(&w),
        "misc/over",
        "distname = \"fetchme-1.0\"\ncategories = [\"misc\"]\ncomment = \"c\"\nmaster_sites = [\"file:///nonexistent/\"]\n",
        &[("distinfo", &distinfo("fetchme-1.0.tar.gz", &sha, size))],
    );
    let site_url = format!("file://{}/", site.display());
    std::fs::remove_file(w.dir.path().join("distfiles/fetchme-1.0.tar.gz")).unwrap();
    ok(
        &w,
        &["build", over.to_str().unwrap(), "fetch"],
        &[("MASTER_SITE_OVERRIDE", &site_url)],
    );

    // A checksum mismatch names the file, the expected and the actual sum.
    let wrong = "0".repeat(64);
    std::fs::write(
        dir.join("distinfo"),
        distinfo("fetchme-1.0.tar.gz", &wrong, size),
    )
    .unwrap();
    let err = fails(&w, &["build", d], &[]);
    assert!(
        err.contains("checksum mismatch for fetchme-1.0.tar.gz"),
        "{err}"
    );
    assert!(err.contains(&wrong) && err.contains(&sha), "{err}");
    assert!(packages(&w).is_empty());
    assert!(
        !w.root.join("packages").exists()
            || std::fs::read_dir(w.root.join("packages"))
                .unwrap()
                .flatten()
                .all(|e| e.file_name().to_string_lossy().starts_with('.'))
    );

    // makesum writes the right distinfo; then the build goes through.
    ok(&w, &["build", d, "makesum"], &[]);
    let written = std::fs::read_to_string(dir.join("distinfo")).unwrap();
    assert!(written.contains(&sha), "{written}");
    ok(&w, &["build", d], &[]);
    assert_eq!(packages(&w), ["fetchme-1.0.tgz"]);
}

#[test]
fn a_failing_configure_names_phase_command_and_log_and_the_next_run_works() {
    let w = World::new();
    let dir = tool_recipe(
        &tree(&w),
        "misc/tool",
        "distname = \"tool-1.0\"\ndo-configure = \"echo configure-says-boom; exit 3\"",
        "x",
    );
    let d = dir.to_str().unwrap();
    let err = fails(&w, &["build", d], &[]);
    assert!(err.contains("tool-1.0: configure failed"), "{err}");
    assert!(
        err.contains("exit 3") && err.contains("exited with status 3"),
        "{err}"
    );
    assert!(err.contains("configure-says-boom"), "{err}");
    assert!(err.contains(".logs/configure.log"), "{err}");
    assert!(packages(&w).is_empty());
    assert!(!w.root.exists(), "a failed build leaves no root behind");
    // Fixed: the next run resumes at configure.
    let toml = std::fs::read_to_string(dir.join("recipe.toml"))
        .unwrap()
        .replace(
            "do-configure = \"echo configure-says-boom; exit 3\"",
            "do-configure = \"true\"",
        );
    std::fs::write(dir.join("recipe.toml"), toml).unwrap();
    ok(&w, &["build", d], &[]);
    assert_eq!(packages(&w), ["tool-1.0.tgz"]);
}

#[test]
fn a_patch_that_does_not_apply_names_the_hunk() {
    let w = World::new();
    let (site, sha, size) = make_distfile(w.dir.path(), "patchme");
    let good = "--- main.c.orig\n+++ main.c\n@@ -1,2 +1,2 @@\n #include <stdio.h>\n-int main(void) { puts(\"original\"); return 0; }\n+int main(void) { puts(\"patched\"); return 0; }\n";
    let toml = format!(
        "distname = \"patchme-1.0\"\ncategories = [\"misc\"]\ncomment = \"c\"\nmaster_sites = [\"file://{}/\"]\n",
        site.display()
    );
    let dir = recipe(
        &tree(&w),
        "misc/patchme",
        &toml,
        &[("patches/patch-main.c", good)],
    );
    let d = dir.to_str().unwrap();
    std::fs::write(
        dir.join("distinfo"),
        distinfo("patchme-1.0.tar.gz", &sha, size),
    )
    .unwrap();
    // Patches are checksummed too.
    let err = fails(&w, &["build", d, "patch"], &[]);
    assert!(
        err.contains("patch-main.c") && err.contains("makesum"),
        "{err}"
    );
    ok(&w, &["build", d, "makepatchsum"], &[]);
    ok(&w, &["build", d, "--install"], &[]);
    let out = Command::new(w.root.join("bin/patchme")).output().unwrap();
    assert_eq!(stdout(&out), "patched\n");

    // A patch whose context is wrong fails (no fuzz), naming the hunk.
    let bad = good.replace("#include <stdio.h>", "#include <stdlib.h>");
    std::fs::write(dir.join("patches/patch-main.c"), bad).unwrap();
    ok(&w, &["build", d, "makepatchsum"], &[]);
    let err = fails(&w, &["build", d, "patch"], &[]);
    assert!(err.contains("patch-main.c does not apply"), "{err}");
    assert!(err.contains("Hunk #1 FAILED"), "{err}");
}

#[test]
fn a_dependency_cycle_between_recipes_prints_the_chain() {
    let w = World::new();
    let t = tree(&w);
    recipe(
        &t,
        "devel/a",
        "distname = \"a-1.0\"\ncategories = [\"devel\"]\ncomment = \"a\"\ndistfiles = []\ndepends = [\"b>=1:../../devel/b\"]\n",
        &[],
    );
    recipe(
        &t,
        "devel/b",
        "distname = \"b-1.0\"\ncategories = [\"devel\"]\ncomment = \"b\"\ndistfiles = []\ndepends = [\"c>=1:../../devel/c\"]\n",
        &[],
    );
    recipe(
        &t,
        "devel/c",
        "distname = \"c-1.0\"\ncategories = [\"devel\"]\ncomment = \"c\"\ndistfiles = []\ndepends = [\"a>=1:../../devel/a\"]\n",
        &[],
    );
    let err = fails(
        &w,
        &["bin-install", t.join("devel/a").to_str().unwrap()],
        &[],
    );
    assert!(
        err.contains("dependency cycle between recipes: devel/a -> devel/b -> devel/c -> devel/a"),
        "{err}"
    );
    assert!(!w.root.exists());
    // `build` on its own names the missing dependency and what to run.
    let err = fails(&w, &["build", t.join("devel/a").to_str().unwrap()], &[]);
    assert!(err.contains("b>=1") && err.contains("bin-install"), "{err}");
}

#[test]
fn a_build_that_installs_outside_destdir_is_refused_and_the_root_is_unchanged() {
    let w = World::new();
    // Something in the root first, so there is a root to keep unchanged.
    let base = tool_recipe(&tree(&w), "misc/base", "distname = \"base-1.0\"", "base");
    ok(&w, &["bin-install", base.to_str().unwrap()], &[]);
    let before = w.snapshot();

    // Outside PREFIX, inside DESTDIR.
    let etc = tool_recipe(
        &tree(&w),
        "misc/etc",
        "distname = \"etc-1.0\"\npost-install = \"mkdir -p ${DESTDIR}/etc && touch ${DESTDIR}/etc/etc.conf\"",
        "x",
    );
    let err = fails(&w, &["build", etc.to_str().unwrap()], &[]);
    assert!(
        err.contains("outside PREFIX") && err.contains("/etc/etc.conf"),
        "{err}"
    );

    // Straight into PREFIX and the root's bin, ignoring DESTDIR; with and without the sandbox.
    let direct = tool_recipe(
        &tree(&w),
        "misc/direct",
        "distname = \"direct-1.0\"\ndo-install = \"mkdir -p ${PREFIX}/bin && cp tool ${PREFIX}/bin/ && cp tool ${LOCALBASE}/bin/direct-tool\"",
        "x",
    );
    let d = direct.to_str().unwrap();
    let sandboxed = Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if sandboxed {
        let err = fails(&w, &["build", d], &[]);
        assert!(err.contains("install failed"), "{err}");
        assert!(err.contains("Read-only file system"), "{err}");
    } else {
        skip("bubblewrap is not available: the sandboxed half is not checked");
    }
    let err = fails(&w, &["build", d], &[("DEPOT_NO_SANDBOX", "1")]);
    assert!(
        err.contains("no sandbox") || err.contains("outside its staging area"),
        "{err}"
    );
    assert!(err.contains("outside its staging area"), "{err}");
    assert!(
        err.contains("packages/direct-1.0") && err.contains("bin/direct-tool"),
        "{err}"
    );

    assert_eq!(before, w.snapshot(), "the root changed");
    assert_eq!(packages(&w), ["base-1.0.tgz"]);
}

#[test]
fn a_build_killed_midway_leaves_no_package_and_the_next_run_resumes() {
    use std::os::unix::process::CommandExt as _;
    let w = World::new();
    let marker = w.dir.path().join("building");
    let dir = tool_recipe(
        &tree(&w),
        "misc/slow",
        &format!(
            "distname = \"slow-1.0\"\npre-build = \"if [ ! -e {m}.done ]; then touch {m}; sleep 30; fi\"",
            m = marker.display()
        ),
        "slow",
    );
    let d = dir.to_str().unwrap();
    let mut c = w.command(&depot_bin());
    build_env(&w, &mut c);
    // The sandbox must not hide the marker: it lives outside WRKDIR, so run without it here.
    c.env("DEPOT_NO_SANDBOX", "1");
    let mut child = c
        .args(["build", d])
        .process_group(0)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed().as_secs() < 60,
            "the build never reached its build phase"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // kill -9 the whole process group.
    let pgid = child.id();
    Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    let _ = child.wait();
    assert!(
        packages(&w).is_empty(),
        "a partial package: {:?}",
        packages(&w)
    );

    std::fs::write(format!("{}.done", marker.display()), "").unwrap();
    let out = ok(&w, &["build", d], &[("DEPOT_NO_SANDBOX", "1")]);
    assert!(out.contains("=> build slow-1.0"), "{out}");
    assert!(
        !out.contains("=> extract") && !out.contains("=> configure"),
        "{out}"
    );
    assert_eq!(packages(&w), ["slow-1.0.tgz"]);
}

const GREET_MAKEFILE: &str = "all: libgreet.so.1\nlibgreet.so.1: greet.c\n\t$(CC) -shared -fPIC -Wl,-soname,libgreet.so.1 -o libgreet.so.1 greet.c\ninstall:\n\tmkdir -p $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include\n\tcp libgreet.so.1 $(DESTDIR)$(PREFIX)/lib/\n\tln -sf libgreet.so.1 $(DESTDIR)$(PREFIX)/lib/libgreet.so\n\tcp greet.h $(DESTDIR)$(PREFIX)/include/\n";

/// A consumer that asks for the root's include and lib dirs outright, as
/// careless build systems do; the wrappers must drop them.
const USE_MAKEFILE: &str = "all: usegreet\nusegreet: main.c\n\t$(CC) $(CPPFLAGS) -I$(LOCALBASE)/include -o usegreet main.c -L$(LOCALBASE)/lib -Wl,-rpath,$(LOCALBASE)/lib $(LDFLAGS) -lgreet\ninstall:\n\tmkdir -p $(DESTDIR)$(PREFIX)/bin\n\tcp usegreet $(DESTDIR)$(PREFIX)/bin/\n";

fn use_recipe(t: &Path, path: &str, depends: &str) -> PathBuf {
    recipe(
        t,
        path,
        &format!(
            "distname = \"usegreet-1.0\"\ncategories = [\"misc\"]\ncomment = \"u\"\ndistfiles = []\npost-extract = \"cp ${{FILESDIR}}/* ${{WRKSRC}}/\"\n{depends}"
        ),
        &[
            ("files/Makefile", USE_MAKEFILE),
            (
                "files/main.c",
                "#include <greet.h>\n#include <stdio.h>\nint main(void) { puts(greeting()); return 0; }\n",
            ),
        ],
    )
}

#[test]
fn buildlink_hides_what_the_recipe_does_not_declare() {
    let w = World::new();
    let t = tree(&w);
    let greet = recipe(
        &t,
        "devel/libgreet",
        "distname = \"libgreet-1.0\"\ncategories = [\"devel\"]\ncomment = \"g\"\ndistfiles = []\npost-extract = \"cp ${FILESDIR}/* ${WRKSRC}/\"\n",
        &[
            ("files/Makefile", GREET_MAKEFILE),
            ("files/greet.h", "const char *greeting(void);\n"),
            (
                "files/greet.c",
                "const char *greeting(void) { return \"greetings\"; }\n",
            ),
        ],
    );
    ok(&w, &["bin-install", greet.to_str().unwrap()], &[]);
    // In the root's default view, for anyone to see.
    assert!(w.root.join("include/greet.h").exists());
    assert!(w.root.join("lib/libgreet.so").exists());

    // Not declared: invisible, although the root has it and the Makefile asks for the root.
    let undeclared = use_recipe(&t, "misc/undeclared", "");
    let err = fails(&w, &["build", undeclared.to_str().unwrap()], &[]);
    assert!(err.contains("build failed"), "{err}");
    assert!(err.contains("greet.h"), "{err}");

    // Declared: found, through the dependency's depot dir.
    let declared = use_recipe(
        &t,
        "misc/declared",
        "depends = [\"libgreet>=1:../../devel/libgreet\"]\n",
    );
    ok(&w, &["bin-install", declared.to_str().unwrap()], &[]);
    let run = Command::new(w.root.join("bin/usegreet")).output().unwrap();
    assert_eq!(stdout(&run), "greetings\n");
    let elf = w.root.join("packages/usegreet-1.0/bin/usegreet");
    let dynamic = Command::new("readelf")
        .arg("-d")
        .arg(&elf)
        .output()
        .unwrap();
    let dynamic = stdout(&dynamic);
    let depot_lib = w.root.join("packages/libgreet-1.0/lib");
    assert!(
        dynamic.contains(&depot_lib.display().to_string()),
        "{dynamic}"
    );
    let root_lib = format!("{}/lib:", w.root.display());
    let root_lib_end = format!("{}/lib]", w.root.display());
    assert!(
        !dynamic.contains(&root_lib) && !dynamic.contains(&root_lib_end),
        "{dynamic}"
    );
    let info = w.ok(&["info", "-B", "usegreet"]);
    assert!(info.contains("BUILT_WITH=libgreet-1.0"), "{info}");
    assert!(
        info.contains(&format!("REQUIRES={}/libgreet.so.1", depot_lib.display())),
        "{info}"
    );
    let contents = w.ok(&["info", "-f", "usegreet"]);
    assert!(contents.contains("libgreet>=1"), "{contents}");
}

#[test]
fn two_versions_of_a_recipe_side_by_side_in_their_own_views() {
    let w = World::new();
    let t = tree(&w);
    let one = tool_recipe(&t, "misc/tool", "distname = \"tool-1.0\"", "tool 1.0");
    ok(
        &w,
        &["bin-install", "--view", "old", one.to_str().unwrap()],
        &[],
    );
    let two = tool_recipe(
        &t,
        "misc/tool",
        "distname = \"tool-1.0\"\npkgrevision = 1",
        "tool 1.0nb1",
    );
    ok(
        &w,
        &["bin-install", "--view", "new", two.to_str().unwrap()],
        &[],
    );
    let old = Command::new(w.root.join("views/old/bin/tool"))
        .output()
        .unwrap();
    let new = Command::new(w.root.join("views/new/bin/tool"))
        .output()
        .unwrap();
    assert_eq!(stdout(&old), "tool 1.0\n");
    assert_eq!(stdout(&new), "tool 1.0nb1\n");
    assert!(
        w.root.join("packages/tool-1.0").is_dir() && w.root.join("packages/tool-1.0nb1").is_dir()
    );
}

#[test]
fn bin_install_reuses_an_up_to_date_package_and_rebuilds_a_stale_one() {
    let w = World::new();
    let dir = tool_recipe(&tree(&w), "misc/tool", "distname = \"tool-1.0\"", "tool");
    let d = dir.to_str().unwrap();
    ok(&w, &["build", d], &[]);
    // Up to date: installed from PACKAGES, nothing built.
    let out = ok(&w, &["bin-install", d], &[]);
    assert!(out.contains("using ") && !out.contains("=> "), "{out}");
    // Installed: a second bin-install does nothing at all.
    let out = ok(&w, &["bin-install", d], &[]);
    assert!(!out.contains("=> ") && !out.contains("using "), "{out}");
    // A changed recipe makes the package stale: built again.
    w.ok(&["delete", "tool"]);
    std::fs::write(dir.join("DESCR"), "A tiny tool, described.\n").unwrap();
    let out = ok(&w, &["bin-install", d], &[]);
    assert!(out.contains("=> build tool-1.0"), "{out}");
    // From a local BINPKG_SITES entry, too.
    let site = w.dir.path().join("site");
    std::fs::create_dir_all(site.join("All")).unwrap();
    std::fs::rename(
        w.dir.path().join("packages/All/tool-1.0.tgz"),
        site.join("All/tool-1.0.tgz"),
    )
    .unwrap();
    w.ok(&["delete", "tool"]);
    let out = ok(
        &w,
        &["bin-install", d],
        &[("BINPKG_SITES", &format!("file://{}", site.display()))],
    );
    assert!(
        out.contains(&format!(
            "using {}",
            site.join("All/tool-1.0.tgz").display()
        )),
        "{out}"
    );
    // From an HTTP site (a repository indexed by `depot repo index`): downloaded, checked, used.
    w.ok(&["repo", "index", site.join("All").to_str().unwrap()]);
    let server = crate::util::RepoServer::start(site.clone());
    w.ok(&["delete", "tool"]);
    let out = ok(&w, &["bin-install", d], &[("BINPKG_SITES", &server.url)]);
    let cached = w.root.join("var/cache/packages/tool-1.0.tgz");
    assert!(
        out.contains(&format!("using {}", cached.display())),
        "{out}"
    );
    assert!(!out.contains("=> "), "nothing is built: {out}");
    assert!(
        server
            .take_log()
            .contains(&"/All/tool-1.0.tgz 200".to_owned())
    );
}

#[test]
fn a_plist_that_does_not_match_the_install_is_an_error() {
    let w = World::new();
    let dir = tool_recipe(&tree(&w), "misc/tool", "distname = \"tool-1.0\"", "tool");
    std::fs::write(
        dir.join("PLIST"),
        "@comment $NetBSD$\nbin/tool\nshare/doc/tool/README\n",
    )
    .unwrap();
    let err = fails(&w, &["build", dir.to_str().unwrap()], &[]);
    assert!(
        err.contains("in PLIST, not installed: share/doc/tool/README"),
        "{err}"
    );
    std::fs::write(dir.join("PLIST"), "bin/tool\n").unwrap();
    ok(&w, &["build", dir.to_str().unwrap()], &[]);
}

// ---- The real upstream tarballs, built once per run and shared. ----

struct Real {
    root: PathBuf,
    env: Vec<(String, String)>,
    first: String,
}

pub(crate) fn distfiles() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/distfiles")
}

fn real() -> Option<&'static Real> {
    static REAL: std::sync::OnceLock<Option<Real>> = std::sync::OnceLock::new();
    REAL.get_or_init(|| {
        let dist = distfiles();
        if !dist.join("hello-2.10.tar.gz").exists() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap().keep();
        let root = dir.join("root");
        let env: Vec<(String, String)> = vec![
            ("DEPOT_ROOT".into(), root.display().to_string()),
            (
                "MASTER_SITE_OVERRIDE".into(),
                format!("file://{}/", dist.canonicalize().unwrap().display()),
            ),
            (
                "PACKAGES".into(),
                dir.join("packages").display().to_string(),
            ),
            ("WRKOBJDIR".into(), dir.join("work").display().to_string()),
            (
                "DISTDIR".into(),
                dir.join("distfiles").display().to_string(),
            ),
        ];
        let recipes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("recipes");
        let out = Command::new(depot_bin())
            .arg("bin-install")
            .args(
                [
                    "archivers/lzop",
                    "misc/hello",
                    "lang/lua",
                    "graphics/libpng",
                ]
                .iter()
                .map(|r| recipes.join(r)),
            )
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("PKG_DBDIR")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "building the real packages failed:\n{}",
            stderr(&out)
        );
        Some(Real {
            root,
            env,
            first: stderr(&out),
        })
    })
    .as_ref()
}

fn real_or_skip() -> Option<&'static Real> {
    let r = real();
    if r.is_none() {
        skip("../shared/distfiles is not beside the checkout");
    }
    r
}

fn ldd(path: &Path) -> String {
    stdout(&Command::new("ldd").arg(path).output().unwrap())
}

#[test]
fn real_lzop_round_trips_and_loads_lzo_from_its_depot_dir() {
    let Some(r) = real_or_skip() else { return };
    assert!(r.first.contains("=> build lzo-2.10") && r.first.contains("=> build lzop-1.04"));
    let data = r.root.join("../lzop-input");
    let text: String = (0..2000).map(|i| i.to_string() + " line\n").collect();
    std::fs::write(&data, &text).unwrap();
    let lzop = r.root.join("bin/lzop");
    let st = Command::new(&lzop).arg("-f").arg(&data).status().unwrap();
    assert!(st.success());
    std::fs::remove_file(&data).unwrap();
    let st = Command::new(&lzop)
        .arg("-d")
        .arg(r.root.join("../lzop-input.lzo"))
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(std::fs::read_to_string(&data).unwrap(), text);
    let libs = ldd(&r.root.join("packages/lzop-1.04/bin/lzop"));
    let want = r.root.join("packages/lzo-2.10/lib/liblzo2.so.2");
    assert!(libs.contains(&format!("=> {}", want.display())), "{libs}");
}

#[test]
fn real_hello_lua_and_pngfix_run_from_the_view() {
    let Some(r) = real_or_skip() else { return };
    let hello = Command::new(r.root.join("bin/hello")).output().unwrap();
    assert_eq!(stdout(&hello), "Hello, world!\n");
    let lua = Command::new(r.root.join("bin/lua"))
        .args(["-e", "print(6*7)"])
        .output()
        .unwrap();
    assert_eq!(stdout(&lua), "42\n");
    let png = Command::new(r.root.join("bin/pngfix"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(stderr(&png).contains("pngfix") || stdout(&png).contains("pngfix"));
    let libs = ldd(&r.root.join("packages/libpng-1.6.39/lib/libpng16.so"));
    let want = r.root.join("packages/zlib-1.2.13/lib/libz.so.1");
    assert!(libs.contains(&format!("=> {}", want.display())), "{libs}");
}

#[test]
fn real_packages_land_in_packages_and_a_second_bin_install_builds_nothing() {
    let Some(r) = real_or_skip() else { return };
    let all = r.root.join("../packages/All");
    let count = std::fs::read_dir(&all).unwrap().count();
    assert!(count >= 6, "{count} packages in {}", all.display());
    let recipes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("recipes");
    let out = Command::new(depot_bin())
        .arg("bin-install")
        .arg(recipes.join("archivers/lzop"))
        .arg(recipes.join("misc/hello"))
        .envs(r.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("PKG_DBDIR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("=> "), "{}", stderr(&out));
}

#[test]
fn the_demo_builds_a_package_from_its_embedded_recipe_and_shows_it_in_a_view() {
    let w = World::new();
    let out = Command::new(depot_bin())
        .args(["demo", "--dir"])
        .arg(w.dir.path().join("demo"))
        .env("DEPOT_DEMO_EMBEDDED", "1")
        .env_remove("DEPOT_ROOT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("=> build greet-1.0"), "{text}");
    assert!(
        text.contains("greetings from a package depot built from its recipe"),
        "{text}"
    );
    assert!(text.contains("greet-1.0.tgz"), "{text}");
    assert!(
        w.dir
            .path()
            .join("demo/root/packages/greet-1.0/bin/greet")
            .is_file()
    );
}
