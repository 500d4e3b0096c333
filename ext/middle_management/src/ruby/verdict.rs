//! `MiddleManagement::Internal::Native::Verdict`: one pool's decision
//! (`crate::decision`), made on the gem's Ruby thread under the store's
//! lease, read by Ruby to record it and handed back with `Dispatcher#decided`.

use crate::decision::{Counts, Verdict};

#[magnus::wrap(
    class = "MiddleManagement::Internal::Native::Verdict",
    free_immediately,
    size
)]
pub struct RbVerdict {
    pub verdict: Verdict,
    /// What the record said Heroku had.
    pub from: Option<u32>,
    pub counts: Counts,
    pub now_ms: u64,
}

impl RbVerdict {
    pub fn wanted(&self) -> u32 {
        self.verdict.wanted
    }

    /// What the work needs: the pool's dynos numbered above it drain.
    pub fn needed(&self) -> u32 {
        self.verdict.needed
    }

    /// The number of a busy dyno that MAX_WORKERS leaves out, or nil.
    pub fn stops_busy(&self) -> Option<u32> {
        self.verdict.stops_busy
    }

    /// The quantity to call Heroku with now, or nil.
    pub fn send_quantity(&self) -> Option<u32> {
        self.verdict.send
    }

    pub fn window_opens_at(&self) -> Option<u64> {
        self.verdict.window_opens_at
    }

    pub fn memory(&self) -> String {
        self.verdict.memory.clone()
    }

    pub fn reason(&self) -> String {
        self.verdict.reason.to_string()
    }

    pub fn look_again_in(&self) -> Option<f64> {
        self.verdict.look_again_in.map(|d| d.as_secs_f64())
    }
}
