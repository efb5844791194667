//! depot's view engine: a view is a function of (packages with priorities,
//! ignore rules) to a tree of relative symlinks into depot dirs.
//!
//! [`plan()`] computes the whole link plan first (folding, ignore rules,
//! conflicts) and reports every conflict at once; [`replan()`] computes the
//! same plan from the previous generation's, looking only at what changed; [`materialise`] writes a
//! plan into a new, immutable generation directory; [`switch`] points a view
//! at a generation with one `rename(2)` of a symlink. The crate knows nothing
//! of SQLite or archives: callers hand it members and paths.

mod glob;
mod link;
mod plan;
mod replan;

pub use glob::glob_match;
pub use link::{
    Footprint, materialise, materialise_reporting, read_link_target, relative_path, switch,
};
pub use plan::{Conflict, ConflictKind, Member, Node, Options, Plan, plan};
pub use replan::{Catalog, CatalogError, Change, InMemory, Previous, replan};

/// The metadata files and pkg_view's default ignore globs.
pub const DEFAULT_IGNORES: &[&str] = &["+*", "info/dir", "*[~#]", "*.OLD", "*.orig", "*,v"];

/// Directories that always stay real directories, never folded into one link.
pub const DEFAULT_ALWAYS_REAL: &[&str] = &[
    "bin",
    "sbin",
    "lib",
    "include",
    "share/man/*",
    "share/man",
    "share/info",
    "etc",
];

/// Errors from the view engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plan has conflicts; nothing was changed.
    #[error("{}", describe_conflicts(.0))]
    Conflicts(Vec<Conflict>),
    /// The catalog (the package database) could not answer.
    #[error(transparent)]
    Catalog(CatalogError),
    /// An I/O error (the path is in the message).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn describe_conflicts(conflicts: &[Conflict]) -> String {
    let mut out = format!("{} conflict(s); nothing was changed:", conflicts.len());
    for c in conflicts {
        out.push_str("\n  ");
        out.push_str(&c.to_string());
    }
    out
}

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
