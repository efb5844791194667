//! pkg_admin's vulnerability commands (`fetch-pkg-vulnerabilities`,
//! `check-pkg-vulnerabilities`, `audit`, `audit-pkg`, `audit-batch`,
//! `audit-history`), `depot view audit`, and the check `add`/`install` make
//! before installing (CHECK_VULNERABILITIES). Output and exit status follow
//! pkg_admin: a finding per line on stdout, only the names with `-q`, exit 1
//! when anything is vulnerable.

use std::io::BufRead as _;
use std::path::PathBuf;

use anyhow::{Result, bail};
use pkgdb::{Queries as _, ViewQueries as _};

use super::ExitStatus;
use crate::audit::{self, Filter, Finding, Vulnerabilities};
use crate::cli::AuditOptions;
use crate::output::caution;
use crate::package::pattern;
use crate::settings::Settings;

/// PKGVULNDIR/pkg-vulnerabilities (PKGVULNDIR defaults to the database dir).
pub fn vulnerabilities_file(settings: &Settings) -> PathBuf {
    let dir = settings
        .build_value("PKGVULNDIR")
        .map_or_else(|| settings.dbdir.clone(), PathBuf::from);
    audit::file(&dir)
}

fn keyring(settings: &Settings) -> Option<&str> {
    settings.build_value("GPG_KEYRING_PKGVULN")
}

