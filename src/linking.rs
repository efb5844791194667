//! Linking packages into views: composes the `views` engine with the package
//! database. A change loads the members of a view's current generation,
//! plans and materialises a new generation, records it in the same database
//! transaction as the operation that caused it, then switches the view.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use pkgdb::{Database, MemberRow, Queries, Transaction, ViewQueries};

use crate::install::TRASH_PREFIX;
use crate::output;
use crate::settings::Settings;

/// The view that lives at the root.
pub const DEFAULT_VIEW: &str = "default";

/// The view a command links into from its `--view NAME` / `--no-view`
/// flags: the named one, none, or the default view.
pub fn chosen_view(view: Option<&str>, no_view: bool) -> Option<String> {
    if no_view {
        None
    } else {
        Some(view.unwrap_or(DEFAULT_VIEW).to_owned())
    }
}

/// Top-level names of the root that depot owns; no package may claim them in the default view.
pub const RESERVED: &[&str] = &["packages", "views", "pkgdb", "var"];

/// `<root>/views/.gen/<view>`.
pub fn generations_dir(settings: &Settings, view: &str) -> PathBuf {
    settings.views_dir().join(".gen").join(view)
}

/// `<root>/views/.gen/<view>/<number>.plan`: the link plan of a generation
/// ([`views::Plan::encode`]), so that the next change plans only what it
/// touches. A cache: when it is missing or unreadable, the view is planned
/// from its members.
pub fn plan_file(root: &Path, view: &str, number: i64) -> PathBuf {
    root.join("views")
        .join(".gen")
        .join(view)
        .join(format!("{number}.plan"))
}

fn read_plan(path: &Path) -> Option<(views::Plan, Vec<String>)> {
    views::Plan::decode(fs_err::read(path).ok()?)
}

/// Write a plan file: a temporary name (which recovery removes), then a rename.
fn write_plan(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".tmp-{name}-{}", std::process::id()));
    fs_err::write(&tmp, bytes)
        .and_then(|()| fs_err::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            anyhow::Error::from(e)
        })
}

/// Remove a generation: its tree and its plan.
pub fn remove_generation(settings: &Settings, view: &str, number: i64) -> Result<()> {
    remove_tree(&generations_dir(settings, view).join(number.to_string()))?;
    match std::fs::remove_file(plan_file(&settings.root, view, number)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// `<root>/views/<view>`: the symlink readers follow.
pub fn view_link(settings: &Settings, view: &str) -> PathBuf {
    settings.views_dir().join(view)
}

/// The members of a view's current generation (empty if the view has none).
pub fn current_members<R: ViewQueries>(db: &R, view: &str) -> Result<Vec<MemberRow>> {
    match db.view(view)? {
        Some(v) => match v.current {
            Some(n) => Ok(db.members(v.id, n)?),
            None => Ok(Vec::new()),
        },
        None => Ok(Vec::new()),
    }
}

/// A package not yet in the database, to plan with.
pub struct Incoming<'a> {
    /// PKGNAME.
    pub pkgname: &'a str,
    /// Where its files are now (staging), for content comparisons.
    pub staged_at: &'a Path,
    /// Where they will be (the depot dir), for link targets.
    pub depot_dir: &'a Path,
    /// Its files and symlinks, relative.
    pub paths: Vec<String>,
}

/// A materialised generation, not yet recorded or switched to.
#[derive(Debug)]
pub struct Prepared {
    generation: Recordable,
    dir: PathBuf,
    plan: PathBuf,
    top_level: Vec<String>,
}

/// What the database records of a new generation.
#[derive(Debug, Clone)]
struct Recordable {
    view: String,
    number: i64,
    parent: Option<i64>,
    members: Vec<MemberRow>,
    reason: String,
    footprint: views::Footprint,
    /// The parent's members, if already read.
    parent_members: Option<Vec<MemberRow>>,
}

impl Recordable {
    fn record(&self, tx: &Transaction<'_>) -> pkgdb::Result<()> {
        let view_id = match tx.view(&self.view)? {
            Some(v) => v.id,
            None => tx.create_view(&self.view)?,
        };
        tx.record_generation(
            view_id,
            &pkgdb::NewGeneration {
                number: self.number,
                parent: self.parent,
                reason: &self.reason,
                members: &self.members,
                parent_members: self.parent_members.as_deref(),
                footprint: Some((self.footprint.inodes as i64, self.footprint.bytes as i64)),
            },
        )
    }
}

/// What a new generation is planned from.
#[derive(Debug, Clone, Copy)]
pub enum Basis<'a> {
    /// The current generation's recorded plan, replanning only what changed.
    Current,
    /// Nothing: plan from scratch (to repair a view).
    Fresh,
    /// The current generation, with a new value for one per-view setting list
    /// (`ignore` or `prefer`) before it is stored.
    Setting(&'a str, &'a [String]),
}

