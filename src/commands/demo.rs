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
    let distfiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/distfiles");
    let site_override = fs_err::canonicalize(&distfiles)
        .map(|d| format!("file://{}/", d.display()))
        .unwrap_or_default();
    let depot = |args: &[&str]| -> Result<String> {
        let out = Command::new(&exe)
            .args(args)
            .env("MASTER_SITE_OVERRIDE", &site_override)
            .env_remove("WRKOBJDIR")
            .env_remove("PACKAGES")
            .env_remove("DISTDIR")
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
    build_from_recipe(&base, &depot, &show)?;
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

/// The recipe the demo builds when the real hello tarball is not at hand: a
/// tiny C program, no distfile.
const EMBEDDED_RECIPE: &str = r#"distname = "greet-1.0"
categories = ["misc"]
comment = "Greets from a package depot built from its recipe"
distfiles = []
post-extract = "cp ${FILESDIR}/* ${WRKSRC}/"
"#;
const EMBEDDED_MAKEFILE: &str = "all: greet\ngreet: greet.c\n\t$(CC) $(CPPFLAGS) -o greet greet.c $(LDFLAGS)\ninstall:\n\tmkdir -p $(DESTDIR)$(PREFIX)/bin\n\tcp greet $(DESTDIR)$(PREFIX)/bin/\n";
const EMBEDDED_SOURCE: &str = "#include <stdio.h>\nint main(void) { puts(\"greetings from a package depot built from its recipe\"); return 0; }\n";

/// Build a real package from a recipe (GNU hello from ../shared/distfiles
/// when present, else the embedded one) and show it in a view of its own.
fn build_from_recipe(
    base: &Path,
    depot: &dyn Fn(&[&str]) -> Result<String>,
    show: &dyn Fn(&str, &str),
) -> Result<()> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    let distfiles = source.join("../shared/distfiles");
    let hello = source.join("recipes/misc/hello");
    let embedded = std::env::var_os("DEPOT_DEMO_EMBEDDED").is_some_and(|v| !v.is_empty());
    let (recipe, program, shown) =
        if !embedded && distfiles.join("hello-2.10.tar.gz").is_file() && hello.is_dir() {
            let site = format!("file://{}/", fs_err::canonicalize(&distfiles)?.display());
            (
                hello,
                "hello",
                format!(
                    "MASTER_SITE_OVERRIDE={site} depot bin-install --view built recipes/misc/hello"
                ),
            )
        } else {
            let dir = base.join("recipes/misc/greet");
            fs_err::create_dir_all(dir.join("files"))?;
            fs_err::write(dir.join("recipe.toml"), EMBEDDED_RECIPE)?;
            fs_err::write(dir.join("files/Makefile"), EMBEDDED_MAKEFILE)?;
            fs_err::write(dir.join("files/greet.c"), EMBEDDED_SOURCE)?;
            (
                dir,
                "greet",
                "depot bin-install --view built recipes/misc/greet   # (embedded recipe)"
                    .to_owned(),
            )
        };
    show(
        "depot view create built",
        &depot(&["view", "create", "built"])?,
    );
    let text = depot(&["bin-install", "--view", "built", &recipe.to_string_lossy()])?;
    show(&shown, &text);
    let out = Command::new(base.join("root/views/built/bin").join(program))
        .output()
        .with_context(|| format!("cannot run views/built/bin/{program}"))?;
    show(
        &format!("views/built/bin/{program}   # PREFIX was its own depot dir"),
        &String::from_utf8_lossy(&out.stdout),
    );
    show(
        "ls var/packages/All",
        &list(&base.join("root/var/packages/All")),
    );
    Ok(())
}