/// Where the list is fetched from: `PKG_VULN_URL` or PKGVULNURL (environment
/// or `[audit] pkgvulnurl`), else pkgsrc's.
fn url(settings: &Settings) -> String {
    std::env::var("PKG_VULN_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| settings.build_value("PKGVULNURL").map(str::to_owned))
        .unwrap_or_else(|| audit::DEFAULT_URL.to_owned())
}

/// Read the kept list (with `-s`, its signature checked), warning when it is
/// more than a week old as pkg_admin does with `-v`.
fn load(settings: &Settings, options: &AuditOptions, verbose: bool) -> Result<Vulnerabilities> {
    let path = vulnerabilities_file(settings);
    let list = audit::read(&path)?;
    if options.signature {
        audit::verify_signature(&list.text, keyring(settings))?;
    }
    if verbose
        && let Ok(age) = fs_err::metadata(&path)
            .and_then(|m| m.modified())
            .map(|m| m.elapsed().unwrap_or_default())
        && age.as_secs() > 7 * 86_400
    {
        caution!(
            "pkg-vulnerabilities is out of date ({} days old)",
            age.as_secs() / 86_400
        );
    }
    Ok(list)
}

fn filter(settings: &Settings, options: &AuditOptions) -> Filter {
    Filter {
        eol: options.eol
            || settings
                .build_value("CHECK_EOL")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        class: options.class.clone(),
        ignore_urls: if options.ignored {
            Vec::new()
        } else {
            settings
                .build_value("IGNORE_URLS")
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        },
    }
}

/// Print findings as pkg_admin does (or as JSON) and give its exit status.
fn report(
    findings: &[Finding],
    options: &AuditOptions,
    quiet: bool,
    verbose: bool,
) -> Result<ExitStatus> {
    if options.json {
        println!("{}", serde_json::to_string_pretty(findings)?);
    } else {
        for f in findings {
            if quiet {
                println!("{}", f.pkgname);
            } else {
                println!("{}", f.line());
            }
        }
    }
    if findings.is_empty() {
        if verbose {
            eprintln!("No vulnerabilities found");
        }
        Ok(0)
    } else {
        Ok(1)
    }
}

/// The admin actions about vulnerabilities (any other action is refused).
pub fn run_admin(
    settings: &Settings,
    action: &crate::cli::AdminAction,
    quiet: bool,
    verbose: bool,
) -> Result<ExitStatus> {
    use crate::cli::AdminAction as A;
    let run = |options: &AuditOptions, names: &mut dyn FnMut() -> Result<Vec<String>>| {
        let quiet = quiet || options.quiet;
        let verbose = verbose || options.verbose;
        let list = load(settings, options, verbose)?;
        let filter = filter(settings, options);
        let findings: Vec<Finding> = names()?
            .iter()
            .flat_map(|n| list.audit(n, &filter))
            .collect();
        report(&findings, options, quiet, verbose)
    };
    match action {
        A::FetchPkgVulnerabilities { signature, .. } => (|| {
            let url = url(settings);
            let dest = vulnerabilities_file(settings);
            let count = audit::fetch(&url, &dest, keyring(settings), *signature)?;
            if verbose {
                eprintln!("{}: {count} entries from {url}", dest.display());
            }
            Ok(0)
        })(),
        A::CheckPkgVulnerabilities { signature, file } => (|| {
            let list = audit::read(file)?;
            if *signature {
                audit::verify_signature(&list.text, keyring(settings))?;
            }
            if verbose {
                eprintln!(
                    "{}: {} entries, checksum good",
                    file.display(),
                    list.entries.len()
                );
            }
            Ok(0)
        })(),
        A::Audit { options, patterns } => run(options, &mut || installed(settings, patterns)),
        A::AuditPkg { options, pkgnames } => run(options, &mut || Ok(pkgnames.clone())),
        A::AuditBatch { options, files } => run(options, &mut || {
            let mut names = Vec::new();
            for file in files {
                let reader: Box<dyn std::io::BufRead> = if file.as_os_str() == "-" {
                    Box::new(std::io::stdin().lock())
                } else {
                    Box::new(std::io::BufReader::new(fs_err::File::open(file)?))
                };
                for line in reader.lines() {
                    let line = line?;
                    if !line.trim().is_empty() {
                        names.push(line.trim().to_owned());
                    }
                }
            }
            Ok(names)
        }),
        A::AuditHistory { options, pkgbases } => (|| {
            let list = load(settings, options, verbose)?;
            for base in pkgbases {
                for v in list.history(base) {
                    println!("{} {} {}", v.pattern, v.class, v.url);
                }
            }
            Ok(0)
        })(),
        other => bail!("{other:?} is not a vulnerability action"),
    }
}

/// Installed PKGNAMEs matching `patterns` (a bare PKGBASE matches its
/// versions), all of them without patterns.
fn installed(settings: &Settings, patterns: &[String]) -> Result<Vec<String>> {
    let db = pkgdb::Database::open_read(&settings.dbdir)?;
    let names: Vec<String> = db.packages()?.into_iter().map(|p| p.pkgname).collect();
    if patterns.is_empty() {
        return Ok(names);
    }
    Ok(names
        .into_iter()
        .filter(|n| {
            patterns.iter().any(|p| {
                pattern::pkg_match(p, n)
                    || pattern::split_pkgname(n).is_some_and(|(base, _)| base == p)
            })
        })
        .collect())
}

/// `depot view audit NAME`: the view's members that are listed.
pub fn view(
    settings: &Settings,
    db: &pkgdb::Database,
    name: &str,
    options: &AuditOptions,
) -> Result<ExitStatus> {
    let Some(view) = db.view(name)? else {
        bail!(
            "no view named {} (`depot view list` shows them)",
            crate::quote::name(name)
        );
    };
    let members = match view.current {
        Some(n) => db.members(view.id, n)?,
        None => Vec::new(),
    };
    let list = load(settings, options, options.verbose)?;
    let filter = filter(settings, options);
    let findings: Vec<Finding> = members
        .iter()
        .flat_map(|m| list.audit(&m.pkgname, &filter))
        .collect();
    if !options.json && !options.quiet && !findings.is_empty() {
        println!("view {name}: {} vulnerable member(s)", {
            let mut names: Vec<&str> = findings.iter().map(|f| f.pkgname.as_str()).collect();
            names.dedup();
            names.len()
        });
    }
    report(&findings, options, options.quiet, options.verbose)
}

/// Before `add`/`install` changes anything: the packages about to be
/// installed that the kept list names. CHECK_VULNERABILITIES `never` says
/// nothing, `warn` (the default) warns, `always` refuses. No list, no check.
pub fn check_before_install(settings: &Settings, pkgnames: &[String]) -> Result<()> {
    let mode = settings
        .build_value("CHECK_VULNERABILITIES")
        .unwrap_or("warn")
        .to_ascii_lowercase();
    if mode == "never" {
        return Ok(());
    }
    let path = vulnerabilities_file(settings);
    if !path.exists() {
        return Ok(());
    }
    let list = match audit::read(&path) {
        Ok(l) => l,
        Err(e) => {
            caution!("cannot check for vulnerabilities: {e:#}");
            return Ok(());
        }
    };
    let filter = filter(settings, &AuditOptions::default());
    let findings: Vec<Finding> = pkgnames
        .iter()
        .flat_map(|n| list.audit(n, &filter))
        .collect();
    if findings.is_empty() {
        return Ok(());
    }
    if mode == "always" {
        let lines: Vec<String> = findings.iter().map(Finding::line).collect();
        bail!(
            "{}\nCHECK_VULNERABILITIES=always: nothing was installed",
            lines.join("\n")
        );
    }
    for f in &findings {
        caution!("{}", f.line());
    }
    Ok(())
}
