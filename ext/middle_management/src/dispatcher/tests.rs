//! The dispatcher loop on tokio's paused clock, with this test playing the
//! gem's Ruby thread: it answers each request as Ruby does (a count, the
//! real `decision::decide` over an in-memory record, the answer). Real
//! sockets cannot run on a paused clock (every timeout would fire at once),
//! so a scripted `FormationApi` stands in for Heroku; tests/dispatcher.rs
//! runs the loop against the real HTTP fake.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::sync::Notify;
use tokio::time::{sleep, Instant};

use super::api::{FormationApi, Quantities};
use super::config::PoolConfig;
use super::engine::{Engine, Input};
use super::event::Event;
use super::outbox::{Message, Outbox};
use super::pool::Pool;
use super::request::{Answer, Decided, Request, Why};
use super::signal::Signal;
use super::status::Status;
use super::wakes::Wakes;
use crate::decision::{decide_app, Counts, PoolInput};
use crate::heroku::{HerokuError, Reply};
use crate::pacing::PacingConfig;
use crate::policy::{Policy, Sizing};

const SEC: Duration = Duration::from_secs(1);
const EPOCH_MS: u64 = 1_764_000_000_000;

#[derive(Clone, Default)]
struct Scripted {
    formation: Arc<Mutex<BTreeMap<String, u32>>>,
    calls: Arc<Mutex<Vec<(Instant, Quantities)>>>,
    lists: Arc<Mutex<u32>>,
    failures: Arc<Mutex<VecDeque<HerokuError>>>,
    /// How long Heroku takes to answer a formation call.
    delay: Arc<Mutex<Duration>>,
}

impl FormationApi for Scripted {
    async fn apply(&self, updates: Quantities) -> Result<Reply<Quantities>, HerokuError> {
        self.calls.lock().push((Instant::now(), updates.clone()));
        let delay = *self.delay.lock();
        sleep(delay).await;
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

    async fn list(&self) -> Result<Reply<Quantities>, HerokuError> {
        *self.lists.lock() += 1;
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
        policy: Policy::new(0, max, Sizing::JobsPerWorker(1), 1, 30 * SEC),
    }
}

/// The dispatcher, with this test as its Ruby side and its app's store.
struct Harness {
    origin: Instant,
    wakes: Arc<Wakes>,
    inputs: UnboundedSender<Input>,
    urgent: Arc<Notify>,
    outbox: Arc<Outbox>,
    api: Scripted,
    pools: Vec<PoolConfig>,
    pacing: PacingConfig,
    /// The app's store: one record per pool and the app's window.
    records: Vec<PoolInput>,
    window_opens_at: Option<u64>,
    /// The queue, per pool: runnable jobs.
    jobs: Vec<u64>,
    /// When each request was answered (to the tenth of a second), and why.
    requests: Vec<(u64, Why)>,
    events: Vec<Event>,
    /// What the dispatcher publishes for `MiddleManagement.status`.
    status: Arc<Mutex<Status>>,
    /// Another process holds the lease until then (time from the start):
    /// requests meanwhile are answered "held", or "left" when exiting.
    held_until: Option<Duration>,
    /// The app's next look, as the record says it (for held answers).
    look_in: Option<Duration>,
}

impl Harness {
    fn start(pools: Vec<PoolConfig>, api_throttle: Duration, count_interval: Duration) -> Harness {
        let api = Scripted::default();
        for p in &pools {
            api.formation.lock().insert(p.name.clone(), 0);
        }
        let outbox = Arc::new(Outbox::default());
        let (inputs, receiver) = unbounded_channel();
        let origin = Instant::now();
        let states = pools.iter().cloned().map(Pool::new).collect();
        let wakes = Arc::new(Wakes::new(pools.len(), origin));
        let status = Arc::new(Mutex::new(Status::default()));
        let engine = Engine::new(
            api.clone(),
            states,
            count_interval,
            wakes.clone(),
            outbox.clone(),
            status.clone(),
            false,
            origin,
        );
        let urgent = Arc::new(Notify::new());
        tokio::spawn(engine.run(receiver, urgent.clone()));
        let count = pools.len();
        Harness {
            origin,
            wakes,
            inputs,
            urgent,
            outbox,
            api,
            pools,
            pacing: PacingConfig {
                api_throttle,
                scale_down_delay: Duration::ZERO,
                change_budget: None,
            },
            records: vec![PoolInput::default(); count],
            window_opens_at: None,
            jobs: vec![0; count],
            requests: Vec::new(),
            events: Vec::new(),
            status,
            held_until: None,
            look_in: None,
        }
    }

