//! Why a decision is made now: what asked for it sets how recent another
//! process's decision may be for this one to be skipped (the store's claim
//! gap) and what the decision is for (its `Occasion`). The simulator makes
//! its decisions by the same rules.

use std::time::Duration;

use super::Occasion;
use crate::pacing::PacingConfig;

/// News from many processes costs one count per this gap (at most the
/// API throttle): a decision this recent covers it.
pub const NEWS_GAP: Duration = Duration::from_secs(1);

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

    /// Another process's decision this recent is as good as this one: a
    /// periodic look once per interval for the whole app, an exit always.
    pub fn gap(self, pacing: PacingConfig, count_interval: Duration) -> Duration {
        match self {
            Why::Flush => Duration::ZERO,
            Why::Periodic => count_interval,
            Why::Check | Why::News | Why::Due | Why::Boot => NEWS_GAP.min(pacing.api_throttle),
        }
    }

    /// An exit without a shared store sends what it wants whatever its own
    /// window (nobody else will); a periodic look and the Scheduler task also
    /// check that Heroku has what the record says (someone may have scaled
    /// by hand, or a process died before it could record Heroku's answer).
    pub fn occasion(self, shared_store: bool) -> Occasion {
        match self {
            Why::Flush if !shared_store => Occasion::ExitAlone,
            Why::Periodic | Why::Check => Occasion::Verify,
            _ => Occasion::Change,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_follow_what_asked() {
        let pacing = |secs| PacingConfig {
            api_throttle: Duration::from_secs(secs),
            scale_down_delay: Duration::ZERO,
            change_budget: None,
        };
        let minute = Duration::from_secs(60);
        assert_eq!(Why::News.gap(pacing(10), minute), NEWS_GAP);
        assert_eq!(
            Why::News.gap(pacing(0), minute),
            Duration::ZERO,
            "never more than the throttle"
        );
        assert_eq!(Why::Periodic.gap(pacing(10), minute), minute);
        assert_eq!(Why::Flush.gap(pacing(10), minute), Duration::ZERO);
    }

    #[test]
    fn occasions_follow_what_asked_and_the_store() {
        assert_eq!(Why::Flush.occasion(false), Occasion::ExitAlone);
        assert_eq!(Why::Flush.occasion(true), Occasion::Change);
        assert_eq!(Why::Periodic.occasion(true), Occasion::Verify);
        assert_eq!(Why::Check.occasion(false), Occasion::Verify);
        assert_eq!(Why::News.occasion(false), Occasion::Change);
    }
}
