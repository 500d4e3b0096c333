//! `MiddleManagement::Internal::Native::Counts` and `::Record`: what one
//! pool's decision is made from, a fresh count and the app's record from
//! the store, built by Ruby and handed to `Dispatcher#verdict`.

use std::time::Duration;

use crate::decision::{Counts, Record};

#[magnus::wrap(
    class = "MiddleManagement::Internal::Native::Counts",
    free_immediately,
    size
)]
pub struct RbCounts(pub Counts);

impl RbCounts {
    /// `next_run_in`: seconds until the earliest scheduled job, or nil.
    /// `top_busy_dyno`: the highest number of a dyno of the pool with a busy
    /// job, or nil; `busy_unnumbered`: a busy job runs on a dyno without one.
    pub fn new(
        runnable: u64,
        running: u64,
        next_run_in: Option<f64>,
        top_busy_dyno: Option<u32>,
        busy_unnumbered: bool,
    ) -> RbCounts {
        RbCounts(Counts {
            runnable,
            running,
            next_run_in: next_run_in.map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)),
            top_busy_dyno,
            busy_unnumbered,
        })
    }
}

#[magnus::wrap(
    class = "MiddleManagement::Internal::Native::Record",
    free_immediately,
    size
)]
pub struct RbRecord(pub Record);

impl RbRecord {
    /// `quantity`: last sent to Heroku (nil: unknown); `window_opens_at`:
    /// store ms; `memory`: the pacing's memory, as the last verdict gave it.
    pub fn new(quantity: Option<u32>, window_opens_at: Option<u64>, memory: Option<String>) -> RbRecord {
        RbRecord(Record {
            quantity,
            window_opens_at,
            memory: memory.unwrap_or_default(),
        })
    }
}