impl Basis<'_> {
    fn setting(&self) -> Option<(&str, &[String])> {
        match *self {
            Basis::Setting(key, values) => Some((key, values)),
            Basis::Current | Basis::Fresh => None,
        }
    }
}

/// The options a view is planned with; `setting` overrides one stored list.
fn options<R: ViewQueries>(
    db: &R,
    view: &str,
    setting: Option<(&str, &[String])>,
) -> Result<views::Options> {
    let mut options = views::Options::defaults();
    if view == DEFAULT_VIEW {
        options.reserved = RESERVED.iter().map(|s| (*s).to_owned()).collect();
    }
    let stored = |key: &str| -> Result<Vec<String>> {
        if let Some((k, values)) = setting
            && k == key
        {
            return Ok(values.to_vec());
        }
        match db.view(view)? {
            Some(v) => Ok(db.view_settings(v.id, key)?),
            None => Ok(Vec::new()),
        }
    };
    {
        options.ignore.extend(stored("ignore")?);
        for p in stored("prefer")? {
            if let Some((path, pkg)) = p.split_once('\t') {
                options.prefer.push((path.to_owned(), pkg.to_owned()));
            }
        }
    }
    Ok(options)
}

/// Plan and materialise a generation of `view` holding `members` (plus `incoming`).
/// Nothing visible changes: the new generation directory is not yet referenced.
pub fn prepare<R: ViewQueries + Queries>(
    settings: &Settings,
    db: &R,
    view: &str,
    members: Vec<MemberRow>,
    incoming: Option<&Incoming<'_>>,
    reason: &str,
) -> Result<Prepared> {
    prepare_inner(
        settings,
        db,
        view,
        members,
        incoming,
        Basis::Current,
        reason,
    )
}

/// Like [`prepare`], planning from scratch rather than from the current
/// generation's recorded plan (to repair a damaged view).
pub fn prepare_fresh<R: ViewQueries + Queries>(
    settings: &Settings,
    db: &R,
    view: &str,
    members: Vec<MemberRow>,
    reason: &str,
) -> Result<Prepared> {
    prepare_inner(settings, db, view, members, None, Basis::Fresh, reason)
}

/// Like [`prepare`], planning with a new value for one per-view setting list
/// (`ignore` or `prefer`) before it is stored.
pub fn prepare_with_setting<R: ViewQueries + Queries>(
    settings: &Settings,
    db: &R,
    view: &str,
    members: Vec<MemberRow>,
    key: &str,
    values: &[String],
    reason: &str,
) -> Result<Prepared> {
    prepare_inner(
        settings,
        db,
        view,
        members,
        None,
        Basis::Setting(key, values),
        reason,
    )
}

/// A planned generation: the plan, where each member's links point, and the
/// members' names (indexed as the plan's links are).
pub struct Planned {
    /// The link plan.
    pub plan: views::Plan,
    /// Each member's depot dir: the link targets.
    pub targets: Vec<PathBuf>,
    /// Each member's PKGNAME.
    pub names: Vec<String>,
    /// The members of the view's current generation, when planning read them.
    pub current_members: Option<Vec<MemberRow>>,
}

/// Members as the view engine sees them (paths not yet loaded), their link
/// targets, and their package ids (`None` for a package not yet in the database).
type EngineMembers = (Vec<views::Member>, Vec<PathBuf>, Vec<Option<i64>>);

/// The [`EngineMembers`] of `members`. `known` holds the id, PKGNAME and depot
/// dir of some installed packages (the previous generation's members: a change
/// then costs what the view holds, not what the root holds); any other member
/// is looked up by name.
fn engine_members<R: Queries>(
    root: &Path,
    db: &R,
    view: &str,
    members: &[MemberRow],
    incoming: Option<&Incoming<'_>>,
    known: &HashMap<&str, (i64, &str)>,
) -> Result<EngineMembers> {
    let mut engine = Vec::with_capacity(members.len());
    let mut targets = Vec::with_capacity(members.len());
    let mut ids = Vec::with_capacity(members.len());
    for m in members {
        let (id, depot_dir, target) = match incoming {
            Some(inc) if inc.pkgname == m.pkgname => {
                (None, inc.staged_at.to_owned(), inc.depot_dir.to_owned())
            }
            _ => {
                let (id, dir) = match known.get(m.pkgname.as_str()) {
                    Some((id, dir)) => (*id, root.join(dir)),
                    None => match db.package(&m.pkgname)? {
                        Some(row) => (row.id, root.join(&row.depot_dir)),
                        None => bail!("view {view}: member {} is not installed", m.pkgname),
                    },
                };
                (Some(id), dir.clone(), dir)
            }
        };
        engine.push(views::Member {
            name: m.pkgname.clone(),
            depot_dir,
            paths: Vec::new(),
            priority: m.priority,
        });
        targets.push(target);
        ids.push(id);
    }
    Ok((engine, targets, ids))
}

