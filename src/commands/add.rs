//! `depot add` / `pkg_add`.

use anyhow::Result;

use super::ExitStatus;
use crate::cli::AddArgs;
use crate::install::Context;
use crate::install::add::{AddOptions, add};
use crate::output;
use crate::settings::Settings;

/// Run `depot add`.
pub fn run(settings: Settings, args: &AddArgs) -> Result<ExitStatus> {
    if args.prefix.is_some() {
        output::say!("note: -p is ignored; every package is installed into its own depot dir");
    }
    // A dry run changes nothing, not even the lock file.
    let mut ctx = if args.dry_run {
        Context::reader(settings)?
    } else {
        Context::writer(settings)?
    };
    let options = AddOptions {
        automatic: args.automatic,
        force: args.force,
        no_scripts: args.no_scripts,
        dry_run: args.dry_run,
        replace: args.replace,
        update: args.update,
        verbose: args.verbose,
        view: args.target.chosen(),
    };
    if args.json {
        output::collect_plan();
    }
    if args.quiet {
        crate::progress::quiet();
    }
    add(&mut ctx, &args.packages, &options)?;
    ctx.finish();
    output::print_plan()?;
    Ok(0)
}
