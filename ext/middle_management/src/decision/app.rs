//! One decision for the whole app: every pool from its fresh count under
//! the one lease, and what the app's record keeps of them together (one
//! window, one next look).

use std::time::Duration;

use super::{decide, Counts, Occasion, Record, Verdict};
use crate::pacing::PacingConfig;
use crate::policy::Policy;

/// One pool's part of the decision: its fresh count and what the store
/// keeps for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolInput {
    pub counts: Counts,
    /// What Heroku confirmed last (None: unknown).
    pub quantity: Option<u32>,
    /// The pacing's memory (`Pacer::memory`).
    pub memory: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVerdict {
    /// One per pool, in the pools' order.
    pub pools: Vec<Verdict>,
    /// To record: the app's window after this decision (store ms).
    pub window_opens_at: Option<u64>,
    /// To record: when the app looks next (store ms), whoever looks.
    pub look_at: Option<u64>,
    /// A pool waits to send (the window, the scale-down delay): an
    /// exiting process leaves its news for the next to decide on.
    pub waiting: bool,
}

pub fn decide_app<'a>(
    policies: impl IntoIterator<Item = &'a Policy>,
    pacing: PacingConfig,
    window_opens_at: Option<u64>,
    pools: &[PoolInput],
    now_ms: u64,
    occasion: Occasion,
) -> AppVerdict {
    let verdicts: Vec<Verdict> = policies
        .into_iter()
        .zip(pools)
        .map(|(policy, pool)| {
            let record = Record {
                quantity: pool.quantity,
                window_opens_at,
                memory: pool.memory.clone(),
            };
            decide(policy, pacing, &record, &pool.counts, now_ms, occasion)
        })
        .collect();
    debug_assert_eq!(verdicts.len(), pools.len(), "a policy for every pool");
    let look_in = verdicts.iter().filter_map(|v| v.look_again_in).min();
    AppVerdict {
        window_opens_at: verdicts.iter().filter_map(|v| v.window_opens_at).max(),
        look_at: look_in.map(|d| now_ms.saturating_add(ceil_millis(d))),
        waiting: verdicts
            .iter()
            .any(|v| v.send.is_none() && v.look_again_in.is_some()),
        pools: verdicts,
    }
}

fn ceil_millis(duration: Duration) -> u64 {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    u64::try_from(millis).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Sizing;

    const T0: u64 = 1_764_000_000_000;

    fn policy(max: u32) -> Policy {
        Policy::new(0, max, Sizing::JobsPerWorker(1), 1, Duration::from_secs(30))
    }

    fn runnable(n: u64) -> PoolInput {
        PoolInput {
            counts: Counts {
                runnable: n,
                ..Counts::default()
            },
            quantity: Some(0),
            ..PoolInput::default()
        }
    }

    #[test]
    fn pools_share_one_window_and_the_earliest_look() {
        let pacing = PacingConfig {
            api_throttle: Duration::from_secs(10),
            scale_down_delay: Duration::ZERO,
            change_budget: None,
        };
        let policies = [policy(5), policy(5)];
        let first = decide_app(
            &policies,
            pacing,
            None,
            &[runnable(2), runnable(0)],
            T0,
            Occasion::Change,
        );
        assert_eq!(
            first.pools.iter().map(|v| v.send).collect::<Vec<_>>(),
            [Some(2), None]
        );
        assert_eq!(first.window_opens_at, Some(T0 + 10_000));
        assert!(!first.waiting);

        let inside = decide_app(
            &policies,
            pacing,
            first.window_opens_at,
            &[runnable(3), runnable(0)],
            T0 + 2_500,
            Occasion::Change,
        );
        assert_eq!(inside.pools[0].send, None, "the window is the app's");
        assert_eq!(
            inside.look_at,
            Some(T0 + 10_000),
            "the next look is when it opens"
        );
        assert!(inside.waiting);
    }
}
