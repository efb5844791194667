//! `depot info` / `pkg_info`: pkg_info's sections and format, plus `--json`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Result, bail};
use pkgdb::{Database, PackageRow, Queries, ViewQueries};
use serde::Serialize;

use super::ExitStatus;
use crate::cli::InfoArgs;
use crate::output;
use crate::package::archive;
use crate::package::meta::build_info_var;
use crate::package::pattern;
use crate::package::plist::{Command, Entry, PackingList};
use crate::settings::Settings;

/// What pkg_info shows about one package, installed or in a file.
struct Subject {
    pkgname: String,
    /// What the header names: the PKGNAME, or a package file as it was given.
    label: String,
    /// The package file, when the subject is one.
    file: Option<std::path::PathBuf>,
    metadata: Vec<(String, Vec<u8>)>,
    plist: PackingList,
    installed: Option<PackageRow>,
    required_by: Vec<String>,
    views: Vec<String>,
}

impl Subject {
    fn meta(&self, name: &str) -> Option<String> {
        self.metadata
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
    }

    fn comment(&self) -> String {
        self.meta("+COMMENT")
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    }

    /// The file list as pkg_info -L prints it: installed files at their depot paths.
    fn files(&self, settings: &Settings) -> Vec<String> {
        let prefix = self.plist.prefix().unwrap_or("").to_owned();
        let depot_dir = self
            .installed
            .as_ref()
            .map(|row| settings.package_dir(&row.depot_dir));
        self.plist
            .files()
            .into_iter()
            .filter(|f| !f.ignored)
            .map(|f| match &depot_dir {
                Some(depot_dir) => {
                    let rel = crate::install::extract::depot_path(
                        &self.pkgname,
                        &prefix,
                        &f.cwd,
                        &f.name,
                    )
                    .unwrap_or(f.name.clone());
                    depot_dir.join(rel).display().to_string()
                }
                None => {
                    if f.cwd == "/" {
                        format!("/{}", f.name)
                    } else {
                        format!("{}/{}", f.cwd, f.name)
                    }
                }
            })
            .collect()
    }

    fn size(&self) -> i64 {
        match &self.installed {
            Some(row) => row.size_pkg,
            None => self
                .meta("+SIZE_PKG")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
        }
    }
}

/// An installed package as a subject. Who requires it is looked up only when
/// something will show it (`with_required_by`): in a view that is a query per
/// view holding the package, too much for every line of a listing.
fn installed_subject(db: &Database, row: PackageRow, with_required_by: bool) -> Result<Subject> {
    let metadata = db.all_metadata(row.id)?;
    let contents = metadata
        .iter()
        .find(|(n, _)| n == "+CONTENTS")
        .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
        .unwrap_or_default();
    let (plist, _) = PackingList::parse(&contents);
    Ok(Subject {
        pkgname: row.pkgname.clone(),
        label: row.pkgname.clone(),
        file: None,
        required_by: if with_required_by {
            crate::requirements::required_by(db, &row)?
        } else {
            Vec::new()
        },
        views: db.views_holding(row.id)?,
        metadata,
        plist,
        installed: Some(row),
    })
}

fn file_subject(path: &Path) -> Result<Subject> {
    let metadata = archive::read_metadata(path)?;
    let (plist, _) = PackingList::parse(&metadata.str("+CONTENTS").unwrap_or_default());
    let pkgname = plist
        .name()
        .map(str::to_owned)
        .or_else(|| {
            path.file_name()
                .and_then(|n| crate::repo::pkgname_of_file(&n.to_string_lossy()).map(str::to_owned))
        })
        .unwrap_or_default();
    Ok(Subject {
        pkgname,
        label: path.display().to_string(),
        file: Some(path.to_owned()),
        metadata: metadata.files,
        plist,
        installed: None,
        required_by: Vec::new(),
        views: Vec::new(),
    })
}

