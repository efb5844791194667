//! `depot demo`: the embedded default job. Makes two versions of a small package,
//! installs both side by side in a temporary root, and shows views at work.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use super::ExitStatus;
use crate::cli::DemoArgs;

fn write_executable(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::write(path, text)?;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn stage(dir: &Path, version: &str) -> Result<()> {
    write_executable(
        &dir.join("bin/hello"),
        &format!("#!/bin/sh\necho \"hello from version {version}\"\n"),
    )?;
    fs_err::create_dir_all(dir.join("share/man/man1"))?;
    fs_err::write(
        dir.join("share/man/man1/hello.1"),
        format!(".TH HELLO 1\nhello {version}\n"),
    )?;
    fs_err::create_dir_all(dir.join("share/doc/hello"))?;
    fs_err::write(
        dir.join("share/doc/hello/README"),
        format!("hello {version}: a demo package\n"),
    )?;
    Ok(())
}

/// Run `depot demo`.
pub fn run(args: &DemoArgs) -> Result<ExitStatus> {
    let temporary;
    let base = if let Some(d) = &args.dir {
        fs_err::create_dir_all(d)?;
        d.clone()
    } else {
        temporary = tempfile::tempdir().context("cannot make a temporary directory")?;
        temporary.path().to_owned()
    };
    let exe = std::env::current_exe().context("cannot find the depot binary")?;
    let root = base.join("root");
    let packages = base.join("packages");
    fs_err::create_dir_all(&packages)?;
    let depot = |args: &[&str]| -> Result<String> {
        let out = Command::new(&exe)
            .args(args)
            .env("DEPOT_ROOT", &root)
            .env("PKG_PATH", &packages)
            .env_remove("PKG_DBDIR")
            .output()
            .context("cannot run depot")?;
        // Show what a user would see in a terminal: both streams.
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!("depot {} failed:\n{text}", args.join(" "));
        }
        Ok(text)
    };
    let show = |title: &str, text: &str| {
        println!("$ {title}");
        for line in text.lines() {
            println!("  {line}");
        }
    };

    println!("depot demo in {}\n", base.display());
    for version in ["1.0", "2.0"] {
        let stage_dir = base.join(format!("stage-{version}"));
        stage(&stage_dir, version)?;
        let file = packages.join(format!("hello-{version}.tgz"));
        depot(&[
            "create",
            "--from-dir",
            &stage_dir.to_string_lossy(),
            "-c",
            "-a friendly greeter (demo)",
            "-d",
            &format!("-hello {version} prints a greeting. It is built by depot demo."),
            &file.to_string_lossy(),
        ])?;
        show(
            &format!("depot create --from-dir stage-{version} hello-{version}.tgz"),
            "",
        );
    }
    show(
        "PKG_PATH=packages depot add hello-1.0",
        &depot(&["add", "hello-1.0"])?,
    );
    show(
        "depot add hello-2.0   # side by side",
        &depot(&["add", "hello-2.0"])?,
    );
    show("depot info", &depot(&["info"])?);
    show("ls root/packages", &list(&root.join("packages")));
    let run_hello = |dir: &Path| -> Result<String> {
        let out = Command::new(dir.join("bin/hello"))
            .output()
            .context("cannot run hello")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    show("root/bin/hello   # the default view", &run_hello(&root)?);
    for (view, pkgname) in [("old", "hello-1.0"), ("new", "hello-2.0")] {
        show(
            &format!("depot view create {view}"),
            &depot(&["view", "create", view])?,
        );
        show(
            &format!("depot view add {view} {pkgname}"),
            &depot(&["view", "add", view, pkgname])?,
        );
    }
    show("depot view list", &depot(&["view", "list"])?);
    show("depot env new", &depot(&["env", "new"])?);
    show("views/new/bin/hello", &run_hello(&root.join("views/new"))?);
    show(
        "depot view switch default hello-1.0 hello-2.0",
        &depot(&["view", "switch", "default", "hello-1.0", "hello-2.0"])?,
    );
    show("root/bin/hello", &run_hello(&root)?);
    show(
        "depot view rollback default",
        &depot(&["view", "rollback", "default"])?,
    );
    show("root/bin/hello", &run_hello(&root)?);
    let real = fs_err::canonicalize(root.join("bin/hello"))?;
    show("realpath root/bin/hello", &format!("{}\n", real.display()));
    show("depot admin check", &depot(&["admin", "check"])?);
    if args.dir.is_none() {
        println!("\n(the temporary root is removed; pass --dir DIR to keep it)");
    }
    Ok(0)
}

fn list(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join("\n") + "\n"
}
