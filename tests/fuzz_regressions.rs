//! Every input a fuzz target ever failed on (tests/fuzz/TARGET-what), and
//! every committed seed (fuzz/seeds/TARGET/), replayed through the same
//! entry points the fuzzers call (`depot::fuzzing`), so that a fixed defect
//! stays fixed in CI without the nightly toolchain. Each must return
//! without a panic.

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("contents", depot::fuzzing::contents),
    ("patterns", depot::fuzzing::patterns),
    ("archive", depot::fuzzing::archive),
    ("summary", depot::fuzzing::summary),
    ("recipe", depot::fuzzing::recipe),
    ("merge_config", depot::fuzzing::merge_config),
    ("build_info", depot::fuzzing::build_info),
    ("vulnerabilities", depot::fuzzing::vulnerabilities),
];

fn target(name: &str) -> Target {
    TARGETS
        .iter()
        .find(|(t, _)| *t == name)
        .map_or_else(|| panic!("no fuzz target {name}"), |(_, f)| *f)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

#[test]
fn every_input_the_fuzzers_found_stays_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let found = files(&dir);
    assert!(
        !found.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    for file in found {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // `TARGET-what`: the longest target name that prefixes it.
        let (t, f) = TARGETS
            .iter()
            .filter(|(t, _)| name.starts_with(&format!("{t}-")))
            .max_by_key(|(t, _)| t.len())
            .unwrap_or_else(|| panic!("{name}: not TARGET-what"));
        eprintln!("replaying {name} through {t}");
        f(&std::fs::read(&file).unwrap());
    }
}

#[test]
fn every_seed_runs_clean() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (name, _) in TARGETS {
        let dir = seeds.join(name);
        let found = files(&dir);
        assert!(!found.is_empty(), "no seeds for {name}");
        for file in found {
            target(name)(&std::fs::read(&file).unwrap());
        }
    }
}