    fn now_ms(&self) -> u64 {
        EPOCH_MS + self.origin.elapsed().as_millis() as u64
    }

    fn wake(&self, pool: usize) {
        assert!(self.wakes.wake(pool, None));
    }

    /// Runs for `duration` of the paused clock, answering every request
    /// as the gem's Ruby thread would.
    async fn run_for(&mut self, duration: Duration) {
        let until = Instant::now() + duration;
        loop {
            sleep(Duration::from_millis(1)).await;
            loop {
                match self.outbox.pop(Duration::ZERO) {
                    Message::Request(request) => self.answer(request),
                    Message::Event(event) => self.event(event),
                    Message::TimedOut | Message::Interrupted => break,
                }
            }
            if Instant::now() >= until {
                return;
            }
        }
    }

    /// As the Ruby side does: the record holds what Heroku confirmed.
    fn event(&mut self, event: Event) {
        if let Some((name, quantity)) = event.confirmed() {
            let i = self.pools.iter().position(|p| p.name == name).unwrap();
            self.records[i].quantity = Some(quantity);
        }
        self.events.push(event);
    }

    fn answer(&mut self, request: Request) {
        let tenths = (self.origin.elapsed().as_millis() as u64 + 50) / 100;
        self.requests.push((tenths, request.why));
        if let Some(until) = self
            .held_until
            .filter(|&until| until > self.origin.elapsed())
        {
            // As the store answers: a held lease is tried again shortly.
            let retry_in = (until - self.origin.elapsed()).min(Duration::from_millis(200));
            for i in 0..self.pools.len() {
                self.send(
                    i,
                    Answer::Held {
                        retry_in,
                        look_in: self.look_in,
                    },
                );
            }
            return;
        }
        let now = self.now_ms();
        for (record, &runnable) in self.records.iter_mut().zip(&self.jobs) {
            record.counts = Counts {
                runnable,
                ..Counts::default()
            };
        }
        let policies = self.pools.iter().map(|p| &p.policy);
        let occasion = request.why.occasion(true);
        let verdict = decide_app(
            policies,
            self.pacing,
            self.window_opens_at,
            &self.records,
            now,
            occasion,
        );
        self.window_opens_at = verdict.window_opens_at;
        for (i, v) in verdict.pools.iter().enumerate() {
            let decided = Decided::new(v, &self.records[i], now);
            self.records[i].memory = v.memory.clone();
            self.send(i, Answer::Decided(decided));
        }
    }

    fn send(&self, pool: usize, answer: Answer) {
        self.inputs
            .send(Input::Answer { pool, answer })
            .ok()
            .unwrap();
    }

    /// The formation calls made, with when (seconds from the start).
    fn calls(&self) -> Vec<(u64, Quantities)> {
        let calls = self.api.calls.lock();
        calls
            .iter()
            .map(|(at, f)| ((*at - self.origin).as_secs(), f.clone()))
            .collect()
    }

    async fn flush(&mut self) -> bool {
        self.flush_within(SEC).await
    }

    async fn flush_within(&mut self, timeout: Duration) -> bool {
        self.flush_with(timeout, false).await
    }