/// Load one member's paths: from the incoming package, else from the database.
fn load_paths<R: Queries>(
    db: &R,
    member: &mut views::Member,
    id: Option<i64>,
    incoming: Option<&Incoming<'_>>,
) -> Result<()> {
    member.paths = match (id, incoming) {
        (Some(id), _) => db.entry_paths(id, "")?,
        (None, Some(inc)) => inc.paths.clone(),
        (None, None) => Vec::new(),
    };
    Ok(())
}

/// The error for a plan with conflicts: every conflict, and commands that resolve
/// one. `current` is the view's members before the change: `view priority` only
/// takes a package already in the view, so that is the one it names.
fn conflict_error(
    view: &str,
    current: &[MemberRow],
    conflicts: &[views::Conflict],
) -> anyhow::Error {
    let mut msg = format!(
        "cannot link into view {view}: {} conflicting path(s); nothing was changed",
        conflicts.len()
    );
    for c in conflicts {
        msg.push_str("\n  ");
        msg.push_str(&c.to_string());
    }
    if let Some(c) = conflicts
        .iter()
        .find(|c| c.kind == views::ConflictKind::File)
        && let Some(first) = c.owners.first()
    {
        msg.push_str("\nto resolve:");
        if let Some(member) = c
            .owners
            .iter()
            .find(|o| current.iter().any(|m| m.pkgname == **o))
        {
            let _ = write!(
                msg,
                "\n  depot view priority {view} {member} -1      (lower wins: {member} keeps its paths)"
            );
        }
        let _ = write!(
            msg,
            "\n  depot view prefer {view} {} {first}      (this path only)",
            c.path
        );
    }
    anyhow::anyhow!(msg)
}

fn planned_or_conflicts<R: ViewQueries>(
    db: &R,
    view: &str,
    plan: views::Result<views::Plan>,
) -> Result<views::Plan> {
    match plan {
        Ok(plan) => Ok(plan),
        Err(views::Error::Conflicts(conflicts)) => Err(conflict_error(
            view,
            &current_members(db, view)?,
            &conflicts,
        )),
        Err(e) => Err(e.into()),
    }
}

/// Plan `members` for `view` from scratch, reading every member's paths.
pub fn plan_members<R: ViewQueries + Queries>(
    root: &Path,
    db: &R,
    view: &str,
    members: &[MemberRow],
    incoming: Option<&Incoming<'_>>,
    setting: Option<(&str, &[String])>,
) -> Result<Planned> {
    let installed = db.package_dirs()?;
    let known = installed
        .iter()
        .map(|(id, name, dir)| (name.as_str(), (*id, dir.as_str())))
        .collect();
    let (mut engine, targets, ids) = engine_members(root, db, view, members, incoming, &known)?;
    for (member, id) in engine.iter_mut().zip(&ids) {
        load_paths(db, member, *id, incoming)?;
    }
    let options = options(db, view, setting)?;
    let plan = planned_or_conflicts(db, view, views::plan(&engine, &options))?;
    let names = engine.into_iter().map(|m| m.name).collect();
    Ok(Planned {
        plan,
        targets,
        names,
        current_members: None,
    })
}

/// Up to this many members, a catalog reads their own path lists rather than
/// the path index over every installed package.
const FEW_MEMBERS: usize = 32;

/// The database as the view engine's catalog of the new generation's members.
struct DbCatalog<'a, R> {
    db: &'a R,
    /// Member index to package id.
    ids: &'a [Option<i64>],
    /// Package id to member index.
    index: HashMap<i64, usize>,
}

impl<R: Queries> views::Catalog for DbCatalog<'_, R> {
    fn paths_under(&self, member: usize, dir: &str) -> Result<Vec<String>, views::CatalogError> {
        match self.ids.get(member).copied().flatten() {
            Some(id) => Ok(self.db.entry_paths(id, dir)?),
            None => Ok(Vec::new()),
        }
    }

    fn shippers(&self, path: &str) -> Result<Vec<usize>, views::CatalogError> {
        Ok(self
            .db
            .shippers(path)?
            .into_iter()
            .filter_map(|id| self.index.get(&id).copied())
            .collect())
    }

    fn visit_under(
        &self,
        dir: &str,
        visit: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Result<(), views::CatalogError> {
        // A small view in a large depot: the members' own lists are shorter than
        // everything every installed package has below `dir`.
        if self.ids.len() <= FEW_MEMBERS {
            for (member, id) in self.ids.iter().enumerate() {
                let Some(id) = id else { continue };
                for path in self.db.entry_paths(*id, dir)? {
                    if path.len() > dir.len() && !visit(member, &path) {
                        return Ok(());
                    }
                }
            }
            return Ok(());
        }
        Ok(self.db.visit_entries_under(dir, &mut |id, path| {
            self.index
                .get(&id)
                .is_none_or(|&member| visit(member, path))
        })?)
    }
}

