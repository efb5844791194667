//! Man pages: depot(1) and one page per command (depot-add(1),
//! depot-view-add(1), …) generated from the clap definitions by
//! clap_mangen, and depot.toml(5) for the config file.

use std::path::Path;

use anyhow::{Context as _, Result};
use clap_mangen::roff::{Roff, bold, italic, roman};

/// The config file's keys: (TOML key, environment variable, meaning).
const CONFIG_KEYS: &[(&str, &str, &str)] = &[
    (
        "pkg_path",
        "PKG_PATH",
        "Directories and URLs searched for packages, in order (a list, or one string separated by `;`).",
    ),
    (
        "binpkg_sites",
        "BINPKG_SITES",
        "Base URLs of binary repositories (a list, or one string separated by spaces).",
    ),
    (
        "verified_installation",
        "VERIFIED_INSTALLATION",
        "`never`, `trusted` or `always`: whether every package must carry a good signature.",
    ),
    (
        "download.timeout",
        "FETCH_TIMEOUT",
        "Seconds each download request may take.",
    ),
    (
        "download.retries",
        "FETCH_RETRIES",
        "How often a failed download is retried.",
    ),
    ("download.jobs", "DEPOT_DOWNLOAD_JOBS", "Downloads at once."),
    (
        "views.keep",
        "",
        "Generations each view keeps (at least 1; default 10).",
    ),
    (
        "build.packages",
        "PACKAGES",
        "Where built packages go (PACKAGES/All).",
    ),
    ("build.distdir", "DISTDIR", "Where distfiles are kept."),
    ("build.wrkobjdir", "WRKOBJDIR", "Where builds run."),
    (
        "build.localpatches",
        "LOCALPATCHES",
        "A tree of extra patches per category/name.",
    ),
    ("build.make_jobs", "MAKE_JOBS", "Make jobs per build."),
    (
        "build.master_site_override",
        "MASTER_SITE_OVERRIDE",
        "Sites tried before a recipe's own.",
    ),
    (
        "build.master_site_backup",
        "MASTER_SITE_BACKUP",
        "Sites tried after a recipe's own.",
    ),
    (
        "bulk.dir",
        "BULKDIR",
        "Bulk logs and reports (default <root>/var/bulk).",
    ),
    (
        "bulk.nodes",
        "BULK_NODES",
        "The nodes file of multi-machine bulks.",
    ),
    (
        "bulk.node_retry",
        "BULK_NODE_RETRY",
        "Seconds a lost node rests before it is tried again.",
    ),
    (
        "bulk.node_wait",
        "BULK_NODE_WAIT",
        "Seconds to wait for a node when all are down.",
    ),
    (
        "audit.pkgvulndir",
        "PKGVULNDIR",
        "Where pkg-vulnerabilities is kept (default: the package database dir).",
    ),
    (
        "audit.pkgvulnurl",
        "PKGVULNURL",
        "Where fetch-pkg-vulnerabilities gets it (PKG_VULN_URL also works).",
    ),
    (
        "audit.check_vulnerabilities",
        "CHECK_VULNERABILITIES",
        "`never`, `warn` (default) or `always` (refuse to install listed packages).",
    ),
    (
        "audit.check_eol",
        "CHECK_EOL",
        "`yes` to report end-of-life packages in audits.",
    ),
    (
        "audit.gpg_keyring_pkgvuln",
        "GPG_KEYRING_PKGVULN",
        "The keyring `-s` checks the list's signature with.",
    ),
    (
        "audit.ignore_urls",
        "IGNORE_URLS",
        "Advisory URLs (space separated) the audits leave out unless `-i`.",
    ),
    (
        "sites.\"URL\".keys",
        "",
        "Trusted minisign public keys of one site.",
    ),
];

/// `depot man --out DIR`.
pub fn write(out: &Path) -> Result<i32> {
    let (man1, man5) = (out.join("man1"), out.join("man5"));
    fs_err::create_dir_all(&man1)?;
    fs_err::create_dir_all(&man5)?;
    let command = <crate::cli::Cli as clap::CommandFactory>::command();
    clap_mangen::generate_to(command, &man1)
        .with_context(|| format!("cannot write man pages into {}", man1.display()))?;
    fs_err::write(man5.join("depot.toml.5"), config_page())?;
    let count = fs_err::read_dir(&man1)?.count() + 1;
    eprintln!(
        "{count} pages in {0}/man1 and {0}/man5: `MANPATH={0}: man depot-add` reads one",
        out.display()
    );
    Ok(0)
}

fn config_page() -> String {
    let mut page = Roff::new();
    page.control("TH", ["DEPOT.TOML", "5", "", &format!("depot {}", env!("CARGO_PKG_VERSION"))])
        .control("SH", ["NAME"])
        .text([roman("depot.toml - the depot configuration file")])
        .control("SH", ["SYNOPSIS"])
        .text([italic("<root>"), roman("/etc/depot.toml")])
        .control("SH", ["DESCRIPTION"])
        .text([roman(
            "A TOML file. Command-line flags override environment variables, which override the file, which overrides the defaults; `depot config show` prints each effective value and where it came from.",
        )]);
    page.control("SH", ["KEYS"]);
    for (key, var, meaning) in CONFIG_KEYS {
        page.control("TP", []);
        if var.is_empty() {
            page.text([bold(*key)]);
        } else {
            page.text([bold(*key), roman(" ("), bold(*var), roman(")")]);
        }
        page.text([roman(*meaning)]);
    }
    page.control("SH", ["SEE ALSO"]).text([
        bold("depot"),
        roman("(1), "),
        bold("depot-config"),
        roman("(1)"),
    ]);
    page.render()
}

#[cfg(test)]
mod tests {
    /// Every setting depot reads has its line in depot.toml(5).
    #[test]
    fn the_page_lists_every_setting() {
        for (key, var) in crate::settings::BUILD_KEYS {
            assert!(
                super::CONFIG_KEYS
                    .iter()
                    .any(|(k, v, _)| k == key && v == var),
                "{key} ({var}) is not in depot.toml(5)"
            );
        }
    }
}
