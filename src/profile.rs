//! `DEPOT_PROFILE=1`: phase timings on stderr, for performance work.

use std::time::Instant;

/// A clock that prints how long each phase took since it started, when profiling.
pub struct Profile {
    start: Instant,
    on: bool,
}

impl Profile {
    /// Start the clock.
    pub fn start() -> Profile {
        Profile {
            start: Instant::now(),
            on: std::env::var_os("DEPOT_PROFILE").is_some(),
        }
    }

    /// Print the time at the end of phase `name`.
    pub fn phase(&self, name: &str) {
        if self.on {
            eprintln!(
                "depot: profile: {name} at {:.1} ms",
                self.start.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
}
