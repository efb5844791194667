//! Bulk builds: pbulk's phases (scan, build, report, upload) on a recipe
//! tree, scheduled by the `sched` crate. The graph, every outcome and the
//! cost of every build live in pkgdb (`bulk_*` tables); logs and reports
//! under the bulk directory (`<root>/var/bulk`, or `BULKDIR`).

#![allow(
    clippy::cast_precision_loss,
    reason = "sizes, seconds and counts far below 2^52"
)]

pub mod build;
pub mod drive;
pub mod nodes;
pub mod one;
pub mod remote;
pub mod report;
pub mod scan;
pub mod simulate;
pub mod upload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use pkgdb::{BulkQueries as _, Database, Transaction, WriteLock};

use crate::cli::{BulkArgs, BulkOptions, BulkPhase};
use crate::settings::Settings;

/// Where a bulk keeps things, and how it reaches the database.
pub struct Bulk {
    /// The root packages are built for and installed into.
    pub settings: Settings,
    /// Logs and reports.
    pub dir: PathBuf,
    /// The writing connection, opened at the first write and kept for the
    /// run: opening and closing (a checkpoint) per outcome cost ~1.5 ms each.
    writer: std::cell::RefCell<Option<Database>>,
}

impl Bulk {
    /// The bulk of this root.
    pub fn new(mut settings: Settings) -> Result<Bulk> {
        // Builds install into the root while others run: wait for the lock.
        settings.lock_wait = Some(Duration::MAX);
        let dir = match settings.build_value("BULKDIR") {
            Some(d) => crate::settings::absolute(std::path::Path::new(d))?,
            None => settings.root.join("var/bulk"),
        };
        Ok(Bulk {
            settings,
            dir,
            writer: std::cell::RefCell::new(None),
        })
    }

    /// Write to the database in one transaction, under the root's lock
    /// (taken per write: builds install into the root meanwhile).
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let _lock = WriteLock::acquire(&self.settings.dbdir, self.settings.lock_wait)?;
        let mut writer = self.writer.borrow_mut();
        let db = match &mut *writer {
            Some(db) => db,
            slot => slot.insert(Database::open(&self.settings.dbdir)?),
        };
        db.transaction(|tx| f(tx))
    }

    /// Read the database.
    pub fn read(&self) -> Result<Database> {
        Ok(Database::open_read(&self.settings.dbdir)?)
    }

    /// `<dir>/logs/<pkgname>`.
    pub fn log_dir(&self, pkgname: &str) -> PathBuf {
        self.dir.join("logs").join(pkgname)
    }

    /// The scanned packages; an error if there was no scan.
    pub fn packages(&self) -> Result<Vec<pkgdb::BulkPackage>> {
        let packages = self.read()?.bulk_packages()?;
        if packages.is_empty() {
            bail!(
                "no bulk scan in {}: run `depot bulk scan --tree DIR` (or `depot bulk`) first",
                self.settings.root.display()
            );
        }
        Ok(packages)
    }

    /// Only one bulk at a time per bulk directory.
    fn lock(&self) -> Result<WriteLock> {
        WriteLock::acquire(&self.dir, None)
            .with_context(|| format!("another bulk is running with {}", self.dir.display()))
    }
}

/// The tree to scan, which must be a directory.
fn tree(bulk: &Bulk, options: &BulkOptions) -> Result<PathBuf> {
    let last = bulk.read()?.bulk_meta("tree")?;
    let tree = scan::tree_of(options.tree.as_deref(), last)?;
    if !tree.is_dir() {
        bail!(
            "the recipe tree {} is not a directory; give one with --tree",
            tree.display()
        );
    }
    Ok(tree)
}

