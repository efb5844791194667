//! Bulk builds: pbulk's phases (scan, build, report, upload) on a recipe
//! tree, scheduled by the `sched` crate.

pub mod drive;
pub mod simulate;

use anyhow::Result;

use crate::cli::BulkArgs;
use crate::settings::Settings;

/// Run `depot bulk`.
pub fn run(_settings: Settings, _args: &BulkArgs) -> Result<i32> {
    anyhow::bail!("not yet")
}
