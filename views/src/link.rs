//! Writing generations and switching views.

use std::path::{Component, Path, PathBuf};

use crate::Result;
use crate::plan::{Node, Plan};

/// The path of `to` relative to the directory `from_dir` (both absolute, normalised).
pub fn relative_path(from_dir: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from_dir.components().collect();
    let to_components: Vec<Component<'_>> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_components)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to_components[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// What a generation takes on disk: its inodes (directories and links, the top
/// included) and their apparent size in bytes (directory sizes as the file
/// system reports them, link sizes being their targets' lengths).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Directories and links.
    pub inodes: u64,
    /// Apparent size in bytes.
    pub bytes: u64,
}

/// Write `plan` as a new generation at `dest` (which must not exist);
/// `depot_dirs[i]` is where member `i`'s links point.
///
/// The tree is built under a temporary sibling name and renamed into place, so
/// `dest` either does not exist or is complete. Links are relative. Directories
/// are made first, in order; the links then go in from all cores.
pub fn materialise(plan: &Plan, depot_dirs: &[PathBuf], dest: &Path) -> Result<Footprint> {
    materialise_reporting(plan, depot_dirs, dest, &|_| {})
}

/// [`materialise`], calling `done(n)` as `n` more of the plan's nodes
/// (directories and links; [`Plan::len`] in all) are written, from any
/// thread: what a progress bar counts.
pub fn materialise_reporting(
    plan: &Plan,
    depot_dirs: &[PathBuf],
    dest: &Path,
    done: &(dyn Fn(u64) + Sync),
) -> Result<Footprint> {
    use rayon::prelude::*;
    let parent = dest.parent().unwrap_or(Path::new("/"));
    fs_err::create_dir_all(parent)?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".tmp-{name}-{}", std::process::id()));
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    fs_err::create_dir(&staging)?;
    // Each member's depot dir as seen from the top of the generation.
    let prefixes: Vec<String> = depot_dirs
        .iter()
        .map(|d| relative_path(dest, d).to_string_lossy().into_owned())
        .collect();
    // Links grouped by the directory they go in: a directory takes one link at a
    // time (the kernel locks it), so threads work on different directories.
    let mut groups: Vec<(&str, Vec<(&str, usize)>)> = Vec::new();
    let mut group_of: foldhash::HashMap<&str, usize> = foldhash::HashMap::default();
    for (path, node) in plan.iter() {
        match node {
            Node::Dir => {
                fs_err::create_dir(staging.join(path))?;
                done(1);
                crate::link::fault_point();
            }
            Node::Link { member } => {
                let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
                let group = *group_of.entry(parent).or_insert_with(|| {
                    groups.push((parent, Vec::new()));
                    groups.len() - 1
                });
                groups[group].1.push((path, member));
            }
        }
    }
    // One directory's links, made relative to an open handle on it (no path walk per link).
    let make_group = |(parent, links): &(&str, Vec<(&str, usize)>)| -> std::io::Result<u64> {
        let dir_path = staging.join(parent);
        let dir = rustix::fs::open(
            &dir_path,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| io_error(&e.into(), "cannot open", &dir_path))?;
        let mut target = String::new();
        let mut bytes = 0u64;
        for (path, member) in links {
            let depth = path.bytes().filter(|&b| b == b'/').count();
            target.clear();
            for _ in 0..depth {
                target.push_str("../");
            }
            target.push_str(&prefixes[*member]);
            target.push('/');
            target.push_str(path);
            let name = path.rsplit('/').next().unwrap_or(path);
            rustix::fs::symlinkat(target.as_str(), &dir, name).map_err(|e| {
                io_error(
                    &e.into(),
                    &format!("cannot create symlink to {target} at"),
                    &staging.join(path),
                )
            })?;
            bytes += target.len() as u64;
            crate::link::fault_point();
        }
        done(links.len() as u64);
        Ok(bytes)
    };
    let total: usize = groups.iter().map(|(_, links)| links.len()).sum();
    let link_bytes = if total >= PARALLEL_FROM {
        groups.sort_unstable_by_key(|(_, links)| std::cmp::Reverse(links.len()));
        groups
            .par_iter()
            .map(make_group)
            .try_reduce(|| 0, |a, b| Ok(a + b))?
    } else {
        groups
            .iter()
            .map(make_group)
            .try_fold(0, |a, b| b.map(|b| a + b))?
    };
    // Directory sizes once their entries are in (few, next to the links).
    let mut footprint = Footprint {
        inodes: 1 + plan.len() as u64,
        bytes: link_bytes + fs_err::symlink_metadata(&staging)?.len(),
    };
    for (path, node) in plan.iter() {
        if matches!(node, Node::Dir) {
            footprint.bytes += fs_err::symlink_metadata(staging.join(path))?.len();
        }
    }
    fs_err::rename(&staging, dest)?;
    Ok(footprint)
}

/// Below this many links, threads cost more than they save.
const PARALLEL_FROM: usize = 1024;

fn io_error(e: &std::io::Error, what: &str, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

pub(crate) fn symlink(target: &Path, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot create symlink {} -> {}: {e}",
                at.display(),
                target.display()
            ),
        )
    })
}

/// Point the symlink `link` at `target` atomically: a new link under a temporary
/// name, then one `rename(2)` over the old one.
pub fn switch(link: &Path, target: &Path) -> Result<()> {
    let parent = link.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = parent.join(format!(".tmp-link-{name}-{}", std::process::id()));
    let _ = fs_err::remove_file(&temporary);
    symlink(target, &temporary)?;
    fault_point();
    fs_err::rename(&temporary, link)?;
    Ok(())
}

/// The target of a symlink, or `None` if it is not one.
pub fn read_link_target(link: &Path) -> Option<PathBuf> {
    std::fs::read_link(link).ok()
}

/// Test hook for crash-safety tests: with `DEPOT_FAULT_AFTER=N` set, the N-th
/// filesystem step of a view change aborts the process.
pub(crate) fn fault_point() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let limit = LIMIT.get_or_init(|| {
        std::env::var("DEPOT_FAULT_AFTER")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if let Some(limit) = limit
        && COUNT.fetch_add(1, Ordering::SeqCst) + 1 >= *limit
    {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::relative_path;
    use std::path::Path;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(
                Path::new("/r/views/.gen/v/3/bin"),
                Path::new("/r/packages/a-1/bin/x")
            ),
            Path::new("../../../../../packages/a-1/bin/x")
        );
        assert_eq!(
            relative_path(Path::new("/r"), Path::new("/r/views/v/bin")),
            Path::new("views/v/bin")
        );
    }
}
