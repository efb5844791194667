//! `depot repo`: binary package repositories.

use anyhow::Result;

use super::ExitStatus;
use pkgdb::{Database, RemotePackage};

use crate::cli::{AvailArgs, CleanCacheArgs, ConfigCommand, RepoCommand, SearchArgs, ShowArgs};
use crate::output::{self, tell};
use crate::repo::catalog::{Catalog, configured_sites};
use crate::repo::index;
use crate::settings::Settings;

/// Run `depot repo ...`.
pub fn run(command: &RepoCommand) -> Result<ExitStatus> {
    match command {
        RepoCommand::Index { dir, sign } => {
            let report = index::index(dir, sign.as_deref())?;
            tell!(
                "{}: {} package{} in {} ({} read, {} gone){}",
                dir.display(),
                report.packages,
                if report.packages == 1 { "" } else { "s" },
                index::SUMMARY_FILES.join(" and "),
                report.read,
                report.dropped,
                if sign.is_some() {
                    format!(", signed in {}", crate::repo::site::SIGNATURE_FILE)
                } else {
                    String::new()
                }
            );
            Ok(0)
        }
        RepoCommand::Keygen { prefix } => {
            let (secret, public, key) = crate::repo::sign::keygen(prefix)?;
            println!(
                "secret key: {} (keep it private; `depot repo index --sign {}` signs with it)\npublic key: {}\ntrust it in depot.toml:\n  [sites.\"URL\"]\n  keys = [\"{key}\"]",
                secret.display(),
                secret.display(),
                public.display()
            );
            Ok(0)
        }
    }
}

/// The catalogue for a command that only reads it: refreshed when this user
/// may write the database, as last imported otherwise.
fn catalog(settings: &Settings) -> Result<(Database, Catalog)> {
    let sites = configured_sites(settings)?;
    match Database::open(&settings.dbdir) {
        Ok(mut db) => {
            let catalog = Catalog::refresh(settings, &mut db, sites)?;
            Ok((db, catalog))
        }
        Err(e) => {
            output::caution!(
                "cannot refresh the sites' summaries ({e}); showing them as last imported"
            );
            let db = Database::open_read(&settings.dbdir)?;
            let catalog = Catalog::as_imported(&db, sites)?;
            Ok((db, catalog))
        }
    }
}

#[derive(serde::Serialize)]
struct Offered<'a> {
    pkgname: &'a str,
    comment: &'a str,
    site: &'a str,
}

fn print_offered(catalog: &Catalog, packages: &[RemotePackage], json: bool) -> Result<()> {
    let offered: Vec<Offered<'_>> = packages
        .iter()
        .map(|p| Offered {
            pkgname: &p.pkgname,
            comment: &p.comment,
            site: catalog.site_of(p).map_or("", |s| s.label.as_str()),
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&offered)?);
    } else {
        let width = offered.iter().map(|o| o.pkgname.len()).max().unwrap_or(0);
        for o in &offered {
            println!("{:width$}  {}", o.pkgname, o.comment);
        }
    }
    Ok(())
}

/// Run `depot avail`.
pub fn run_avail(settings: &Settings, args: &AvailArgs) -> Result<ExitStatus> {
    let (db, catalog) = catalog(settings)?;
    let mut all = catalog.all(&db)?;
    all.sort_by(|a, b| a.pkgname.cmp(&b.pkgname));
    print_offered(&catalog, &all, args.json)?;
    Ok(0)
}

/// Run `depot search`.
pub fn run_search(settings: &Settings, args: &SearchArgs) -> Result<ExitStatus> {
    let (db, catalog) = catalog(settings)?;
    let mut found = catalog.search(&db, &args.word)?;
    found.sort_by(|a, b| a.pkgname.cmp(&b.pkgname));
    if found.is_empty() && !args.json {
        println!("no package matches {}", args.word);
        return Ok(1);
    }
    print_offered(&catalog, &found, args.json)?;
    Ok(0)
}

#[derive(serde::Serialize)]
struct Shown<'a> {
    site: &'a str,
    #[serde(flatten)]
    package: &'a RemotePackage,
}

/// Run `depot show`.
pub fn run_show(settings: &Settings, args: &ShowArgs) -> Result<ExitStatus> {
    let (db, catalog) = catalog(settings)?;
    let mut shown = Vec::new();
    for pattern in &args.packages {
        let found = catalog.matching(&db, pattern)?;
        if found.is_empty() {
            anyhow::bail!("{pattern}: no site offers a package matching it");
        }
        shown.extend(found);
    }
    if args.json {
        let list: Vec<Shown<'_>> = shown
            .iter()
            .map(|p| Shown {
                site: catalog.site_of(p).map_or("", |s| s.label.as_str()),
                package: p,
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for p in &shown {
            println!(
                "SITE={}",
                catalog.site_of(p).map_or("", |s| s.label.as_str())
            );
            print!("{}", p.record);
        }
    }
    Ok(0)
}

/// Run `depot clean-cache`.
pub fn run_clean_cache(settings: &Settings, args: &CleanCacheArgs) -> Result<ExitStatus> {
    let cache = settings.root.join("var/cache");
    let mut removed = 0u64;
    let mut bytes = 0u64;
    let mut dirs = vec![cache.join("packages")];
    if args.all {
        dirs.push(cache.join("summaries"));
    }
    for dir in &dirs {
        for entry in walkdir::WalkDir::new(dir)
            .min_depth(1)
            .into_iter()
            .filter_map(Result::ok)
        {
            if entry.file_type().is_file() {
                removed += 1;
                bytes += entry.metadata().map_or(0, |m| m.len());
            }
        }
        match fs_err::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    if args.all && settings.dbdir.join(pkgdb::DATABASE_FILE).exists() {
        let mut db = Database::open(&settings.dbdir)?;
        #[expect(
            clippy::redundant_closure_for_method_calls,
            reason = "the method is generic over the transaction lifetime"
        )]
        db.transaction(|tx| tx.forget_sites())?;
    }
    println!(
        "removed {removed} file{} ({}) from {}",
        if removed == 1 { "" } else { "s" },
        super::install::human(bytes),
        cache.display()
    );
    Ok(0)
}

/// Run `depot config ...`.
pub fn run_config(settings: &Settings, command: &ConfigCommand) -> Result<ExitStatus> {
    match command {
        ConfigCommand::Show { json } => {
            if *json {
                println!("{}", serde_json::to_string_pretty(&settings.origins)?);
                return Ok(0);
            }
            println!(
                "# config file: {}{}",
                settings.config_file.display(),
                if settings.config_file.exists() {
                    ""
                } else {
                    " (none)"
                }
            );
            let width = settings
                .origins
                .iter()
                .map(|o| o.key.len())
                .max()
                .unwrap_or(0);
            for o in &settings.origins {
                println!("{:width$} = {:<40} # {}", o.key, o.value, o.from);
            }
        }
    }
    Ok(0)
}
