//! The background dispatcher: one native OS thread per process running a
//! single-threaded tokio runtime that owns every Heroku call.
//!
//! Threading model:
//! - Hooks on the app's threads call [`Dispatcher::adjust`]: an unbounded
//!   channel send, which never blocks and never fails the caller.
//! - The dispatcher thread never calls Ruby. What Ruby must hear (decisions,
//!   calls, errors, requests to count) goes into an [`EventQueue`] that one
//!   Ruby thread drains with the GVL released.
//! - After `fork` the child owns nothing of the parent's thread: the handle
//!   notices the pid change ([`Dispatcher::forked`]), and dropping it in the
//!   child leaks the parent's runtime rather than touching its locks.

mod api;
pub mod config;
mod engine;
pub mod event;
pub mod pool;
mod signal;
pub mod status;
#[cfg(test)]
mod tests;

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::sync::Notify;

pub use api::{DryRun, FormationApi};
pub use config::{DispatcherConfig, PoolConfig, Target};
use engine::{Engine, Input};
pub use event::{Event, EventQueue, Level, Popped};
use pool::{Count, Delta, PoolState};
pub use signal::Signal;
pub use status::{PoolStatus, Status};

use crate::heroku::{Client, ClientConfig, HerokuError};

struct Shared {
    inputs: UnboundedSender<Input>,
    /// Wakes the thread inside a throttle window, for flush and shutdown.
    urgent: Arc<Notify>,
    events: Arc<EventQueue>,
    status: Arc<Mutex<Status>>,
}

pub struct Dispatcher {
    shared: ManuallyDrop<Shared>,
    /// Orders hook reports against counts (see [`pool::Count::marker`]).
    seq: AtomicU64,
    pools: usize,
    owner_pid: u32,
    /// The dispatcher's clock, so hook reports carry when they were made.
    origin: tokio::time::Instant,
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
                let client = Client::new(
                    ClientConfig::new(app.clone(), credentials.clone())
                        .with_base_url(base_url.clone())
                        .with_timeouts(config.connect_timeout, config.request_timeout),
                )?;
                Ok(Self::start_with(config, client))
            }
        }
    }

    pub fn start_with<A: FormationApi>(config: DispatcherConfig, api: A) -> Dispatcher {
        let (inputs, receiver) = unbounded_channel();
        let events = Arc::new(EventQueue::default());
        let status = Arc::new(Mutex::new(Status::default()));
        let dry_run = matches!(config.target, Target::DryRun);
        let pools: Vec<PoolState> = config
            .pools
            .iter()
            .map(|p| PoolState::new(p.clone(), config.pacing, config.count_interval))
            .collect();
        let count = pools.len();
        let origin = tokio::time::Instant::now();
        let urgent = Arc::new(Notify::new());
        let engine_urgent = urgent.clone();
        let engine = Engine::new(
            api,
            pools,
            config.pacing.api_throttle,
            events.clone(),
            status.clone(),
            dry_run,
            origin,
        );
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
                inputs,
                urgent,
                events,
                status,
            }),
            seq: AtomicU64::new(0),
            pools: count,
            owner_pid: std::process::id(),
            origin,
        }
    }

    /// True in a forked child: this handle belongs to the parent's thread.
    pub fn forked(&self) -> bool {
        std::process::id() != self.owner_pid
    }

    pub fn pools(&self) -> usize {
        self.pools
    }

    /// A hook saw jobs change. `due_in`: a job that becomes runnable later.
    /// Never blocks; false when the pool does not exist or the thread is gone.
    pub fn adjust(
        &self,
        pool: usize,
        runnable: i64,
        running: i64,
        due_in: Option<Duration>,
    ) -> bool {
        if pool >= self.pools {
            return false;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let delta = Delta {
            seq,
            runnable,
            running,
            due_in,
            at: self.origin.elapsed(),
        };
        self.shared
            .inputs
            .send(Input::Adjust { pool, delta })
            .is_ok()
    }

    /// Read right after counting and pass back with the count: hook reports
    /// up to it are taken as included in the count, later ones are added on
    /// top. (Read before counting instead, every job enqueued while the
    /// counting thread waited for the GVL would be counted twice.)
    pub fn count_marker(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    pub fn counted(
        &self,
        pool: usize,
        marker: u64,
        runnable: u64,
        running: u64,
        next_run_in: Option<Duration>,
    ) -> bool {
        let count = Count {
            marker,
            runnable,
            running,
            next_run_in,
        };
        pool < self.pools
            && self
                .shared
                .inputs
                .send(Input::Counted { pool, count })
                .is_ok()
    }

    /// Asks for everything pending to be sent now, throttle or not, and
    /// returns a signal that is set when nothing is left to send. Blocking on
    /// it is the caller's business (Ruby releases the GVL to do so).
    pub fn flush(&self) -> Arc<Signal> {
        let done = Arc::new(Signal::default());
        if self.shared.inputs.send(Input::Flush(done.clone())).is_err() {
            done.interrupt();
        }
        self.shared.urgent.notify_one();
        done
    }

    pub fn events(&self) -> &EventQueue {
        &self.shared.events
    }

    pub fn status(&self) -> Status {
        self.shared.status.lock().clone()
    }

    /// Stops the thread after its current call; pending decisions are dropped
    /// (flush first to deliver them).
    pub fn shutdown(&self) {
        let _ = self.shared.inputs.send(Input::Shutdown);
        self.shared.urgent.notify_one();
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
