//! How many make jobs a build gets.
//!
//! A build's speed-up with `m` make jobs follows Amdahl's law with its
//! parallel fraction `f`: time(m) = time(1) × ((1 − f) + f / m). The fraction
//! comes from history (CPU time over wall time at the make jobs used) or is
//! unknown (then 0.5, a middling guess).
//!
//! [`CorePolicy::ByNeed`] shares the cores between running builds by what
//! the graph says: a build whose remaining chain outlasts the work left over
//! the cores (it is on the critical path) gets enough make jobs to bring its
//! chain back under that horizon, as far as its speed-up makes them worth it;
//! other builds split the spare cores only when few builds are ready; a
//! build that does not scale gets one. Fixed and bob's rule are here to be
//! compared against.

/// How a build speeds up with more make jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speedup {
    /// Amdahl's parallel fraction, 0 (serial) to 1.
    pub parallel: f64,
    /// Whether the fraction was measured (false: a guess).
    pub measured: bool,
    /// The recipe says parallel make is unsafe (MAKE_JOBS_SAFE=no).
    pub serial: bool,
}

impl Default for Speedup {
    fn default() -> Speedup {
        Speedup {
            parallel: 0.5,
            measured: false,
            serial: false,
        }
    }
}

impl Speedup {
    /// A measured fraction.
    pub fn measured(parallel: f64) -> Speedup {
        Speedup {
            parallel: parallel.clamp(0.0, 1.0),
            measured: true,
            serial: false,
        }
    }

    /// The fraction implied by a run of `wall` seconds using `cpu` seconds of
    /// CPU at `make_jobs` make jobs (`None` when it tells nothing: one job).
    pub fn from_history(wall: f64, cpu: f64, make_jobs: usize) -> Option<Speedup> {
        if make_jobs < 2 || wall <= 0.0 || cpu <= 0.0 {
            return None;
        }
        // cpu ≈ time(1); wall = cpu × ((1 − f) + f / m).
        let m = make_jobs as f64;
        let f = (1.0 - wall / cpu) / (1.0 - 1.0 / m);
        Some(Speedup::measured(f))
    }

    /// Time at `make_jobs` for a build that takes `one` seconds at one.
    pub fn time(&self, one: f64, make_jobs: usize) -> f64 {
        if self.serial {
            return one;
        }
        let m = make_jobs.max(1) as f64;
        one * ((1.0 - self.parallel) + self.parallel / m)
    }

    /// How many cores a build keeps busy on average at `make_jobs`.
    pub fn busy(&self, make_jobs: usize) -> f64 {
        1.0 / self.time(1.0, make_jobs)
    }

    /// The most make jobs worth giving: beyond it each core does less than
    /// half its share (speed-up below m / 2).
    pub fn worthwhile(&self) -> usize {
        if self.serial || self.parallel < 0.05 {
            return 1;
        }
        if self.parallel >= 0.999 {
            return usize::MAX;
        }
        ((2.0 - self.parallel) / (1.0 - self.parallel))
            .floor()
            .max(1.0) as usize
    }
}

/// How make jobs are given out.
#[derive(Debug, Clone, PartialEq)]
pub enum CorePolicy {
    /// Every build gets this many (pbulk's and poudriere's MAKE_JOBS).
    Fixed(usize),
    /// bob's rule as read from jperkin/bob `src/makejobs.rs`: a sole builder
    /// gets every core; otherwise the build's history of CPU time is placed
    /// on a log scale between the least and the most of all builds, and
    /// mapped linearly onto 2 … max(fair + 2, cores / 3), fair = cores / jobs;
    /// no history gets fair. Builds can oversubscribe the cores.
    Bob,
    /// Shared by need (see the module's doc).
    ByNeed,
}

/// What the allocation sees when a build starts.
#[derive(Debug, Clone)]
pub struct Situation {
    /// Cores in all.
    pub cores: usize,
    /// Build slots in all.
    pub slots: usize,
    /// Cores the running builds leave idle: for by-need, counted in the
    /// cores each keeps busy on average ([`Speedup::busy`]); for fixed,
    /// in make jobs.
    pub free_cores: f64,
    /// Other ready builds that can start now (bounded by free slots).
    pub others_starting: usize,
    /// Whether nothing else runs or is ready.
    pub sole: bool,
    /// The build's time at one make job.
    pub one: f64,
    /// Its bottom level at one make job (itself plus its longest chain after).
    pub bottom_level: f64,
    /// The longest path left in the graph (running builds' rest included).
    pub longest_path: f64,
    /// Work left in the whole graph (not yet finished), in core-seconds.
    pub remaining_work: f64,
    /// How it speeds up.
    pub speedup: Speedup,
    /// Its CPU time on bob's log scale, 0 … 1 (`None`: no history).
    pub cpu_scale: Option<f64>,
}

