//! `DEPOT_PROFILE=1`: phase timings on stderr, for performance work.

use crate::output;
use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();
static ON: OnceLock<bool> = OnceLock::new();

/// Start the clock (main calls this first, so every phase reads from process start).
pub fn begin() {
    START.get_or_init(Instant::now);
}

/// When profiling, print how long after [`begin`] phase `name` ended.
pub fn phase(name: &str) {
    if *ON.get_or_init(|| std::env::var_os("DEPOT_PROFILE").is_some()) {
        output::say!(
            "profile: {name} at {:.3} ms",
            START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
        );
    }
}