/// Plan `members` for `view` as a change from its current generation: only what
/// the change touches is planned again. Falls back to [`plan_members`] when the
/// current generation has no recorded plan, when the ignore rules change, and
/// for [`Basis::Fresh`].
pub fn plan_change<R: ViewQueries + Queries>(
    root: &Path,
    db: &R,
    view: &str,
    members: &[MemberRow],
    incoming: Option<&Incoming<'_>>,
    basis: Basis<'_>,
) -> Result<Planned> {
    let setting = basis.setting();
    if members.is_empty() {
        // Nothing left: nothing to plan (a delete of a view's last member).
        return plan_members(root, db, view, members, incoming, setting);
    }
    let previous = match db.view(view)? {
        Some(v) => match v.current {
            Some(n) => read_plan(&plan_file(root, view, n)).map(|decoded| (v.id, n, decoded)),
            None => None,
        },
        None => None,
    };
    let Some((view_id, number, (previous_plan, previous_names))) = previous else {
        return plan_members(root, db, view, members, incoming, setting);
    };
    if matches!(basis, Basis::Fresh | Basis::Setting("ignore", _)) {
        return plan_members(root, db, view, members, incoming, setting);
    }
    crate::profile::phase("plan: decoded");
    let (before, dirs): (Vec<MemberRow>, Vec<String>) =
        db.members_with_dirs(view_id, number)?.into_iter().unzip();
    if before.is_empty() {
        // Nothing to carry over: plan from scratch, without the bookkeeping.
        return plan_members(root, db, view, members, incoming, setting);
    }
    let known = before
        .iter()
        .zip(&dirs)
        .filter_map(|(m, dir)| Some((m.pkgname.as_str(), (m.package_id?, dir.as_str()))))
        .collect();
    let (mut engine, targets, ids) = engine_members(root, db, view, members, incoming, &known)?;
    let priority_before: HashMap<&str, i64> = before
        .iter()
        .map(|b| (b.pkgname.as_str(), b.priority))
        .collect();
    let mut changed = Vec::new();
    for (i, (member, id)) in engine.iter_mut().zip(&ids).enumerate() {
        let same = priority_before.get(member.name.as_str()) == Some(&member.priority);
        if !same || id.is_none() {
            load_paths(db, member, *id, incoming)?;
            changed.push(i);
        }
    }
    let kept: BTreeSet<&str> = members.iter().map(|m| m.pkgname.as_str()).collect();
    let mut removed = Vec::new();
    for b in &before {
        if kept.contains(b.pkgname.as_str()) {
            continue;
        }
        let Some(row) = db.package(&b.pkgname)? else {
            return plan_members(root, db, view, members, incoming, setting);
        };
        removed.push(views::Member {
            name: b.pkgname.clone(),
            depot_dir: root.join(&row.depot_dir),
            paths: db.entry_paths(row.id, "")?,
            priority: b.priority,
        });
    }
    let mut preference_paths = Vec::new();
    if let Some(("prefer", values)) = setting {
        let stored = db.view_settings(view_id, "prefer")?;
        for p in stored.iter().chain(values) {
            if stored.contains(p) != values.contains(p)
                && let Some((path, _)) = p.split_once('\t')
            {
                preference_paths.push(path.to_owned());
            }
        }
    }
    let options = options(db, view, setting)?;
    let catalog = DbCatalog {
        db,
        ids: &ids,
        index: ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| id.map(|id| (id, i)))
            .collect(),
    };
    let plan = planned_or_conflicts(
        db,
        view,
        views::replan(
            &views::Previous {
                plan: previous_plan,
                members: &previous_names,
            },
            &engine,
            views::Change {
                changed: &changed,
                removed: &removed,
                paths: &preference_paths,
            },
            &catalog,
            &options,
        ),
    )?;
    let names = engine.into_iter().map(|m| m.name).collect();
    Ok(Planned {
        plan,
        targets,
        names,
        current_members: Some(before),
    })
}

fn prepare_inner<R: ViewQueries + Queries>(
    settings: &Settings,
    db: &R,
    view: &str,
    members: Vec<MemberRow>,
    incoming: Option<&Incoming<'_>>,
    basis: Basis<'_>,
    reason: &str,
) -> Result<Prepared> {
    // One order for every planner (ties between identical files go to the first).
    let mut members = members;
    members.sort_by(|a, b| a.pkgname.cmp(&b.pkgname));
    let planned = plan_change(&settings.root, db, view, &members, incoming, basis)?;
    crate::profile::phase("view planned");
    let gen_root = generations_dir(settings, view);
    let (parent, number) = match db.view(view)? {
        Some(v) => {
            let last = db.generations(v.id)?.last().map_or(0, |g| g.number);
            (
                v.current,
                last.max(highest_on_disk_clearing_dead_trash(&gen_root)) + 1,
            )
        }
        None => (None, highest_on_disk_clearing_dead_trash(&gen_root) + 1),
    };
    let dir = gen_root.join(number.to_string());
    let progress =
        crate::progress::Progress::new(&format!("view {view}"), planned.plan.len() as u64, 0);
    let footprint = views::materialise_reporting(&planned.plan, &planned.targets, &dir, &|n| {
        progress.files(n);
    })
    .with_context(|| format!("cannot write generation {}", dir.display()))?;
    progress.finish();
    crate::profile::phase("generation written");
    let names: Vec<&str> = planned.names.iter().map(String::as_str).collect();
    let plan = plan_file(&settings.root, view, number);
    if let Err(e) = write_plan(&plan, &planned.plan.encode(&names)) {
        let _ = remove_tree(&dir);
        return Err(e.context(format!("cannot write {}", plan.display())));
    }
    crate::profile::phase("plan written");
    let top_level = planned
        .plan
        .paths()
        .filter(|k| !k.contains('/'))
        .map(str::to_owned)
        .collect();
    Ok(Prepared {
        generation: Recordable {
            view: view.to_owned(),
            number,
            parent,
            members,
            reason: reason.to_owned(),
            footprint,
            parent_members: planned.current_members,
        },
        dir,
        plan,
        top_level,
    })
}

