//! Planning speed on the synthetic depot of benches/views.py (N packages x 100
//! entries: shared bin/, lib/, share/man/man1/ and a private share/pN subtree):
//! planning the whole view, and planning one more package from the previous plan.
//!
//! `cargo bench -p views --bench plan [-- N]`

use std::path::PathBuf;
use std::time::Instant;

use views::{Change, InMemory, Member, Options, Previous};

fn member(i: usize) -> Member {
    let mut paths: Vec<String> = (0..5).map(|k| format!("bin/p{i}-{k}")).collect();
    paths.extend((0..5).map(|k| format!("lib/libp{i}-{k}.so")));
    paths.extend((0..5).map(|k| format!("share/man/man1/p{i}-{k}.1")));
    paths.extend((0..85).map(|k| format!("share/p{i}/sub{}/f{k}", k / 10)));
    Member {
        name: format!("p{i:04}-1.0"),
        depot_dir: PathBuf::from(format!("/nonexistent/p{i:04}-1.0")),
        paths,
        priority: 0,
    }
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut out = None;
    for _ in 0..runs {
        let start = Instant::now();
        let r = f();
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        if std::env::var_os("PLAN_BENCH_ALL").is_some() {
            eprintln!("  run: {ms:.2} ms");
        }
        best = best.min(ms);
        out = Some(r);
    }
    (best, out.expect("runs > 0"))
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let options = Options::defaults();
    let members: Vec<Member> = (0..=n).map(member).collect();
    let (full_ms, previous) = best_of(5, || {
        views::plan(&members[..n], &options).expect("no conflicts")
    });
    println!(
        "plan {n} packages x 100 entries: {full_ms:.2} ms ({} entries)",
        previous.len()
    );
    let names: Vec<String> = members[..n].iter().map(|m| m.name.clone()).collect();
    let (one_ms, _) = best_of(5, || {
        views::replan(
            &Previous {
                plan: previous.clone(),
                members: &names,
            },
            &members,
            Change {
                changed: &[n],
                ..Change::default()
            },
            &InMemory(&members),
            &options,
        )
        .expect("no conflicts")
    });
    println!("replan with one more package: {one_ms:.2} ms");
}
