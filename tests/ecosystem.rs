//! What surrounds the commands: shell completions that complete package and
//! view names from the database (sourced in a real bash), man pages
//! rendered by `man -l`.

use std::process::Command;

use crate::util::{World, skip, stderr, stdout};

fn have(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn bash_completion_completes_packages_and_views_from_the_database() {
    if !have("bash", "--version") {
        skip("bash is not installed");
        return;
    }
    let w = World::new();
    let hello = w.package("hello-1.0", &[("bin/hello", "hi")], &[]);
    let help = w.package("helper-2.1", &[("bin/helper", "h")], &[]);
    w.ok(&["add", hello.to_str().unwrap(), help.to_str().unwrap()]);
    w.ok(&["view", "create", "work"]);
    w.ok(&["view", "create", "web"]);
    let script = w.dir.path().join("depot.bash");
    std::fs::write(&script, w.ok(&["completions", "bash"])).unwrap();
    let complete = |words: &[&str]| -> Vec<String> {
        let line = words.join(" ");
        let out = w
            .command(std::path::Path::new("bash"))
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({line}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; \
                 _clap_complete_depot depot '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"; complete -p depot >&2",
                script.display(),
                words.len() - 1,
                words[words.len() - 1],
                words[words.len() - 2],
            ))
            .output()
            .unwrap();
        assert!(
            stderr(&out).contains("_clap_complete_depot depot"),
            "{}",
            stderr(&out)
        );
        let mut got: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
        got.sort();
        got
    };
    assert_eq!(
        complete(&["depot", "info", "hel"]),
        ["hello", "hello-1.0", "helper", "helper-2.1"]
    );
    assert_eq!(complete(&["depot", "delete", "helper-"]), ["helper-2.1"]);
    assert_eq!(complete(&["depot", "view", "add", "w"]), ["web", "work"]);
    assert_eq!(
        complete(&["depot", "view", "add", "work", "hello-"]),
        ["hello-1.0"]
    );
    assert_eq!(complete(&["depot", "env", "de"]), ["default"]);
    assert!(complete(&["depot", "vi"]).contains(&"view".to_owned()));
    // A root named on the command line is the one completed from.
    let other = World::new();
    let tool = other.package("tool-3", &[("bin/tool", "t")], &[]);
    other.ok(&["add", tool.to_str().unwrap()]);
    let root = format!("--root={}", other.root.display());
    assert_eq!(
        complete(&["depot", &root, "info", "to"]),
        ["tool", "tool-3"]
    );
    // zsh and fish scripts are written too (and parse, where the shell is here).
    for (shell, check) in [("zsh", ["-n"]), ("fish", ["--no-execute"])] {
        let text = w.ok(&["completions", shell]);
        assert!(text.contains("_DEPOT_COMPLETE"), "{shell}: {text}");
        if have(shell, "--version") {
            let file = w.dir.path().join(format!("depot.{shell}"));
            std::fs::write(&file, &text).unwrap();
            let out = Command::new(shell).args(check).arg(&file).output().unwrap();
            assert!(out.status.success(), "{shell}: {}", stderr(&out));
        }
    }
}

#[test]
fn man_pages_render_with_man() {
    let w = World::new();
    let dir = w.dir.path().join("man");
    w.ok(&["man", "--out", dir.to_str().unwrap()]);
    let pages: Vec<_> = std::fs::read_dir(dir.join("man1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for page in [
        "depot.1",
        "depot-add.1",
        "depot-view-add.1",
        "depot-admin-audit.1",
        "depot-merge.1",
        "depot-bulk.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "{page} not in {pages:?}");
    }
    assert!(dir.join("man5/depot.toml.5").is_file());
    if !have("man", "--version") {
        skip("man is not installed");
        return;
    }
    for (page, expect) in [
        (
            "man1/depot-view-add.1",
            "depot-view-add - Add installed packages to a view",
        ),
        ("man1/depot-admin-audit.1", "audit"),
        ("man1/depot.1", "depot-add(1)"),
        (
            "man5/depot.toml.5",
            "audit.check_vulnerabilities (CHECK_VULNERABILITIES)",
        ),
    ] {
        let out = Command::new("man")
            .arg("-l")
            .arg(dir.join(page))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "200")
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap();
        assert!(out.status.success(), "{page}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains("NAME") && text.contains(expect),
            "{page}:\n{text}"
        );
    }
}

