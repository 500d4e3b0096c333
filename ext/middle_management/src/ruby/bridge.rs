//! The plain values that cross the boundary, as
//! `lib/middle_management/internal/bridge.rb` defines them (Ruby Structs):
//! read by member name, built in member order. Each class and its members
//! are checked once, when the extension loads, so a mismatch fails the
//! gem's boot rather than a decision. The decision's values are converted
//! here; the settings' in `settings.rs`.

use std::sync::OnceLock;
use std::time::Duration;

use magnus::value::Opaque;
use magnus::{prelude::*, Error, IntoValue, RArray, RClass, RModule, RStruct, Ruby, Symbol, Value};

use super::errors::gem_error;
use crate::decision::{AppVerdict, Counts, PoolInput, Verdict};
use crate::dispatcher::Request;
use crate::policy::{Measured, Reason};

/// The Structs of `Internal::Bridge` the extension reads or builds, with
/// their members in order.
#[derive(Clone, Copy)]
pub enum Kind {
    Request,
    Decide,
    Pool,
    Outcome,
    Verdict,
    Settings,
    Target,
    PoolSettings,
    Simulation,
}

const STRUCTS: [(&str, &[&str]); 9] = [
    ("Request", &["id", "why", "gap"]),
    (
        "Decide",
        &[
            "request_id",
            "now_ms",
            "shared_store",
            "window_opens_at",
            "pools",
        ],
    ),
    (
        "Pool",
        &[
            "runnable",
            "running",
            "next_run_in",
            "top_busy_dyno",
            "busy_unnumbered",
            "quantity",
            "memory",
            "job_seconds",
            "boot_seconds",
        ],
    ),
    (
        "Outcome",
        &["pools", "window_opens_at", "look_at", "waiting"],
    ),
    (
        "Verdict",
        &[
            "wanted",
            "needed",
            "reason",
            "stops_busy",
            "send_quantity",
            "memory",
            "look_again_in",
            "over_max",
            "jobs_per_worker",
        ],
    ),
    (
        "Settings",
        &[
            "target",
            "pools",
            "api_throttle",
            "scale_down_delay",
            "changes_per_hour",
            "count_interval",
            "connect_timeout",
            "request_timeout",
            "alert_webhook_url",
        ],
    ),
    (
        "Target",
        &[
            "dry_run", "base_url", "app", "token", "username", "password",
        ],
    ),
    (
        "PoolSettings",
        &[
            "name",
            "formation_types",
            "eco",
            "min",
            "max",
            "jobs_per_worker",
            "learn",
            "rules",
            "dyno_concurrency",
            "wake_lead",
        ],
    ),
    (
        "Simulation",
        &[
            "strategy",
            "workers",
            "checkup",
            "ratio",
            "upscale_timeout",
            "downscale_timeout",
            "decrementable",
            "jump",
            "boot_time",
            "grace",
            "price",
        ],
    ),
];

static CLASSES: OnceLock<Vec<Opaque<RClass>>> = OnceLock::new();

