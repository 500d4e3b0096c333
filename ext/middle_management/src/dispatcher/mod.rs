//! The background dispatcher: one native OS thread per process running a
//! single-threaded tokio runtime that owns every Heroku call. Hooks on the
//! app's threads only [`Dispatcher::wake`] it (a counter and a notify,
//! `Wakes`). It never calls Ruby: it asks for decisions (a [`Request`])
//! and tells what happened (an [`Event`]) through the [`Outbox`], which the
//! gem's coordinator thread reads with the GVL released, and hears the
//! answers through [`Dispatcher::answer`]. After `fork` the child owns
//! nothing of the parent's thread: dropping the parent's handle in the
//! child leaks the parent's runtime rather than touching its locks.
//!
//! The threading model as a whole, and one enqueue's path through here to
//! the formation call: `ARCHITECTURE.md` at the repository's root.

mod api;
pub mod config;
mod engine;
pub mod event;
pub mod outbox;
pub mod pool;
pub mod request;
mod signal;
pub mod status;
#[cfg(test)]
mod tests;
mod wakes;

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::sync::Notify;

pub use api::{DryRun, FormationApi};
pub use config::{DispatcherConfig, PoolConfig, Target};
use engine::{Engine, Input};
pub use event::{Event, Level};
pub use outbox::{Message, Outbox};
use pool::Pool;
pub use request::{Answer, Decided, Request, Why};
pub use signal::Signal;
pub use status::{PoolStatus, Status};
use wakes::Wakes;

use crate::heroku::{Client, ClientConfig, HerokuError};
use crate::webhook::Webhook;

struct Shared {
    wakes: Arc<Wakes>,
    inputs: UnboundedSender<Input>,
    /// Wakes the loop while it leaves wake-ups unread (watch, flush, shutdown).
    urgent: Arc<Notify>,
    outbox: Arc<Outbox>,
    status: Arc<Mutex<Status>>,
}

pub struct Dispatcher {
    shared: ManuallyDrop<Shared>,
    pools: usize,
    owner_pid: u32,
}

impl Dispatcher {
    /// Starts the thread for `config`'s target: the Heroku client, or a dry run.
    pub fn start(config: DispatcherConfig) -> Result<Dispatcher, HerokuError> {
        match &config.target {
            Target::DryRun => Ok(Self::start_with(config, DryRun)),
            Target::Heroku {
                base_url,
                app,
                credentials,
            } => {
                let client = Client::new(ClientConfig {
                    base_url: base_url.clone(),
                    app: app.clone(),
                    credentials: credentials.clone(),
                    connect_timeout: config.connect_timeout,
                    request_timeout: config.request_timeout,
                })?;
                Ok(Self::start_with(config, client))
            }
        }
    }

    pub fn start_with<A: FormationApi>(config: DispatcherConfig, api: A) -> Dispatcher {
        debug_assert!(
            config.is_valid(),
            "pools checked by Ruby's settings: {:?}",
            config.pools
        );
        let (inputs, receiver) = unbounded_channel();
        let outbox = Arc::new(Outbox::default());
        let status = Arc::new(Mutex::new(Status::default()));
        let dry_run = matches!(config.target, Target::DryRun);
        let pools: Vec<Pool> = config.pools.iter().cloned().map(Pool::new).collect();
        let count = pools.len();
        let urgent = Arc::new(Notify::new());
        let engine_urgent = urgent.clone();
        let origin = tokio::time::Instant::now();
        let wakes = Arc::new(Wakes::new(count, origin));
        let webhook = config
            .alert_webhook
            .as_deref()
            .map(|url| Webhook::new(url, config.connect_timeout, config.request_timeout));
        let webhook = match webhook {
            Some(Err(problem)) => {
                outbox.event(Event::Notice {
                    level: Level::Error,
                    message: format!("alerts will not be posted to the webhook: {problem}"),
                });
                None
            }
            Some(Ok(webhook)) => Some(Arc::new(webhook)),
            None => None,
        };
        let engine = Engine::new(
            api,
            pools,
            config.count_interval,
            wakes.clone(),
            outbox.clone(),
            status.clone(),
            dry_run,
            origin,
        )
        .with_webhook(webhook);
        std::thread::Builder::new()
            .name("middle_management".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the dispatcher");
                runtime.block_on(engine.run(receiver, engine_urgent));
            })
            .expect("spawning the dispatcher thread");
        Dispatcher {
            shared: ManuallyDrop::new(Shared {
                wakes,
                inputs,
                urgent,
                outbox,
                status,
            }),
            pools: count,
            owner_pid: std::process::id(),
        }
    }

    /// True in a forked child: this handle belongs to the parent's thread.
    fn forked(&self) -> bool {
        std::process::id() != self.owner_pid
    }

    pub fn pools(&self) -> usize {
        self.pools
    }

    /// A hook saw a job change in `pool`; `due_in`: it was scheduled that far
    /// ahead. Never blocks; false when the pool does not exist or the thread
    /// is gone.
    pub fn wake(&self, pool: usize, due_in: Option<Duration>) -> bool {
        self.shared.wakes.wake(pool, due_in)
    }

    /// Every pool decides now and checks that Heroku has what the app's
    /// record says (`rake middle_management:scale`); flush to wait for it.
    pub fn check(&self) -> bool {
        self.urgent(Input::Check)
    }

    /// This process is long-running (a web server, a worker): it decides now
    /// and looks at the queue every `count_interval`, so work scheduled by
    /// a process that has gone is still served.
    pub fn watch(&self) -> bool {
        self.urgent(Input::Watch)
    }

    /// Posts `text` to the alerts' webhook, if one is set, on the
    /// dispatcher's thread: never waits for it. Ruby decided that it is due.
    pub fn alert(&self, text: String) -> bool {
        self.urgent(Input::Alert { text })
    }

    /// Ruby's answer to a [`Request`] for `pool`.
    pub fn answer(&self, pool: usize, answer: Answer) -> bool {
        pool < self.pools && self.send(Input::Answer { pool, answer })
    }

    fn send(&self, input: Input) -> bool {
        self.shared.inputs.send(input).is_ok()
    }

    fn urgent(&self, input: Input) -> bool {
        let sent = self.send(input);
        self.shared.urgent.notify_one();
        sent
    }

    /// Asks every pool with news to decide now and the calls decisions left
    /// to be made; the signal is set once every pool has settled (its calls
    /// confirmed; with `looks`, no look due within `timeout` either), and
    /// interrupted when the timeout passes. Blocking on it is the caller's
    /// business (Ruby releases the GVL to do so).
    pub fn flush(&self, timeout: Duration, looks: bool) -> Arc<Signal> {
        let done = Arc::new(Signal::default());
        let flush = Input::Flush {
            done: done.clone(),
            timeout,
            looks,
        };
        if !self.urgent(flush) {
            done.interrupt();
        }
        done
    }

    /// Shared, so that a waiter owns what it waits on.
    pub fn outbox(&self) -> Arc<Outbox> {
        self.shared.outbox.clone()
    }

    pub fn status(&self) -> Status {
        self.shared.status.lock().clone()
    }

    /// Stops the thread after its current call; pending decisions are dropped
    /// (flush first to deliver them).
    pub fn shutdown(&self) {
        self.urgent(Input::Shutdown);
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        if self.forked() {
            return; // the parent's runtime and locks are not ours to touch
        }
        self.shutdown();
        // SAFETY: dropped exactly once, here, in the process that created it.
        unsafe { ManuallyDrop::drop(&mut self.shared) };
    }
}
