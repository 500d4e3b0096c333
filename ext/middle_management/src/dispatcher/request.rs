//! What the dispatcher asks of Ruby, and Ruby's answers. Ruby owns the app's
//! connections: it takes the decision lease, counts, records and answers;
//! the dispatcher only says when a decision is due and why.

use std::time::Duration;

pub use crate::decision::Why;
use crate::decision::{Counts, PoolInput, Verdict};
use crate::policy::Reason;

/// Decide for the app: every pool, for the first reason any pool has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub why: Why,
}

/// Ruby's answer for one pool of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Decided from a fresh count, and recorded in the store.
    Decided(Decided),
    /// Another process holds the lease, or decided a moment ago: try again
    /// after `retry_in` if this was news. `look_in`: the app's next look, as
    /// its record says (a job due, a window opening, a delay running out).
    Held {
        retry_in: Duration,
        look_in: Option<Duration>,
    },
    /// Could not decide (the store or a count failed, logged by Ruby).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub wanted: u32,
    /// What set `wanted`: a kept busy dyno is said in the scale line.
    pub reason: Reason,
    /// What Heroku had before, as far as the app knew.
    pub from: Option<u32>,
    /// The call to make now.
    pub send: Option<u32>,
    pub counts: Counts,
    /// The app's window: news cannot lead to a call before it opens.
    pub window_opens_in: Option<Duration>,
    pub look_again_in: Option<Duration>,
}

impl Decided {
    /// A pool's verdict, as decided from `input` at `now_ms` (store ms).
    pub fn new(verdict: &Verdict, input: &PoolInput, now_ms: u64) -> Decided {
        Decided {
            wanted: verdict.wanted,
            reason: verdict.reason,
            // A check of what the record says: the dispatcher reads Heroku's
            // formation first, and calls only if it differs.
            from: input.quantity.filter(|_| !verdict.verify),
            send: verdict.send,
            counts: input.counts,
            window_opens_in: verdict
                .window_opens_at
                .filter(|&opens| opens > now_ms)
                .map(|opens| Duration::from_millis(opens - now_ms)),
            look_again_in: verdict.look_again_in,
        }
    }
}
