//! Command-line types (clap). pkg_install's short flags are kept so the
//! multi-call names (`pkg_add`, `pkg_delete`, `pkg_info`, `pkg_create`,
//! `pkg_admin`) are drop-in; long options are added on top.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Parse `args` (program name first) as [`Cli::parse_from`] does, exiting with
/// clap's message on an error or for `--help`.
///
/// Before clap parses, it copies every global option (six) into every
/// subcommand (26 at the top, 14 under `view`, ...): on a cold machine that was
/// 0.1 ms and about 40 page faults of a one-package view change. A command line
/// that gives the global options before the subcommand, or through the
/// environment, parses the same without the copies. So the command with those
/// options kept at the top parses first; whatever it refuses (an option after
/// the subcommand, `--help`, `--version`, a mistake) is parsed again by the full
/// command, whose result, help text and errors are the ones the user sees.
pub fn parse_from(args: Vec<OsString>) -> Cli {
    parse_lean(&args).unwrap_or_else(|| Cli::parse_from(args))
}

/// The command line parsed with the global options kept at the top, or `None`
/// where only the full command can say what it means.
fn parse_lean(args: &[OsString]) -> Option<Cli> {
    let mut lean = Cli::command();
    let globals: Vec<clap::Id> = lean
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.get_id().clone())
        .collect();
    for id in globals {
        lean = lean.mut_arg(id, |a| a.global(false));
    }
    let mut matches = lean.try_get_matches_from_mut(args).ok()?;
    Cli::from_arg_matches_mut(&mut matches).ok()
}

