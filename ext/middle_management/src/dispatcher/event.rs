//! What the dispatcher tells Ruby, and the queue it travels in.
//!
//! The dispatcher thread never calls Ruby: it pushes events here, and one
//! Ruby thread pops them with the GVL released. The queue is bounded so a
//! Ruby side that stopped reading costs memory only up to `CAPACITY`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::heroku::HerokuError;

const CAPACITY: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Counts are stale or unknown: the Ruby side should count `pool` and
    /// report with `Dispatcher::counted`.
    Recount { pool: usize },
    /// The policy's answer changed.
    Decided {
        pool: String,
        workers: u32,
        reason: String,
        runnable: u64,
        running: u64,
    },
    /// Heroku accepted a formation change (or, in a dry run, would have been asked).
    Scaled {
        pool: String,
        from: Option<u32>,
        to: u32,
        formation: Vec<(String, u32)>,
        outstanding: u64,
        sizing: String,
        dry_run: bool,
    },
    /// A call failed. `retry_in` is set when it will be retried by itself.
    CallFailed {
        pools: Vec<String>,
        error: HerokuError,
        retry_in: Option<Duration>,
    },
    /// Anything else worth a log line.
    Notice { level: Level, message: String },
}

impl Event {
    pub fn level(&self) -> Level {
        match self {
            Event::Recount { .. } | Event::Decided { .. } => Level::Debug,
            Event::Scaled { .. } => Level::Info,
            Event::CallFailed {
                retry_in: Some(_), ..
            } => Level::Warn,
            Event::CallFailed { .. } => Level::Error,
            Event::Notice { level, .. } => *level,
        }
    }

    /// One readable log line.
    pub fn message(&self) -> String {
        match self {
            Event::Recount { pool } => format!("counting jobs for pool #{pool}"),
            Event::Decided {
                pool,
                workers,
                reason,
                runnable,
                running,
            } => {
                format!("{pool} wants {workers} ({reason}; {runnable} runnable, {running} running)")
            }
            Event::Scaled {
                pool,
                from,
                to,
                formation,
                outstanding,
                sizing,
                dry_run,
            } => {
                let verb = if *dry_run { "would scale" } else { "scaled" };
                let change = from.map_or(format!("to {to}"), |from| format!("{from} -> {to}"));
                let mut line =
                    format!("{verb} {pool} {change} ({outstanding} outstanding, {sizing})");
                if formation.len() > 1 || formation.first().is_some_and(|(t, _)| t != pool) {
                    let types: Vec<String> =
                        formation.iter().map(|(t, q)| format!("{t}={q}")).collect();
                    line.push_str(&format!(" [{}]", types.join(" ")));
                }
                line
            }
            Event::CallFailed {
                pools,
                error,
                retry_in,
            } => {
                let next = match retry_in {
                    Some(d) => format!("retrying in {:.1}s", d.as_secs_f64()),
                    None => "not retrying until the desired count changes".into(),
                };
                format!("could not scale {}: {error}; {next}", pools.join(", "))
            }
            Event::Notice { message, .. } => message.clone(),
        }
    }
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    dropped: u64,
    interrupted: bool,
}

#[derive(Default)]
pub struct EventQueue {
    queue: Mutex<Queue>,
    ready: Condvar,
}

pub enum Popped {
    Event(Event),
    TimedOut,
    Interrupted,
}

impl EventQueue {
    pub fn push(&self, event: Event) {
        let mut q = self.queue.lock();
        if q.events.len() >= CAPACITY {
            q.events.pop_front();
            q.dropped += 1;
        }
        q.events.push_back(event);
        drop(q);
        self.ready.notify_one();
    }

    /// Waits up to `timeout` for an event. `interrupt` (from Ruby's unblocking
    /// function, on Thread#kill or exit) ends the wait early.
    pub fn pop(&self, timeout: Duration) -> Popped {
        let deadline = Instant::now() + timeout;
        let mut q = self.queue.lock();
        loop {
            if std::mem::take(&mut q.interrupted) {
                return Popped::Interrupted;
            }
            if q.dropped > 0 {
                let dropped = std::mem::take(&mut q.dropped);
                return Popped::Event(Event::Notice {
                    level: Level::Warn,
                    message: format!(
                        "{dropped} events were dropped: nothing read them for a while"
                    ),
                });
            }
            if let Some(event) = q.events.pop_front() {
                return Popped::Event(event);
            }
            if self.ready.wait_until(&mut q, deadline).timed_out() {
                return Popped::TimedOut;
            }
        }
    }

    pub fn interrupt(&self) {
        self.queue.lock().interrupted = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(n: usize) -> Event {
        Event::Notice {
            level: Level::Info,
            message: n.to_string(),
        }
    }

    #[test]
    fn events_come_out_in_order() {
        let q = EventQueue::default();
        q.push(notice(1));
        q.push(notice(2));
        assert!(matches!(q.pop(Duration::ZERO), Popped::Event(e) if e == notice(1)));
        assert!(matches!(q.pop(Duration::ZERO), Popped::Event(e) if e == notice(2)));
        assert!(matches!(q.pop(Duration::from_millis(5)), Popped::TimedOut));
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_says_so() {
        let q = EventQueue::default();
        for n in 0..CAPACITY + 3 {
            q.push(notice(n));
        }
        let Popped::Event(first) = q.pop(Duration::ZERO) else {
            panic!("no event")
        };
        assert!(first.message().contains("3 events were dropped"));
        assert!(matches!(q.pop(Duration::ZERO), Popped::Event(e) if e == notice(3)));
    }

    #[test]
    fn interrupt_wakes_a_waiting_reader() {
        let q = std::sync::Arc::new(EventQueue::default());
        let reader = {
            let q = q.clone();
            std::thread::spawn(move || {
                matches!(q.pop(Duration::from_secs(30)), Popped::Interrupted)
            })
        };
        q.interrupt();
        assert!(reader.join().unwrap());
    }

    #[test]
    fn the_scale_line_reads_like_the_readme() {
        let e = Event::Scaled {
            pool: "worker".into(),
            from: Some(3),
            to: 10,
            formation: vec![("worker".into(), 10)],
            outstanding: 106,
            sizing: "1 job per worker".into(),
            dry_run: false,
        };
        assert_eq!(
            e.message(),
            "scaled worker 3 -> 10 (106 outstanding, 1 job per worker)"
        );
    }
}
