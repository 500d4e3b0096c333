//! `MiddleManagement::Native::Dispatcher`: the Ruby handle of the background
//! dispatcher. Methods that wait release the GVL; the rest return at once.

use std::time::{Duration, UNIX_EPOCH};

use magnus::{Error, IntoValue, RArray, RHash, Ruby, Value};

use super::errors::{configuration_error, error};
use super::gvl::without_gvl;
use super::settings::dispatcher_config;
use crate::dispatcher::{Dispatcher, Event, Level, Popped, Status};

#[magnus::wrap(class = "MiddleManagement::Native::Dispatcher", free_immediately, size)]
pub struct RbDispatcher(Dispatcher);

fn duration(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::ZERO)
}

impl RbDispatcher {
    pub fn new(ruby: &Ruby, settings: RHash) -> Result<Self, Error> {
        let config = dispatcher_config(ruby, settings)?;
        Dispatcher::start(config)
            .map(RbDispatcher)
            .map_err(|e| configuration_error(e.to_string()))
    }

    /// The hot path of every hook: a channel send.
    pub fn adjust(&self, pool: usize, runnable: i64, running: i64, due_in: Option<f64>) -> bool {
        self.0.adjust(pool, runnable, running, due_in.map(duration))
    }

    pub fn count_marker(&self) -> u64 {
        self.0.count_marker()
    }

    pub fn counted(
        &self,
        pool: usize,
        marker: u64,
        runnable: u64,
        running: u64,
        next_run_in: Option<f64>,
    ) -> bool {
        self.0
            .counted(pool, marker, runnable, running, next_run_in.map(duration))
    }

    /// Sends what is pending now and waits up to `timeout` seconds for it.
    pub fn flush(&self, timeout: f64) -> bool {
        let done = self.0.flush();
        without_gvl(|| done.wait(duration(timeout)), || done.interrupt()).unwrap_or(false)
    }

    /// The next event as a Hash, or nil after `timeout` seconds (or an interrupt).
    pub fn next_event(ruby: &Ruby, rb_self: &Self, timeout: f64) -> Result<Option<RHash>, Error> {
        let events = rb_self.0.events();
        match without_gvl(|| events.pop(duration(timeout)), || events.interrupt()) {
            Some(Popped::Event(event)) => event_hash(ruby, &event).map(Some),
            _ => Ok(None),
        }
    }

    pub fn status(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        status_hash(ruby, &rb_self.0.status())
    }

    pub fn forked(&self) -> bool {
        self.0.forked()
    }

    pub fn shutdown(&self) -> Result<(), Error> {
        if self.0.forked() {
            return Err(error("this dispatcher belongs to the parent process"));
        }
        self.0.shutdown();
        Ok(())
    }
}

fn level(level: Level) -> &'static str {
    match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

fn formation_hash(ruby: &Ruby, formation: &[(String, u32)]) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    for (process_type, quantity) in formation {
        hash.aset(process_type.as_str(), *quantity)?;
    }
    Ok(hash)
}

fn event_hash(ruby: &Ruby, event: &Event) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    let set = |key: &str, value: Value| hash.aset(ruby.to_symbol(key), value);
    set(
        "level",
        ruby.to_symbol(level(event.level())).into_value_with(ruby),
    )?;
    set("message", event.message().into_value_with(ruby))?;
    let kind = match event {
        Event::Recount { pool } => {
            set("pool", pool.into_value_with(ruby))?;
            "recount"
        }
        Event::Decided {
            pool,
            workers,
            reason,
            runnable,
            running,
        } => {
            set("pool", pool.as_str().into_value_with(ruby))?;
            set("workers", workers.into_value_with(ruby))?;
            set("reason", reason.as_str().into_value_with(ruby))?;
            set("runnable", runnable.into_value_with(ruby))?;
            set("running", running.into_value_with(ruby))?;
            "decided"
        }
        Event::Scaled {
            pool,
            from,
            to,
            formation,
            outstanding,
            dry_run,
            ..
        } => {
            set("pool", pool.as_str().into_value_with(ruby))?;
            set("from", from.into_value_with(ruby))?;
            set("to", to.into_value_with(ruby))?;
            set(
                "formation",
                formation_hash(ruby, formation)?.into_value_with(ruby),
            )?;
            set("outstanding", outstanding.into_value_with(ruby))?;
            set("dry_run", dry_run.into_value_with(ruby))?;
            "scaled"
        }
        Event::CallFailed {
            pools,
            error,
            retry_in,
        } => {
            let pools = RArray::from_iter(pools.iter().map(String::as_str));
            set("pools", pools.into_value_with(ruby))?;
            set(
                "error_kind",
                ruby.to_symbol(error.kind()).into_value_with(ruby),
            )?;
            set("status", error.status().into_value_with(ruby))?;
            set("error_id", error.id().into_value_with(ruby))?;
            set(
                "retry_in",
                retry_in.map(|d| d.as_secs_f64()).into_value_with(ruby),
            )?;
            "call_failed"
        }
        Event::Notice { .. } => "notice",
    };
    set("type", ruby.to_symbol(kind).into_value_with(ruby))?;
    Ok(hash)
}

fn status_hash(ruby: &Ruby, status: &Status) -> Result<RHash, Error> {
    let pools = ruby.ary_new();
    for pool in &status.pools {
        let hash = ruby.hash_new();
        let set = |key: &str, value: Value| hash.aset(ruby.to_symbol(key), value);
        set("name", pool.name.as_str().into_value_with(ruby))?;
        set("desired", pool.desired.into_value_with(ruby))?;
        set("known", pool.known.into_value_with(ruby))?;
        set("runnable", pool.runnable.into_value_with(ruby))?;
        set("running", pool.running.into_value_with(ruby))?;
        set(
            "next_run_in",
            pool.next_run_in
                .map(|d| d.as_secs_f64())
                .into_value_with(ruby),
        )?;
        set("calls", pool.calls.into_value_with(ruby))?;
        set("errors", pool.errors.into_value_with(ruby))?;
        let at = pool
            .last_call_at
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        set("last_call_at", at.into_value_with(ruby))?;
        set(
            "last_result",
            pool.last_result.as_deref().into_value_with(ruby),
        )?;
        pools.push(hash)?;
    }
    let hash = ruby.hash_new();
    let set = |key: &str, value: Value| hash.aset(ruby.to_symbol(key), value);
    set("pools", pools.into_value_with(ruby))?;
    set("calls", status.calls.into_value_with(ruby))?;
    set("errors", status.errors.into_value_with(ruby))?;
    set(
        "rate_limit_remaining",
        status.rate_limit_remaining.into_value_with(ruby),
    )?;
    set("dry_run", status.dry_run.into_value_with(ruby))?;
    Ok(hash)
}