    /// `looks`: wait for the looks due within `timeout` too.
    async fn flush_with(&mut self, timeout: Duration, looks: bool) -> bool {
        let done = Arc::new(Signal::default());
        let flush = Input::Flush {
            done: done.clone(),
            timeout,
            looks,
        };
        self.inputs.send(flush).ok().unwrap();
        self.urgent.notify_one();
        for _ in 0..timeout.as_millis() / 10 {
            self.run_for(Duration::from_millis(10)).await;
            if done.wait(Duration::ZERO) {
                return true;
            }
        }
        false
    }
}

fn set(t: &str, q: u32) -> Quantities {
    vec![(t.to_string(), q)]
}

#[tokio::test(start_paused = true)]
async fn a_wake_asks_for_a_decision_at_once_and_makes_its_call() {
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC, Duration::ZERO);
    h.jobs[0] = 3;
    h.wake(0);
    h.run_for(SEC).await;
    assert_eq!(h.requests, vec![(0, Why::News)]);
    assert_eq!(h.calls(), vec![(0, set("worker", 3))]);
    assert_eq!(
        *h.api.lists.lock(),
        1,
        "Heroku's formation was read: the record did not know it"
    );
    assert!(h
        .events
        .iter()
        .any(|e| e.message() == "scaled worker 0 -> 3 (3 outstanding, 1 job per worker)"));
}

#[tokio::test(start_paused = true)]
async fn a_burst_inside_the_window_costs_one_decision_now_and_one_when_it_opens() {
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC, Duration::ZERO);
    h.jobs[0] = 1;
    h.wake(0);
    h.run_for(SEC).await;
    for _ in 0..10_000 {
        h.jobs[0] += 1;
        h.wake(0);
    }
    h.run_for(15 * SEC).await;
    assert_eq!(
        h.calls(),
        vec![(0, set("worker", 1)), (10, set("worker", 10))]
    );
    let at: Vec<(u64, Why)> = h.requests.iter().map(|(at, why)| (at / 10, *why)).collect();
    // Not a decision per wake: news cannot lead to a call before the app's
    // window opens, and is decided when it does, from a fresh count.
    assert_eq!(at, vec![(0, Why::News), (10, Why::News)]);
}

#[tokio::test(start_paused = true)]
async fn a_held_lease_is_tried_again_until_it_frees() {
    let mut h = Harness::start(vec![pool("worker", 10)], Duration::ZERO, Duration::ZERO);
    h.jobs[0] = 2;
    h.held_until = Some(SEC / 2);
    h.wake(0);
    h.run_for(2 * SEC).await;
    let at: Vec<u64> = h.requests.iter().map(|(at, _)| *at).collect();
    assert_eq!(
        at,
        vec![0, 2, 4, 5],
        "tenths of a second: every 0.2 s, as the store says"
    );
    assert_eq!(h.calls(), vec![(0, set("worker", 2))]);
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_is_decided_again_after_the_backoff_and_a_refusal_is_not() {
    let mut h = Harness::start(vec![pool("worker", 10)], Duration::ZERO, Duration::ZERO);
    h.api
        .failures
        .lock()
        .push_back(api_error(503, "unavailable"));
    h.jobs[0] = 4;
    h.wake(0);
    h.run_for(5 * SEC).await;
    let calls = h.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1].1, set("worker", 4));
    assert!(h.events.iter().any(|e| matches!(e, Event::CallFailed { retry_in: Some(_), calls, .. } if calls == &vec![("worker".to_string(), 4)])));

    h.api
        .failures
        .lock()
        .push_back(api_error(422, "invalid_params"));
    h.jobs[0] = 6;
    h.wake(0);
    h.run_for(60 * SEC).await;
    assert_eq!(h.calls().len(), 3, "a refusal is not asked again by itself");
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::CallFailed { retry_in: None, .. })));
}

#[tokio::test(start_paused = true)]
async fn pools_that_change_together_go_out_in_one_batch() {
    let mut h = Harness::start(
        vec![pool("worker", 10), pool("urgent", 2)],
        10 * SEC,
        Duration::ZERO,
    );
    h.jobs = vec![3, 5];
    h.wake(1);
    h.run_for(SEC).await;
    assert_eq!(
        h.calls(),
        vec![(0, vec![("worker".into(), 3), ("urgent".into(), 2)])]
    );
}

