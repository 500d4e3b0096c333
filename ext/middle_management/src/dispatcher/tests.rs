//! The dispatcher loop on tokio's paused clock. Real sockets cannot run on a
//! paused clock (every timeout would fire at once), so these tests stand a
//! scripted `FormationApi` in for Heroku; tests/dispatcher.rs runs the same
//! loop against the real HTTP fake.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::sync::Notify;
use tokio::time::{sleep, Instant};

use super::api::{Formation, FormationApi};
use super::config::PoolConfig;
use super::engine::{Engine, Input};
use super::event::{Event, EventQueue, Popped};
use super::pool::{Count, Delta, PoolState};
use super::signal::Signal;
use super::status::Status;
use crate::heroku::{HerokuError, Reply};
use crate::pacing::PacingConfig;
use crate::policy::{Policy, Sizing};

const SEC: Duration = Duration::from_secs(1);

#[derive(Clone, Default)]
struct Scripted {
    formation: Arc<Mutex<BTreeMap<String, u32>>>,
    calls: Arc<Mutex<Vec<(Instant, Formation)>>>,
    failures: Arc<Mutex<VecDeque<HerokuError>>>,
}

impl FormationApi for Scripted {
    async fn apply(&self, updates: Formation) -> Result<Reply<Formation>, HerokuError> {
        self.calls.lock().push((Instant::now(), updates.clone()));
        if let Some(error) = self.failures.lock().pop_front() {
            return Err(error);
        }
        let mut formation = self.formation.lock();
        for (t, q) in &updates {
            formation.insert(t.clone(), *q);
        }
        Ok(Reply {
            value: updates,
            rate_limit_remaining: Some(4000),
        })
    }

    async fn list(&self) -> Result<Reply<Formation>, HerokuError> {
        let value = self
            .formation
            .lock()
            .iter()
            .map(|(t, q)| (t.clone(), *q))
            .collect();
        Ok(Reply {
            value,
            rate_limit_remaining: Some(4000),
        })
    }
}

fn api_error(status: u16, id: &str) -> HerokuError {
    HerokuError::Api {
        status,
        id: id.into(),
        message: format!("{id} from the script"),
        rate_limit_remaining: None,
    }
}

fn pool(name: &str, max: u32) -> PoolConfig {
    PoolConfig {
        name: name.into(),
        formation_types: vec![name.into()],
        eco: false,
        policy: Policy::new(0, max, Sizing::JobsPerWorker(1), 1, 30 * SEC).unwrap(),
    }
}

struct Harness {
    origin: Instant,
    inputs: UnboundedSender<Input>,
    urgent: Arc<Notify>,
    events: Arc<EventQueue>,
    status: Arc<Mutex<Status>>,
    api: Scripted,
    seq: u64,
}

impl Harness {
    fn start(pools: Vec<PoolConfig>, api_throttle: Duration) -> Harness {
        let api = Scripted::default();
        let pacing = PacingConfig {
            api_throttle,
            scale_down_delay: Duration::ZERO,
        };
        let states = pools
            .into_iter()
            .map(|p| PoolState::new(p, pacing, 60 * SEC))
            .collect();
        let events = Arc::new(EventQueue::default());
        let status = Arc::new(Mutex::new(Status::default()));
        let (inputs, receiver) = unbounded_channel();
        let origin = Instant::now();
        let engine = Engine::new(
            api.clone(),
            states,
            api_throttle,
            events.clone(),
            status.clone(),
            false,
            origin,
        );
        let urgent = Arc::new(Notify::new());
        tokio::spawn(engine.run(receiver, urgent.clone()));
        Harness {
            origin,
            inputs,
            urgent,
            events,
            status,
            api,
            seq: 0,
        }
    }

    /// Lets the loop run until it waits (the paused clock moves 1 ms).
    async fn settle(&self) {
        sleep(Duration::from_millis(1)).await;
    }

    /// Answers the dispatcher's first request to count with `runnable` jobs.
    async fn count(&mut self, pool: usize, runnable: u64) {
        self.settle().await;
        let count = Count {
            marker: self.seq,
            runnable,
            running: 0,
            next_run_in: None,
        };
        self.inputs
            .send(Input::Counted { pool, count })
            .ok()
            .unwrap();
        self.settle().await;
    }

