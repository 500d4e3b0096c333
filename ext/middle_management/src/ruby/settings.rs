//! The Hash `MiddleManagement::Configuration#native_settings` builds, turned
//! into a `DispatcherConfig`. Ruby has checked every value already, naming
//! the environment variable; here a missing key or a value of the wrong
//! type is a bug in the gem, said by key.

use std::time::Duration;

use magnus::{Error, RArray, RHash, Ruby, Symbol, TryConvert};

use super::errors::configuration_error;
use crate::dispatcher::{DispatcherConfig, PoolConfig, Target};
use crate::heroku::Credentials;
use crate::pacing::PacingConfig;
use crate::policy::{Policy, Rule, Sizing};

pub(super) fn fetch<T: TryConvert>(hash: RHash, key: &str) -> Result<T, Error> {
    hash.fetch::<_, T>(Symbol::new(key))
        .map_err(|e| configuration_error(format!("{key}: {e}")))
}

pub(super) fn seconds(hash: RHash, key: &str) -> Result<Duration, Error> {
    let value: f64 = fetch(hash, key)?;
    Duration::try_from_secs_f64(value).map_err(|_| {
        configuration_error(format!(
            "{key} must be a number of seconds of 0 or more (got {value})"
        ))
    })
}

pub fn dispatcher_config(ruby: &Ruby, hash: RHash) -> Result<DispatcherConfig, Error> {
    let pools: RArray = fetch(hash, "pools")?;
    let pools = pools
        .into_iter()
        .map(|pool| pool_config(RHash::try_convert(pool)?))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(DispatcherConfig {
        target: target(ruby, fetch(hash, "target")?)?,
        pools,
        pacing: PacingConfig {
            api_throttle: seconds(hash, "api_throttle")?,
            scale_down_delay: seconds(hash, "scale_down_delay")?,
        },
        count_interval: seconds(hash, "count_interval")?,
        connect_timeout: seconds(hash, "connect_timeout")?,
        request_timeout: seconds(hash, "request_timeout")?,
    })
}

fn target(ruby: &Ruby, hash: RHash) -> Result<Target, Error> {
    if fetch::<bool>(hash, "dry_run")? {
        return Ok(Target::DryRun);
    }
    let credentials = match hash.lookup::<_, Option<String>>(ruby.to_symbol("token"))? {
        Some(token) => Credentials::bearer(token),
        None => Credentials::basic(
            fetch::<String>(hash, "username")?,
            fetch::<String>(hash, "password")?,
        ),
    };
    Ok(Target::Heroku {
        base_url: fetch(hash, "base_url")?,
        app: fetch(hash, "app")?,
        credentials,
    })
}

fn pool_config(hash: RHash) -> Result<PoolConfig, Error> {
    let name: String = fetch(hash, "name")?;
    let rules: Option<Vec<(u64, u32)>> = fetch(hash, "rules")?;
    let sizing = match rules {
        Some(rules) => Sizing::Rules(
            rules
                .into_iter()
                .map(|(at_least, workers)| Rule { at_least, workers })
                .collect(),
        ),
        None => Sizing::JobsPerWorker(fetch(hash, "jobs_per_worker")?),
    };
    let policy = Policy::new(
        fetch(hash, "min")?,
        fetch(hash, "max")?,
        sizing,
        fetch(hash, "dyno_concurrency")?,
        seconds(hash, "wake_lead")?,
    );
    Ok(PoolConfig {
        formation_types: fetch(hash, "formation_types")?,
        eco: fetch(hash, "eco")?,
        name,
        policy,
    })
}