#[tokio::test(start_paused = true)]
async fn a_flush_decides_news_at_once_even_inside_the_window_and_reports_when_settled() {
    let mut h = Harness::start(vec![pool("worker", 10)], 60 * SEC, Duration::ZERO);
    h.jobs[0] = 1;
    h.wake(0);
    h.run_for(SEC).await;
    assert!(h.flush().await, "nothing pending: at once");
    h.jobs[0] = 5;
    h.wake(0);
    h.run_for(2 * SEC).await; // the news waits: the window is closed
    assert_eq!(h.requests.len(), 1);
    assert!(h.flush().await);
    assert_eq!(h.requests.last().unwrap().1, Why::Flush);
    // Inside the app's window even a flush calls nothing (an exiting process
    // leaves its news in the store): one call in all.
    assert_eq!(h.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_long_running_process_decides_at_once_and_then_every_count_interval() {
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC, 60 * SEC);
    h.inputs.send(Input::Watch).ok().unwrap();
    h.urgent.notify_one();
    h.run_for(150 * SEC).await;
    let whys: Vec<(u64, Why)> = h.requests.iter().map(|(at, why)| (at / 10, *why)).collect();
    assert_eq!(
        whys,
        vec![(0, Why::Boot), (60, Why::Periodic), (120, Why::Periodic)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_exiting_process_that_meets_a_held_lease_tries_again_until_its_flush_ends() {
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC, Duration::ZERO);
    h.jobs[0] = 2;
    h.held_until = Some(60 * SEC);
    h.wake(0);
    h.run_for(SEC / 10).await;
    assert!(!h.flush().await, "the lease stays held: the flush runs out");
    let whys: Vec<Why> = h.requests.iter().map(|(_, why)| *why).collect();
    assert_eq!(whys[..2], [Why::News, Why::Flush]);
    assert!(
        whys.len() >= 4,
        "tried again while the flush lasted: {whys:?}"
    );
    assert!(h.calls().is_empty());

    // A lease freed while the process exits: it decides, and calls.
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC, Duration::ZERO);
    h.jobs[0] = 2;
    h.held_until = Some(SEC / 2);
    h.wake(0);
    assert!(h.flush().await, "decided once the lease was free");
    let calls: Vec<Quantities> = h.calls().into_iter().map(|(_, f)| f).collect();
    assert_eq!(calls, vec![set("worker", 2)]);
}

#[tokio::test(start_paused = true)]
async fn a_flush_is_not_done_until_heroku_confirmed_the_call() {
    // Heroku answers 503 for longer than the flush lasts: the flush says so
    // (the exiting process warns and leaves its news), and the record never
    // said Heroku had the workers.
    let mut h = Harness::start(vec![pool("worker", 10)], Duration::ZERO, Duration::ZERO);
    for _ in 0..20 {
        h.api
            .failures
            .lock()
            .push_back(api_error(503, "unavailable"));
    }
    h.jobs[0] = 5;
    h.wake(0);
    assert!(
        !h.flush_within(3 * SEC).await,
        "a call that failed is not settled"
    );
    assert!(
        h.calls().len() >= 2,
        "tried again within the flush: {:?}",
        h.calls()
    );
    assert_eq!(
        h.records[0].quantity,
        Some(0),
        "only what Heroku confirmed (its formation, read first)"
    );
    assert!(
        h.status.lock().pools[0].unconfirmed,
        "status says the change is unconfirmed, so the exit warns so"
    );

    // Heroku recovers during the flush: done once the retry is confirmed.
    let mut h = Harness::start(vec![pool("worker", 10)], Duration::ZERO, Duration::ZERO);
    h.api
        .failures
        .lock()
        .push_back(api_error(503, "unavailable"));
    h.jobs[0] = 5;
    h.wake(0);
    assert!(h.flush_within(3 * SEC).await);
    assert_eq!(h.records[0].quantity, Some(5));
    assert!(!h.status.lock().pools[0].unconfirmed);
}

#[tokio::test(start_paused = true)]
async fn a_call_in_flight_is_unconfirmed_until_heroku_answers() {
    // What an exiting process reads to say why it could not deliver.
    let mut h = Harness::start(vec![pool("worker", 10)], Duration::ZERO, Duration::ZERO);
    *h.api.delay.lock() = 5 * SEC;
    h.jobs[0] = 3;
    h.wake(0);
    h.run_for(SEC).await;
    assert_eq!(h.calls().len(), 1, "the call is made");
    assert!(h.status.lock().pools[0].unconfirmed, "and in flight");
    h.run_for(5 * SEC).await;
    assert!(!h.status.lock().pools[0].unconfirmed, "Heroku answered");
    assert_eq!(h.records[0].quantity, Some(3));
}

#[tokio::test(start_paused = true)]
async fn a_held_decision_makes_the_look_the_apps_record_asks_for() {
    // Another process decided a moment ago and asked for a look in 10 s (a
    // job it scheduled); it may be gone by then: this one looks.
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC, 60 * SEC);
    h.held_until = Some(SEC / 2);
    h.look_in = Some(10 * SEC);
    h.inputs.send(Input::Watch).ok().unwrap();
    h.urgent.notify_one();
    h.run_for(15 * SEC).await;
    let whys: Vec<(u64, Why)> = h.requests.iter().map(|(at, why)| (*at, *why)).collect();
    assert_eq!(whys, vec![(0, Why::Boot), (100, Why::Due)]);
}

#[tokio::test(start_paused = true)]
async fn the_scheduler_task_checks_heroku_and_repairs_the_record() {
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC, Duration::ZERO);
    h.records[0].quantity = Some(1); // the record says 1; Heroku has 0
    h.jobs[0] = 1;
    h.inputs.send(Input::Check).ok().unwrap();
    h.urgent.notify_one();
    assert!(h.flush().await);
    assert_eq!(h.requests[0].1, Why::Check);
    assert_eq!(
        h.calls(),
        vec![(0, set("worker", 1))],
        "Heroku read, and set to what the work needs"
    );
}

