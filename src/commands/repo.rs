//! `depot repo`: binary package repositories.

use anyhow::Result;

use super::ExitStatus;
use crate::cli::{AvailArgs, RepoCommand};
use crate::repo::index;
use crate::repo::site::{self, Site, SummaryFetcher};
use crate::settings::Settings;

/// Run `depot repo ...`.
pub fn run(command: &RepoCommand) -> Result<ExitStatus> {
    match command {
        RepoCommand::Index { dir } => {
            let report = index::index(dir)?;
            println!(
                "{}: {} packages in {} ({} read, {} gone)",
                dir.display(),
                report.packages,
                index::SUMMARY_FILES.join(" and "),
                report.read,
                report.dropped
            );
            Ok(0)
        }
    }
}

/// The sites packages come from: `PKG_PATH` entries, then `BINPKG_SITES`.
pub fn sites(settings: &Settings) -> Result<Vec<Site>> {
    let mut sites = settings
        .pkg_path
        .iter()
        .map(|entry| Site::parse(entry))
        .collect::<Result<Vec<_>>>()?;
    let host = crate::package::meta::host_build_info();
    let value = |var: &str| {
        host.iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    sites.extend(site::binpkg_sites(
        &std::env::var("BINPKG_SITES").unwrap_or_default(),
        &value("MACHINE_ARCH"),
        &value("OS_VERSION"),
    )?);
    Ok(sites)
}

/// A fetcher with the root's cache and the settings' timeout and retries
/// (`DEPOT_FETCH_TIMEOUT` seconds, default 30; `DEPOT_FETCH_RETRIES`, default 2).
pub fn fetcher(settings: &Settings) -> SummaryFetcher {
    let number = |var: &str, default: u64| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    SummaryFetcher::new(
        &settings.root.join("var/cache/summaries"),
        std::time::Duration::from_secs(number("DEPOT_FETCH_TIMEOUT", 30)),
        u32::try_from(number("DEPOT_FETCH_RETRIES", 2)).unwrap_or(2),
    )
}

#[derive(serde::Serialize)]
struct Offered<'a> {
    pkgname: &'a str,
    comment: &'a str,
    site: &'a str,
}

/// Run `depot avail`.
pub fn run_avail(settings: &Settings, args: &AvailArgs) -> Result<ExitStatus> {
    let sites = sites(settings)?;
    if sites.is_empty() {
        anyhow::bail!("no sites: set PKG_PATH or BINPKG_SITES to where packages are");
    }
    let fetcher = fetcher(settings);
    let mut summaries = Vec::new();
    for site in &sites {
        summaries.push((site, fetcher.summary(site)?));
    }
    let mut offered = Vec::new();
    for (site, text) in &summaries {
        for record in index::parse_records(text) {
            let field = |key: &str| {
                record
                    .lines()
                    .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
                    .unwrap_or_default()
            };
            offered.push(Offered {
                pkgname: field("PKGNAME"),
                comment: field("COMMENT"),
                site: &site.label,
            });
        }
    }
    offered.sort_by(|a, b| a.pkgname.cmp(b.pkgname));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&offered)?);
    } else {
        let width = offered.iter().map(|o| o.pkgname.len()).max().unwrap_or(0);
        for o in &offered {
            println!("{:width$}  {}", o.pkgname, o.comment);
        }
    }
    Ok(0)
}
