//! The dispatcher on its own thread against wiremock on 127.0.0.1, in real
//! time: what it asks of Heroku, and what it makes of the answers.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use middle_management::decision::{self, Counts, PoolInput};
use middle_management::dispatcher::{
    Answer, Decided, Dispatcher, DispatcherConfig, Event, Message, PoolConfig, Target,
};
use middle_management::heroku::Credentials;
use middle_management::pacing::PacingConfig;
use middle_management::policy::{Policy, Sizing};
use serde_json::{json, Value};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const APP: &str = "mm-test-app";
const TOKEN: &str = "hk-dispatcher-SECRET-5e1d";
/// What the last answer said; the dispatcher's status shows it.
const REMAINING: u32 = 4321;

fn worker_pool() -> PoolConfig {
    PoolConfig {
        name: "worker".into(),
        formation_types: vec!["worker".into()],
        eco: false,
        policy: Policy::new(0, 10, Sizing::JobsPerWorker(1), 1, Duration::from_secs(30)),
    }
}

const PACING: PacingConfig = PacingConfig {
    api_throttle: Duration::ZERO,
    scale_down_delay: Duration::ZERO,
    change_budget: None,
};

fn config(heroku: &MockServer, credentials: Credentials) -> DispatcherConfig {
    DispatcherConfig {
        target: Target::Heroku {
            base_url: heroku.uri(),
            app: APP.into(),
            credentials,
        },
        pools: vec![worker_pool()],
        pacing: PACING,
        count_interval: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        alert_webhook: None,
    }
}

/// The tests are synchronous, as Ruby is; wiremock's setup is async.
fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn formation(process_type: &str, quantity: u64) -> Value {
    json!({ "type": process_type, "quantity": quantity, "size": "Standard-1X", "command": null })
}

/// Heroku with `web = 1`, `worker = 0` that sets whatever quantity a PATCH
/// asks; `first` are mounted before, so they answer in its place. Not from
/// wiremock's pool: a test's dispatcher may still call after the test (a
/// retry, after a flush that gave up), and must not reach the next test's.
fn heroku(first: Vec<Mock>) -> MockServer {
    block_on(async {
        let server = MockServer::builder().start().await;
        for mock in first {
            mock.mount(&server).await;
        }
        Mock::given(method("GET"))
            .and(path(format!("/apps/{APP}/formation")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([formation("web", 1), formation("worker", 0)])),
            )
            .mount(&server)
            .await;
        Mock::given(method("PATCH"))
            .and(path(format!("/apps/{APP}/formation/worker")))
            .respond_with(|request: &Request| {
                let quantity = request.body_json::<Value>().unwrap()["quantity"]
                    .as_u64()
                    .unwrap();
                ResponseTemplate::new(200)
                    .set_body_json(formation("worker", quantity))
                    .insert_header("RateLimit-Remaining", REMAINING.to_string())
            })
            .mount(&server)
            .await;
        server
    })
}

fn requests(heroku: &MockServer) -> Vec<Request> {
    block_on(heroku.received_requests()).unwrap()
}

/// The bodies of the PATCH requests, in order.
fn patches(heroku: &MockServer) -> Vec<Value> {
    requests(heroku)
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .map(|r| r.body_json().unwrap())
        .collect()
}

