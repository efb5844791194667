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
                "{}: {} package{} in {} ({} read, {} gone)",
                dir.display(),
                report.packages,
                if report.packages == 1 { "" } else { "s" },
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
    sites.extend(site::binpkg_sites_from_env()?);
    Ok(sites)
}

/// A fetcher with the root's cache, `FETCH_TIMEOUT` and `FETCH_RETRIES`.
pub fn fetcher(settings: &Settings) -> SummaryFetcher {
    SummaryFetcher::new(
        &settings.root.join("var/cache/summaries"),
        crate::http::timeout_from_env(),
        crate::http::retries_from_env(),
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