/// depot: pkgsrc binary packages with package views.
#[derive(Debug, Parser)]
#[command(name = "depot", version, about, propagate_version = true)]
pub struct Cli {
    /// The root depot manages (LOCALBASE).
    #[arg(long, global = true, env = "DEPOT_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The package database directory (default: <root>/pkgdb).
    #[arg(
        short = 'K',
        long = "pkg-dbdir",
        global = true,
        env = "PKG_DBDIR",
        value_name = "DIR"
    )]
    pub pkg_dbdir: Option<PathBuf>,
    /// When another depot process is changing the root, wait for it (for at
    /// most SECONDS, or as long as it takes) instead of failing at once.
    #[arg(
        long,
        global = true,
        env = "DEPOT_LOCK_WAIT",
        value_name = "SECONDS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "forever"
    )]
    pub wait: Option<String>,
    /// The config file (default: <root>/etc/depot.toml).
    #[arg(long, global = true, env = "DEPOT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print less: no progress bars and no confirmations; only errors,
    /// warnings and what was asked for (pkg_info: no headers).
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// Print more: each step a command takes (again for more still).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Hand the global `-q`/`-v` to the command's own arguments, which
    /// pkg_install's commands read as their own flags.
    pub fn spread_verbosity(&mut self) {
        let (q, v) = (self.quiet, self.verbose);
        let audit = |o: &mut AuditOptions| {
            o.quiet = q;
            o.verbose = v > 0;
        };
        match &mut self.command {
            Command::Add(a) => (a.quiet, a.verbose) = (q, v > 0),
            Command::Delete(a) => (a.quiet, a.verbose) = (q, v > 0),
            Command::Info(a) => (a.quiet, a.verbose) = (q, v > 0),
            Command::Create(a) => a.verbose = v > 0,
            Command::Admin(a) => {
                (a.quiet, a.verbose) = (q, v);
                match &mut a.action {
                    AdminAction::Audit { options, .. }
                    | AdminAction::AuditPkg { options, .. }
                    | AdminAction::AuditBatch { options, .. }
                    | AdminAction::AuditHistory { options, .. } => audit(options),
                    _ => {}
                }
            }
            Command::View(ViewCommand::Audit { options, .. }) => audit(options),
            Command::Build(a) => (a.quiet, a.verbose) = (q, v > 0),
            Command::BinInstall(a) => a.quiet = q,
            Command::Install(a) => a.quiet = q,
            Command::Upgrade(a) => a.quiet = q,
            Command::Merge(a) => a.verbose = v > 0,
            _ => {}
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Install binary packages (pkg_add).
    Add(AddArgs),
    /// Delete installed packages (pkg_delete).
    Delete(DeleteArgs),
    /// Show information about packages (pkg_info).
    Info(InfoArgs),
    /// Create a binary package (pkg_create).
    Create(CreateArgs),
    /// Administer the package database (pkg_admin).
    Admin(AdminArgs),
    /// Manage views: named symlink trees of chosen package versions.
    #[command(subcommand)]
    View(ViewCommand),
    /// Print shell settings (PATH, MANPATH, ...) for a view, for `eval`.
    Env(EnvArgs),
    /// Run one command with a view's bin first in PATH.
    Run(RunArgs),
    /// Start a subshell in a view.
    Shell(ShellArgs),
    /// Remove old view generations and unreferenced depot dirs.
    Gc(GcArgs),
    /// Build a package from a recipe (pkgsrc's `make package`), or run one phase or target.
    Build(BuildArgs),
    /// Install a recipe's package and its dependencies, from up-to-date binary packages where they exist, building the rest.
    #[command(name = "bin-install")]
    BinInstall(BinInstallArgs),
    /// Install packages and their dependencies from the sites (BINPKG_SITES, PKG_PATH), as pkgin install.
    Install(InstallArgs),
    /// Install newer versions from the sites side by side and switch every view to them.
    Upgrade(UpgradeArgs),
    /// List the packages the sites offer (PKG_PATH and BINPKG_SITES), as pkgin avail.
    Avail(AvailArgs),
    /// Search the packages the sites offer by name and comment.
    Search(SearchArgs),
    /// Show what the sites say about packages (their pkg_summary records).
    Show(ShowArgs),
    /// Remove downloaded packages from <root>/var/cache/packages (and, with --all, cached summaries).
    #[command(name = "clean-cache")]
    CleanCache(CleanCacheArgs),
    /// Show the effective settings and where each came from.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Binary package repositories: index a directory of package files.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Bulk builds of a recipe tree: scan, build, report, upload (pbulk's phases).
    Bulk(BulkArgs),
    /// Merge overlay recipe trees into build trees, as portshaker does (config: <root>/etc/depot-merge.toml or --config, also a portshaker.conf).
    Merge(MergeArgs),
    /// Print a shell completion script (bash, zsh, fish) that completes package and view names.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Write man pages (depot(1), one per command, depot.toml(5)) into DIR/man1 and DIR/man5.
    Man {
        /// The man directory (e.g. /usr/local/share/man; made if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Build two versions of a sample package into a temporary root and show them side by side.
    Demo(DemoArgs),
    /// Remove directories a change put out of the way (run in the background by depot).
    #[command(hide = true)]
    Reap {
        /// The directories.
        dirs: Vec<PathBuf>,
    },
}

/// `--view NAME` / `--no-view`, shared by the commands that install.
#[derive(Debug, Args)]
pub struct ViewTarget {
    /// Link into this named view instead of the default view.
    #[arg(long, value_name = "NAME", conflicts_with = "no_view")]
    pub view: Option<String>,
    /// Install into the depot only; link into no view.
    #[arg(long)]
    pub no_view: bool,
}

impl ViewTarget {
    /// The view to link into: the named one, the default view, or none.
    pub fn chosen(&self) -> Option<String> {
        crate::linking::chosen_view(self.view.as_deref(), self.no_view)
    }
}

/// `depot add` / `pkg_add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Mark the packages as installed automatically (as dependencies).
    #[arg(short = 'A', long)]
    pub automatic: bool,
    /// Force: install even if dependencies are missing or conflicts are recorded.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not run +INSTALL scripts.
    #[arg(short = 'I', long = "no-scripts")]
    pub no_scripts: bool,
    /// Dry run: show what would be installed.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// With -n: print the plan as JSON (docs/json.md).
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    /// Accepted for compatibility; the prefix of an installed package is its depot dir.
    #[arg(short = 'p', long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// The global `-q`.
    #[arg(skip)]
    pub quiet: bool,
    /// Replace: the view switches to the new version of an installed package.
    #[arg(short = 'U', long)]
    pub replace: bool,
    /// Update: switch the view only if the new version is newer.
    #[arg(short = 'u', long)]
    pub update: bool,
    /// The global `-v`.
    #[arg(skip)]
    pub verbose: bool,
    /// Which view the packages are linked into.
    #[command(flatten)]
    pub target: ViewTarget,
    /// Package files, file:// URLs, or names/patterns looked up in PKG_PATH.
    #[arg(required = true, value_name = "PACKAGE")]
    pub packages: Vec<String>,
}

/// `depot delete` / `pkg_delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Also delete automatically installed packages no longer required.
    #[arg(short = 'A', long = "autoremove")]
    pub autoremove: bool,
    /// Do not run +DEINSTALL scripts.
    #[arg(short = 'D', long = "no-scripts")]
    pub no_scripts: bool,
    /// Force (-f: despite modified files and failing scripts; -ff: also despite dependents).
    #[arg(short = 'f', long, action = clap::ArgAction::Count)]
    pub force: u8,
    /// Arguments are installed file paths; delete the packages owning them.
    #[arg(short = 'F', long = "by-file")]
    pub by_file: bool,
    /// Keep going after a package fails.
    #[arg(short = 'k', long = "keep-going")]
    pub keep_going: bool,
    /// Unregister only: keep the package's files.
    #[arg(short = 'N', long = "unregister-only")]
    pub unregister_only: bool,
    /// Dry run.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// The global `-q`.
    #[arg(skip)]
    pub quiet: bool,
    /// With -n: print the plan as JSON (docs/json.md).
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    /// Only remove the database entries (same as -N in depot).
    #[arg(short = 'O', long = "database-only")]
    pub database_only: bool,
    /// Also delete the packages these depended on, if nothing else needs them.
    #[arg(short = 'R', long = "recursive-depends")]
    pub recursive_depends: bool,
    /// Also delete the packages that require these.
    #[arg(short = 'r', long = "recursive")]
    pub recursive: bool,
    /// The global `-v`.
    #[arg(skip)]
    pub verbose: bool,
    /// Also take the packages out of the named views that hold them.
    #[arg(long)]
    pub remove_from_views: bool,
    /// Packages (names, patterns) or, with -F, files.
    #[arg(required = true, value_name = "PACKAGE", add = crate::complete::packages())]
    pub packages: Vec<String>,
}

