//! The floor for writing a view generation: given the exact set of
//! directories and links a generation holds (a manifest), write them with the
//! method depot uses (directories first, in order; then each directory's links
//! relative to an open handle on it, one directory per thread), and nothing
//! else: no database, no planning. `benches/views.py` compares depot's view
//! changes with this program writing the identical link set.
//!
//! Usage: floor MANIFEST DEST. MANIFEST has one line per entry, in pre-order:
//! `d<TAB>path` or `l<TAB>path<TAB>target` (as `find -printf '%y\t%P\t%l\n'`).

#![expect(clippy::unwrap_used, reason = "a benchmark helper fails loudly")]

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let manifest = fs_err::read_to_string(&args[1]).unwrap();
    let dest = PathBuf::from(&args[2]);
    fs_err::create_dir(&dest).unwrap();
    let mut groups: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for line in manifest.lines() {
        let mut fields = line.split('\t');
        let (kind, path) = (fields.next().unwrap(), fields.next().unwrap());
        if path.is_empty() {
            continue;
        }
        match kind {
            "d" => fs_err::create_dir(dest.join(path)).unwrap(),
            "l" => {
                let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
                groups
                    .entry(parent)
                    .or_default()
                    .push((name, fields.next().unwrap()));
            }
            other => panic!("unknown kind {other}"),
        }
    }
    let groups: Vec<_> = groups.into_iter().collect();
    groups.par_iter().for_each(|(parent, links)| {
        let dir = rustix::fs::open(
            dest.join(parent),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        for (name, target) in links {
            rustix::fs::symlinkat(*target, &dir, *name).unwrap();
        }
    });
}
