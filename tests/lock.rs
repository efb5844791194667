//! One writer at a time: a second one fails at once, or waits with `--wait`.

use std::time::{Duration, Instant};

use crate::util::{World, depot_bin};

#[test]
fn a_second_writer_fails_at_once_or_waits_when_asked() {
    let w = World::new();
    w.ok(&["view", "create", "first"]);
    let lock = std::fs::File::open(w.root.join("pkgdb/lock")).unwrap();
    lock.lock().unwrap();
    let err = w.fails(&["view", "create", "second"]);
    assert!(
        err.contains("another depot process") && err.contains("--wait"),
        "{err}"
    );
    // A bounded wait that runs out says the same.
    let started = Instant::now();
    let err = w.fails(&["--wait=0.3", "view", "create", "second"]);
    assert!(err.contains("another depot process"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let err = w.fails(&["--wait=soon", "view", "create", "second"]);
    assert!(err.contains("expected a number of seconds"), "{err}");
    // --wait (as long as it takes) and DEPOT_LOCK_WAIT both wait for the holder.
    let waiting = w
        .command(&depot_bin())
        .args(["--wait", "view", "create", "second"])
        .spawn()
        .unwrap();
    let from_env = w
        .command(&depot_bin())
        .env("DEPOT_LOCK_WAIT", "30")
        .args(["view", "create", "third"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(!w.ok(&["view", "list"]).contains("second"));
    lock.unlock().unwrap();
    for child in [waiting, from_env] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = w.ok(&["view", "list"]);
    assert!(list.contains("second") && list.contains("third"), "{list}");
}
