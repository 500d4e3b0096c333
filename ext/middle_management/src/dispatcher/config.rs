//! What a dispatcher is started with: checked once, then immutable.

use std::time::Duration;

use crate::heroku::Credentials;
use crate::pacing::PacingConfig;
use crate::policy::Policy;

/// How the dispatcher reaches Heroku.
#[derive(Debug, Clone)]
pub enum Target {
    /// The Platform API (or anything speaking it, such as the local formation).
    Heroku {
        base_url: String,
        app: String,
        credentials: Credentials,
    },
    /// Decide and report, never call: `MIDDLE_MANAGEMENT_DRY_RUN`.
    DryRun,
}

/// One pool: a group of workers scaled together.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub name: String,
    /// The process types the pool sets: its own name, or in Eco/Basic mode
    /// (`eco`) several types run at one dyno each, turned on in order.
    pub formation_types: Vec<String>,
    pub eco: bool,
    pub policy: Policy,
}

impl PoolConfig {
    /// Eco/Basic dynos run at most one per type, so `workers` turns on the first
    /// `workers` types and off the rest; otherwise it is the pool's quantity.
    pub fn formation_for(&self, workers: u32) -> Vec<(String, u32)> {
        if self.eco {
            let on = workers as usize;
            self.formation_types
                .iter()
                .enumerate()
                .map(|(i, t)| (t.clone(), u32::from(i < on)))
                .collect()
        } else {
            vec![(self.name.clone(), workers)]
        }
    }

    /// The pool's worker count as Heroku reports it, if the reply covers it.
    pub fn workers_in(&self, formation: &[(String, u32)]) -> Option<u32> {
        let quantity = |t: &String| formation.iter().find(|(ft, _)| ft == t).map(|(_, q)| *q);
        if self.eco {
            let on: Option<Vec<u32>> = self.formation_types.iter().map(quantity).collect();
            on.map(|qs| qs.iter().filter(|q| **q > 0).count() as u32)
        } else {
            quantity(&self.name)
        }
    }
}

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    pub target: Target,
    pub pools: Vec<PoolConfig>,
    pub pacing: PacingConfig,
    /// How old counts may be before the Ruby side is asked to count again.
    pub count_interval: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Where alerts are posted (`Dispatcher::alert`), if anywhere: a secret.
    pub alert_webhook: Option<String>,
}

impl DispatcherConfig {
    /// What Ruby's settings enforce (naming the variable): at least one
    /// pool, and no process type set by two pools. Asserted when a
    /// dispatcher starts.
    pub fn is_valid(&self) -> bool {
        let mut seen = std::collections::HashSet::new();
        !self.pools.is_empty()
            && self
                .pools
                .iter()
                .flat_map(|p| &p.formation_types)
                .all(|t| seen.insert(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Sizing;

    fn pool(name: &str, types: &[&str], eco: bool) -> PoolConfig {
        PoolConfig {
            name: name.into(),
            formation_types: types.iter().map(|t| t.to_string()).collect(),
            eco,
            policy: Policy::new(0, 4, Sizing::JobsPerWorker(1), 1, Duration::ZERO),
        }
    }

    #[test]
    fn eco_turns_on_the_first_types_only() {
        let eco = pool(
            "worker",
            &["worker1", "worker2", "worker3", "worker4"],
            true,
        );
        let formation = eco.formation_for(3);
        assert_eq!(
            formation,
            vec![
                ("worker1".into(), 1),
                ("worker2".into(), 1),
                ("worker3".into(), 1),
                ("worker4".into(), 0)
            ]
        );
        assert_eq!(eco.workers_in(&formation), Some(3));
        assert_eq!(
            eco.workers_in(&formation[..2]),
            None,
            "a partial reply says nothing"
        );
    }

    #[test]
    fn a_plain_pool_sets_its_own_type() {
        let plain = pool("worker", &["worker"], false);
        assert_eq!(plain.formation_for(7), vec![("worker".into(), 7)]);
        assert_eq!(
            plain.workers_in(&[("web".into(), 2), ("worker".into(), 7)]),
            Some(7)
        );
    }

    #[test]
    fn a_type_in_two_pools_is_not_valid() {
        let config = DispatcherConfig {
            target: Target::DryRun,
            pools: vec![
                pool("worker", &["worker"], false),
                pool("urgent", &["worker"], false),
            ],
            pacing: PacingConfig::default(),
            count_interval: Duration::ZERO,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            alert_webhook: None,
        };
        assert!(!config.is_valid());
    }
}
