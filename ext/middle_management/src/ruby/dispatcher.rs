//! `MiddleManagement::Internal::Native::Dispatcher`: the Ruby handle of the
//! background dispatcher. Methods that wait release the GVL, and own what
//! they wait on (it outlives the handle if Ruby frees that meanwhile); the
//! rest return at once.

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use magnus::{Error, IntoValue, RHash, Ruby, Value};
use parking_lot::Mutex;

use super::asked::Asked;
use super::bridge;
use super::errors::{configuration_error, guarded};
use super::event::RbEvent;
use super::gvl::without_gvl;
use super::settings::dispatcher_config;
use crate::decision::decide_app;
use crate::dispatcher::{Answer, Decided, Dispatcher, DispatcherConfig, Message, Status};

#[magnus::wrap(
    class = "MiddleManagement::Internal::Native::Dispatcher",
    free_immediately,
    size
)]
pub struct RbDispatcher {
    dispatcher: Dispatcher,
    config: Arc<DispatcherConfig>,
    asked: Mutex<Asked>,
}

fn duration(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::ZERO)
}

impl RbDispatcher {
    pub fn new(ruby: &Ruby, settings: Value) -> Result<Self, Error> {
        guarded("starting the dispatcher", || {
            let config = dispatcher_config(ruby, settings)?;
            let dispatcher = Dispatcher::start(config.clone())
                .map_err(|e| configuration_error(e.to_string()))?;
            Ok(RbDispatcher {
                dispatcher,
                config: Arc::new(config),
                asked: Mutex::default(),
            })
        })
    }

    /// The hot path of every hook: a count and a notify.
    pub fn wake(&self, pool: usize, due_in: Option<f64>) -> Result<bool, Error> {
        guarded("wake", || {
            Ok(self.dispatcher.wake(pool, due_in.map(duration)))
        })
    }

    pub fn watch(&self) -> Result<bool, Error> {
        guarded("watch", || Ok(self.dispatcher.watch()))
    }

    /// Posts `text` to the alerts' webhook, if one is set, from the
    /// dispatcher's thread; returns at once.
    pub fn alert(&self, text: String) -> Result<bool, Error> {
        guarded("alert", || Ok(self.dispatcher.alert(text)))
    }

    /// Every pool decides now and checks Heroku (the Scheduler task).
    pub fn check(&self) -> Result<bool, Error> {
        guarded("check", || Ok(self.dispatcher.check()))
    }

    /// The next `Bridge::Request` or Event, or nil after `timeout` seconds
    /// (or an interrupt).
    pub fn next_message(ruby: &Ruby, rb_self: &Self, timeout: f64) -> Result<Option<Value>, Error> {
        guarded("next_message", || {
            let outbox = rb_self.dispatcher.outbox();
            let waiting = outbox.clone();
            match without_gvl(
                move || outbox.pop(duration(timeout)),
                move || waiting.interrupt(),
            ) {
                Some(Message::Request(request)) => {
                    let id = rb_self.asked.lock().ask(request);
                    let gap = request
                        .why
                        .gap(rb_self.config.pacing, rb_self.config.count_interval);
                    bridge::request(ruby, id, request, gap).map(Some)
                }
                Some(Message::Event(event)) => Ok(Some(RbEvent(event).into_value_with(ruby))),
                _ => Ok(None),
            }
        })
    }

    /// Per pool, how far its runnable count need go: past it, more work
    /// changes nothing its decision says (`Policy::count_cap`).
    pub fn count_caps(&self) -> Result<Vec<u64>, Error> {
        guarded("count_caps", || {
            Ok(self
                .config
                .pools
                .iter()
                .map(|p| p.policy.count_cap())
                .collect())
        })
    }

    /// The app's decision from every pool's fresh count and the store's
    /// record (a `Bridge::Decide`), as a `Bridge::Outcome` to record. Pure
    /// and quick: made on the calling thread, under the store's lease;
    /// nothing is sent before `settle`.
    pub fn decide(ruby: &Ruby, rb_self: &Self, input: Value) -> Result<Value, Error> {
        guarded("decide", || {
            let input = bridge::decide_input(ruby, input)?;
            if input.pools.len() != rb_self.config.pools.len() {
                return Err(configuration_error(format!(
                    "{} pools counted, {} configured",
                    input.pools.len(),
                    rb_self.config.pools.len()
                )));
            }
            let mut asked = rb_self.asked.lock();
            let request = asked.request(input.request_id).ok_or_else(|| {
                configuration_error(format!("no open request #{}", input.request_id))
            })?;
            let verdict = decide_app(
                rb_self.config.pools.iter().map(|p| &p.policy),
                rb_self.config.pacing,
                input.window_opens_at,
                &input.pools,
                input.now_ms,
                request.why.occasion(input.shared_store),
            );
            let decided = verdict
                .pools
                .iter()
                .zip(&input.pools)
                .map(|(v, pool)| Decided::new(v, pool, input.now_ms))
                .collect();
            asked.decided(input.request_id, decided);
            bridge::outcome(ruby, &verdict)
        })
    }

    /// The decision for `request` is recorded in the store (`settled`), or
    /// it could not be (the lease was lost: nothing is sent).
    pub fn settle(&self, request: u64, settled: bool) -> Result<bool, Error> {
        guarded("settle", || {
            let decided = self.asked.lock().close(request).unwrap_or_default();
            Ok(decided.into_iter().enumerate().all(|(pool, mut decided)| {
                decided.send = decided.send.filter(|_| settled);
                self.dispatcher.answer(pool, Answer::Decided(decided))
            }))
        })
    }

    /// Another process holds the lease or has just decided; `look_in`:
    /// seconds until the app's next look, as its record says, or nil.
    pub fn held(&self, request: u64, retry_in: f64, look_in: Option<f64>) -> Result<bool, Error> {
        guarded("held", || {
            self.asked.lock().close(request);
            let answer = Answer::Held {
                retry_in: duration(retry_in),
                look_in: look_in.map(duration),
            };
            Ok(self.answer_all(answer))
        })
    }

    /// The decision could not be made (logged by Ruby).
    pub fn failed(&self, request: u64) -> Result<bool, Error> {
        guarded("failed", || {
            self.asked.lock().close(request);
            Ok(self.answer_all(Answer::Failed))
        })
    }

    fn answer_all(&self, answer: Answer) -> bool {
        (0..self.config.pools.len()).all(|pool| self.dispatcher.answer(pool, answer.clone()))
    }

    /// Decides and sends what is pending now, waiting up to `timeout`
    /// seconds: true once Heroku confirmed every call (and, with `looks`,
    /// no look is due within the timeout).
    ///
    /// An interrupt already pending when the wait would start (a thread
    /// switch's, with other Ruby threads about) keeps it from starting:
    /// Ruby handles it, raising here if it was a signal's, and the wait
    /// goes on for what is left of the timeout. A flush that returned at
    /// once would read as "Heroku did not confirm".
    pub fn flush(ruby: &Ruby, rb_self: &Self, timeout: f64, looks: bool) -> Result<bool, Error> {
        let done = guarded("flush", || {
            Ok(rb_self.dispatcher.flush(duration(timeout), looks))
        })?;
        let deadline = Instant::now() + duration(timeout);
        loop {
            let (signal, waiting) = (done.clone(), done.clone());
            let left = deadline.saturating_duration_since(Instant::now());
            match without_gvl(move || signal.wait(left), move || waiting.interrupt()) {
                Some(delivered) => return Ok(delivered),
                None => ruby.thread_check_ints()?,
            }
        }
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
        set("unconfirmed", pool.unconfirmed.into_value_with(ruby))?;
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
