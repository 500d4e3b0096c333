//! `MiddleManagement::Internal::Native::Dispatcher`: the Ruby handle of the
//! background dispatcher. Methods that wait release the GVL, and own what
//! they wait on (it outlives the handle if Ruby frees that meanwhile); the
//! rest return at once.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use magnus::{Error, IntoValue, RHash, Ruby, Symbol, Value};

use super::counts::{RbCounts, RbRecord};
use super::errors::{configuration_error, guarded};
use super::event::RbEvent;
use super::gvl::without_gvl;
use super::request::RbRequest;
use super::settings::dispatcher_config;
use super::verdict::RbVerdict;
use crate::decision::{self, Occasion};
use crate::dispatcher::{
    Answer, Decided, Dispatcher, DispatcherConfig, Message, PoolConfig, Status,
};

#[magnus::wrap(
    class = "MiddleManagement::Internal::Native::Dispatcher",
    free_immediately,
    size
)]
pub struct RbDispatcher {
    dispatcher: Dispatcher,
    config: Arc<DispatcherConfig>,
}

fn duration(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::ZERO)
}

impl RbDispatcher {
    pub fn new(ruby: &Ruby, settings: RHash) -> Result<Self, Error> {
        guarded("starting the dispatcher", || {
            let config = dispatcher_config(ruby, settings)?;
            let dispatcher = Dispatcher::start(config.clone())
                .map_err(|e| configuration_error(e.to_string()))?;
            Ok(RbDispatcher {
                dispatcher,
                config: Arc::new(config),
            })
        })
    }

    /// The hot path of every hook: a count and a notify.
    pub fn wake(&self, pool: usize, due_in: Option<f64>) -> Result<bool, Error> {
        guarded("wake", || Ok(self.dispatcher.wake(pool, due_in.map(duration))))
    }

    pub fn watch(&self) -> Result<bool, Error> {
        guarded("watch", || Ok(self.dispatcher.watch()))
    }

    /// Every pool decides now and checks Heroku (the Scheduler task).
    pub fn check(&self) -> Result<bool, Error> {
        guarded("check", || Ok(self.dispatcher.check()))
    }

    /// The next Request or Event, or nil after `timeout` seconds
    /// (or an interrupt).
    pub fn next_message(ruby: &Ruby, rb_self: &Self, timeout: f64) -> Result<Option<Value>, Error> {
        guarded("next_message", || {
            let outbox = rb_self.dispatcher.outbox();
            let waiting = outbox.clone();
            match without_gvl(
                move || outbox.pop(duration(timeout)),
                move || waiting.interrupt(),
            ) {
                Some(Message::Request(request)) => Ok(Some(RbRequest(request).into_value_with(ruby))),
                Some(Message::Event(event)) => Ok(Some(RbEvent(event).into_value_with(ruby))),
                _ => Ok(None),
            }
        })
    }

    /// How far `pool`'s runnable count need go: past it, more work changes
    /// nothing its decision says (`Policy::count_cap`).
    pub fn count_cap(&self, pool: usize) -> Result<u64, Error> {
        guarded("count_cap", || Ok(self.pool(pool)?.policy.count_cap()))
    }

    fn pool(&self, pool: usize) -> Result<&PoolConfig, Error> {
        self.config
            .pools
            .get(pool)
            .ok_or_else(|| configuration_error(format!("no pool #{pool}")))
    }

    /// One pool's decision from a fresh count and the store's record. Pure
    /// and quick: made on the calling thread, under the store's lease.
    pub fn verdict(
        &self,
        pool: usize,
        counts: &RbCounts,
        record: &RbRecord,
        now_ms: u64,
        occasion: Symbol,
    ) -> Result<RbVerdict, Error> {
        guarded("verdict", || {
            let occasion = match occasion.name()?.as_ref() {
                "change" => Occasion::Change,
                "exit_alone" => Occasion::ExitAlone,
                "verify" => Occasion::Verify,
                other => return Err(configuration_error(format!("no occasion {other:?}"))),
            };
            let config = self.pool(pool)?;
            let verdict = decision::decide(config, self.config.pacing, &record.0, &counts.0, now_ms, occasion);
            Ok(RbVerdict {
                verdict,
                from: record.0.quantity,
                counts: counts.0,
                now_ms,
            })
        })
    }

    /// The verdict for `pool` is recorded in the store (`settled`), or it
    /// could not be (the lease was lost: nothing is sent).
    pub fn decided(&self, pool: usize, news: u64, verdict: &RbVerdict, settled: bool) -> Result<bool, Error> {
        guarded("decided", || Ok(self.answer_decided(pool, news, verdict, settled)))
    }

    fn answer_decided(&self, pool: usize, news: u64, verdict: &RbVerdict, settled: bool) -> bool {
        let v = &verdict.verdict;
        let window_opens_in = v
            .window_opens_at
            .filter(|&opens| opens > verdict.now_ms)
            .map(|opens| Duration::from_millis(opens - verdict.now_ms));
        let decided = Decided {
            news,
            wanted: v.wanted,
            reason: v.reason,
            // A check of what the record says: the dispatcher reads Heroku's
            // formation first, and calls only if it differs.
            from: verdict.from.filter(|_| !v.verify),
            send: v.send.filter(|_| settled),
            counts: verdict.counts,
            window_opens_in,
            look_again_in: v.look_again_in,
        };
        self.dispatcher.answer(pool, Answer::Decided(decided))
    }

    /// Another process holds the lease or has just decided; `look_in`:
    /// seconds until the app's next look, as its record says, or nil.
    pub fn held(&self, pool: usize, retry_in: f64, look_in: Option<f64>) -> Result<bool, Error> {
        guarded("held", || {
            let answer = Answer::Held {
                retry_in: duration(retry_in),
                look_in: look_in.map(duration),
            };
            Ok(self.dispatcher.answer(pool, answer))
        })
    }

    /// The decision could not be made (logged by Ruby).
    pub fn failed(&self, pool: usize) -> Result<bool, Error> {
        guarded("failed", || Ok(self.dispatcher.answer(pool, Answer::Failed)))
    }

    /// Decides and sends what is pending now, waiting up to `timeout`
    /// seconds: true once Heroku confirmed every call (and, with `looks`,
    /// no look is due within the timeout).
    pub fn flush(&self, timeout: f64, looks: bool) -> Result<bool, Error> {
        guarded("flush", || {
            let done = self.dispatcher.flush(duration(timeout), looks);
            let waiting = done.clone();
            Ok(without_gvl(
                move || done.wait(duration(timeout)),
                move || waiting.interrupt(),
            )
            .unwrap_or(false))
        })
    }

    pub fn status(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        guarded("status", || status_hash(ruby, &rb_self.dispatcher.status()))
    }

    pub fn shutdown(&self) -> Result<(), Error> {
        guarded("shutdown", || {
            self.dispatcher.shutdown();
            Ok(())
        })
    }
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