/// Run `depot info`.
pub fn run(settings: &Settings, args: &InfoArgs) -> Result<ExitStatus> {
    let db = Database::open_read(&settings.dbdir)?;
    if let Some(spec) = args.exists.as_deref().or(args.exists_best.as_deref()) {
        return exists(settings, &db, spec, args);
    }
    let show_sections = args.build_info
        || args.build_version
        || args.comment
        || args.display
        || args.description
        || args.packing_list
        || args.install_script
        || args.deinstall_script
        || args.files
        || args.mtree
        || args.built_with
        || args.depends
        || args.required_by
        || args.recursive
        || args.size
        || args.size_all
        || args.verbose;
    let mut index = args.index;
    let mut all = args.all;
    if args.packages.is_empty()
        && !show_sections
        && args.query.is_none()
        && !args.summary
        && !args.json
    {
        index = true;
        all = true;
    }
    if args.packages.is_empty() && (args.json || args.summary) {
        all = true;
    }

    // "Required by" appears in JSON and in the sections (asked for, verbose,
    // or pkg_info's default ones), never in a one-line listing or a summary.
    let with_required_by = args.json
        || (!index
            && !args.summary
            && args.query.is_none()
            && (args.required_by || args.verbose || !show_sections));
    let mut subjects = Vec::new();
    let mut errors = 0;
    if all {
        for row in db.packages()? {
            if args.user && row.automatic {
                continue;
            }
            subjects.push(installed_subject(&db, row, with_required_by)?);
        }
    }
    for spec in &args.packages {
        if args.by_file {
            let owners = crate::owners::owners_of_path(settings, &db, spec)?;
            if owners.is_empty() {
                bail!("No matching pkg for {spec}.");
            }
            for o in owners {
                if let Some(row) = db.package(&o)? {
                    subjects.push(installed_subject(&db, row, with_required_by)?);
                }
            }
            continue;
        }
        let path = Path::new(spec);
        if path.is_file()
            && crate::repo::pkgname_of_file(spec.rsplit('/').next().unwrap_or(spec)).is_some()
        {
            subjects.push(file_subject(path)?);
            continue;
        }
        let matches = crate::owners::installed_matching(&db, spec)?;
        if matches.is_empty() {
            output::say!(
                "can't find package `{}' installed or in a file!",
                crate::quote::name(spec)
            );
            errors += 1;
        }
        for row in matches {
            subjects.push(installed_subject(&db, row, with_required_by)?);
        }
    }
    let mut out = String::new();
    if args.json {
        print_json(settings, &subjects, args)?;
        return Ok(i32::from(errors > 0));
    }
    for subject in &subjects {
        if let Some(var) = &args.query {
            if let Some(v) = subject
                .meta("+BUILD_INFO")
                .and_then(|b| build_info_var(&b, var))
            {
                let _ = writeln!(out, "{v}");
            }
            continue;
        }
        if args.summary {
            out.push_str(&summary(subject));
            continue;
        }
        if index {
            let _ = writeln!(out, "{:<19} {}", subject.pkgname, subject.comment());
            continue;
        }
        sections(settings, &db, subject, args, show_sections, &mut out)?;
    }
    print!("{out}");
    Ok(i32::from(errors > 0))
}

fn exists(settings: &Settings, db: &Database, spec: &str, args: &InfoArgs) -> Result<ExitStatus> {
    let spec = if args.by_file {
        match crate::owners::owners_of_path(settings, db, spec)?
            .into_iter()
            .next()
        {
            Some(p) => p,
            None => bail!("No matching pkg for {spec}."),
        }
    } else {
        spec.to_owned()
    };
    pattern::warn_if_malformed(&spec);
    let names = db.pkgnames()?;
    let matches: Vec<&String> = names
        .iter()
        .filter(|n| **n == spec || pattern::pkg_match(&spec, n))
        .collect();
    if matches.is_empty() {
        return Ok(1);
    }
    if !args.quiet {
        if args.exists_best.is_some() {
            if let Some(best) = pattern::find_best(&spec, matches.iter().map(|s| s.as_str()))
                .or(matches.first().map(|s| s.as_str()))
            {
                println!("{best}");
            }
        } else {
            for m in matches {
                println!("{m}");
            }
        }
    }
    Ok(0)
}

fn show_text(out: &mut String, title: &str, text: &str, quiet: bool) {
    show_file(out, title, text, quiet, false);
}

/// pkg_info's `show_file`: the title unless quiet, the text ending in a line
/// break, then an empty line unless quiet (always with `separator`).
fn show_file(out: &mut String, title: &str, text: &str, quiet: bool, separator: bool) {
    if !quiet {
        out.push_str(title);
    }
    out.push_str(text);
    if text.is_empty() || !text.ends_with('\n') {
        out.push('\n');
    }
    if !quiet || separator {
        out.push('\n');
    }
}