/// The highest generation number with a directory in `gen_root` (a view's
/// generations), removing on the way the trash of a reaper that died: the
/// full [`recover`] runs only after an interrupted writer, and a reaper
/// outlives the writer that started it.
fn highest_on_disk_clearing_dead_trash(gen_root: &Path) -> i64 {
    std::fs::read_dir(gen_root).map_or(0, |rd| {
        rd.filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                if name.starts_with(TRASH_PREFIX) {
                    remove_if_no_reaper(&e.path());
                }
                name.parse::<i64>().ok()
            })
            .max()
            .unwrap_or(0)
    })
}

impl Prepared {
    /// Record the generation, together with `also` (say, a changed view setting), in
    /// one transaction, then switch to it. If the transaction fails, the generation
    /// directory is removed and nothing visible has changed. Returns its number.
    pub fn commit(
        self,
        db: &mut Database,
        settings: &Settings,
        also: impl FnOnce(&Transaction<'_>) -> pkgdb::Result<()>,
    ) -> Result<i64> {
        // The generations leaving the window are forgotten in the same
        // transaction; their directories go after the switch.
        let recorded = db.transaction(|tx| -> Result<Pruned> {
            also(tx)?;
            self.record(tx)?;
            forget_beyond_window(tx, settings, &self.generation.view)
        });
        let pruned = match recorded {
            Ok(pruned) => pruned,
            Err(e) => {
                self.abandon();
                return Err(e);
            }
        };
        self.switch_and_say(settings)?;
        pruned.remove(settings);
        Ok(self.generation.number)
    }

    /// After the generation is recorded: switch the view to it, then forget
    /// the generations beyond the view's window.
    pub fn settle(&self, settings: &Settings, db: &mut Database) -> Result<()> {
        self.switch_and_say(settings)?;
        prune(settings, db, &self.generation.view)
    }

    fn switch_and_say(&self, settings: &Settings) -> Result<()> {
        self.switch(settings)?;
        let g = &self.generation;
        crate::output::detail!(
            "view {}: generation {}{} is live: {} directories and links, {} bytes, in {}",
            g.view,
            g.number,
            g.parent
                .map(|p| format!(" (parent {p})"))
                .unwrap_or_default(),
            g.footprint.inodes,
            g.footprint.bytes,
            self.dir.display()
        );
        Ok(())
    }

    /// Record the generation in the database (inside the operation's transaction).
    pub fn record(&self, tx: &Transaction<'_>) -> Result<()> {
        Ok(self.generation.record(tx)?)
    }

    /// The same, as work for a [`pkgdb::Recorder`] to do before it commits.
    pub fn finisher(&self) -> pkgdb::Finisher {
        let generation = self.generation.clone();
        Box::new(move |tx| generation.record(tx))
    }

    /// Switch the view to this generation (one rename), then keep the root's links in step.
    pub fn switch(&self, settings: &Settings) -> Result<()> {
        switch_to(
            settings,
            &self.generation.view,
            self.generation.number,
            &self.top_level,
        )
    }

    /// Remove the generation directory (the operation failed before recording it).
    pub fn abandon(self) {
        let _ = fs_err::remove_dir_all(&self.dir);
        let _ = fs_err::remove_file(&self.plan);
    }
}

/// Point `views/<view>` at generation `number`; for the default view, also make the
/// root's top-level entries point into it.
pub fn switch_to(settings: &Settings, view: &str, number: i64, top_level: &[String]) -> Result<()> {
    let link = view_link(settings, view);
    let target = PathBuf::from(".gen").join(view).join(number.to_string());
    views::switch(&link, &target).with_context(|| format!("cannot switch view {view}"))?;
    if view == DEFAULT_VIEW {
        stitch_root(settings, top_level)?;
    }
    Ok(())
}

/// The top-level names of a generation on disk.
pub fn top_level_of(settings: &Settings, view: &str, number: i64) -> Vec<String> {
    let dir = generations_dir(settings, view).join(number.to_string());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Keep `<root>/<name> -> views/default/<name>` for each top-level name of the
/// default view, and remove such links whose name the view no longer has.
/// Entries the user made (real files, foreign links) are never touched.
fn stitch_root(settings: &Settings, top_level: &[String]) -> Result<()> {
    let root = &settings.root;
    let prefix = Path::new("views").join(DEFAULT_VIEW);
    for name in top_level {
        let at = root.join(name);
        let want = prefix.join(name);
        match std::fs::symlink_metadata(&at) {
            Err(_) => {
                std::os::unix::fs::symlink(&want, &at)
                    .with_context(|| format!("cannot create {}", at.display()))?;
            }
            Ok(meta) if meta.file_type().is_symlink() => {
                let current = std::fs::read_link(&at).ok();
                if current.as_deref() != Some(want.as_path())
                    && current.as_deref().is_some_and(|c| c.starts_with(&prefix))
                {
                    views::switch(&at, &want)?;
                }
            }
            Ok(_) => {
                output::caution!(
                    "{} is not a link depot made; the default view's {name} is at {}",
                    at.display(),
                    root.join(&prefix).join(name).display()
                );
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if top_level.contains(&name) {
                continue;
            }
            if let Ok(target) = std::fs::read_link(e.path())
                && target == prefix.join(&name)
            {
                fs_err::remove_file(e.path())?;
            }
        }
    }
    Ok(())
}

/// The generations `view` keeps: its own `keep` setting, else the config's.
pub fn window<R: ViewQueries>(db: &R, settings: &Settings, view_id: i64) -> Result<usize> {
    let own = db
        .view_settings(view_id, "keep")?
        .last()
        .and_then(|v| v.parse::<usize>().ok());
    Ok(own.unwrap_or(settings.keep_generations).max(1))
}

/// The generations of a view beyond its window: all but the newest `keep`,
/// and never the current one or its parent (what `view rollback` returns to).
pub fn beyond_window(gens: &[pkgdb::GenerationRow], current: Option<i64>, keep: usize) -> Vec<i64> {
    let parent = gens
        .iter()
        .find(|g| Some(g.number) == current)
        .and_then(|g| g.parent);
    let mut numbers: Vec<i64> = gens.iter().map(|g| g.number).collect();
    numbers.sort_unstable();
    let cut = numbers.len().saturating_sub(keep);
    numbers[..cut]
        .iter()
        .copied()
        .filter(|n| Some(*n) != current && Some(*n) != parent)
        .collect()
}

/// Forget the generations of `view` beyond its window, after a change has
/// switched it. Their directories are renamed out of the way at once and
/// removed by a background process, so a change does not wait for the removal
/// of the generation it replaces.
pub fn prune(settings: &Settings, db: &mut Database, view: &str) -> Result<()> {
    let pruned = db.transaction(|tx| forget_beyond_window(tx, settings, view))?;
    pruned.remove(settings);
    Ok(())
}

/// Generations forgotten by the database whose directories are still to go.
#[must_use = "the directories stay until `Pruned::remove`"]
pub struct Pruned {
    view: String,
    gone: Vec<i64>,
    /// Few enough inodes to remove here rather than from a reaper.
    small: bool,
}

/// Delete the rows of the generations of `view` beyond its window (in `tx`),
/// and say which they were.
fn forget_beyond_window(tx: &Transaction<'_>, settings: &Settings, view: &str) -> Result<Pruned> {
    let mut pruned = Pruned {
        view: view.to_owned(),
        gone: Vec::new(),
        small: true,
    };
    let Some(v) = tx.view(view)? else {
        return Ok(pruned);
    };
    let keep = window(tx, settings, v.id)?;
    let generations = tx.generations(v.id)?;
    pruned.gone = beyond_window(&generations, v.current, keep);
    for number in &pruned.gone {
        tx.delete_generation(v.id, *number)?;
    }
    pruned.small = small_enough_to_remove_here(&generations, &pruned.gone);
    Ok(pruned)
}

impl Pruned {
    /// Remove the directories (and plans) of the forgotten generations: here
    /// if they are small, else from a reaper. Best effort: what is left is
    /// found by the next recovery sweep or `depot gc`.
    pub fn remove(self, settings: &Settings) {
        let Pruned { view, gone, small } = self;
        if gone.is_empty() {
            return;
        }
        if small {
            for number in gone {
                let _ = remove_generation(settings, &view, number);
            }
            return;
        }
        // Everything pruned goes into one trash directory, which its reaper
        // holds locked until it is gone (see `remove_in_background`).
        let dir = generations_dir(settings, &view);
        let trash = dir.join(format!("{TRASH_PREFIX}{}-{}", gone[0], std::process::id()));
        let made = fs_err::create_dir(&trash).is_ok();
        for number in gone {
            let from = dir.join(number.to_string());
            if made {
                let _ = fs_err::rename(&from, trash.join(number.to_string()));
            }
            let _ = std::fs::remove_file(plan_file(&settings.root, &view, number));
        }
        if made {
            remove_in_background(&trash);
        }
    }
}

/// Pruned generations of at most this many inodes in all are removed by the
/// change itself: starting a reaper takes longer than removing them.
const REMOVED_IN_PLACE: i64 = 128;

/// Whether generations `gone` (of `generations`) are few enough inodes in all
/// to remove at once; a size not recorded (older depots) counts as many.
fn small_enough_to_remove_here(generations: &[pkgdb::GenerationRow], gone: &[i64]) -> bool {
    generations
        .iter()
        .filter(|g| gone.contains(&g.number))
        .try_fold(0i64, |sum, g| g.inodes.map(|n| sum.saturating_add(n)))
        .is_some_and(|n| n <= REMOVED_IN_PLACE)
}

/// Remove directory `dir` from a detached child process (`depot reap`), or here
/// if it cannot be started. The child inherits, as its standard input, a handle
/// on `dir` that holds an exclusive `flock` on it until the child is gone, so a
/// writer that starts meanwhile leaves it to the reaper ([`reaper_owns`])
/// instead of removing it again on its own time.
fn remove_in_background(dir: &Path) {
    let handle = std::fs::File::open(dir).and_then(|handle| {
        rustix::fs::flock(&handle, rustix::fs::FlockOperation::LockExclusive)?;
        Ok(handle)
    });
    let started = handle.and_then(|handle| {
        let exe = std::env::current_exe()?;
        std::process::Command::new(exe)
            .arg("reap")
            .arg(dir)
            .stdin(handle)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
    });
    // The removal is nobody's wait: at the lowest priority it never holds up
    // this process's exit nor the next command (on two cores, a reaper at the
    // normal priority delayed this process's exit by 3 ms).
    match started {
        Ok(child) => lowest_priority(Some(rustix::process::Pid::from_child(&child))),
        Err(_) => {
            let _ = remove_tree(dir);
        }
    }
}

/// Remove trash directory `dir` unless a reaper is at it: it was left by a
/// reaper that was killed (or by an older depot). Best effort: another writer
/// may be at it too.
fn remove_if_no_reaper(dir: &Path) {
    if !reaper_owns(dir) {
        let _ = remove_tree(dir);
    }
}

/// Whether a reaper is still removing trash directory `dir` (it holds the lock).
fn reaper_owns(dir: &Path) -> bool {
    std::fs::File::open(dir).is_ok_and(|handle| {
        rustix::fs::flock(
            &handle,
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        )
        .is_err_and(|e| e == rustix::io::Errno::WOULDBLOCK)
    })
}

/// `depot reap DIR…`: what [`remove_in_background`] starts; at the lowest
/// priority from its first step.
pub fn reap(dirs: &[PathBuf]) -> Result<()> {
    lowest_priority(None);
    for dir in dirs {
        remove_tree(dir)?;
    }
    Ok(())
}

/// Run process `pid` (this one if `None`) at the lowest CPU priority, which also
/// gives it the lowest I/O priority of its class. Best effort.
fn lowest_priority(pid: Option<rustix::process::Pid>) {
    let _ = rustix::process::setpriority_process(pid, 19);
}

/// Compare the live tree of `view` with the plan of its current generation.
pub fn check(settings: &Settings, db: &Database, view: &str) -> Result<Vec<String>> {
    let Some(v) = db.view(view)? else {
        bail!("no view named {view}");
    };
    let Some(current) = v.current else {
        return Ok(vec![format!("view {view} has no current generation")]);
    };
    let members = db.members(v.id, current)?;
    let Planned { plan, targets, .. } =
        plan_members(&settings.root, db, view, &members, None, None)?;
    let dir = generations_dir(settings, view).join(current.to_string());
    let mut problems = Vec::new();
    let want_link = PathBuf::from(".gen").join(view).join(current.to_string());
    let actual_link = std::fs::read_link(view_link(settings, view)).ok();
    if actual_link.as_ref() != Some(&want_link) {
        let recorded_elsewhere = actual_link
            .as_ref()
            .and_then(|l| l.file_name()?.to_str()?.parse::<i64>().ok())
            .is_some_and(|n| {
                db.generations(v.id)
                    .is_ok_and(|g| g.iter().any(|g| g.number == n))
            });
        problems.push(if recorded_elsewhere {
            format!(
                "{} points at {}, not at the current generation {current}: a change was interrupted after it was recorded; the next command that changes the root finishes it",
                view_link(settings, view).display(),
                actual_link.unwrap_or_default().display()
            )
        } else {
            format!(
                "{} does not point at generation {current}",
                view_link(settings, view).display()
            )
        });
    }
    let mut planned = BTreeSet::new();
    for (path, node) in plan.iter() {
        planned.insert(path.to_owned());
        let at = dir.join(path);
        let meta = std::fs::symlink_metadata(&at);
        match node {
            views::Node::Dir => {
                if !meta.as_ref().is_ok_and(std::fs::Metadata::is_dir) {
                    problems.push(format!("{}: should be a directory", at.display()));
                }
            }
            views::Node::Link { member } => {
                let target = targets[member].join(path);
                let expected = views::relative_path(at.parent().unwrap_or(&dir), &target);
                match std::fs::read_link(&at) {
                    Ok(actual) if actual == expected => {
                        if std::fs::metadata(&at).is_err() {
                            problems.push(format!(
                                "{}: dangling link to {}",
                                at.display(),
                                target.display()
                            ));
                        }
                    }
                    Ok(actual) => problems.push(format!(
                        "{}: points to {}, expected {}",
                        at.display(),
                        actual.display(),
                        expected.display()
                    )),
                    Err(_) => problems.push(format!(
                        "{}: missing link to {}",
                        at.display(),
                        target.display()
                    )),
                }
            }
        }
    }
    for entry in walkdir::WalkDir::new(&dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
    {
        let rel = entry
            .path()
            .strip_prefix(&dir)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let under_link = Path::new(&rel).ancestors().skip(1).any(|a| {
            matches!(
                plan.get(a.to_string_lossy().as_ref()),
                Some(views::Node::Link { .. })
            )
        });
        if !planned.contains(&rel) && !under_link {
            problems.push(format!("{}: not part of the view", entry.path().display()));
        }
    }
    Ok(problems)
}

/// Bring the disk in step with the database after a crash: remove half-written
/// generations and temporary links, and re-point views whose link disagrees with
/// the recorded current generation.
pub fn recover(settings: &Settings, db: &Database) -> Result<()> {
    let gen_root = settings.views_dir().join(".gen");
    let views = db.views()?;
    if let Ok(rd) = std::fs::read_dir(&gen_root) {
        for view_dir in rd.filter_map(Result::ok) {
            let view_name = view_dir.file_name().to_string_lossy().into_owned();
            let recorded: Vec<i64> = match views.iter().find(|v| v.name == view_name) {
                Some(v) => db.generations(v.id)?.iter().map(|g| g.number).collect(),
                None => Vec::new(),
            };
            if let Ok(gens) = std::fs::read_dir(view_dir.path()) {
                for g in gens.filter_map(Result::ok) {
                    let name = g.file_name().to_string_lossy().into_owned();
                    let plan = name.strip_suffix(".plan");
                    let stale = name.starts_with(".tmp-")
                        || plan
                            .unwrap_or(&name)
                            .parse::<i64>()
                            .is_ok_and(|n| !recorded.contains(&n));
                    if stale && g.file_type().is_ok_and(|t| !t.is_dir()) {
                        fs_err::remove_file(g.path())?;
                    } else if stale {
                        remove_tree(&g.path())?;
                    } else if name.starts_with(TRASH_PREFIX) {
                        remove_if_no_reaper(&g.path());
                    }
                }
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(settings.views_dir()) {
        for e in rd.filter_map(Result::ok) {
            if e.file_name().to_string_lossy().starts_with(".tmp-link-") {
                let _ = fs_err::remove_file(e.path());
            }
        }
    }
    for v in &views {
        let Some(current) = v.current else { continue };
        let want = PathBuf::from(".gen")
            .join(&v.name)
            .join(current.to_string());
        let link = view_link(settings, &v.name);
        if std::fs::read_link(&link).ok().as_deref() != Some(want.as_path()) {
            let top = top_level_of(settings, &v.name, current);
            switch_to(settings, &v.name, current, &top)?;
        }
    }
    Ok(())
}

/// Remove a tree that may contain read-only directories.
pub fn remove_tree(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    if fs_err::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_dir() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755));
        }
    }
    fs_err::remove_dir_all(path).with_context(|| format!("cannot remove {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::{REMOVED_IN_PLACE, small_enough_to_remove_here};
    use pkgdb::GenerationRow;

    fn generation(number: i64, inodes: Option<i64>) -> GenerationRow {
        GenerationRow {
            number,
            parent: None,
            created: 0,
            reason: String::new(),
            inodes,
            bytes: None,
        }
    }

    #[test]
    fn only_a_few_recorded_inodes_are_removed_in_place() {
        let few = [
            generation(1, Some(40)),
            generation(2, Some(40)),
            generation(3, Some(9000)),
        ];
        assert!(small_enough_to_remove_here(&few, &[1, 2]));
        assert!(!small_enough_to_remove_here(&few, &[1, 3]));
        // Sizes an older depot did not record count as many, however many there are.
        let unknown: Vec<_> = (1..=8).map(|n| generation(n, None)).collect();
        assert!(!small_enough_to_remove_here(
            &unknown,
            &[1, 2, 3, 4, 5, 6, 7, 8]
        ));
        let huge = [generation(1, Some(i64::MAX)), generation(2, Some(i64::MAX))];
        assert!(!small_enough_to_remove_here(&huge, &[1, 2]));
        assert!(small_enough_to_remove_here(
            &[generation(1, Some(REMOVED_IN_PLACE))],
            &[1]
        ));
    }
}
