//! Running the phases: the work directory and its cookies, the environment
//! hooks and commands see, the sandbox, logs, and each phase's own action.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

use super::recipe::Stage;
use super::{Build, Outcome, Sandbox};

/// The directories searched for system tools, never the root's.
pub fn system_path() -> String {
    "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin".to_owned()
}

/// The first executable `name` in a `:`-separated `path`.
pub fn find_program(name: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path.split(':').filter(|d| !d.is_empty()).find_map(|dir| {
        let candidate = Path::new(dir).join(name);
        let meta = std::fs::metadata(&candidate).ok()?;
        (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(candidate)
    })
}

/// An exclusive lock on the recipe's work area: one build of a recipe at a time.
pub struct WorkLock {
    _file: std::fs::File,
}

/// Take the work area's lock, failing at once when another build holds it.
pub fn lock_workdir(build: &Build<'_>) -> Result<WorkLock> {
    let base = build.base_dir();
    fs_err::create_dir_all(&base)?;
    let path = base.join(".lock");
    let file = fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?
        .into_parts()
        .0;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(WorkLock { _file: file }),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => bail!(
            "{}: another build of {} is running in {}; wait for it to finish",
            build.recipe.pkgname,
            build.recipe.pkgpath,
            base.display()
        ),
        Err(e) => {
            Err(std::io::Error::from(e)).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

fn cookie(build: &Build<'_>, phase: &str) -> PathBuf {
    build.wrkdir().join(".cookies").join(phase)
}

/// Make WRKDIR, or start it afresh when it was made for another recipe or
/// other dependencies (the cookies record both).
pub fn prepare_workdir(build: &Build<'_>) -> Result<()> {
    let wrkdir = build.wrkdir();
    let stamp = wrkdir.join(".cookies/identity");
    let identity = build.identity();
    let current = fs_err::read_to_string(&stamp).ok();
    if current.as_deref() != Some(identity.as_str()) {
        if wrkdir.exists() {
            crate::linking::remove_tree(&wrkdir)?;
        }
        fs_err::create_dir_all(wrkdir.join(".cookies"))?;
        fs_err::write(&stamp, &identity)?;
    }
    for sub in [".logs", ".tmp", ".home"] {
        fs_err::create_dir_all(wrkdir.join(sub))?;
    }
    Ok(())
}

/// Whether `phase` finished in an earlier run.
pub fn done(build: &Build<'_>, phase: &str) -> bool {
    if !cookie(build, phase).exists() {
        return false;
    }
    // A package that is gone from PACKAGES is made again.
    phase != "package"
        || build.recipe.file.no_package
        || build.settings.package_file(&build.recipe.pkgname).exists()
}

/// Record that `phase` finished.
pub fn mark_done(build: &Build<'_>, phase: &str) -> Result<()> {
    fs_err::write(cookie(build, phase), build.identity())?;
    Ok(())
}

/// The environment hooks and commands run with; nothing else of the caller's leaks in.
pub fn environment(build: &Build<'_>) -> BTreeMap<String, String> {
    let recipe = build.recipe;
    let settings = build.settings;
    let wrkdir = build.wrkdir();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_owned(), v);
    };
    set("WRKDIR", s(&wrkdir));
    set("WRKSRC", s(&build.wrksrc()));
    set("PREFIX", s(&build.prefix()));
    set("DESTDIR", s(&build.destdir()));
    set("LOCALBASE", s(&settings.root));
    set("DEPOTBASE", s(&settings.root.join("packages")));
    set("PKGNAME", recipe.pkgname.clone());
    set("PKGBASE", recipe.pkgbase().to_owned());
    set("PKGVERSION", recipe.pkgversion().to_owned());
    set("PKGPATH", recipe.pkgpath.clone());
    set("DISTNAME", recipe.file.distname.clone());
    set("DISTDIR", s(&settings.distdir));
    set("FILESDIR", s(&recipe.dir.join("files")));
    set("PATCHDIR", s(&recipe.dir.join("patches")));
    set("PKGDIR", s(&recipe.dir));
    set("MAKE_JOBS", settings.make_jobs.to_string());
    set(
        "MAKE_PROGRAM",
        recipe
            .file
            .make_program
            .clone()
            .unwrap_or_else(|| "make".to_owned()),
    );
    set("BUILDLINK_DIR", s(&super::buildlink::view_dir(build)));
    set("HOME", s(&wrkdir.join(".home")));
    set("TMPDIR", s(&wrkdir.join(".tmp")));
    set("SHELL", "/bin/sh".to_owned());
    set("CONFIG_SHELL", "/bin/sh".to_owned());
    set("LC_ALL", "C".to_owned());
    set("LANG", "C".to_owned());
    if let Ok(term) = std::env::var("TERM") {
        set("TERM", term);
    }
    for (k, v) in super::buildlink::flags(build) {
        set(k, v);
    }
    env
}

/// `K="v"` words for the shell, `$` left to expand.
fn assignments(vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in vars {
        let escaped = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('`', "\\`");
        let _ = write!(out, "{k}=\"{escaped}\" ");
    }
    out
}

/// Run `script` with `sh -e` in `cwd` for `phase`, confined when a sandbox is
/// available; output appends to the phase's log.
pub fn shell(build: &Build<'_>, phase: &str, script: &str, cwd: &Path) -> Result<()> {
    let log_path = build.log_path(phase);
    let mut log = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    writeln!(log, "==> in {}:\n{script}", cwd.display())?;
    let log = log.into_parts().0;
    let env = environment(build);
    let confined = phase != "fetch";
    let mut command = if let (Sandbox::Bwrap(bwrap), true) = (build.settings.sandbox(), confined) {
        {
            let wrkdir = build.wrkdir();
            let mut c = Command::new(bwrap);
            c.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
                .arg("--bind")
                .arg(&wrkdir)
                .arg(&wrkdir)
                .args(["--unshare-net", "--unshare-ipc", "--die-with-parent"])
                .arg("--chdir")
                .arg(cwd)
                .args(["/bin/sh", "-ec", script]);
            c
        }
    } else {
        let mut c = Command::new("/bin/sh");
        c.args(["-ec", script]).current_dir(cwd);
        c
    };
    let status = command
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .with_context(|| format!("cannot run /bin/sh for {phase}"))?;
    if status.success() {
        return Ok(());
    }
    let tail = log_tail(&log_path, 20);
    let shown = if script.len() > 200 {
        format!("{}…", &script[..script.floor_char_boundary(200)])
    } else {
        script.to_owned()
    };
    bail!(
        "`{}` {} (in {})\nlog: {}\n--- last lines of the log ---\n{tail}",
        shown.trim(),
        describe_status(status),
        cwd.display(),
        log_path.display()
    )
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => "failed".to_owned(),
    }
}