impl CorePolicy {
    /// Make jobs for a build starting now.
    pub fn make_jobs(&self, s: &Situation) -> usize {
        match self {
            CorePolicy::Fixed(m) => (*m).max(1),
            CorePolicy::Bob => {
                if s.sole {
                    return s.cores.max(1);
                }
                let fair = s.cores.div_ceil(s.slots.max(1)).max(1);
                let min = 2.min(s.cores).max(1);
                let max = (fair + 2).max(s.cores / 3).min(s.cores).max(min);
                match s.cpu_scale {
                    Some(t) => {
                        let j = min as f64 + t.clamp(0.0, 1.0) * (max - min) as f64;
                        (j.round() as usize).clamp(min, max)
                    }
                    None => fair,
                }
            }
            CorePolicy::ByNeed => by_need(s),
        }
    }
}

fn by_need(s: &Situation) -> usize {
    let worthwhile = s.speedup.worthwhile();
    if worthwhile == 1 {
        return 1;
    }
    // The most make jobs that keep no more than `cores` busy, worth it or not.
    let within = |cores: f64| -> usize {
        let mut m = 1;
        while m < worthwhile && s.speedup.busy(m + 1) <= cores + 1e-9 {
            m += 1;
        }
        m
    };
    // Leave one core for each other build that starts now.
    let cap = within((s.free_cores - s.others_starting as f64).max(1.0));
    if s.sole {
        return cap;
    }
    let horizon = s.remaining_work / s.cores.max(1) as f64;
    let after = s.bottom_level - s.one;
    if s.bottom_level >= s.longest_path - 1e-9 && s.longest_path > horizon {
        // On the longest path left, and it decides the end: as many make
        // jobs as it can use at a sixth of each core's share or better, up
        // to every core (taken or not: a build's share of the cores grows
        // with its make jobs when builds contend for them).
        let most = s.cores.max(1);
        let mut m = 1;
        while m < most && s.speedup.busy(m + 1) >= (m + 1) as f64 / 6.0 {
            m += 1;
        }
        return m;
    }
    if s.bottom_level > horizon {
        // Its chain outlasts the work: the fewest make jobs that bring the
        // chain under the horizon, or as many as are worth it.
        for m in 1..=cap {
            if after + s.speedup.time(s.one, m) <= horizon {
                return m;
            }
        }
        return cap;
    }
    // Off it, while the graph's longest path outlasts the work: keep the
    // cores for the builds on that path.
    if s.longest_path > horizon {
        return 1;
    }
    // Otherwise spare cores are shared when there are more than builds.
    within(s.free_cores / (s.others_starting + 1) as f64).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn situation() -> Situation {
        Situation {
            cores: 16,
            slots: 8,
            free_cores: 16.0,
            others_starting: 0,
            sole: false,
            one: 100.0,
            bottom_level: 100.0,
            remaining_work: 16_000.0,
            longest_path: 100.0,
            speedup: Speedup::measured(0.9),
            cpu_scale: None,
        }
    }

    #[test]
    fn amdahl() {
        let s = Speedup::measured(0.5);
        assert_eq!(s.time(100.0, 2), 75.0);
        assert_eq!(s.worthwhile(), 3);
        let f = Speedup::from_history(75.0, 100.0, 2).unwrap();
        assert!((f.parallel - 0.5).abs() < 1e-9);
        assert!(Speedup::from_history(75.0, 100.0, 1).is_none());
    }

    #[test]
    fn a_serial_build_gets_one() {
        let mut s = situation();
        s.speedup = Speedup::measured(0.0);
        s.bottom_level = 1e9;
        assert_eq!(CorePolicy::ByNeed.make_jobs(&s), 1);
    }

    #[test]
    fn the_critical_path_gets_what_brings_it_under_the_horizon() {
        let mut s = situation();
        s.others_starting = 7;
        // Chain after it 900 s, horizon 1000 s: not critical; the 16 free
        // cores are split between the 8 builds starting.
        s.bottom_level = 1000.0;
        assert_eq!(CorePolicy::ByNeed.make_jobs(&s), 2);
        // Chain after it 950 s: time(m) <= 50 -> 100*(0.1+0.9/m) <= 50 -> m >= 3.
        s.bottom_level = 1050.0;
        assert_eq!(CorePolicy::ByNeed.make_jobs(&s), 3);
    }

    #[test]
    fn spare_cores_are_shared_when_few_builds_are_ready() {
        let mut s = situation();
        s.others_starting = 1;
        // Half of 16 cores: 11 make jobs keep 5.5 busy (f = 0.9), and more
        // would not be worth it.
        assert_eq!(CorePolicy::ByNeed.make_jobs(&s), 11);
        s.others_starting = 7;
        s.free_cores = 8.0;
        assert_eq!(CorePolicy::ByNeed.make_jobs(&s), 1);
    }

    #[test]
    fn bob_maps_cpu_time_onto_its_range() {
        let mut s = situation();
        s.slots = 4;
        s.cpu_scale = Some(0.0);
        assert_eq!(CorePolicy::Bob.make_jobs(&s), 2);
        s.cpu_scale = Some(1.0);
        assert_eq!(CorePolicy::Bob.make_jobs(&s), 6);
        s.cpu_scale = None;
        assert_eq!(CorePolicy::Bob.make_jobs(&s), 4);
        s.sole = true;
        assert_eq!(CorePolicy::Bob.make_jobs(&s), 16);
    }
}