    fn adjust(&mut self, pool: usize, runnable: i64) {
        self.seq += 1;
        let delta = Delta {
            seq: self.seq,
            runnable,
            running: 0,
            due_in: None,
            at: self.origin.elapsed(),
        };
        self.inputs
            .send(Input::Adjust { pool, delta })
            .ok()
            .unwrap();
    }

    fn calls(&self) -> Vec<Formation> {
        self.api
            .calls
            .lock()
            .iter()
            .map(|(_, f)| f.clone())
            .collect()
    }

    fn events(&self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Popped::Event(e) = self.events.pop(Duration::ZERO) {
            events.push(e);
        }
        events
    }
}

fn set(t: &str, q: u32) -> Formation {
    vec![(t.to_string(), q)]
}

#[tokio::test(start_paused = true)]
async fn asks_for_a_count_first_then_scales_at_once() {
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC);
    h.adjust(0, 1);
    h.settle().await;
    assert!(h.events().contains(&Event::Recount { pool: 0 }));
    assert!(h.calls().is_empty(), "nothing is decided before the count");
    h.count(0, 3).await;
    assert_eq!(h.calls(), vec![set("worker", 3)]);
    assert_eq!(h.status.lock().pools[0].known, Some(3));
}

#[tokio::test(start_paused = true)]
async fn a_burst_inside_the_window_goes_out_once_with_the_latest_value() {
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC);
    h.adjust(0, 1);
    h.count(0, 1).await;
    for _ in 0..500 {
        h.adjust(0, 1);
    }
    h.settle().await;
    assert_eq!(h.calls(), vec![set("worker", 1)], "the window is closed");
    sleep(10 * SEC).await;
    assert_eq!(
        h.calls().len(),
        1,
        "reports that waited are confirmed by a count first"
    );
    h.count(0, 501).await;
    assert_eq!(h.calls(), vec![set("worker", 1), set("worker", 10)]);
    let times: Vec<Instant> = h.api.calls.lock().iter().map(|(t, _)| *t).collect();
    assert!(times[1] - times[0] >= 10 * SEC);
    sleep(60 * SEC).await;
    assert_eq!(h.calls().len(), 2, "nothing changed, nothing sent");
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_growing_delays_and_the_latest_value() {
    let mut h = Harness::start(vec![pool("worker", 10)], Duration::ZERO);
    h.api
        .failures
        .lock()
        .extend([api_error(503, ""), api_error(503, ""), api_error(503, "")]);
    h.adjust(0, 1);
    h.count(0, 2).await;
    h.adjust(0, 3); // changes while failing: the retry carries 5
    sleep(30 * SEC).await;
    let calls = h.api.calls.lock().clone();
    assert_eq!(calls.len(), 4, "three failures and a success");
    assert_eq!(calls.last().unwrap().1, set("worker", 5));
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps[0] >= SEC / 2 && gaps[1] >= SEC && gaps[2] >= 2 * SEC,
        "backoff grows: {gaps:?}"
    );
    assert_eq!(*h.api.formation.lock().get("worker").unwrap(), 5);
    let failed = h
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::CallFailed {
                    retry_in: Some(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(failed, 3);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_is_reported_and_not_repeated_until_the_wish_changes() {
    let mut h = Harness::start(vec![pool("worker", 10)], Duration::ZERO);
    h.api
        .failures
        .lock()
        .push_back(api_error(401, "unauthorized"));
    h.adjust(0, 1);
    h.count(0, 2).await;
    sleep(300 * SEC).await;
    assert_eq!(h.calls().len(), 1, "no hammering on 401");
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::CallFailed { retry_in: None, error, .. } if error.status() == Some(401))));
    h.adjust(0, 1);
    h.settle().await;
    assert_eq!(h.calls(), vec![set("worker", 2), set("worker", 3)]);
}

#[tokio::test(start_paused = true)]
async fn flush_sends_now_whatever_the_throttle() {
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC);
    h.adjust(0, 1);
    h.count(0, 1).await;
    h.adjust(0, 4);
    let done = Arc::new(Signal::default());
    h.inputs.send(Input::Flush(done.clone())).ok().unwrap();
    h.urgent.notify_one();
    h.settle().await;
    assert!(done.wait(Duration::ZERO), "flushed");
    assert_eq!(h.calls(), vec![set("worker", 1), set("worker", 5)]);
}