/// `depot info` / `pkg_info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Invoked as pkg_info: keep pkg_info's default sections exactly (no views).
    #[arg(long, hide = true)]
    pub pkg_info: bool,
    /// All installed packages.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show +BUILD_INFO.
    #[arg(short = 'B', long)]
    pub build_info: bool,
    /// Show +BUILD_VERSION.
    #[arg(short = 'b', long)]
    pub build_version: bool,
    /// Show the comment.
    #[arg(short = 'c', long)]
    pub comment: bool,
    /// Show the install notice (+DISPLAY).
    #[arg(short = 'D', long)]
    pub display: bool,
    /// Show the description.
    #[arg(short = 'd', long)]
    pub description: bool,
    /// Test whether a package is installed (exit 0) and print the matches.
    #[arg(short = 'e', long = "exists", value_name = "PKG")]
    pub exists: Option<String>,
    /// Like -e, but print only the best match.
    #[arg(short = 'E', long = "exists-best", value_name = "PKG")]
    pub exists_best: Option<String>,
    /// Arguments are file paths: show the packages that own them.
    #[arg(short = 'F', long = "by-file")]
    pub by_file: bool,
    /// Show the packing list.
    #[arg(short = 'f', long = "packing-list")]
    pub packing_list: bool,
    /// One line per package: name and comment.
    #[arg(short = 'I', long)]
    pub index: bool,
    /// Show the install script.
    #[arg(short = 'i', long = "install-script")]
    pub install_script: bool,
    /// Show the deinstall script.
    #[arg(short = 'k', long = "deinstall-script")]
    pub deinstall_script: bool,
    /// Show the files.
    #[arg(short = 'L', long)]
    pub files: bool,
    /// Show the mtree file.
    #[arg(short = 'm', long)]
    pub mtree: bool,
    /// Show the exact packages each was built with (@blddep).
    #[arg(short = 'N', long = "built-with")]
    pub built_with: bool,
    /// Show the dependencies.
    #[arg(short = 'n', long = "depends")]
    pub depends: bool,
    /// Print one +BUILD_INFO variable.
    #[arg(short = 'Q', long = "query", value_name = "VAR")]
    pub query: Option<String>,
    /// The global `-q`.
    #[arg(skip)]
    pub quiet: bool,
    /// Show the packages requiring each package.
    #[arg(short = 'R', long = "required-by")]
    pub required_by: bool,
    /// Show the dependencies, recursively.
    #[arg(short = 'r', long = "recursive")]
    pub recursive: bool,
    /// Show the size including dependencies.
    #[arg(short = 'S', long = "size-all")]
    pub size_all: bool,
    /// Show the size.
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Only packages installed by the user (not automatically).
    #[arg(short = 'u', long = "user")]
    pub user: bool,
    /// The global `-v`.
    #[arg(skip)]
    pub verbose: bool,
    /// pkg_summary(5) format.
    #[arg(short = 'X', long)]
    pub summary: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Packages: names, patterns, package files, or (with -F) file paths.
    #[arg(value_name = "PACKAGE", add = crate::complete::packages())]
    pub packages: Vec<String>,
}

