//! The bulk-build scheduler: a dependency graph with estimated durations in,
//! decisions out (which package starts next, with how many make jobs). No
//! I/O, no recipes: the simulator ([`sim`]), the local executor and the
//! multi-machine executor all drive the very same [`Scheduler`].
//!
//! - [`graph`]: the DAG, bottom levels (the longest duration-weighted path to
//!   the end of the graph) and the makespan lower bound.
//! - [`scheduler`]: list scheduling by critical path, with the limits
//!   (slots, cores shared by need, memory, packages never built together).
//! - [`cores`]: how many make jobs a build gets.
//! - [`sim`]: a virtual clock that runs the scheduler on a graph.
//! - [`plan`]: the rule whose simulation on the estimates finishes first.

#![allow(
    clippy::cast_precision_loss,
    reason = "counts of cores, make jobs and tasks are far below 2^52"
)]
#![cfg_attr(
    test,
    allow(
        clippy::float_cmp,
        clippy::unwrap_used,
        reason = "exact small values; tests fail loudly"
    )
)]

pub mod cores;
pub mod graph;
pub mod plan;
pub mod scheduler;
pub mod sim;

pub use cores::{CorePolicy, Speedup};
pub use graph::{Graph, GraphError, Task};
pub use scheduler::{Limits, Placement, Scheduler, Start};