fn sections(
    settings: &Settings,
    db: &Database,
    s: &Subject,
    args: &InfoArgs,
    explicit: bool,
    out: &mut String,
) -> Result<()> {
    let quiet = args.quiet;
    let v = args.verbose;
    // pkg_info's default: comment, requires, required by, description.
    let default = !explicit;
    let want = |flag: bool| flag || v || default;
    if !quiet {
        let _ = write!(out, "Information for {}:\n\n", s.label);
    }
    if want(args.comment) {
        show_text(
            out,
            "Comment:\n",
            &s.meta("+COMMENT").unwrap_or_default(),
            quiet,
        );
    }
    if want(args.depends) {
        let deps: Vec<&str> = s.plist.all(Command::PkgDep).collect();
        if !deps.is_empty() {
            if !quiet {
                out.push_str("Requires:\n");
            }
            for d in deps {
                let _ = writeln!(out, "{d}");
            }
            out.push('\n');
        }
    }
    if args.built_with || v {
        let deps: Vec<&str> = s.plist.all(Command::BldDep).collect();
        if !deps.is_empty() {
            if !quiet {
                out.push_str("Built using:\n");
            }
            for d in deps {
                let _ = writeln!(out, "{d}");
            }
            out.push('\n');
        }
    }
    if args.recursive
        && let Some(row) = &s.installed
    {
        let all = recursive_depends(db, row.id)?;
        if !all.is_empty() {
            if !quiet {
                out.push_str("Requires (recursively):\n");
            }
            for d in all {
                let _ = writeln!(out, "{d}");
            }
            out.push('\n');
        }
    }
    if want(args.required_by) && !s.required_by.is_empty() {
        let mut text = s.required_by.join("\n");
        text.push('\n');
        show_text(out, "Required by:\n", &text, quiet);
    }
    if want(args.description) {
        show_text(
            out,
            "Description:\n",
            &s.meta("+DESC").unwrap_or_default(),
            quiet,
        );
    }
    if (args.display || v)
        && let Some(text) = s.meta("+DISPLAY")
    {
        show_text(out, "Install notice:\n", &text, quiet);
    }
    if args.packing_list || v {
        if !quiet {
            out.push_str("Packing list:\n");
        }
        show_plist(&s.plist, quiet, out);
    }
    if (args.install_script || v)
        && let Some(text) = s.meta("+INSTALL")
    {
        show_text(out, "Install script:\n", &text, quiet);
    }
    if (args.deinstall_script || v)
        && let Some(text) = s.meta("+DEINSTALL")
    {
        show_text(out, "De-Install script:\n", &text, quiet);
    }
    if (args.mtree || v)
        && let Some(text) = s.meta("+MTREE_DIRS")
    {
        show_text(out, "mtree file:\n", &text, quiet);
    }
    if args.files {
        if !quiet {
            out.push_str("Files:\n");
        }
        for f in s.files(settings) {
            let _ = writeln!(out, "{f}");
        }
    }
    if args.build_version
        && let Some(text) = s.meta("+BUILD_VERSION")
    {
        show_text(out, "Build version:\n", &text, quiet);
    }
    if args.build_info
        && let Some(text) = s.meta("+BUILD_INFO")
    {
        show_text(out, "Build information:\n", &text, quiet);
    }
    // pkg_info prints the recorded +SIZE_PKG / +SIZE_ALL, and nothing without them.
    if (args.size || v)
        && let Some(size) = s.meta("+SIZE_PKG")
    {
        show_file(out, "Size of this package in bytes: ", &size, quiet, true);
    }
    if (args.size_all || v)
        && let Some(size) = s.meta("+SIZE_ALL")
    {
        show_file(
            out,
            "Size in bytes including required pkgs: ",
            &size,
            quiet,
            true,
        );
    }
    // depot's own sections (not in pkg_info's output): files whose set-id or
    // sticky bits it kept, and where the package is linked.
    if v && let Some(row) = &s.installed {
        let special: Vec<String> = db
            .files(row.id)?
            .into_iter()
            .filter(|f| f.mode & 0o7000 != 0)
            .map(|f| format!("{} (mode {:04o}{})\n", f.path, f.mode, mode_words(f.mode)))
            .collect();
        if !special.is_empty() {
            show_text(out, "Set-id and sticky files:\n", &special.concat(), quiet);
        }
    }
    // depot's own section: where the package is linked (not in pkg_info's output).
    if (v || (default && !args.pkg_info)) && !s.views.is_empty() {
        let mut text = s.views.join("\n");
        text.push('\n');
        show_text(out, "Views:\n", &text, quiet);
    }
    if !quiet {
        out.push('\n');
    }
    Ok(())
}