/// `depot create` / `pkg_create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// +BUILD_INFO file.
    #[arg(short = 'B', value_name = "FILE")]
    pub build_info: Option<PathBuf>,
    /// +BUILD_VERSION file.
    #[arg(short = 'b', value_name = "FILE")]
    pub build_version: Option<PathBuf>,
    /// Conflicting packages (patterns, space separated).
    #[arg(short = 'C', value_name = "PATTERNS", allow_hyphen_values = true)]
    pub conflicts: Option<String>,
    /// Comment: a file, or with a leading `-` the text itself.
    #[arg(
        short = 'c',
        long,
        value_name = "[-]COMMENT",
        allow_hyphen_values = true
    )]
    pub comment: Option<String>,
    /// +DISPLAY file.
    #[arg(short = 'D', value_name = "FILE")]
    pub display: Option<PathBuf>,
    /// Description: a file, or with a leading `-` the text itself.
    #[arg(
        short = 'd',
        long = "desc",
        value_name = "[-]DESC",
        allow_hyphen_values = true
    )]
    pub desc: Option<String>,
    /// Compression: none, gzip, bzip2, xz, zstd (default: from the suffix).
    #[arg(short = 'F', value_name = "TYPE")]
    pub compression: Option<String>,
    /// The packing list file (`-` for stdin).
    #[arg(short = 'f', value_name = "FILE")]
    pub contents: Option<String>,
    /// Default group for files.
    #[arg(short = 'g', value_name = "GROUP")]
    pub group: Option<String>,
    /// The prefix recorded in +CONTENTS (files are read from -p).
    #[arg(short = 'I', value_name = "REALPREFIX")]
    pub real_prefix: Option<String>,
    /// +INSTALL script.
    #[arg(short = 'i', value_name = "FILE")]
    pub install: Option<PathBuf>,
    /// +DEINSTALL script.
    #[arg(short = 'k', value_name = "FILE")]
    pub deinstall: Option<PathBuf>,
    /// Check that symlinks are relative and stay inside the prefix.
    #[arg(short = 'l')]
    pub relative_links: bool,
    /// +PRESERVE file.
    #[arg(short = 'n', value_name = "FILE")]
    pub preserve: Option<PathBuf>,
    /// Run-time dependencies (patterns, space separated).
    #[arg(short = 'P', value_name = "PATTERNS", allow_hyphen_values = true)]
    pub depends: Option<String>,
    /// The prefix to read files from (overrides @cwd).
    #[arg(short = 'p', value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// +SIZE_ALL file.
    #[arg(short = 'S', value_name = "FILE")]
    pub size_all: Option<PathBuf>,
    /// +SIZE_PKG file.
    #[arg(short = 's', value_name = "FILE")]
    pub size_pkg: Option<PathBuf>,
    /// Build dependencies (patterns, space separated).
    #[arg(short = 'T', value_name = "PATTERNS", allow_hyphen_values = true)]
    pub build_depends: Option<String>,
    /// Default owner for files.
    #[arg(short = 'u', value_name = "OWNER")]
    pub owner: Option<String>,
    /// The global `-v`.
    #[arg(skip)]
    pub verbose: bool,
    /// Friendly form: pack this staged directory with a generated packing list.
    #[arg(long, value_name = "DIR", conflicts_with = "contents")]
    pub from_dir: Option<PathBuf>,
    /// With --from-dir: the @cwd recorded (default /usr/pkg).
    #[arg(long, value_name = "PREFIX", requires = "from_dir")]
    pub install_prefix: Option<String>,
    /// The package file to write (`name-version.tgz`; the suffix picks the compression).
    #[arg(value_name = "PACKAGE")]
    pub package: PathBuf,
}

/// `depot admin` / `pkg_admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The global `-q`.
    #[arg(skip)]
    pub quiet: bool,
    /// The global `-v`.
    #[arg(skip)]
    pub verbose: u8,
    /// The action.
    #[command(subcommand)]
    pub action: AdminAction,
}

