//! How far a count of runnable jobs has to go. Past some number of
//! outstanding jobs more work changes nothing the policy says, so adapters
//! count only up to it (a `LIMIT`-ed count in SQL) and a decision costs the
//! same at a million jobs as at a hundred.

use super::{Policy, Sizing, LEARNED_MOST};

impl Policy {
    /// The smallest number of outstanding jobs from which every larger one
    /// gives the same decision, whatever else is observed: a count of
    /// runnable jobs that stops here decides exactly as the full count does.
    /// The cap holds for the runnable count alone (not minus the running
    /// jobs): more outstanding work never lowers a decision, and at the cap
    /// the work alone already decides it.
    pub fn count_cap(&self) -> u64 {
        let max = u64::from(self.max_workers);
        match &self.sizing {
            // At max × per-worker the work asks for exactly max_workers
            // ("sized to outstanding jobs"); one more job and it is capped
            // ("capped at max_workers"), which it stays.
            Sizing::JobsPerWorker(per) => max * u64::from(*per) + 1,
            // Learned: as for the most jobs per worker it can be.
            Sizing::Learned { fallback } => max * u64::from((*fallback).max(LEARNED_MOST)) + 1,
            // The step function is flat from the first row whose workers it
            // keeps to the end; every row above max_workers is the same row,
            // and below the first row no worker is needed (a row of 0 at 0).
            Sizing::Rules(rules) => {
                let effective = |workers: u32| u64::from(workers).min(max + 1);
                let last = effective(rules[rules.len() - 1].workers);
                if last == 0 {
                    return 0;
                }
                rules
                    .iter()
                    .find(|rule| effective(rule.workers) == last)
                    .map_or(0, |rule| rule.at_least)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{any_busy, any_obs, any_policy, obs, policy, rules};
    use super::super::{Measured, Observation, Policy, Sizing};
    use std::time::Duration;
    use proptest::prelude::*;

    #[test]
    fn the_cap_is_where_the_work_stops_mattering() {
        assert_eq!(policy(0, 10, Sizing::JobsPerWorker(10), 1).count_cap(), 101);
        assert_eq!(policy(0, 0, Sizing::JobsPerWorker(10), 1).count_cap(), 1);
        // The top row decides...
        assert_eq!(
            policy(0, 10, rules(&[(1, 1), (50, 3), (500, 8)]), 1).count_cap(),
            500
        );
        // ...or the first row past max_workers...
        assert_eq!(
            policy(0, 5, rules(&[(1, 1), (50, 6), (500, 8)]), 1).count_cap(),
            50
        );
        // ...but a row at max_workers is still sized by the work.
        assert_eq!(
            policy(0, 3, rules(&[(1, 1), (50, 3), (500, 8)]), 1).count_cap(),
            500
        );
        // Rows that keep the workers they had change nothing.
        assert_eq!(
            policy(0, 10, rules(&[(1, 2), (50, 4), (500, 4)]), 1).count_cap(),
            50
        );
        assert_eq!(policy(0, 10, rules(&[(0, 2)]), 1).count_cap(), 0);
        assert_eq!(policy(0, 10, rules(&[(5, 0)]), 1).count_cap(), 0);
    }

    proptest! {
        #[test]
        fn a_count_stopped_at_the_cap_decides_as_the_exact_one(
            p in any_policy(), o in any_obs(), busy in any_busy(), few in 0u64..40, over in 0u64..3,
        ) {
            let cap = p.count_cap();
            // Any running count, a few running jobs (the busy floor near the
            // work's size), or none: the cap must hold for each.
            for running in [o.running, few, 0] {
                let exact = Observation { running, busy, ..o };
                let expected = p.decide(&exact);
                let capped = Observation { runnable: exact.runnable.min(cap), ..exact };
                prop_assert_eq!(p.decide(&capped), expected, "capped at {}", cap);
                // Just below, at and past the cap.
                let near = Observation { runnable: (cap + over).saturating_sub(1), ..exact };
                let near_capped = Observation { runnable: near.runnable.min(cap), ..near };
                prop_assert_eq!(p.decide(&near_capped), p.decide(&near), "{} runnable, cap {}", near.runnable, cap);
                // Counting only up to the cap minus the running jobs would do
                // as well; the plain cap spares the count that ordering.
                let tighter = Observation { runnable: exact.runnable.min(cap.saturating_sub(running)), ..exact };
                prop_assert_eq!(p.decide(&tighter), expected);
            }
        }

        #[test]
        fn the_cap_is_the_least_that_works(p in any_policy()) {
            // With nothing else observed, one job fewer than the cap decides
            // otherwise (the workers, or why): no smaller cap would be exact.
            // (A min_workers above the lower rows can make them alike.)
            // (A learned sizing's cap holds for whatever is measured, so it
            // is the least only for the most a measurement gives.)
            let p = Policy::new(0, p.max_workers(), p.sizing().clone(), 1, p.wake_lead());
            let cap = p.count_cap();
            let most = Measured { job: Duration::from_millis(1), boot: Duration::from_secs(3600) };
            let measured = matches!(p.sizing(), Sizing::Learned { .. }).then_some(most);
            prop_assume!(cap > 0);
            let at = |runnable| p.decide(&Observation { measured, ..obs(runnable, 0) });
            prop_assert_ne!(at(cap - 1), at(cap));
        }
    }
}