/// The last `n` lines of a log.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = fs_err::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    crate::quote::message(&lines[start..].join("\n"))
}

/// Run the hook for `stage` of `phase`, if any, in WRKSRC (or WRKDIR before extract).
fn hook(build: &Build<'_>, stage: Stage, phase: &str) -> Result<bool> {
    let Some(script) = build.recipe.file.hook(stage, phase) else {
        return Ok(false);
    };
    let cwd = if build.wrksrc().is_dir() {
        build.wrksrc()
    } else {
        build.wrkdir()
    };
    shell(build, phase, script, &cwd)?;
    Ok(true)
}

/// Run one phase: pre-, do- (or the phase's own action), post-.
pub fn run_phase(build: &Build<'_>, phase: &'static str, outcome: &mut Outcome) -> Result<()> {
    let _ = fs_err::remove_file(build.log_path(phase));
    let file = &build.recipe.file;
    let skipped = match phase {
        "configure" => file.no_configure,
        "build" => file.no_build,
        "install" => file.no_install,
        "package" => file.no_package,
        _ => false,
    };
    if skipped {
        return Ok(());
    }
    // Extracting again, or installing again, starts from nothing.
    match phase {
        "extract" => reset_extraction(build)?,
        "install" => {
            let destdir = build.destdir();
            if destdir.exists() {
                crate::linking::remove_tree(&destdir)?;
            }
            fs_err::create_dir_all(build.staged_prefix())?;
            for dir in &file.installation_dirs {
                fs_err::create_dir_all(build.staged_prefix().join(dir))?;
            }
        }
        _ => {}
    }
    hook(build, Stage::Pre, phase)?;
    if !hook(build, Stage::Do, phase)? {
        match phase {
            "fetch" => super::fetch::fetch(build)?,
            "checksum" => super::fetch::checksum(build)?,
            "extract" => super::unpack::extract(build)?,
            "patch" => patch(build)?,
            "wrapper" => super::buildlink::create(build)?,
            "configure" => configure(build)?,
            "build" => make(build, "build")?,
            "test" => make(build, "test")?,
            "install" => make(build, "install")?,
            "package" => outcome.package = Some(super::package::package(build)?),
            _ => unreachable!("phase {phase}"),
        }
    }
    hook(build, Stage::Post, phase)?;
    if phase == "install" {
        super::package::check_staging(build)?;
    }
    Ok(())
}

