//! The `Bridge::Settings` that `MiddleManagement::Configuration` builds,
//! turned into a `DispatcherConfig`. Ruby has checked every value already,
//! naming the environment variable; here a value of the wrong type is a
//! bug in the gem, said by member.

use std::time::Duration;

use magnus::{Error, RArray, RStruct, Ruby, TryConvert, Value};

use super::bridge::{self, Kind};
use super::errors::configuration_error;
use crate::dispatcher::{DispatcherConfig, PoolConfig, Target};
use crate::heroku::Credentials;
use crate::pacing::{ChangeBudget, PacingConfig};
use crate::policy::{Policy, Rule, Sizing};

pub(super) fn member<T: TryConvert>(data: RStruct, name: &str) -> Result<T, Error> {
    data.getmember::<_, T>(name)
        .map_err(|e| configuration_error(format!("{name}: {e}")))
}

pub(super) fn seconds(data: RStruct, name: &str) -> Result<Duration, Error> {
    let value: f64 = member(data, name)?;
    Duration::try_from_secs_f64(value).map_err(|_| {
        configuration_error(format!(
            "{name} must be a number of seconds of 0 or more (got {value})"
        ))
    })
}

pub fn dispatcher_config(ruby: &Ruby, settings: Value) -> Result<DispatcherConfig, Error> {
    let settings = bridge::read(ruby, settings, Kind::Settings)?;
    let pools: RArray = member(settings, "pools")?;
    let pools = bridge::entries::<Value>(pools)?
        .into_iter()
        .map(|pool| pool_config(bridge::read(ruby, pool, Kind::PoolSettings)?))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(DispatcherConfig {
        target: target(bridge::read(
            ruby,
            member(settings, "target")?,
            Kind::Target,
        )?)?,
        pools,
        pacing: PacingConfig {
            api_throttle: seconds(settings, "api_throttle")?,
            scale_down_delay: seconds(settings, "scale_down_delay")?,
            change_budget: ChangeBudget::per_hour(member(settings, "changes_per_hour")?),
        },
        count_interval: seconds(settings, "count_interval")?,
        connect_timeout: seconds(settings, "connect_timeout")?,
        request_timeout: seconds(settings, "request_timeout")?,
        alert_webhook: member(settings, "alert_webhook_url")?,
    })
}

fn target(target: RStruct) -> Result<Target, Error> {
    if member::<bool>(target, "dry_run")? {
        return Ok(Target::DryRun);
    }
    let credentials = match member::<Option<String>>(target, "token")? {
        Some(token) => Credentials::bearer(token),
        None => Credentials::basic(
            member::<String>(target, "username")?,
            member::<String>(target, "password")?,
        ),
    };
    Ok(Target::Heroku {
        base_url: member(target, "base_url")?,
        app: member(target, "app")?,
        credentials,
    })
}

fn pool_config(pool: RStruct) -> Result<PoolConfig, Error> {
    let rules: Option<Vec<(u64, u32)>> = member(pool, "rules")?;
    let sizing = match rules {
        Some(rules) => Sizing::Rules(
            rules
                .into_iter()
                .map(|(at_least, workers)| Rule { at_least, workers })
                .collect(),
        ),
        None if member(pool, "learn")? => Sizing::Learned {
            fallback: member(pool, "jobs_per_worker")?,
        },
        None => Sizing::JobsPerWorker(member(pool, "jobs_per_worker")?),
    };
    let policy = Policy::new(
        member(pool, "min")?,
        member(pool, "max")?,
        sizing,
        member(pool, "dyno_concurrency")?,
        seconds(pool, "wake_lead")?,
    );
    Ok(PoolConfig {
        name: member(pool, "name")?,
        formation_types: member(pool, "formation_types")?,
        eco: member(pool, "eco")?,
        policy,
    })
}