#[tokio::test(start_paused = true)]
async fn the_scheduler_task_waits_for_the_window_it_meets() {
    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC, Duration::ZERO);
    h.jobs[0] = 1;
    h.wake(0);
    h.run_for(2 * SEC).await; // a call at 0: the app's window opens at 10
    h.jobs[0] = 4;
    h.inputs.send(Input::Check).ok().unwrap();
    assert!(
        h.flush_with(15 * SEC, true).await,
        "the look due at 10 is within the task's time"
    );
    assert_eq!(
        h.calls(),
        vec![(0, set("worker", 1)), (10, set("worker", 4))]
    );
}

/// The simulator (`crate::simulation`) makes the dispatcher's decisions: on
/// a scripted case the same formation calls at the same times. Jobs that
/// never start (their dynos boot for an hour) make the counts the script's.
#[tokio::test(start_paused = true)]
async fn the_simulator_calls_as_the_dispatcher_does() {
    use crate::simulation::{self, HerokuParams, Job, Settings, Strategy};

    let mut h = Harness::start(vec![pool("worker", 10)], 10 * SEC, Duration::ZERO);
    h.jobs[0] = 3;
    h.wake(0);
    h.run_for(4 * SEC).await;
    h.jobs[0] = 7;
    h.wake(0);
    h.run_for(12 * SEC).await;
    h.jobs[0] = 12;
    h.wake(0);
    h.run_for(20 * SEC).await;
    let dispatcher: Vec<(u64, u32)> = h.calls().into_iter().map(|(at, f)| (at, f[0].1)).collect();

    let job = |at_s: u64| Job {
        enqueued_at: at_s * 1000,
        due_at: at_s * 1000,
        duration: 1000,
    };
    let jobs: Vec<Job> = [0, 0, 0, 4, 4, 4, 4, 16, 16, 16, 16, 16]
        .into_iter()
        .map(job)
        .collect();
    let settings = Settings {
        policy: pool("worker", 10).policy,
        pacing: crate::pacing::PacingConfig {
            api_throttle: 10 * SEC,
            scale_down_delay: Duration::ZERO,
            change_budget: None,
        },
        count_interval: Duration::ZERO,
        heroku: HerokuParams {
            boot_ms: 3_600_000,
            grace_ms: 30_000,
            concurrency: 1,
        },
        price_per_dyno_hour: 1.0,
    };
    let simulated: Vec<(u64, u32)> = simulation::simulate(&jobs, &settings, Strategy::Ours)
        .changes
        .into_iter()
        .filter(|&(at, _)| at < 36_000)
        .map(|(at, quantity)| (at / 1000, quantity))
        .collect();
    assert_eq!(dispatcher, vec![(0, 3), (10, 7), (20, 10)]);
    assert_eq!(simulated, dispatcher);
}
