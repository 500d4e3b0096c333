//! What the dispatcher asks of Ruby, and Ruby's answers. Ruby owns the app's
//! connections: it takes the decision lease, counts, records and answers;
//! the dispatcher only says when a decision is due and why.

use std::time::Duration;

use crate::decision::Counts;
use crate::policy::Reason;

/// Why a pool should decide now. It sets how recent another process's
/// decision may be for this one to be skipped (the claim's gap): see
/// `Why::gap`.
/// In order of urgency: a request for several reasons goes as the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// The Scheduler task: decide now and check that Heroku has what the
    /// app's record says.
    Check,
    /// The process is exiting: decide now.
    Flush,
    /// A job changed in this process.
    News,
    /// A decision said to look again (a change waiting for the window or the
    /// scale-down delay, a scheduled job), or a failed call is retried.
    Due,
    /// A long-running process has just started watching.
    Boot,
    /// A long-running process's periodic look.
    Periodic,
}

impl Why {
    pub fn name(self) -> &'static str {
        match self {
            Why::News => "news",
            Why::Due => "due",
            Why::Boot => "boot",
            Why::Periodic => "periodic",
            Why::Flush => "flush",
            Why::Check => "check",
        }
    }
}

/// Decide for the app: every pool, with the news seen so far for each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub why: Why,
    pub news: Vec<u64>,
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
    /// The news the request carried: later news still wants a decision.
    pub news: u64,
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
