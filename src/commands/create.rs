//! `depot create` / `pkg_create`: pkg_create's flags, plus `--from-dir` which packs a
//! staged directory with a generated packing list.

use std::path::Path;

use anyhow::{Context, Result, bail};
use pkgdb::{Database, Queries};

use super::ExitStatus;
use crate::cli::CreateArgs;
use crate::output;
use crate::package::archive::Compression;
use crate::package::pack::{PackageSpec, plist_from_dir, write_package};
use crate::package::pattern;
use crate::package::plist::{Command, PackingList};
use crate::repo;
use crate::settings::Settings;

/// pkg_create's `-c`/`-d` convention: a leading `-` means the text itself, else a file.
fn dash_string(value: &str) -> Result<String> {
    match value.strip_prefix('-') {
        Some(text) => Ok(text.to_owned()),
        None => fs_err::read_to_string(value).with_context(|| format!("cannot read {value}")),
    }
}

fn read_optional(path: Option<&Path>) -> Result<Option<Vec<u8>>> {
    path.map(|p| fs_err::read(p).with_context(|| format!("cannot read {}", p.display())))
        .transpose()
}

/// Run `depot create`.
pub fn run(settings: &Settings, args: &CreateArgs) -> Result<ExitStatus> {
    let out = &args.package;
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // pkg_create: the name is the output file without its suffix; none means
    // .tgz. Something that looks like another suffix is refused, not appended to.
    let (pkgname, out) = if let Some(name) = repo::pkgname_of_file(&file_name) {
        (name.to_owned(), out.clone())
    } else {
        if let Some((_, suffix)) = file_name.rsplit_once('.')
            && suffix.len() >= 2
            && suffix.chars().all(|c| c.is_ascii_alphabetic())
        {
            bail!(
                "{}: unknown package suffix .{suffix}; use one of {} (or none, which means .tgz)",
                crate::quote::name(&file_name),
                repo::SUFFIXES.join(" ")
            );
        }
        (
            file_name.clone(),
            out.with_file_name(format!("{file_name}.tgz")),
        )
    };
    if let Some(why) = pattern::invalid_pkgname(&pkgname) {
        bail!(
            "{}: {} cannot name a package ({why}); name the output name-version.tgz, e.g. foo-1.0.tgz",
            crate::quote::name(&out.display().to_string()),
            crate::quote::name(&pkgname)
        );
    }
    let compression = match &args.compression {
        Some(name) => Compression::from_name(name).with_context(|| {
            format!(
                "unsupported compression type for -F: {name} (use none, gzip, bzip2, xz or zstd)"
            )
        })?,
        None => Compression::from_file_name(&out.to_string_lossy()),
    };

    // pkg_create's sanity check comes first.
    if args.from_dir.is_none() {
        if args.comment.is_none() {
            bail!("required package comment string is missing (-c comment)");
        }
        if args.desc.is_none() {
            bail!("required package description string is missing (-d desc)");
        }
    }
    let (mut plist, source_prefix) = if let Some(dir) = &args.from_dir {
        let prefix = args.install_prefix.as_deref().unwrap_or("/usr/pkg");
        (plist_from_dir(dir, prefix)?, Some(dir.clone()))
    } else {
        let Some(contents) = &args.contents else {
            bail!("required package contents list is missing (-f [-]file), or use --from-dir DIR");
        };
        let text = if contents == "-" {
            std::io::read_to_string(std::io::stdin())
                .context("cannot read the packing list from stdin")?
        } else {
            fs_err::read_to_string(contents)?
        };
        let (plist, warnings) = PackingList::parse(&text);
        for w in warnings {
            output::caution!(
                "{contents}: line {}: unrecognised command `{}`",
                w.line,
                crate::quote::name(&w.text)
            );
        }
        (plist, args.prefix.as_ref().map(Into::into))
    };
    let comment = match &args.comment {
        Some(c) => dash_string(c)?,
        None if args.from_dir.is_some() => pkgname.clone(),
        None => bail!("required package comment string is missing (-c comment)"),
    };
    let description = match &args.desc {
        Some(d) => dash_string(d)?,
        None if args.from_dir.is_some() => comment.clone(),
        None => bail!("required package description string is missing (-d desc)"),
    };

    // Dependencies, build dependencies and conflicts go on top, as pkg_create puts them.
    let mut head = PackingList::default();
    // @blddep records the installed package each dependency was built against.
    let installed = if args.depends.is_some() || args.build_depends.is_some() {
        Database::open_read(&settings.dbdir)?.pkgnames()?
    } else {
        Vec::new()
    };
    for pattern_text in args.depends.iter().flat_map(|s| s.split_whitespace()) {
        if let Some(best) = pattern::find_best(pattern_text, installed.iter().map(String::as_str)) {
            head.push(Command::BldDep, best);
        }
        head.push(Command::PkgDep, pattern_text);
    }
    for pattern_text in args.build_depends.iter().flat_map(|s| s.split_whitespace()) {
        match pattern::find_best(pattern_text, installed.iter().map(String::as_str)) {
            Some(best) => head.push(Command::BldDep, best),
            None => output::caution!("no matching package installed for {pattern_text}"),
        }
    }
    for pattern_text in args.conflicts.iter().flat_map(|s| s.split_whitespace()) {
        head.push(Command::PkgCfl, pattern_text);
    }
    head.entries.append(&mut plist.entries);
    let mut plist = head;
    if let (Some(prefix), None) = (&args.prefix, &args.from_dir) {
        // -p overrides the packing list's first @cwd.
        if let Some(i) = plist
            .entries
            .iter()
            .position(|e| matches!(e, crate::package::plist::Entry::Command(Command::Cwd, _)))
        {
            plist.entries.remove(i);
        }
        plist.entries.insert(
            0,
            crate::package::plist::Entry::Command(Command::Cwd, prefix.clone()),
        );
    }

    if let Some(name) = plist.name()
        && let Some(why) = pattern::invalid_pkgname(name)
    {
        bail!(
            "@name {} cannot name a package ({why})",
            crate::quote::name(name)
        );
    }
    let mut metadata = Vec::new();
    for (name, path) in [
        ("+INSTALL", args.install.as_deref()),
        ("+DEINSTALL", args.deinstall.as_deref()),
        ("+DISPLAY", args.display.as_deref()),
        ("+BUILD_VERSION", args.build_version.as_deref()),
        ("+SIZE_PKG", args.size_pkg.as_deref()),
        ("+SIZE_ALL", args.size_all.as_deref()),
        ("+PRESERVE", args.preserve.as_deref()),
    ] {
        if let Some(content) = read_optional(path)? {
            metadata.push((name.to_owned(), content));
        }
    }
    let build_info = read_optional(args.build_info.as_deref())?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let spec = PackageSpec {
        plist,
        pkgname: pkgname.clone(),
        comment,
        description,
        source_prefix,
        real_prefix: args.real_prefix.clone(),
        metadata,
        build_info,
        relative_links: args.relative_links,
    };
    let temporary = out.with_file_name(format!(".{}.tmp-{}", file_name, std::process::id()));
    match write_package(&spec, &temporary, compression) {
        Ok(_) => fs_err::rename(&temporary, &out)?,
        Err(e) => {
            let _ = fs_err::remove_file(&temporary);
            return Err(e.context(format!("cannot create {}", out.display())));
        }
    }
    if args.verbose {
        println!("Created package {}", out.display());
    }
    Ok(0)
}