#[tokio::test(start_paused = true)]
async fn pools_changing_in_one_window_travel_in_one_batch() {
    let mut h = Harness::start(vec![pool("worker", 10), pool("urgent_worker", 5)], 10 * SEC);
    h.api
        .formation
        .lock()
        .extend([("worker".into(), 0), ("urgent_worker".into(), 0)]);
    h.adjust(0, 1);
    h.adjust(1, 1);
    h.settle().await;
    h.count(0, 2).await;
    h.count(1, 0).await; // urgent first learns Heroku's formation: nothing to send
    assert_eq!(h.calls(), vec![set("worker", 2)]);
    h.adjust(0, 1);
    h.adjust(1, 1);
    sleep(6 * SEC).await;
    assert_eq!(h.calls().len(), 1, "the window is closed");
    // Reports that waited for the window are confirmed by a count first.
    let marker = h.seq;
    for (pool, runnable) in [(0, 3), (1, 1)] {
        let count = Count {
            marker,
            runnable,
            running: 0,
            next_run_in: None,
        };
        h.inputs.send(Input::Counted { pool, count }).ok().unwrap();
    }
    sleep(4 * SEC).await;
    h.settle().await;
    let calls = h.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[1],
        vec![("worker".into(), 3), ("urgent_worker".into(), 1)]
    );
}

#[tokio::test(start_paused = true)]
async fn one_pool_refused_does_not_hold_back_the_other() {
    let mut eco = pool("worker", 4);
    eco.eco = true;
    eco.formation_types = (1..=2).map(|i| format!("worker{i}")).collect();
    let mut h = Harness::start(vec![eco, pool("urgent_worker", 5)], Duration::ZERO);
    h.api
        .failures
        .lock()
        .push_back(api_error(422, "cannot_update_above_limit"));
    h.api
        .failures
        .lock()
        .push_back(api_error(422, "cannot_update_above_limit"));
    h.adjust(0, 1);
    h.adjust(1, 1);
    h.settle().await;
    let marker = h.seq;
    for pool in 0..2 {
        let count = Count {
            marker,
            runnable: 2,
            running: 0,
            next_run_in: None,
        };
        h.inputs.send(Input::Counted { pool, count }).ok().unwrap();
    }
    h.settle().await;
    let calls = h.calls();
    assert_eq!(
        calls[0].len(),
        3,
        "one batch: worker1, worker2, urgent_worker"
    );
    assert_eq!(calls.last().unwrap(), &set("urgent_worker", 2));
    assert_eq!(*h.api.formation.lock().get("urgent_worker").unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_scale_down_waits_for_a_fresh_count() {
    let mut h = Harness::start(vec![pool("worker", 10)], Duration::ZERO);
    h.adjust(0, 1);
    h.count(0, 3).await;
    h.events();
    sleep(5 * SEC).await;
    h.adjust(0, -1); // another process may have enqueued meanwhile: count first
    h.settle().await;
    assert_eq!(h.calls(), vec![set("worker", 3)]);
    assert!(h.events().contains(&Event::Recount { pool: 0 }));
    h.count(0, 4).await; // it had
    assert_eq!(h.calls(), vec![set("worker", 3), set("worker", 4)]);
}

#[test]
fn reports_made_while_counting_are_added_once() {
    let mut state = PoolState::new(pool("worker", 10), PacingConfig::default(), 60 * SEC);
    assert!(state.wants_recount(Duration::ZERO, true));
    for seq in 1..=3 {
        state.adjust(
            Duration::ZERO,
            Delta {
                seq,
                runnable: 1,
                running: 0,
                due_in: None,
                at: Duration::ZERO,
            },
        );
    }
    // The count saw the first two (the marker is read after counting).
    state.counted(
        SEC,
        Count {
            marker: 2,
            runnable: 2,
            running: 0,
            next_run_in: None,
        },
    );
    assert_eq!(state.counts(), (3, 0, None));
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_call_waits_for_the_bucket_to_refill() {
    let mut h = Harness::start(vec![pool("worker", 10)], Duration::ZERO);
    h.api.failures.lock().push_back(HerokuError::Api {
        status: 429,
        id: "rate_limit".into(),
        message: "Your account reached the API rate limit".into(),
        rate_limit_remaining: Some(0),
    });
    h.adjust(0, 1);
    h.count(0, 2).await;
    sleep(59 * SEC).await;
    assert_eq!(h.calls().len(), 1, "no retry before the bucket refills");
    sleep(2 * SEC).await;
    h.count(0, 2).await; // a wish that waited is confirmed by a count first
    assert_eq!(h.calls(), vec![set("worker", 2), set("worker", 2)]);
}