/// pkg_admin's audit options.
#[derive(Debug, Args, Clone, Default)]
pub struct AuditOptions {
    /// Report packages that reached end-of-life too (CHECK_EOL=yes).
    #[arg(short = 'e')]
    pub eol: bool,
    /// Also report the advisories IGNORE_URLS leaves out.
    #[arg(short = 'i')]
    pub ignored: bool,
    /// Verify the list's PGP signature (GPG_KEYRING_PKGVULN).
    #[arg(short = 's')]
    pub signature: bool,
    /// Only this class of vulnerability (e.g. remote-code-execution).
    #[arg(short = 't', value_name = "TYPE")]
    pub class: Option<String>,
    /// The global `-q`.
    #[arg(skip)]
    pub quiet: bool,
    /// The global `-v`.
    #[arg(skip)]
    pub verbose: bool,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// pkg_admin's actions.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum AdminAction {
    /// Verify every installed file's sha256 and symlink target.
    Check {
        /// Packages to check (default: all).
        #[arg(add = crate::complete::packages())]
        packages: Vec<String>,
        /// The findings as JSON (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 if PACKAGE matches PATTERN.
    Pmatch {
        /// The pattern.
        #[arg(allow_hyphen_values = true)]
        pattern: String,
        /// The PKGNAME (may start with `-`, as pkg_admin takes it).
        #[arg(allow_hyphen_values = true)]
        package: String,
    },
    /// Print the best package file for each pattern found in PKG_PATH.
    Findbest {
        /// Patterns.
        #[arg(required = true)]
        patterns: Vec<String>,
    },
    /// List all package files in DIR matching PATTERN (argument DIR/PATTERN).
    Lsall {
        /// DIR/PATTERN.
        dir_pattern: String,
        /// As JSON (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// List the best package file in DIR matching PATTERN (argument DIR/PATTERN).
    Lsbest {
        /// DIR/PATTERN.
        dir_pattern: String,
        /// As JSON (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Recompute which installed package each dependency resolves to (+REQUIRED_BY).
    RebuildTree,
    /// Set a variable: `automatic=YES` (or `keep=YES`).
    Set {
        /// VAR=VALUE.
        assignment: String,
        /// Packages.
        #[arg(required = true)]
        packages: Vec<String>,
    },
    /// Unset a variable: `automatic` (or `keep`).
    Unset {
        /// VAR.
        variable: String,
        /// Packages.
        #[arg(required = true)]
        packages: Vec<String>,
    },
    /// Download pkg-vulnerabilities from PKGVULNURL, check it and keep it in PKGVULNDIR.
    FetchPkgVulnerabilities {
        /// Verify its PGP signature too.
        #[arg(short = 's')]
        signature: bool,
        /// Accepted for pkg_admin (depot always replaces the file when the fetch checks out).
        #[arg(short = 'u')]
        update: bool,
    },
    /// Check a pkg-vulnerabilities file (its #CHECKSUM, and with -s its signature).
    CheckPkgVulnerabilities {
        /// Verify its PGP signature too.
        #[arg(short = 's')]
        signature: bool,
        /// The file.
        file: PathBuf,
    },
    /// Report installed packages (all, or those matching PATTERNs) listed as vulnerable.
    Audit {
        /// Options.
        #[command(flatten)]
        options: AuditOptions,
        /// Patterns of installed packages (default: all).
        patterns: Vec<String>,
    },
    /// Report which of these PKGNAMEs (installed or not) are listed as vulnerable.
    AuditPkg {
        /// Options.
        #[command(flatten)]
        options: AuditOptions,
        /// PKGNAMEs.
        #[arg(required = true)]
        pkgnames: Vec<String>,
    },
    /// As audit-pkg, for the PKGNAMEs in FILEs (one a line; `-` for standard input).
    AuditBatch {
        /// Options.
        #[command(flatten)]
        options: AuditOptions,
        /// Files of PKGNAMEs.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print every entry ever listed for these PKGBASEs.
    AuditHistory {
        /// Options.
        #[command(flatten)]
        options: AuditOptions,
        /// PKGBASEs.
        #[arg(required = true)]
        pkgbases: Vec<String>,
    },
    /// Import a pkg_install PKG_DBDIR (per-package +CONTENTS directories) into the database.
    Import {
        /// The old PKG_DBDIR.
        dir: PathBuf,
    },
    /// Export the database as a pkg_install PKG_DBDIR tree.
    Export {
        /// Where to write it.
        dir: PathBuf,
    },
}

/// `depot view ...`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ViewCommand {
    /// Report the view's members that pkg-vulnerabilities lists (exit 1 if any).
    Audit {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// Options, as pkg_admin audit's.
        #[command(flatten)]
        options: AuditOptions,
    },
    /// List views with their current generation and packages.
    List {
        /// As JSON (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Create an empty named view.
    Create {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
    },
    /// Delete a named view (its packages stay in the depot).
    Delete {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
    },
    /// Add installed packages to a view (a new generation).
    Add {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// Packages (PKGNAMEs or patterns).
        #[arg(required = true, add = crate::complete::packages())]
        packages: Vec<String>,
        /// Priority for the added packages (lower wins conflicts).
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i64>,
        /// Even if a member is left needing a package the view does not hold.
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Remove packages from a view (a new generation).
    Remove {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// Packages.
        #[arg(required = true, add = crate::complete::packages())]
        packages: Vec<String>,
        /// Even if a member is left needing a package the view does not hold.
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Replace OLD with NEW in one generation.
    Switch {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// The version in the view.
        #[arg(add = crate::complete::packages())]
        old: String,
        /// The version to put there.
        #[arg(add = crate::complete::packages())]
        new: String,
        /// Even if a member is left needing a package the view does not hold.
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// List a view's generations.
    Generations {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// As JSON (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Return to the parent of the current generation, or to --to N.
    Rollback {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// The generation to return to.
        #[arg(long)]
        to: Option<i64>,
    },
    /// Compare the live view with its plan.
    Check {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// If it differs, write a new generation from the plan and switch to it.
        #[arg(long)]
        repair: bool,
    },
    /// Set a package's priority in a view (lower wins conflicts).
    Priority {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// The package.
        #[arg(add = crate::complete::packages())]
        package: String,
        /// The priority.
        #[arg(allow_negative_numbers = true)]
        priority: i64,
    },
    /// Prefer one package for one path in a view.
    Prefer {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// The path in the view.
        path: String,
        /// The package that wins it.
        #[arg(add = crate::complete::packages())]
        package: String,
    },
    /// Set how many generations a view keeps (the newest, and always its current one).
    Keep {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// How many (at least 1).
        #[arg(value_parser = generations_to_keep)]
        count: u64,
    },
    /// Add ignore globs to a view.
    Ignore {
        /// The view.
        #[arg(add = crate::complete::views())]
        name: String,
        /// Globs.
        #[arg(required = true)]
        globs: Vec<String>,
    },
}

/// A number of generations to keep: a whole number, at least 1 (the current
/// generation is always kept).
fn generations_to_keep(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("a view always keeps its current generation: give 1 or more".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "{text:?} is not a number of generations: give 1 or more"
        )),
    }
}

/// Shells `depot env` can print for.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum Shell {
    /// POSIX sh.
    Sh,
    /// bash.
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

/// `depot env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The view (default: the default view).
    #[arg(add = crate::complete::views())]
    pub name: Option<String>,
    /// The shell syntax.
    #[arg(long, value_enum, default_value = "sh")]
    pub shell: Shell,
}

/// `depot gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Dry run: show what would be removed.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Print what is (or would be) removed as JSON (docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Generations to keep per view (default: each view's window).
    #[arg(long, value_parser = generations_to_keep)]
    pub keep: Option<u64>,
}

/// `depot demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Use this directory instead of a temporary one (kept afterwards).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `depot build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The recipe directory and/or what to do: a phase (fetch, checksum,
    /// extract, patch, wrapper, configure, build, test, install, package; the
    /// default is package) or clean, show-distfiles, show-depends, makesum,
    /// makepatchsum, print-plist.
    #[arg(value_name = "RECIPE_DIR|TARGET", num_args = 0..=2)]
    pub args: Vec<String>,
    /// Install the package into the root after building it.
    #[arg(long)]
    pub install: bool,
    /// The global `-v`.
    #[arg(skip)]
    pub verbose: bool,
    /// The global `-q`.
    #[arg(skip)]
    pub quiet: bool,
}

/// `depot avail`.
#[derive(Debug, Args)]
pub struct AvailArgs {
    /// Print JSON: each package with its comment and site.
    #[arg(long)]
    pub json: bool,
}

/// `depot install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Show what would be downloaded and installed; change nothing.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Which view the packages are linked into.
    #[command(flatten)]
    pub target: ViewTarget,
    /// The global `-q`.
    #[arg(skip)]
    pub quiet: bool,
    /// Package names or patterns.
    #[arg(required = true, value_name = "PATTERN")]
    pub packages: Vec<String>,
}

/// `depot upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Show what would be upgraded; change nothing.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// The global `-q`.
    #[arg(skip)]
    pub quiet: bool,
    /// Installed packages (names or patterns) to upgrade; all by default.
    #[arg(value_name = "PATTERN")]
    pub packages: Vec<String>,
}

/// `depot search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// A word to look for in names and comments.
    pub word: String,
}