/// Plays the Ruby side, its store in memory: answers each request with a
/// decision (`decision::decide_app`) on a count of `runnable` jobs, records
/// what Heroku confirmed, and collects every event until `until` says stop
/// (or 10 s pass).
fn drive(dispatcher: &Dispatcher, runnable: u64, until: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let policy = worker_pool().policy;
    let deadline = Instant::now() + Duration::from_secs(10);
    let outbox = dispatcher.outbox();
    let mut record = PoolInput::default();
    let mut window_opens_at = None;
    let mut seen = Vec::new();
    while !until(&seen) && Instant::now() < deadline {
        match outbox.pop(Duration::from_millis(50)) {
            Message::Request(request) => {
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as u64;
                record.counts = Counts {
                    runnable,
                    ..Counts::default()
                };
                let verdict = decision::decide_app(
                    [&policy],
                    PACING,
                    window_opens_at,
                    std::slice::from_ref(&record),
                    now_ms,
                    request.why.occasion(true),
                );
                window_opens_at = verdict.window_opens_at;
                let decided = Decided::new(&verdict.pools[0], &record, now_ms);
                record.memory = verdict.pools[0].memory.clone();
                dispatcher.answer(0, Answer::Decided(decided));
            }
            Message::Event(event) => {
                if let Some((_, quantity)) = event.confirmed() {
                    record.quantity = Some(quantity);
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
    let heroku = heroku(vec![]);
    let dispatcher = Dispatcher::start(config(&heroku, Credentials::bearer(TOKEN))).unwrap();
    dispatcher.wake(0, None);
    let events = drive(&dispatcher, 7, scaled_to(7));
    assert_eq!(patches(&heroku), vec![json!({ "quantity": 7 })]);
    let line = events
        .iter()
        .find(|e| matches!(e, Event::Scaled { .. }))
        .unwrap()
        .message();
    assert_eq!(
        line,
        "scaled worker 0 -> 7 (7 outstanding, 1 job per worker)"
    );
    assert_eq!(dispatcher.status().rate_limit_remaining, Some(REMAINING));
}

#[test]
fn basic_auth_sends_the_token_as_password() {
    let heroku = heroku(vec![]);
    let credentials = Credentials::basic("ops@example.com", TOKEN);
    let dispatcher = Dispatcher::start(config(&heroku, credentials)).unwrap();
    dispatcher.wake(0, None);
    drive(&dispatcher, 2, scaled_to(2));
    let pair = format!("ops@example.com:{TOKEN}");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    );
    let requests = requests(&heroku);
    assert!(!requests.is_empty());
    for request in requests {
        assert_eq!(
            request.headers["authorization"].to_str().unwrap(),
            expected.as_str()
        );
    }
}

#[test]
fn a_wrong_token_is_reported_with_herokus_message_and_never_shown() {
    let unauthorized = Mock::given(any()).respond_with(ResponseTemplate::new(401).set_body_json(
        json!({ "id": "unauthorized", "message": "Invalid credentials provided." }),
    ));
    let heroku = heroku(vec![unauthorized]);
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
}

#[test]
fn flush_is_bounded_when_heroku_never_answers() {
    let silent = Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)));
    let heroku = heroku(vec![silent]);
    let dispatcher = Dispatcher::start(config(&heroku, Credentials::bearer(TOKEN))).unwrap();
    dispatcher.wake(0, None);
    drive(&dispatcher, 4, |_| !requests(&heroku).is_empty());
    let started = Instant::now();
    assert!(
        !dispatcher
            .flush(Duration::from_millis(300), false)
            .wait(Duration::from_millis(300)),
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
    let unavailable =
        Mock::given(any())
            .respond_with(ResponseTemplate::new(503).set_body_json(
                json!({ "id": "unavailable", "message": "Heroku is having a moment" }),
            ))
            .up_to_n_times(3)
            .expect(3);
    let heroku = heroku(vec![unavailable]);
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
    let methods: Vec<String> = requests(&heroku)
        .iter()
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(methods, ["GET", "PATCH", "GET", "PATCH"]);
    assert_eq!(patches(&heroku).last(), Some(&json!({ "quantity": 5 })));
}

/// A dry run (no Heroku: an alert is no formation call) that posts its
/// alerts to `webhook`.
fn alerting(webhook: String) -> DispatcherConfig {
    DispatcherConfig {
        target: Target::DryRun,
        alert_webhook: Some(webhook),
        ..config(
            &block_on(MockServer::builder().start()),
            Credentials::bearer(TOKEN),
        )
    }
}

/// Events from the outbox until `until` holds, for at most 10 s.
fn events_until(dispatcher: &Dispatcher, until: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !until(&seen) && Instant::now() < deadline {
        if let Message::Event(event) = dispatcher.outbox().pop(Duration::from_millis(50)) {
            seen.push(event);
        }
    }
    seen
}

fn notices(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Notice { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_alert_is_posted_to_the_webhook_from_the_dispatchers_thread() {
    let hook = block_on(MockServer::start());
    block_on(
        Mock::given(method("POST"))
            .and(path("/services/T0/B0/secret-part"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&hook),
    );
    let dispatcher = Dispatcher::start(alerting(format!(
        "{}/services/T0/B0/secret-part",
        hook.uri()
    )))
    .unwrap();

    assert!(dispatcher.alert("worker: 40 jobs have waited 16 min".into()));
    let events = events_until(&dispatcher, |seen| !notices(seen).is_empty());
    assert_eq!(
        notices(&events),
        vec![format!("posted the alert to the webhook at 127.0.0.1")]
    );
    let posts = block_on(hook.received_requests()).unwrap();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].body_json::<Value>().unwrap(),
        json!({ "text": "worker: 40 jobs have waited 16 min" })
    );
}

#[test]
fn a_webhook_that_fails_or_hangs_is_said_and_holds_nothing_up() {
    // Not from wiremock's pool: its answers hang past this test.
    let hook = block_on(MockServer::builder().start());
    block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&hook),
    );
    let dispatcher =
        Dispatcher::start(alerting(format!("{}/hooks/secret-part", hook.uri()))).unwrap();

    for n in 0..6 {
        assert!(dispatcher.alert(format!("alert {n}")));
    }
    // Four go out at once; the fifth and sixth are dropped and said, and
    // a decision is still asked for and answered meanwhile.
    assert!(dispatcher.wake(0, None));
    let events = drive(&dispatcher, 2, |seen| {
        notices(seen)
            .iter()
            .filter(|m| m.contains("was not posted"))
            .count()
            == 2
            && seen.iter().any(|e| matches!(e, Event::Scaled { .. }))
    });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Scaled { to: 2, .. })),
        "{events:?}"
    );
    let failed = events_until(&dispatcher, |seen| notices(seen).len() >= 4);
    let failed = notices(&failed);
    assert_eq!(failed.len(), 4, "{failed:?}");
    for message in &failed {
        assert!(message.contains("could not post the alert"), "{message}");
        assert!(!message.contains("secret-part"), "{message}");
    }
}