/// Looks up `MiddleManagement::Internal::Bridge`'s Structs (loaded before
/// the extension) and checks their members.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let bridge: RModule = ruby
        .class_object()
        .const_get::<_, RModule>("MiddleManagement")?
        .const_get::<_, RModule>("Internal")?
        .const_get("Bridge")?;
    let classes = STRUCTS
        .iter()
        .map(|&(name, members)| {
            let class: RClass = bridge.const_get(name)?;
            let found: RArray = class.funcall("members", ())?;
            let found = entries::<Symbol>(found)?
                .into_iter()
                .map(|m| m.name().map(|n| n.into_owned()))
                .collect::<Result<Vec<String>, _>>()?;
            if found != members {
                return Err(gem_error(format!(
                    "Bridge::{name} has members {found:?}; the extension reads {members:?}"
                )));
            }
            Ok(class.into())
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let _ = CLASSES.set(classes); // a second load of the extension finds the same classes
    Ok(())
}

fn class(ruby: &Ruby, kind: Kind) -> RClass {
    let classes = CLASSES
        .get()
        .expect("bridge::init ran when the extension loaded");
    ruby.get_inner(classes[kind as usize])
}

/// `value` as the Struct `kind`, or an error naming what came instead.
pub fn read(ruby: &Ruby, value: Value, kind: Kind) -> Result<RStruct, Error> {
    RStruct::from_value(value)
        .filter(|s| s.is_kind_of(class(ruby, kind)))
        .ok_or_else(|| {
            gem_error(format!(
                "expected a Bridge::{}, got {}",
                STRUCTS[kind as usize].0,
                value.class().inspect()
            ))
        })
}

/// An Array's entries, each converted (Ruby objects cannot go through
/// `to_vec`, which only takes values Rust can own).
pub fn entries<T: magnus::TryConvert>(array: RArray) -> Result<Vec<T>, Error> {
    (0..array.len()).map(|i| array.entry(i as isize)).collect()
}

/// A request for Ruby: its id (for the answer), why (for the log) and the
/// claim's gap in seconds.
pub fn request(ruby: &Ruby, id: u64, request: Request, gap: Duration) -> Result<Value, Error> {
    class(ruby, Kind::Request).new_instance((
        id,
        ruby.to_symbol(request.why.name()),
        gap.as_secs_f64(),
    ))
}

/// What a decision is made from, as Ruby gives it.
pub struct Decide {
    pub request_id: u64,
    pub now_ms: u64,
    pub shared_store: bool,
    pub window_opens_at: Option<u64>,
    pub pools: Vec<PoolInput>,
}

pub fn decide_input(ruby: &Ruby, value: Value) -> Result<Decide, Error> {
    let input = read(ruby, value, Kind::Decide)?;
    let pools: RArray = input.getmember("pools")?;
    let pools = entries::<Value>(pools)?
        .into_iter()
        .map(|pool| pool_input(ruby, pool))
        .collect::<Result<_, _>>()?;
    Ok(Decide {
        request_id: input.getmember("request_id")?,
        now_ms: input.getmember("now_ms")?,
        shared_store: input.getmember("shared_store")?,
        window_opens_at: input.getmember("window_opens_at")?,
        pools,
    })
}

fn pool_input(ruby: &Ruby, value: Value) -> Result<PoolInput, Error> {
    let pool = read(ruby, value, Kind::Pool)?;
    let next_run_in: Option<f64> = pool.getmember("next_run_in")?;
    let job: Option<f64> = pool.getmember("job_seconds")?;
    let boot: Option<f64> = pool.getmember("boot_seconds")?;
    Ok(PoolInput {
        counts: Counts {
            runnable: pool.getmember("runnable")?,
            running: pool.getmember("running")?,
            next_run_in: next_run_in.map(seconds),
            top_busy_dyno: pool.getmember("top_busy_dyno")?,
            busy_unnumbered: pool.getmember("busy_unnumbered")?,
            measured: job.zip(boot).map(|(job, boot)| Measured {
                job: seconds(job),
                boot: seconds(boot),
            }),
        },
        quantity: pool.getmember("quantity")?,
        memory: pool
            .getmember::<_, Option<String>>("memory")?
            .unwrap_or_default(),
    })
}

/// Seconds from Ruby: a negative or non-finite value (never sent) as none.
fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}

pub fn outcome(ruby: &Ruby, verdict: &AppVerdict) -> Result<Value, Error> {
    let pools = ruby.ary_new_capa(verdict.pools.len());
    for pool in &verdict.pools {
        pools.push(pool_verdict(ruby, pool)?)?;
    }
    class(ruby, Kind::Outcome).new_instance((
        pools,
        verdict.window_opens_at,
        verdict.look_at,
        verdict.waiting,
    ))
}

fn pool_verdict(ruby: &Ruby, v: &Verdict) -> Result<Value, Error> {
    class(ruby, Kind::Verdict).new_instance((
        v.wanted,
        v.needed,
        v.reason.to_string(),
        v.stops_busy,
        v.send,
        v.memory.as_str(),
        v.look_again_in
            .map(|d| d.as_secs_f64())
            .into_value_with(ruby),
        v.reason == Reason::Maximum,
        v.jobs_per_worker,
    ))
}