/// Remove what an earlier extract left (and the cookies after it).
fn reset_extraction(build: &Build<'_>) -> Result<()> {
    let wrkdir = build.wrkdir();
    for entry in fs_err::read_dir(&wrkdir)? {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(name.to_str(), Some(".cookies" | ".logs" | ".tmp" | ".home")) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            crate::linking::remove_tree(&path)?;
        } else {
            fs_err::remove_file(&path)?;
        }
    }
    for later in super::PHASES.iter().skip_while(|p| **p != "patch") {
        let _ = fs_err::remove_file(cookie(build, later));
    }
    Ok(())
}

/// Apply `patches/`, then `patchfiles`, then LOCALPATCHES, each without fuzz.
fn patch(build: &Build<'_>) -> Result<()> {
    // A patch phase that was interrupted half way cannot be resumed: extract again.
    let started = build.wrkdir().join(".cookies/patch-started");
    if started.exists() {
        reset_extraction(build)?;
        super::unpack::extract(build)?;
    }
    fs_err::write(&started, "")?;
    let mut patches = build.recipe.local_patches()?;
    for name in &build.recipe.file.patchfiles {
        patches.push(build.settings.distdir.join(name));
    }
    if let Some(local) = &build.settings.localpatches {
        patches.extend(super::recipe::list_patches(
            &local.join(&build.recipe.pkgpath),
        )?);
    }
    let strip = build.recipe.file.patch_strip.unwrap_or(0);
    for file in patches {
        let script = format!(
            "patch -d \"$WRKSRC\" -p{strip} --forward --batch --fuzz=0 --no-backup-if-mismatch -r - -i '{}'",
            file.display()
        );
        let wrksrc = build.wrksrc();
        shell(build, "patch", &script, &wrksrc).with_context(|| {
            let hunks: Vec<String> = fs_err::read_to_string(build.log_path("patch"))
                .unwrap_or_default()
                .lines()
                .filter(|l| {
                    l.contains("FAILED") || l.contains("Reversed") || l.contains("can't find file")
                })
                .map(str::to_owned)
                .collect();
            format!(
                "patch {} does not apply cleanly (no fuzz allowed): {}",
                file.display(),
                if hunks.is_empty() {
                    "see the log".to_owned()
                } else {
                    hunks.join("; ")
                }
            )
        })?;
    }
    fs_err::remove_file(&started)?;
    Ok(())
}

/// The directories a step runs in, relative to WRKSRC.
fn dirs(list: Option<&Vec<String>>, fallback: Option<&Vec<String>>) -> Vec<String> {
    list.or(fallback)
        .cloned()
        .unwrap_or_else(|| vec![".".to_owned()])
}

fn configure(build: &Build<'_>) -> Result<()> {
    let file = &build.recipe.file;
    if !(file.has_configure || file.gnu_configure) {
        return Ok(());
    }
    let script = file.configure_script.as_deref().unwrap_or("./configure");
    let mut command = assignments(&file.configure_env);
    let _ = write!(command, "${{CONFIG_SHELL}} {script}");
    if file.gnu_configure {
        command.push_str(" --prefix=\"${PREFIX}\"");
    }
    for arg in &file.configure_args {
        command.push(' ');
        command.push_str(arg);
    }
    for dir in dirs(file.configure_dirs.as_ref(), None) {
        shell(build, "configure", &command, &build.wrksrc().join(dir))?;
    }
    Ok(())
}

/// `make` for the build, test or install step.
fn make(build: &Build<'_>, step: &str) -> Result<()> {
    let file = &build.recipe.file;
    let program = file.make_program.as_deref().unwrap_or("make");
    let mut command = assignments(&file.make_env);
    command.push_str(program);
    if let Some(makefile) = &file.make_file {
        let _ = write!(command, " -f {makefile}");
    }
    let (flags, target, dirs) = match step {
        "build" => {
            if file.make_jobs_safe.unwrap_or(true) {
                let _ = write!(command, " -j{}", build.settings.make_jobs);
            }
            (
                &file.build_make_flags,
                file.build_target
                    .clone()
                    .unwrap_or_else(|| "all".to_owned()),
                dirs(file.build_dirs.as_ref(), None),
            )
        }
        "test" => {
            let Some(target) = file.test_target.clone() else {
                build
                    .reporter
                    .note(&build.recipe.pkgname, "no test_target; nothing to test");
                return Ok(());
            };
            (
                &file.build_make_flags,
                target,
                dirs(file.build_dirs.as_ref(), None),
            )
        }
        _ => {
            command.push_str(" DESTDIR=\"${DESTDIR}\"");
            (
                &file.install_make_flags,
                file.install_target
                    .clone()
                    .unwrap_or_else(|| "install".to_owned()),
                dirs(file.install_dirs.as_ref(), file.build_dirs.as_ref()),
            )
        }
    };
    for flag in flags {
        command.push(' ');
        command.push_str(flag);
    }
    command.push(' ');
    command.push_str(&target);
    for dir in dirs {
        shell(build, step, &command, &build.wrksrc().join(dir))?;
    }
    Ok(())
}