/// Run `depot bulk` or one of its phases. What can be checked is checked
/// before anything is written (the bulk lock included), so that bad input
/// leaves a fresh root as it was.
pub fn run(settings: Settings, args: &BulkArgs) -> Result<i32> {
    let bulk = Bulk::new(settings)?;
    // `depot bulk --jobs 2 build` and `depot bulk build --jobs 2` alike.
    let options = match &args.phase {
        Some(BulkPhase::Scan(o) | BulkPhase::Build(o)) => o.or(&args.options),
        _ => args.options.clone(),
    };
    let options = &options;
    let upload_target = options
        .upload
        .as_deref()
        .map(upload::Target::parse)
        .transpose()?;
    options
        .memory_limit
        .as_deref()
        .map(build::parse_size)
        .transpose()?;
    let nodes_file = options
        .nodes
        .clone()
        .or_else(|| bulk.settings.build_value("BULK_NODES").map(PathBuf::from));
    let nodes = match (&args.phase, &nodes_file) {
        (None | Some(BulkPhase::Build(_)), Some(file)) => Some(nodes::load(file)?),
        _ => None,
    };
    match &args.phase {
        None => {
            let tree = tree(&bulk, options)?;
            let _lock = bulk.lock()?;
            scan_phase(&bulk, &tree, options)?;
            let status = build::run(&bulk, &bulk.packages()?, options, nodes.as_deref())?;
            report::run(&bulk)?;
            if let Some(target) = &upload_target {
                upload::run(&bulk, &bulk.packages()?, target)?;
            }
            Ok(status)
        }
        Some(BulkPhase::Scan(_)) => {
            let tree = tree(&bulk, options)?;
            let _lock = bulk.lock()?;
            scan_phase(&bulk, &tree, options)?;
            Ok(0)
        }
        Some(BulkPhase::Build(_)) => {
            let packages = bulk.packages()?;
            let _lock = bulk.lock()?;
            build::run(&bulk, &packages, options, nodes.as_deref())
        }
        Some(BulkPhase::Report) => {
            report::run(&bulk)?;
            Ok(0)
        }
        Some(BulkPhase::Upload { dir }) => {
            let target = upload::Target::parse(dir)?;
            let packages = bulk.packages()?;
            let _lock = bulk.lock()?;
            upload::run(&bulk, &packages, &target)?;
            Ok(0)
        }
        Some(BulkPhase::Explain { package }) => report::explain(&bulk, package),
        Some(BulkPhase::History { csv }) => report::history(&bulk, *csv),
        Some(BulkPhase::BuildOne(one)) => one::run(&bulk, one),
        Some(BulkPhase::Simulate(sim)) => simulate::run(sim, Some(&bulk.settings.root)),
        Some(BulkPhase::NodeInfo) => nodes::node_info(),
        Some(BulkPhase::Nodes(crate::cli::NodesCommand::Check { file })) => {
            let Some(file) = file.as_ref().or(nodes_file.as_ref()) else {
                bail!(
                    "no nodes file: give one (`depot bulk nodes check FILE`), --nodes, or bulk.nodes in the config"
                );
            };
            nodes::check_all(file, &bulk.settings.root)
        }
    }
}

/// The tree a bulk reads for its whole run: a tree that is a symlink (as
/// `depot merge` makes them) is resolved once, so that a merge switching it
/// midway leaves this bulk on the generation it scanned (a merge keeps the
/// generation it replaced).
fn snapshot(tree: &std::path::Path) -> PathBuf {
    let linked = std::fs::symlink_metadata(tree).is_ok_and(|m| m.file_type().is_symlink());
    if linked {
        tree.canonicalize().unwrap_or_else(|_| tree.to_path_buf())
    } else {
        tree.to_path_buf()
    }
}

/// The tree the last scan read (its snapshot), for the build phase.
pub fn scanned_tree(bulk: &Bulk) -> Result<PathBuf> {
    let db = bulk.read()?;
    let snapshot = db.bulk_meta("tree_snapshot")?.map(PathBuf::from);
    Ok(match snapshot {
        Some(s) if s.is_dir() => s,
        _ => PathBuf::from(db.bulk_meta("tree")?.unwrap_or_default()),
    })
}

fn scan_phase(bulk: &Bulk, tree: &std::path::Path, options: &BulkOptions) -> Result<()> {
    let began = std::time::Instant::now();
    let pinned = snapshot(tree);
    let scanned = scan::scan(&pinned, options.limited_list.as_deref())?;
    let prefailed: Vec<&pkgdb::BulkPackage> = scanned
        .packages
        .iter()
        .filter(|p| p.prefailed.is_some())
        .collect();
    for p in &prefailed {
        crate::output::say!(
            "{}: prefailed: {}",
            p.pkgpath,
            p.prefailed.as_deref().unwrap_or_default()
        );
    }
    bulk.write(|tx| {
        tx.bulk_record_scan(&scanned.packages)?;
        tx.bulk_set_meta("tree", &tree.to_string_lossy())?;
        tx.bulk_set_meta("tree_snapshot", &pinned.to_string_lossy())?;
        Ok(())
    })?;
    crate::output::inform!(
        "scanned {} recipes in {:.2} s ({} prefailed)",
        scanned.packages.len(),
        began.elapsed().as_secs_f64(),
        prefailed.len()
    );
    Ok(())
}