/// Run `depot ARGS` under `script` (a pseudo-terminal) on `w`'s root;
/// returns what the terminal showed.
fn on_a_terminal(w: &World, args: &[&str]) -> Option<String> {
    if !have("script", "--version") {
        return None;
    }
    let line = std::iter::once(crate::util::depot_bin().display().to_string())
        .chain(args.iter().map(|a| format!("'{a}'")))
        .collect::<Vec<_>>()
        .join(" ");
    let out = w
        .command(std::path::Path::new("script"))
        .args(["-qec", &line, "/dev/null"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{line}: {}", stderr(&out));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_large_add_shows_progress_on_a_terminal_and_nothing_in_a_pipe() {
    let w = World::new();
    let files: Vec<(String, String)> = (0..2_500)
        .map(|i| (format!("share/big/f{i:04}"), format!("file {i}\n")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let big = w.package("big-1.0", &refs, &[]);
    let small = w.package("small-1.0", &[("share/small/f", "x")], &[]);
    let Some(shown) = on_a_terminal(&w, &["add", big.to_str().unwrap()]) else {
        skip("script (util-linux) is not installed");
        return;
    };
    assert!(
        shown.contains("adding big-1.0") && shown.contains("/2500 files"),
        "no progress bar on the terminal: {shown:?}"
    );
    assert!(w.root.join("packages/big-1.0/share/big/f2499").is_file());
    // A small package shows none, even on a terminal; -q none either.
    let shown = on_a_terminal(&w, &["add", small.to_str().unwrap()]).unwrap();
    assert!(!shown.contains("files,"), "{shown:?}");
    let shown = on_a_terminal(&w, &["delete", "-q", "big-1.0"]).unwrap();
    assert!(!shown.contains("files,"), "{shown:?}");
    // In a pipe: nothing but what depot always says.
    let again = World::new();
    let out = again.depot(&["add", big.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        !stderr(&out).contains("files,") && !stderr(&out).contains('\r'),
        "{}",
        stderr(&out)
    );
    // A view change over thousands of links shows one too (a second package
    // in share/big keeps the view from folding it into one link).
    let peer = again.package("peer-1.0", &[("share/big/zz-peer", "p")], &[]);
    again.ok(&["add", "--no-view", peer.to_str().unwrap()]);
    again.ok(&["view", "create", "many"]);
    let shown = on_a_terminal(&again, &["view", "add", "many", "big-1.0", "peer-1.0"]).unwrap();
    assert!(
        shown.contains("view many ["),
        "no progress on a view change: {shown:?}"
    );
    assert!(again.root.join("views/many/share/big/f2499").exists());
    let out = again.depot(&["view", "remove", "many", "peer-1.0", "big-1.0"]);
    assert!(
        out.status.success() && !stderr(&out).contains('\r'),
        "{}",
        stderr(&out)
    );
    let shown = on_a_terminal(&again, &["delete", "big-1.0"]).unwrap();
    assert!(
        shown.contains("checking big-1.0"),
        "no progress on delete: {shown:?}"
    );
}

/// `-q` and `-v` mean the same on every command, before or after its name:
/// `-q` leaves nothing but errors and what was asked for; the default
/// confirms what changed; `-v` adds each step (a view's new generation).
#[test]
fn quiet_and_verbose_mean_the_same_on_every_command() {
    let sequence = |w: &World| -> Vec<Vec<String>> {
        let one = w.package("hello-1.0", &[("bin/hello", "1")], &[]);
        let two = w.package("hello-2.0", &[("bin/hello", "2")], &[]);
        let repo = w.dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::copy(&one, repo.join("hello-1.0.tgz")).unwrap();
        let s = |v: &std::path::Path| v.to_str().unwrap().to_owned();
        [
            vec!["add".to_owned(), s(&one)],
            vec!["add".into(), "--no-view".into(), s(&two)],
            vec!["view".into(), "create".into(), "work".into()],
            vec![
                "view".into(),
                "add".into(),
                "work".into(),
                "hello-1.0".into(),
            ],
            vec![
                "view".into(),
                "switch".into(),
                "work".into(),
                "hello-1.0".into(),
                "hello-2.0".into(),
            ],
            vec!["view".into(), "rollback".into(), "work".into()],
            vec![
                "view".into(),
                "remove".into(),
                "work".into(),
                "hello-1.0".into(),
            ],
            vec!["view".into(), "delete".into(), "work".into()],
            vec!["gc".into()],
            vec!["repo".into(), "index".into(), s(&repo)],
        ]
        .into()
    };
    let run = |flag: Option<&str>| -> Vec<(Vec<String>, String, String)> {
        let w = World::new();
        let mut outs = Vec::new();
        for mut args in sequence(&w) {
            if let Some(flag) = flag {
                args.push(flag.to_owned());
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = w.depot(&argv);
            assert!(out.status.success(), "{argv:?}: {}", stderr(&out));
            outs.push((args, stdout(&out), stderr(&out)));
        }
        outs
    };
    for (args, out, err) in run(Some("-q")) {
        assert!(out.is_empty() && err.is_empty(), "{args:?}:\n{out}\n{err}");
    }
    let plain = run(None);
    for (args, out, _) in &plain {
        let confirms = matches!(args[0].as_str(), "view" | "gc" | "repo");
        assert!(!confirms || !out.is_empty(), "{args:?} said nothing");
    }
    for ((args, out, err), (_, plain_out, _)) in run(Some("-v")).iter().zip(&plain) {
        // Paths differ between the worlds; the lines' first words do not.
        let head = |l: &str| {
            l.split_whitespace()
                .skip(1)
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        };
        for line in plain_out.lines() {
            assert!(
                out.lines().any(|l| head(l) == head(line)),
                "{args:?}: -v lost {line:?}:\n{out}"
            );
        }
        let changes_a_view =
            args[0] == "add" && args.len() == 2 || args[0] == "view" && args[1] != "delete";
        assert!(
            !changes_a_view || err.contains(" is live: "),
            "{args:?}: {err}"
        );
    }
}