/// What the root looked like before the build, to find anything a build
/// wrote there outside its staging area when no sandbox stops it.
pub struct RootGuard {
    before: Option<BTreeMap<PathBuf, (i64, u64)>>,
}

impl RootGuard {
    /// Take the snapshot (only when there is no sandbox).
    pub fn new(build: &Build<'_>) -> RootGuard {
        let before = match build.settings.sandbox() {
            Sandbox::Bwrap(_) => None,
            Sandbox::Unavailable(why) => {
                build.reporter.note(
                    &build.recipe.pkgname,
                    &format!("no sandbox: {why}; the root is checked after install instead"),
                );
                Some(snapshot(build))
            }
        };
        RootGuard { before }
    }

    /// Compare with the snapshot: anything new is removed and reported; anything changed is reported.
    pub fn check(&self, build: &Build<'_>) -> Result<()> {
        let Some(before) = &self.before else {
            return Ok(());
        };
        let after = snapshot(build);
        // A generation made meanwhile (by another depot run) is not the build's doing.
        let new_generation = |p: &Path| {
            let mut parts = p.components();
            let gen_dir: PathBuf = parts.by_ref().take(4).collect();
            p.starts_with("views/.gen")
                && gen_dir.components().count() == 4
                && !before.contains_key(&gen_dir)
        };
        let mut added: Vec<&PathBuf> = after
            .keys()
            .filter(|p| !before.contains_key(*p) && !new_generation(p))
            .collect();
        let changed: Vec<&PathBuf> = after
            .iter()
            .filter(|(p, v)| before.get(*p).is_some_and(|b| b != *v))
            .map(|(p, _)| p)
            .collect();
        if added.is_empty() && changed.is_empty() {
            return Ok(());
        }
        // Remove what appeared (deepest first): it is nobody's.
        added.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for path in &added {
            let full = build.settings.root.join(path);
            let _ = if full.is_dir() && !full.is_symlink() {
                crate::linking::remove_tree(&full)
            } else {
                fs_err::remove_file(&full).map_err(Into::into)
            };
        }
        let mut list: Vec<String> = added
            .iter()
            .map(|p| format!("new {}", p.display()))
            .chain(changed.iter().map(|p| format!("changed {}", p.display())))
            .collect();
        list.sort();
        list.truncate(20);
        bail!(
            "the build wrote into the root outside its staging area (DESTDIR); install with DESTDIR=\"$DESTDIR\" (what appeared was removed):\n  {}",
            list.join("\n  ")
        )
    }
}

/// Every path under the root but the build's own areas, the database and
/// the contents of depot dirs and generations (those are read-only).
fn snapshot(build: &Build<'_>) -> BTreeMap<PathBuf, (i64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let root = &build.settings.root;
    let packages = root.join("packages");
    let skip: Vec<PathBuf> = [
        &build.settings.wrkobjdir,
        &build.settings.distdir,
        &build.settings.packages,
    ]
    .iter()
    .map(|p| (*p).clone())
    .chain([root.join("pkgdb")])
    .chain(build.settings.scratch.iter().cloned())
    .collect();
    let mut out = BTreeMap::new();
    let mut walker = walkdir::WalkDir::new(root).min_depth(1).into_iter();
    while let Some(entry) = walker.next() {
        let Ok(entry) = entry else { continue };
        let p = entry.path();
        let is_dir = entry.file_type().is_dir();
        // Other packages' depot dirs come and go with other depot runs
        // (bulk builds install while this one builds): only this build's
        // own PREFIX is watched there.
        let foreign_depot_dir = p.parent() == Some(packages.as_path())
            && p.file_name() != Some(std::ffi::OsStr::new(&build.recipe.pkgname));
        if skip.iter().any(|s| p == s) || foreign_depot_dir {
            if is_dir {
                walker.skip_current_dir();
            }
            continue;
        }
        // The depot dirs' parent appears with the first install (another
        // build's, in a bulk): only what is in it is this build's concern.
        if p == packages {
            continue;
        }
        if let Ok(meta) = entry.metadata() {
            let rel = p.strip_prefix(root).unwrap_or(p).to_path_buf();
            let stamp = if is_dir {
                (0, 0)
            } else {
                (meta.mtime(), meta.size())
            };
            out.insert(rel, stamp);
        }
    }
    out
}
