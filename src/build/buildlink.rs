//! Buildlink: a build sees only what its recipe declares. It gets a private
//! view of exactly its dependencies (made by the views engine), compiler
//! flags into each dependency's depot dir, and wrappers in front of the
//! compilers that drop `-I`, `-L` and rpath arguments into the root's default
//! view or into any depot dir the recipe did not declare (as pkgsrc's
//! cwrappers do).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use super::Build;
use super::phases::{find_program, system_path};

/// The tools that get a wrapper.
const WRAPPED: &[&str] = &["cc", "gcc", "c++", "g++", "cpp", "ld", "clang", "clang++"];

/// The private view of the build's dependencies.
pub fn view_dir(build: &Build<'_>) -> PathBuf {
    build.wrkdir().join(".buildlink")
}

/// Where the wrappers are.
pub fn wrapper_dir(build: &Build<'_>) -> PathBuf {
    build.wrkdir().join(".wrapper/bin")
}

/// The dependencies' depot dirs, each once, in declaration order.
fn dep_dirs(build: &Build<'_>) -> Vec<PathBuf> {
    let mut seen = BTreeSet::new();
    build
        .deps
        .iter()
        .filter(|d| seen.insert(d.depot_dir.clone()))
        .map(|d| d.depot_dir.clone())
        .collect()
}

/// `PATH`, `CPPFLAGS`, `LDFLAGS`, `PKG_CONFIG_PATH`, `CC`, `CXX` for the build.
pub fn flags(build: &Build<'_>) -> Vec<(&'static str, String)> {
    let dirs = dep_dirs(build);
    let mut cppflags = String::new();
    let mut ldflags = String::new();
    let mut pkgconfig = Vec::new();
    for dir in &dirs {
        let d = dir.display();
        let _ = write!(cppflags, "-I{d}/include ");
        let _ = write!(ldflags, "-L{d}/lib -Wl,-rpath,{d}/lib ");
        pkgconfig.push(format!("{d}/lib/pkgconfig"));
        pkgconfig.push(format!("{d}/share/pkgconfig"));
    }
    // The package's own libraries are found where it will be installed.
    let _ = write!(ldflags, "-Wl,-rpath,{}/lib", build.prefix().display());
    let path = format!(
        "{}:{}/bin:{}",
        wrapper_dir(build).display(),
        view_dir(build).display(),
        system_path()
    );
    vec![
        ("PATH", path),
        ("CPPFLAGS", cppflags.trim_end().to_owned()),
        ("LDFLAGS", ldflags),
        ("PKG_CONFIG_PATH", pkgconfig.join(":")),
        ("PKG_CONFIG_LIBDIR", pkgconfig.join(":")),
        ("CC", "cc".to_owned()),
        ("CXX", "c++".to_owned()),
    ]
}

/// Make the private view and the wrappers.
pub fn create(build: &Build<'_>) -> Result<()> {
    let view = view_dir(build);
    if view.exists() {
        crate::linking::remove_tree(&view)?;
    }
    let members: Vec<views::Member> = build
        .deps
        .iter()
        .enumerate()
        .filter(|(i, d)| !build.deps[..*i].iter().any(|e| e.pkgname == d.pkgname))
        .map(|(i, d)| views::Member {
            name: d.pkgname.clone(),
            depot_dir: d.depot_dir.clone(),
            paths: d.paths.clone(),
            priority: i as i64,
        })
        .collect();
    let plan = views::plan(&members, &views::Options::defaults())
        .context("the dependencies cannot share one view")?;
    let dirs: Vec<PathBuf> = members.iter().map(|m| m.depot_dir.clone()).collect();
    views::materialise(&plan, &dirs, &view)
        .with_context(|| format!("cannot make the build's view {}", view.display()))?;

    let wrappers = wrapper_dir(build);
    fs_err::create_dir_all(&wrappers)?;
    let mut allowed: Vec<String> = dep_dirs(build)
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    allowed.push(build.prefix().display().to_string());
    allowed.push(build.wrkdir().display().to_string());
    allowed.push(view.display().to_string());
    let root = build.settings.root.display().to_string();
    let mut made = 0;
    for tool in WRAPPED {
        let Some(real) = find_program(tool, &system_path()) else {
            continue;
        };
        let script = wrapper_script(&real.display().to_string(), &root, &allowed);
        let path = wrappers.join(tool);
        fs_err::write(&path, script)?;
        fs_err::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        made += 1;
    }
    if made == 0 {
        bail!(
            "no C compiler (cc, gcc, clang) in {}; install one",
            system_path()
        );
    }
    Ok(())
}

/// Single-quote for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A POSIX sh wrapper that filters the arguments, then runs the real tool.
fn wrapper_script(real: &str, root: &str, allowed: &[String]) -> String {
    let mut allow_cases = String::new();
    for dir in allowed {
        let q = quote(dir);
        let _ = write!(allow_cases, "{q}|{q}/*) return 0 ;; ");
    }
    format!(
        r#"#!/bin/sh
# depot buildlink wrapper: drops -I, -L and rpath arguments that point into
# the root ({root}) outside the build's declared dependencies.
allowed() {{
    case "$1" in
    {allow_cases}
    {rootq}|{rootq}/*) return 1 ;;
    esac
    return 0
}}
skip=
for arg do
    shift
    if [ -n "$skip" ]; then
        skip=
        if allowed "${{arg#-Wl,}}"; then set -- "$@" "$pending" "$arg"; fi
        continue
    fi
    case "$arg" in
    -I|-L|-isystem|-rpath|-Wl,-rpath|-R) skip=1; pending=$arg; continue ;;
    -I*) dir=${{arg#-I}} ;;
    -L*) dir=${{arg#-L}} ;;
    -isystem*) dir=${{arg#-isystem}} ;;
    -Wl,-rpath,*) dir=${{arg#-Wl,-rpath,}} ;;
    -Wl,-rpath=*) dir=${{arg#-Wl,-rpath=}} ;;
    -Wl,-R*) dir=${{arg#-Wl,-R}} ;;
    -R*) dir=${{arg#-R}} ;;
    *) set -- "$@" "$arg"; continue ;;
    esac
    if allowed "$dir"; then set -- "$@" "$arg"; fi
done
exec {realq} "$@"
"#,
        rootq = quote(root),
        realq = quote(real),
    )
}
