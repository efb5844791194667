//! The floor for writing a view generation: given the exact set of
//! directories and links a generation holds (a manifest), write them with the
//! method depot uses (directories first, in order; then each directory's links
//! relative to an open handle on it, one directory per thread), and nothing
//! else: no database, no planning. `benches/views.py` compares depot's view
//! changes with this program writing the identical link set.
//!
//! Usage: floor MANIFEST DEST. MANIFEST has one line per entry, in pre-order:
//! `d<TAB>path` or `l<TAB>path<TAB>target` (as `find -printf '%y\t%P\t%l\n'`).

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, manifest, dest] = args.as_slice() else {
        return Err("usage: floor MANIFEST DEST".into());
    };
    let manifest = fs_err::read_to_string(manifest)?;
    let dest = PathBuf::from(dest);
    fs_err::create_dir(&dest)?;
    let mut groups: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for line in manifest.lines() {
        let mut fields = line.split('\t');
        let (Some(kind), Some(path)) = (fields.next(), fields.next()) else {
            return Err(format!("manifest line without a kind and a path: {line:?}").into());
        };
        if path.is_empty() {
            continue;
        }
        match kind {
            "d" => fs_err::create_dir(dest.join(path))?,
            "l" => {
                let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
                let target = fields
                    .next()
                    .ok_or_else(|| format!("manifest link without a target: {line:?}"))?;
                groups.entry(parent).or_default().push((name, target));
            }
            other => return Err(format!("unknown kind {other:?} in {line:?}").into()),
        }
    }
    let groups: Vec<_> = groups.into_iter().collect();
    groups
        .par_iter()
        .try_for_each(|(parent, links)| -> Result<(), Error> {
            let at = dest.join(parent);
            let dir = rustix::fs::open(
                &at,
                rustix::fs::OFlags::PATH
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| format!("cannot open {}: {e}", at.display()))?;
            for (name, target) in links {
                rustix::fs::symlinkat(*target, &dir, *name)
                    .map_err(|e| format!("cannot link {}/{name}: {e}", at.display()))?;
            }
            Ok(())
        })
}