/// `depot show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Package names or patterns.
    #[arg(required = true, value_name = "PATTERN")]
    pub packages: Vec<String>,
}

/// `depot clean-cache`.
#[derive(Debug, Args)]
pub struct CleanCacheArgs {
    /// Also forget the cached and imported summaries.
    #[arg(long)]
    pub all: bool,
}

/// `depot config ...`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ConfigCommand {
    /// Print each setting, its value and where it came from.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `depot repo ...`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum RepoCommand {
    /// Write DIR/pkg_summary.gz and DIR/pkg_summary.zst for the package files
    /// in DIR (a repository's All/); only new or changed files are read.
    Index {
        /// The directory of package files.
        dir: PathBuf,
        /// Sign the summary with this secret key (from `depot repo keygen`):
        /// writes DIR/pkg_summary.minisig.
        #[arg(long, value_name = "KEYFILE")]
        sign: Option<PathBuf>,
    },
    /// Make a signing key pair: PREFIX.sec (keep it private) and PREFIX.pub
    /// (give its key to users, under [sites."URL"] keys in depot.toml).
    Keygen {
        /// Where to write the keys (without .sec/.pub).
        prefix: PathBuf,
    },
}

/// `depot bin-install`.
#[derive(Debug, Args)]
pub struct BinInstallArgs {
    /// The recipe directory (default: the current directory).
    #[arg(value_name = "RECIPE_DIR")]
    pub dirs: Vec<PathBuf>,
    /// Which view the packages are linked into.
    #[command(flatten)]
    pub target: ViewTarget,
    /// The global `-q`.
    #[arg(skip)]
    pub quiet: bool,
}

