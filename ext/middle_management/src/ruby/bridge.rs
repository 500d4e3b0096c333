//! The plain values that cross for a decision, as
//! `lib/middle_management/internal/bridge.rb` defines them (Ruby Structs):
//! read by member name, built in member order. Each class and its members
//! are checked once, when the extension loads, so a mismatch fails the
//! gem's boot rather than a decision.

use std::sync::OnceLock;
use std::time::Duration;

use magnus::value::Opaque;
use magnus::{prelude::*, Error, IntoValue, RArray, RClass, RModule, RStruct, Ruby, Symbol, Value};

use super::errors::gem_error;
use crate::decision::{AppVerdict, Counts, PoolInput, Verdict};
use crate::dispatcher::Request;

struct Classes {
    request: Opaque<RClass>,
    decide: Opaque<RClass>,
    pool: Opaque<RClass>,
    outcome: Opaque<RClass>,
    verdict: Opaque<RClass>,
}

static CLASSES: OnceLock<Classes> = OnceLock::new();

const REQUEST: [&str; 3] = ["id", "why", "gap"];
const DECIDE: [&str; 5] = [
    "request_id",
    "now_ms",
    "shared_store",
    "window_opens_at",
    "pools",
];
const POOL: [&str; 7] = [
    "runnable",
    "running",
    "next_run_in",
    "top_busy_dyno",
    "busy_unnumbered",
    "quantity",
    "memory",
];
const OUTCOME: [&str; 4] = ["pools", "window_opens_at", "look_at", "waiting"];
const VERDICT: [&str; 7] = [
    "wanted",
    "needed",
    "reason",
    "stops_busy",
    "send_quantity",
    "memory",
    "look_again_in",
];

/// Looks up `MiddleManagement::Internal::Bridge`'s Structs (loaded before
/// the extension) and checks their members.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let bridge: RModule = ruby
        .class_object()
        .const_get::<_, RModule>("MiddleManagement")?
        .const_get::<_, RModule>("Internal")?
        .const_get("Bridge")?;
    let class = |name: &str, members: &[&str]| -> Result<Opaque<RClass>, Error> {
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
    };
    let classes = Classes {
        request: class("Request", &REQUEST)?,
        decide: class("Decide", &DECIDE)?,
        pool: class("Pool", &POOL)?,
        outcome: class("Outcome", &OUTCOME)?,
        verdict: class("Verdict", &VERDICT)?,
    };
    let _ = CLASSES.set(classes); // a second load of the extension finds the same classes
    Ok(())
}

fn classes() -> &'static Classes {
    CLASSES
        .get()
        .expect("bridge::init ran when the extension loaded")
}

/// A request for Ruby: its id (for the answer), why (for the log) and the
/// claim's gap in seconds.
pub fn request(ruby: &Ruby, id: u64, request: Request, gap: Duration) -> Result<Value, Error> {
    let class = ruby.get_inner(classes().request);
    class.new_instance((id, ruby.to_symbol(request.why.name()), gap.as_secs_f64()))
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
    let input = instance(ruby, value, classes().decide, "Decide")?;
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
    let pool = instance(ruby, value, classes().pool, "Pool")?;
    let next_run_in: Option<f64> = pool.getmember("next_run_in")?;
    Ok(PoolInput {
        counts: Counts {
            runnable: pool.getmember("runnable")?,
            running: pool.getmember("running")?,
            next_run_in: next_run_in
                .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)),
            top_busy_dyno: pool.getmember("top_busy_dyno")?,
            busy_unnumbered: pool.getmember("busy_unnumbered")?,
        },
        quantity: pool.getmember("quantity")?,
        memory: pool
            .getmember::<_, Option<String>>("memory")?
            .unwrap_or_default(),
    })
}

/// An Array's entries, each converted (Ruby objects cannot go through
/// `to_vec`, which only takes values Rust can own).
fn entries<T: magnus::TryConvert>(array: RArray) -> Result<Vec<T>, Error> {
    (0..array.len()).map(|i| array.entry(i as isize)).collect()
}

fn instance(
    ruby: &Ruby,
    value: Value,
    class: Opaque<RClass>,
    name: &str,
) -> Result<RStruct, Error> {
    RStruct::from_value(value)
        .filter(|s| s.is_kind_of(ruby.get_inner(class)))
        .ok_or_else(|| {
            gem_error(format!(
                "expected a Bridge::{name}, got {}",
                value.class().inspect()
            ))
        })
}

pub fn outcome(ruby: &Ruby, verdict: &AppVerdict) -> Result<Value, Error> {
    let pools = ruby.ary_new_capa(verdict.pools.len());
    for pool in &verdict.pools {
        pools.push(pool_verdict(ruby, pool)?)?;
    }
    ruby.get_inner(classes().outcome).new_instance((
        pools,
        verdict.window_opens_at,
        verdict.look_at,
        verdict.waiting,
    ))
}

fn pool_verdict(ruby: &Ruby, v: &Verdict) -> Result<Value, Error> {
    ruby.get_inner(classes().verdict).new_instance((
        v.wanted,
        v.needed,
        v.reason.to_string(),
        v.stops_busy,
        v.send,
        v.memory.as_str(),
        v.look_again_in
            .map(|d| d.as_secs_f64())
            .into_value_with(ruby),
    ))
}