/// "setuid", "setgid", "sticky" for a mode's special bits.
fn mode_words(mode: u32) -> String {
    let mut words = Vec::new();
    if mode & 0o4000 != 0 {
        words.push("setuid");
    }
    if mode & 0o2000 != 0 {
        words.push("setgid");
    }
    if mode & 0o1000 != 0 {
        words.push("sticky");
    }
    format!(", {}", words.join(", "))
}

fn show_plist(plist: &PackingList, quiet: bool, out: &mut String) {
    let mut ignore = false;
    for entry in &plist.entries {
        match entry {
            Entry::File(name) => {
                if quiet {
                    let _ = write!(out, "{name}");
                } else {
                    let _ = write!(out, "\tFile: {name}");
                    if ignore {
                        out.push_str(" (ignored)");
                    }
                }
                ignore = false;
            }
            Entry::Command(c, arg) => {
                if quiet {
                    if matches!(c, Command::Ignore | Command::IgnoreInst) {
                        let _ = write!(out, "@{}", c.word());
                    } else {
                        let _ = write!(out, "@{} {arg}", c.word());
                    }
                } else {
                    let text = match c {
                        Command::Cwd => format!("\tCWD to: {arg}"),
                        Command::Src => format!("\tSRC to: {arg}"),
                        Command::Exec => format!("\tEXEC '{arg}'"),
                        Command::Unexec => format!("\tUNEXEC '{arg}'"),
                        Command::Mode => format!(
                            "\tCHMOD to {}",
                            if arg.is_empty() {
                                "(clear default)"
                            } else {
                                arg
                            }
                        ),
                        Command::Owner => format!(
                            "\tCHOWN to {}",
                            if arg.is_empty() {
                                "(clear default)"
                            } else {
                                arg
                            }
                        ),
                        Command::Group => format!(
                            "\tCHGRP to {}",
                            if arg.is_empty() {
                                "(clear default)"
                            } else {
                                arg
                            }
                        ),
                        Command::Comment => format!("\tComment: {arg}"),
                        Command::Ignore | Command::IgnoreInst => "Ignore next file:".to_owned(),
                        Command::Name => format!("\tPackage name: {arg}"),
                        Command::Display => format!("\tInstall message file: {arg}"),
                        Command::PkgDep => format!("\tPackage depends on: {arg}"),
                        Command::PkgCfl => format!("\tPackage conflicts with: {arg}"),
                        Command::PkgDir => format!("\tDirectory owned by package: {arg}"),
                        Command::DirRm => format!("\tDeinstall directory remove: {arg}"),
                        Command::Option => format!("\tPackage has option: {arg}"),
                        Command::BldDep => format!("\tPackage depends exactly on: {arg}"),
                        Command::Mtree => format!("\tPackage mtree file: {arg}"),
                    };
                    out.push_str(&text);
                }
                if matches!(c, Command::Ignore | Command::IgnoreInst) {
                    ignore = true;
                }
            }
        }
        out.push('\n');
    }
}

fn recursive_depends(db: &Database, id: i64) -> Result<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![id];
    while let Some(current) = stack.pop() {
        for d in db.dependencies(current)? {
            if let Some(name) = d.resolved
                && seen.insert(name.clone())
                && let Some(p) = db.package(&name)?
            {
                stack.push(p.id);
            }
        }
    }
    Ok(seen.into_iter().collect())
}

/// The `+BUILD_INFO` variables pkg_info copies into a pkg_summary record, in
/// the order `+BUILD_INFO` has them.
const SUMMARY_BUILD_INFO: &[&str] = &[
    "PKGPATH",
    "CATEGORIES",
    "PROVIDES",
    "REQUIRES",
    "PKG_OPTIONS",
    "OPSYS",
    "OS_VERSION",
    "MACHINE_ARCH",
    "LICENSE",
    "HOMEPAGE",
    "PKGTOOLS_VERSION",
    "BUILD_DATE",
    "PREV_PKGPATH",
    "SUPERSEDES",
];