/// `depot run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The view.
    #[arg(add = crate::complete::views())]
    pub name: String,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `depot shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// The view.
    #[arg(add = crate::complete::views())]
    pub name: String,
}

/// `depot bulk [PHASE]`: every phase, or one.
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// One phase or tool (default: scan, build, report, and upload when --upload is given).
    #[command(subcommand)]
    pub phase: Option<BulkPhase>,
    /// Settings of the bulk.
    #[command(flatten)]
    pub options: BulkOptions,
}

/// The settings every bulk phase takes.
#[derive(Debug, Args, Clone, Default)]
pub struct BulkOptions {
    /// The recipe tree (default: the tree of the last scan, or ./recipes).
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Build only the recipes listed in FILE (one `category/name` a line) and what they need.
    #[arg(long, value_name = "FILE")]
    pub limited_list: Option<PathBuf>,
    /// Builds at once (default: the cores / 2, at least 1).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Cores the builds' make jobs share (default: all of this machine's).
    #[arg(long, value_name = "N")]
    pub cores: Option<usize>,
    /// Do not start builds together whose recorded peak memory would pass SIZE (e.g. 8G).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Packages never built at the same time: a comma-separated list of
    /// PKGBASEs or category/name paths (repeatable).
    #[arg(long, value_name = "LIST")]
    pub never_together: Vec<String>,
    /// Rebuild these (category/name or PKGBASE; `all` for every one) even when up to date.
    #[arg(long, value_name = "PKG")]
    pub force: Vec<String>,
    /// After the report, upload the packages to this directory (or
    /// `[user@]host[:port]:path`, by rsync over ssh).
    #[arg(long, value_name = "DIR")]
    pub upload: Option<PathBuf>,
    /// Build across the machines of this nodes file (`host power [key=value…]` lines).
    #[arg(long, value_name = "FILE")]
    pub nodes: Option<PathBuf>,
}

impl BulkOptions {
    /// These options, with those not given taken from `outer` (given before
    /// the phase: `depot bulk --jobs 2 build`).
    pub fn or(&self, outer: &BulkOptions) -> BulkOptions {
        let list = |inner: &Vec<String>, outer: &Vec<String>| {
            if inner.is_empty() {
                outer.clone()
            } else {
                inner.clone()
            }
        };
        BulkOptions {
            tree: self.tree.clone().or_else(|| outer.tree.clone()),
            limited_list: self
                .limited_list
                .clone()
                .or_else(|| outer.limited_list.clone()),
            jobs: self.jobs.or(outer.jobs),
            cores: self.cores.or(outer.cores),
            memory_limit: self
                .memory_limit
                .clone()
                .or_else(|| outer.memory_limit.clone()),
            never_together: list(&self.never_together, &outer.never_together),
            force: list(&self.force, &outer.force),
            upload: self.upload.clone().or_else(|| outer.upload.clone()),
            nodes: self.nodes.clone().or_else(|| outer.nodes.clone()),
        }
    }
}

/// `depot bulk ...`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum BulkPhase {
    /// Read every recipe of the tree into the dependency graph.
    Scan(BulkOptions),
    /// Build what the scan found out of date, in dependency order.
    Build(BulkOptions),
    /// Write the text, HTML and JSON reports of the last build.
    Report,
    /// Copy the built packages to DIR/All, then write its pkg_summary (summary last).
    /// DIR may be `[user@]host[:port]:path` on another machine (rsync over ssh).
    Upload {
        /// The repository directory (packages go to DIR/All), or `[user@]host[:port]:path`.
        dir: PathBuf,
    },
    /// Why a package was (or would be) built.
    Explain {
        /// category/name or PKGBASE.
        package: String,
    },
    /// The recorded cost of every build and phase.
    History {
        /// Print CSV.
        #[arg(long)]
        csv: bool,
    },
    /// Run the scheduler on a dag_bench.py graph with a virtual clock.
    Simulate(SimulateArgs),
    /// The machines of a multi-machine bulk.
    #[command(subcommand)]
    Nodes(NodesCommand),
    /// What the master checks of a node: OS, architecture, binary digest.
    #[command(hide = true)]
    NodeInfo,
    /// Build one package for a bulk (run by `depot bulk build`).
    #[command(hide = true)]
    BuildOne(BuildOneArgs),
}

/// `depot bulk nodes ...`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum NodesCommand {
    /// Reach each node over ssh, compare its system, copy depot to it, report free disk.
    Check {
        /// The nodes file (default: --nodes, or bulk.nodes in the config).
        file: Option<PathBuf>,
    },
}

/// `depot bulk simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The graph: {"jobs": [{"name", "duration", "deps", optional "cpu", "make_jobs", "parallel", "memory"}]}.
    pub graph: PathBuf,
    /// Builds at once (slots of speed 1).
    #[arg(short, long, value_name = "N", required_unless_present_any = ["speeds", "nodes"])]
    pub jobs: Option<usize>,
    /// One slot per speed factor (durations are divided by it), as machines of unequal power.
    #[arg(long, value_name = "S,S,…", value_delimiter = ',', conflicts_with_all = ["jobs", "cores"])]
    pub speeds: Vec<f64>,
    /// Share this many cores by make jobs (default policy: by need).
    #[arg(long, value_name = "C")]
    pub cores: Option<usize>,
    /// How make jobs are given: by-need, bob, or fixed:M.
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<PolicyArg>,
    /// The rule: plan (depot's: the candidate whose simulation finishes first); the others are references.
    #[arg(long, value_enum, default_value = "plan")]
    pub rule: crate::bulk::simulate::Rule,
    /// Multiply each real duration by a log-normal factor of this sigma, unseen by the scheduler.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Hide this fraction of the estimates from the scheduler.
    #[arg(long, default_value_t = 0.0)]
    pub missing: f64,
    /// Seed of the noise, the hiding and drawn parallel fractions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Memory limit in bytes (with the graph's `memory` fields).
    #[arg(long)]
    pub memory: Option<u64>,
    /// Really run `sleep DURATION*SCALE` for each job through the bulk executor.
    #[arg(long, value_name = "SCALE")]
    pub execute: Option<f64>,
    /// With --execute: run the sleeps over ssh on the machines of this nodes file.
    #[arg(long, value_name = "FILE", requires = "execute", conflicts_with_all = ["jobs", "speeds"])]
    pub nodes: Option<PathBuf>,
}

