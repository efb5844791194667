//! depot: pkgsrc binary packages with package views as the native model.
//!
//! The `depot` binary calls [`main`], which parses the command line (also
//! when invoked by a multi-call name such as `pkg_add`), resolves the
//! settings, runs one command, prints the error chain once and exits with its
//! status. The modules are private: the command line is the interface. Only
//! [`fuzzing`] reaches inside, for the fuzz targets in `fuzz/`.

mod audit;
mod build;
mod bulk;
mod cli;
mod commands;
mod complete;
pub mod fuzzing;
mod http;
mod install;
mod linking;
mod man;
mod merge;
mod output;
mod owners;
mod package;
mod profile;
mod progress;
mod quote;
mod repo;
mod requirements;
mod settings;

use std::ffi::OsString;

use cli::{Cli, Command};

/// Multi-call names and the subcommand each stands for.
const MULTI_CALL: &[(&str, &str)] = &[
    ("pkg_add", "add"),
    ("pkg_delete", "delete"),
    ("pkg_info", "info"),
    ("pkg_create", "create"),
    ("pkg_admin", "admin"),
];

/// Parse the command line. Invoked by a multi-call name (`pkg_info`, ...), the
/// arguments are first checked against that subcommand alone, renamed, so that
/// `-h` and usage errors say `pkg_info [OPTIONS] ...`; then the subcommand is
/// put in front and parsed as usual.
fn parse() -> Cli {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let invoked = args
        .first()
        .and_then(|a| {
            std::path::Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let Some((name, sub)) = MULTI_CALL.iter().find(|(name, _)| *name == invoked) else {
        return cli::parse_from(args);
    };
    output::set_program(name);
    let top = <Cli as clap::CommandFactory>::command();
    if let Some(alone) = top.find_subcommand(sub) {
        let mut alone = alone.clone().name(*name).bin_name(*name);
        for global in top.get_arguments().filter(|a| a.is_global_set()) {
            alone = alone.arg(global.clone());
        }
        if let Err(e) = alone.try_get_matches_from(&args) {
            e.exit();
        }
    }
    args.insert(1, OsString::from(sub));
    if *sub == "info" {
        args.insert(2, OsString::from("--pkg-info"));
    }
    cli::parse_from(args)
}

/// The settings the command line gives.
fn flags(cli: &Cli) -> settings::Flags<'_> {
    settings::Flags {
        root: cli.root.as_deref(),
        dbdir: cli.pkg_dbdir.as_deref(),
        wait: cli.wait.as_deref(),
        config: if merge_config(cli).is_some() {
            None
        } else {
            cli.config.as_deref()
        },
    }
}

/// `depot merge --config FILE` names the merge config (depot-merge.toml or
/// portshaker.conf), not depot.toml; `DEPOT_CONFIG` still names depot.toml.
fn merge_config(cli: &Cli) -> Option<&std::path::Path> {
    let given = cli.config.as_deref()?;
    let from_env = std::env::var_os("DEPOT_CONFIG").is_some_and(|v| v == given.as_os_str());
    (matches!(cli.command, Command::Merge(_)) && !from_env).then_some(given)
}

/// Run the command with the settings resolved once (an error only for the
/// commands that need them).
fn run(cli: &Cli, resolved: anyhow::Result<settings::Settings>) -> anyhow::Result<i32> {
    let settings = || resolved;
    match &cli.command {
        Command::Add(args) => commands::add::run(settings()?, args),
        Command::Delete(args) => commands::delete::run(settings()?, args),
        Command::Info(args) => commands::info::run(&settings()?, args),
        Command::Create(args) => commands::create::run(&settings()?, args),
        Command::Admin(args) => commands::admin::run(settings()?, args),
        Command::View(command) => commands::view::run(settings()?, command),
        Command::Env(args) => commands::env::run_env(&settings()?, args),
        Command::Run(args) => commands::env::run_run(&settings()?, args),
        Command::Shell(args) => commands::env::run_shell(&settings()?, args),
        Command::Gc(args) => commands::gc::run(settings()?, args),
        Command::Build(args) => commands::build::run(&settings()?, args),
        Command::BinInstall(args) => commands::build::run_bin_install(&settings()?, args),
        Command::Repo(command) => commands::repo::run(command),
        Command::Avail(args) => commands::repo::run_avail(&settings()?, args),
        Command::Install(args) => commands::install::run_install(settings()?, args),
        Command::Upgrade(args) => commands::install::run_upgrade(settings()?, args),
        Command::Search(args) => commands::repo::run_search(&settings()?, args),
        Command::Show(args) => commands::repo::run_show(&settings()?, args),
        Command::CleanCache(args) => commands::repo::run_clean_cache(&settings()?, args),
        Command::Config(command) => commands::repo::run_config(&settings()?, command),
        Command::Demo(args) => commands::demo::run(args),
        Command::Completions { shell } => complete::script(*shell),
        Command::Man { out } => man::write(out),
        Command::Merge(args) => merge::run(&settings()?.root, merge_config(cli), args),
        Command::Bulk(args) => match &args.phase {
            Some(cli::BulkPhase::Simulate(sim)) if sim.nodes.is_none() => {
                bulk::simulate::run(sim, None)
            }
            _ => bulk::run(settings()?, args),
        },
        Command::Reap { dirs } => {
            linking::reap(dirs)?;
            Ok(0)
        }
    }
}

/// The root and database directory when this run starts with no database:
/// a writer creates one, so a command that then fails would leave a root
/// behind where there was none.
fn fresh_root(
    cli: &Cli,
    settings: &settings::Settings,
) -> Option<(Option<std::path::PathBuf>, std::path::PathBuf)> {
    if matches!(cli.command, Command::Demo(_) | Command::Reap { .. }) {
        return None;
    }
    let new_root = (!settings.root.exists()).then(|| settings.root.clone());
    (!settings.dbdir.join(pkgdb::DATABASE_FILE).exists())
        .then(|| (new_root, settings.dbdir.clone()))
}

/// After a failed command: remove the database it created if it holds nothing
/// (no package, no view), and the root if this run made it and it is empty.
fn forget_fresh_root(root: Option<&std::path::Path>, dbdir: &std::path::Path) {
    let empty = pkgdb::Database::open_read(dbdir).is_ok_and(|db| {
        db.package_count().is_ok_and(|n| n == 0) && db.views().is_ok_and(|v| v.is_empty())
    });
    if empty && dbdir.exists() {
        // Only what opening the database made: anything else in the
        // directory (a fetched pkg-vulnerabilities) stays, and so does it.
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = fs_err::remove_file(dbdir.join(format!("{}{suffix}", pkgdb::DATABASE_FILE)));
        }
        let _ = fs_err::remove_file(dbdir.join("lock"));
        let _ = fs_err::remove_dir(dbdir);
        if let Some(root) = root {
            // Caches this run made go with the root it made.
            let _ = fs_err::remove_dir_all(root.join("var"));
            let _ = fs_err::remove_dir(root);
        }
    }
}

/// A reader that stops reading (`depot avail | head`) ends the run quietly
/// with status 0, as a broken pipe does for the C tools: `println!` panics
/// when stdout is closed, and this hook turns that panic into the exit.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Run depot with this process's arguments and exit with its status.
pub fn main() {
    complete::answer_if_asked();
    quiet_on_broken_pipe();
    profile::begin();
    let mut cli = parse();
    cli.spread_verbosity();
    output::set_verbosity(cli.quiet, cli.verbose);
    profile::phase("parsed");
    let resolved = settings::Settings::resolve(flags(&cli));
    let fresh = resolved.as_ref().ok().and_then(|s| fresh_root(&cli, s));
    let result = run(&cli, resolved);
    if result.is_err()
        && let Some((root, dbdir)) = &fresh
    {
        forget_fresh_root(root.as_deref(), dbdir);
    }
    profile::phase("done");
    let code = match result {
        Ok(code) => code,
        Err(error) => {
            if error.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                0
            } else {
                output::say!("{}", quote::message(&format!("{error:#}")));
                1
            }
        }
    };
    std::process::exit(code);
}
