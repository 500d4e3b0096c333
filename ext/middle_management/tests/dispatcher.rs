//! The dispatcher on its own thread against a real HTTP server on 127.0.0.1
//! that behaves like Heroku (tests/support/fake_heroku.rs), in real time.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use middle_management::decision::{self, Counts, Occasion, Record};
use middle_management::dispatcher::{
    Answer, Decided, Dispatcher, DispatcherConfig, Event, Message, PoolConfig, Target,
};
use middle_management::heroku::Credentials;
use middle_management::pacing::PacingConfig;
use middle_management::policy::{Policy, Sizing};
use support::fake_heroku::FakeHeroku;

const TOKEN: &str = "hk-dispatcher-SECRET-5e1d";

fn worker_pool() -> PoolConfig {
    PoolConfig {
        name: "worker".into(),
        formation_types: vec!["worker".into()],
        eco: false,
        policy: Policy::new(0, 10, Sizing::JobsPerWorker(1), 1, Duration::from_secs(30)).unwrap(),
    }
}

const PACING: PacingConfig = PacingConfig {
    api_throttle: Duration::ZERO,
    scale_down_delay: Duration::ZERO,
};

fn config(heroku: &FakeHeroku, credentials: Credentials) -> DispatcherConfig {
    DispatcherConfig {
        target: Target::Heroku {
            base_url: heroku.url(),
            app: heroku.app().to_string(),
            credentials,
        },
        pools: vec![worker_pool()],
        pacing: PACING,
        count_interval: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
    }
}

fn fake() -> FakeHeroku {
    FakeHeroku::builder()
        .token(TOKEN)
        .process("web", 1)
        .process("worker", 0)
        .start()
}

/// Plays the Ruby side, its store a record in memory: answers each request
/// with a decision (`decision::decide`) on a count of `runnable` jobs,
/// forgets the quantity of a call that will be retried, and collects every
/// event until `until` says stop (or 10 s pass).
fn drive(dispatcher: &Dispatcher, runnable: u64, until: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let pool = worker_pool();
    let deadline = Instant::now() + Duration::from_secs(10);
    let outbox = dispatcher.outbox();
    let mut record = Record::default();
    let mut seen = Vec::new();
    while !until(&seen) && Instant::now() < deadline {
        match outbox.pop(Duration::from_millis(50)) {
            Message::Request(request) => {
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as u64;
                let counts = Counts {
                    runnable,
                    ..Counts::default()
                };
                let v = decision::decide(&pool, PACING, &record, &counts, now_ms, Occasion::Change);
                let from = record.quantity;
                record = Record {
                    quantity: v.send.or(from),
                    window_opens_at: v.window_opens_at,
                    memory: v.memory.clone(),
                };
                let decided = Decided {
                    news: request.news[0],
                    wanted: v.wanted,
                    reason: v.reason,
                    from,
                    send: v.send,
                    counts,
                    window_opens_in: None,
                    look_again_in: v.look_again_in,
                };
                dispatcher.answer(0, Answer::Decided(decided));
            }
            Message::Event(event) => {
                if let Event::CallFailed {
                    retry_in: Some(_), ..
                } = event
                {
                    record.quantity = None;
                }
                seen.push(event);
            }
            Message::TimedOut | Message::Interrupted => {}
        }
    }
    seen
}

fn scaled_to(n: u32) -> impl Fn(&[Event]) -> bool {
    move |events| {
        events
            .iter()
            .any(|e| matches!(e, Event::Scaled { to, .. } if *to == n))
    }
}

#[test]
fn scales_the_formation_on_heroku() {
    let heroku = fake();
    let dispatcher = Dispatcher::start(config(&heroku, Credentials::bearer(TOKEN))).unwrap();
    dispatcher.wake(0, None);
    let events = drive(&dispatcher, 7, scaled_to(7));
    assert!(heroku.wait_for_quantity("worker", 7, Duration::from_secs(5)));
    let line = events
        .iter()
        .find(|e| matches!(e, Event::Scaled { .. }))
        .unwrap()
        .message();
    assert_eq!(
        line,
        "scaled worker 0 -> 7 (7 outstanding, 1 job per worker)"
    );
    assert_eq!(
        dispatcher.status().rate_limit_remaining,
        Some(heroku.rate_limit_remaining())
    );
}

#[test]
fn basic_auth_with_the_token_as_password_is_accepted() {
    let heroku = fake();
    let credentials = Credentials::basic("ops@example.com", TOKEN);
    let dispatcher = Dispatcher::start(config(&heroku, credentials)).unwrap();
    dispatcher.wake(0, None);
    drive(&dispatcher, 2, scaled_to(2));
    assert_eq!(heroku.quantity("worker"), Some(2));
}

#[test]
fn a_wrong_token_is_reported_with_herokus_message_and_never_shown() {
    let heroku = fake();
    let wrong = "hk-WRONG-token-c0ffee";
    let dispatcher = Dispatcher::start(config(&heroku, Credentials::bearer(wrong))).unwrap();
    dispatcher.wake(0, None);
    let events = drive(&dispatcher, 3, |events| {
        events.iter().any(|e| matches!(e, Event::CallFailed { .. }))
    });
    let failure = events
        .iter()
        .find(|e| matches!(e, Event::CallFailed { .. }))
        .unwrap();
    let line = failure.message();
    assert!(
        line.contains("401") && line.contains("Invalid credentials provided."),
        "{line}"
    );
    assert!(!format!("{line} {failure:?}").contains(wrong));
    assert_eq!(heroku.quantity("worker"), Some(0));
}

#[test]
fn flush_is_bounded_when_heroku_never_answers() {
    let heroku = fake();
    heroku.hang();
    let dispatcher = Dispatcher::start(config(&heroku, Credentials::bearer(TOKEN))).unwrap();
    dispatcher.wake(0, None);
    drive(&dispatcher, 4, |_| heroku.request_count() > 0);
    let started = Instant::now();
    assert!(
        !dispatcher.flush(Duration::from_millis(300), false).wait(Duration::from_millis(300)),
        "nothing was confirmed"
    );
    drop(dispatcher);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "neither flush nor drop waits for Heroku"
    );
}

#[test]
fn three_unavailable_answers_then_the_right_quantity() {
    let heroku = fake();
    heroku.fail_next(3, 503, "unavailable", "Heroku is having a moment");
    let dispatcher = Dispatcher::start(config(&heroku, Credentials::bearer(TOKEN))).unwrap();
    dispatcher.wake(0, None);
    let events = drive(&dispatcher, 5, scaled_to(5));
    // The record does not know Heroku's quantity, so each try reads the
    // formation first: a 503 to that read leaves it to the update to tell,
    // and a failed update is decided again, afresh, after the backoff:
    // read (503), update (503); read (503), update (200).
    let retries = events
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
    assert_eq!(retries, 1);
    let requests: Vec<(String, Option<u16>)> = heroku
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.status))
        .collect();
    let expected = [("GET", 503), ("PATCH", 503), ("GET", 503), ("PATCH", 200)];
    assert_eq!(requests, expected.map(|(m, s)| (m.to_string(), Some(s))));
    assert_eq!(heroku.quantity("worker"), Some(5));
}
