//! `depot repo`: binary package repositories.

use anyhow::Result;

use super::ExitStatus;
use crate::cli::RepoCommand;
use crate::repo::index;

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