/// Each line of `text` as `VAR=line` (pkg_info's `print_string_as_var`).
fn string_as_var(out: &mut String, var: &str, text: &str) {
    for line in text.split_inclusive('\n') {
        let _ = writeln!(out, "{var}={}", line.strip_suffix('\n').unwrap_or(line));
    }
}

/// The pkg_summary(5) record of a package file, with `FILE_CKSUM=sha256 <hex>`
/// after `FILE_SIZE` when `sha256` is given (what `depot repo index` writes).
pub fn file_summary(path: &Path, sha256: Option<&str>) -> Result<String> {
    let mut record = summary(&file_subject(path)?);
    if let Some(hex) = sha256 {
        let at = record
            .find("\nDESCRIPTION=")
            .map_or(record.len().saturating_sub(1), |i| i + 1);
        record.insert_str(at, &format!("FILE_CKSUM=sha256 {hex}\n"));
    }
    Ok(record)
}

/// One pkg_summary(5) record, as pkg_info -X writes it: PKGNAME, DEPENDS and
/// CONFLICTS in packing list order, COMMENT, SIZE_PKG when recorded, the build
/// information in its own order, FILE_NAME and FILE_SIZE for a package file,
/// DESCRIPTION, and an empty line.
fn summary(s: &Subject) -> String {
    let mut out = String::new();
    for entry in &s.plist.entries {
        if let Entry::Command(command, arg) = entry {
            let var = match command {
                Command::Name => "PKGNAME",
                Command::PkgDep => "DEPENDS",
                Command::PkgCfl => "CONFLICTS",
                _ => continue,
            };
            let _ = writeln!(out, "{var}={arg}");
        }
    }
    string_as_var(&mut out, "COMMENT", &s.meta("+COMMENT").unwrap_or_default());
    if let Some(size) = s.meta("+SIZE_PKG") {
        string_as_var(&mut out, "SIZE_PKG", &size);
    }
    match s.meta("+BUILD_INFO") {
        Some(build_info) => {
            for line in build_info.lines() {
                if line
                    .split_once('=')
                    .is_some_and(|(var, _)| SUMMARY_BUILD_INFO.contains(&var))
                {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        None => output::caution!("{}: Build information missing", s.pkgname),
    }
    if let Some(file) = &s.file
        && let Ok(meta) = std::fs::metadata(file)
    {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(out, "FILE_NAME={name}");
        let _ = writeln!(out, "FILE_SIZE={}", meta.len());
    }
    string_as_var(
        &mut out,
        "DESCRIPTION",
        &s.meta("+DESC").unwrap_or_default(),
    );
    out.push('\n');
    out
}

#[derive(Serialize)]
struct JsonPackage<'a> {
    pkgname: &'a str,
    name: &'a str,
    version: &'a str,
    comment: String,
    description: String,
    installed: bool,
    automatic: bool,
    depot_dir: Option<String>,
    size: i64,
    depends: Vec<&'a str>,
    conflicts: Vec<&'a str>,
    required_by: &'a [String],
    views: &'a [String],
    files: Option<Vec<String>>,
}

fn print_json(settings: &Settings, subjects: &[Subject], args: &InfoArgs) -> Result<()> {
    let list: Vec<JsonPackage<'_>> = subjects
        .iter()
        .map(|s| {
            let (name, version) = pattern::split_pkgname(&s.pkgname).unwrap_or((&s.pkgname, ""));
            JsonPackage {
                pkgname: &s.pkgname,
                name,
                version,
                comment: s.comment(),
                description: s.meta("+DESC").unwrap_or_default(),
                installed: s.installed.is_some(),
                automatic: s.installed.as_ref().is_some_and(|r| r.automatic),
                depot_dir: s
                    .installed
                    .as_ref()
                    .map(|r| settings.package_dir(&r.depot_dir).display().to_string()),
                size: s.size(),
                depends: s.plist.all(Command::PkgDep).collect(),
                conflicts: s.plist.all(Command::PkgCfl).collect(),
                required_by: &s.required_by,
                views: &s.views,
                files: args.files.then(|| s.files(settings)),
            }
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&list)?);
    Ok(())
}