/// A make jobs policy, as given.
#[derive(Debug, Clone)]
pub struct PolicyArg(pub String);

impl std::str::FromStr for PolicyArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(PolicyArg(s.to_owned()))
    }
}

impl PolicyArg {
    /// The policy it names.
    pub fn parse_policy(&self) -> anyhow::Result<sched::CorePolicy> {
        match self.0.as_str() {
            "by-need" => Ok(sched::CorePolicy::ByNeed),
            "bob" => Ok(sched::CorePolicy::Bob),
            other => match other.strip_prefix("fixed:").and_then(|m| m.parse().ok()) {
                Some(m) if m > 0 => Ok(sched::CorePolicy::Fixed(m)),
                _ => anyhow::bail!("unknown make jobs policy {other}: use by-need, bob or fixed:M"),
            },
        }
    }
}

/// `depot bulk build-one` (internal).
#[derive(Debug, Args)]
pub struct BuildOneArgs {
    /// The recipe directory.
    pub recipe: PathBuf,
    /// MAKE_JOBS.
    #[arg(long)]
    pub make_jobs: usize,
    /// The exact packages its dependencies resolve to.
    #[arg(long = "dep", value_name = "PKGNAME")]
    pub deps: Vec<String>,
    /// Where the logs go.
    #[arg(long)]
    pub logs: PathBuf,
    /// Where the measured costs are written (JSON).
    #[arg(long)]
    pub stats: PathBuf,
    /// Install the dependencies from DIR/All first, unless installed (a node's own root).
    #[arg(long, value_name = "DIR")]
    pub install_deps: Option<PathBuf>,
    /// Copy the built package into DIR too (for the master to fetch).
    #[arg(long, value_name = "DIR")]
    pub keep_package: Option<PathBuf>,
    /// Stop the build (and everything it started) when stdin closes: the
    /// master or its connection is gone.
    #[arg(long)]
    pub watch_stdin: bool,
    /// Another of depot's working areas under the root (a node's work
    /// dir), written by other runs while this build runs.
    #[arg(long, value_name = "DIR")]
    pub scratch: Vec<PathBuf>,
}

/// `depot merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The targets to merge (default: every target of the config).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Print where each recipe would come from and every conflict; update no
    /// source and write no tree.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Merge without updating the sources first (portshaker -M).
    #[arg(short = 'M', long, conflicts_with = "update_only")]
    pub no_update: bool,
    /// Update the sources and merge nothing (portshaker -U).
    #[arg(short = 'U', long)]
    pub update_only: bool,
    /// Show where a recipe (category/name) in the merged targets came from, file by file.
    #[arg(long, value_name = "CATEGORY/NAME")]
    pub explain: Option<String>,
    /// The global `-v`.
    #[arg(skip)]
    pub verbose: bool,
}

/// Shells `depot completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum CompletionShell {
    /// bash (source it, or put it in bash-completion's completions dir).
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own checks over every subcommand: no two arguments share a
    /// flag (the global `-q`/`-v` included), every `requires` names one.
    #[test]
    fn the_command_line_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }

    fn words(line: &str) -> Vec<OsString> {
        std::iter::once("depot")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    /// The lean parse takes the usual command lines, and where it answers at
    /// all it answers as the full command does.
    #[test]
    fn the_lean_parse_agrees_with_the_full_one() {
        let taken = [
            "view add v pkg",
            "--root /r view add v pkg",
            "--root=/r -K /db --config /c -q view remove v a b",
            "-vv --wait=5 info -L hello",
            "--wait view list",
            "admin pmatch foo -1.0",
            "run v -- tool -v --root x",
            "add -n ./a.tgz",
            "bulk build --jobs 2",
        ];
        let refused = [
            "view add v pkg --root /r",
            "info hello -v",
            "view add --help",
            "--version",
            "view add",
            "no-such-command",
            "view add v pkg --no-such-option",
        ];
        for line in taken.iter().chain(&refused) {
            let args = words(line);
            let full = Cli::try_parse_from(&args)
                .map(|c| format!("{c:?}"))
                .map_err(|e| e.kind());
            let lean = parse_lean(&args).map(|c| format!("{c:?}"));
            if taken.contains(line) {
                assert!(lean.is_some(), "the lean parse refused `{line}`");
            }
            if let Some(lean) = lean {
                assert_eq!(Ok(lean), full, "`{line}`");
            } else {
                assert!(refused.contains(line), "`{line}` fell back");
            }
        }
    }
}
