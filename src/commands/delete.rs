//! `depot delete` / `pkg_delete`.

use anyhow::Result;

use super::ExitStatus;
use crate::cli::DeleteArgs;
use crate::install::Context;
use crate::install::delete::{DeleteOptions, delete};
use crate::settings::Settings;

/// Run `depot delete`.
pub fn run(settings: Settings, args: &DeleteArgs) -> Result<ExitStatus> {
    let mut ctx = Context::writer(settings)?;
    let options = DeleteOptions {
        autoremove: args.autoremove,
        no_scripts: args.no_scripts,
        force: args.force,
        by_file: args.by_file,
        keep_going: args.keep_going,
        unregister_only: args.unregister_only || args.database_only,
        dry_run: args.dry_run,
        recursive_depends: args.recursive_depends,
        recursive: args.recursive,
        verbose: args.verbose,
        remove_from_views: args.remove_from_views,
    };
    if args.json {
        crate::output::collect_plan();
    }
    if args.quiet {
        crate::progress::quiet();
    }
    delete(&mut ctx, &args.packages, &options)?;
    ctx.finish();
    crate::output::print_plan()?;
    Ok(0)
}
