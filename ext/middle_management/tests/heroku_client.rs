//! The Heroku client against a real HTTP server that behaves like Heroku's
//! formation endpoints (tests/support/fake_heroku.rs).

mod support;

use std::time::Duration;

use middle_management::heroku::{
    Client, ClientConfig, Credentials, Formation, HerokuError, Reply, Secret, ACCEPT, USER_AGENT,
};
use serde_json::{json, Value};
use support::fake_heroku::{FakeHeroku, HEROKU_ACCEPT};

/// Distinctive, so that its absence from any text can be asserted.
const TOKEN: &str = "hk-SECRET-7f3a9c1e-TOKEN-never-print";
const OTHER_TOKEN: &str = "hk-OTHER-44b2-TOKEN-no-access";

fn fake() -> FakeHeroku {
    FakeHeroku::builder()
        .token(TOKEN)
        .forbidden_token(OTHER_TOKEN)
        .process("web", 1)
        .process("worker", 0)
        .process("urgent_worker", 0)
        .start()
}

fn config(heroku: &FakeHeroku, credentials: Credentials) -> ClientConfig {
    ClientConfig::new(heroku.app(), credentials)
        .with_base_url(heroku.url())
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(5))
}

fn bearer(heroku: &FakeHeroku) -> Client {
    Client::new(config(heroku, Credentials::bearer(TOKEN))).unwrap()
}

fn basic(heroku: &FakeHeroku) -> Client {
    Client::new(config(heroku, Credentials::basic("ops@example.com", TOKEN))).unwrap()
}

/// Every rendering of an error: none may contain the token.
fn assert_no_secret(texts: &[String]) {
    for text in texts {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains(OTHER_TOKEN), "token leaked: {text}");
    }
}

fn renderings(err: &HerokuError) -> Vec<String> {
    vec![format!("{err}"), format!("{err:?}"), format!("{err:#?}")]
}

fn api(status: u16, id: &str) -> impl Fn(&HerokuError) -> bool + '_ {
    move |err| matches!(err, HerokuError::Api { status: s, id: i, .. } if *s == status && i == id)
}

// --- every call kind, both auth schemes --------------------------------------

async fn exercise_all_calls(heroku: &FakeHeroku, client: &Client, expected_authorization: &str) {
    let Reply {
        value: web,
        rate_limit_remaining,
    } = client.info("web").await.unwrap();
    assert_eq!(web.process_type, "web");
    assert_eq!(web.quantity, 1);
    assert_eq!(web.size.as_deref(), Some("Standard-1X"));
    assert_eq!(web.command.as_deref(), Some("bin/web"));
    assert_eq!(rate_limit_remaining, Some(4499));

    let list = client.list().await.unwrap();
    let mut types: Vec<(String, u32)> = list
        .value
        .iter()
        .map(|f| (f.process_type.clone(), f.quantity))
        .collect();
    types.sort();
    assert_eq!(
        types,
        vec![
            ("urgent_worker".into(), 0),
            ("web".into(), 1),
            ("worker".into(), 0)
        ]
    );
    assert_eq!(list.rate_limit_remaining, Some(4498));

    let updated = client.update("worker", 3).await.unwrap();
    assert_eq!(updated.value.process_type, "worker");
    assert_eq!(updated.value.quantity, 3);
    assert_eq!(updated.rate_limit_remaining, Some(4497));
    assert_eq!(heroku.quantity("worker"), Some(3));

    let batch = client
        .batch_update(&[("worker".to_owned(), 5), ("urgent_worker".to_owned(), 2)])
        .await
        .unwrap();
    let got: Vec<(String, u32)> = batch
        .value
        .iter()
        .map(|f| (f.process_type.clone(), f.quantity))
        .collect();
    assert_eq!(got, vec![("worker".into(), 5), ("urgent_worker".into(), 2)]);
    assert_eq!(batch.rate_limit_remaining, Some(4496));
    assert_eq!(heroku.quantity("worker"), Some(5));
    assert_eq!(heroku.quantity("urgent_worker"), Some(2));

    // What went over the wire.
    let requests = heroku.requests();
    assert_eq!(requests.len(), 4);
    let summary: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("GET", "/apps/mm-test-app/formation/web"),
            ("GET", "/apps/mm-test-app/formation"),
            ("PATCH", "/apps/mm-test-app/formation/worker"),
            ("PATCH", "/apps/mm-test-app/formation"),
        ]
    );
    for request in &requests {
        assert_eq!(request.header("accept"), Some(HEROKU_ACCEPT));
        assert_eq!(request.header("user-agent"), Some(USER_AGENT));
        assert_eq!(
            request.header("authorization"),
            Some(expected_authorization)
        );
        assert_eq!(request.status, Some(200));
        assert_eq!(request.query, None);
        if request.method == "PATCH" {
            assert_eq!(request.header("content-type"), Some("application/json"));
        } else {
            assert_eq!(request.header("content-type"), None);
            assert!(request.body.is_empty());
        }
    }
    assert_eq!(requests[2].body_json(), Some(json!({ "quantity": 3 })));
    assert_eq!(
        requests[3].body_json(),
        Some(json!({ "updates": [
            { "type": "worker", "quantity": 5 },
            { "type": "urgent_worker", "quantity": 2 },
        ] }))
    );
    assert_eq!(heroku.patch_count(), 2);
    let history: Vec<(String, u32, u32)> = heroku
        .scale_history()
        .into_iter()
        .map(|e| (e.process_type, e.from, e.to))
        .collect();
    assert_eq!(
        history,
        vec![
            ("worker".into(), 0, 3),
            ("worker".into(), 3, 5),
            ("urgent_worker".into(), 0, 2),
        ]
    );
}

#[tokio::test]
async fn every_call_is_accepted_with_bearer_credentials() {
    let heroku = fake();
    exercise_all_calls(&heroku, &bearer(&heroku), &format!("Bearer {TOKEN}")).await;
}

#[tokio::test]
async fn every_call_is_accepted_with_basic_credentials() {
    let heroku = fake();
    let client = basic(&heroku);
    client.info("web").await.unwrap();
    let header = heroku
        .last_request()
        .unwrap()
        .header("authorization")
        .unwrap()
        .to_owned();
    let decoded =
        support::fake_heroku::base64_decode(header.strip_prefix("Basic ").unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("ops@example.com:{TOKEN}")
    );
    heroku.clear_requests();
    heroku.set_rate_limit_remaining(4500);
    exercise_all_calls(&heroku, &client, &header).await;
}

#[tokio::test]
async fn basic_credentials_with_an_empty_user_name_work() {
    let heroku = fake();
    let client = Client::new(config(&heroku, Credentials::basic("", TOKEN))).unwrap();
    assert_eq!(client.info("worker").await.unwrap().value.quantity, 0);
}

#[tokio::test]
async fn the_app_can_be_named_by_its_id_and_the_base_url_may_end_with_a_slash() {
    let heroku = fake();
    let config = ClientConfig::new(heroku.app_id(), Credentials::bearer(TOKEN))
        .with_base_url(format!("{}/", heroku.url()));
    let client = Client::new(config).unwrap();
    assert_eq!(client.update("worker", 1).await.unwrap().value.quantity, 1);
    assert_eq!(
        heroku.last_request().unwrap().path,
        format!("/apps/{}/formation/worker", heroku.app_id())
    );
}

#[tokio::test]
async fn a_cloned_client_shares_the_connection_pool_and_runs_concurrently() {
    let heroku = fake();
    let client = bearer(&heroku);
    let (first, second) = (client.clone(), client.clone());
    let (a, b, c) = tokio::join!(first.info("web"), client.info("worker"), second.list());
    assert_eq!(a.unwrap().value.process_type, "web");
    assert_eq!(b.unwrap().value.process_type, "worker");
    assert_eq!(c.unwrap().value.len(), 3);
    assert_eq!(heroku.request_count(), 3);
}

#[tokio::test]
async fn eco_sizes_are_reported_and_quantities_of_zero_accepted() {
    let heroku = FakeHeroku::builder()
        .token(TOKEN)
        .eco()
        .process("worker", 1)
        .start();
    let client = bearer(&heroku);
    let reply = client.update("worker", 0).await.unwrap();
    assert_eq!(
        reply.value,
        Formation {
            process_type: "worker".into(),
            quantity: 0,
            size: Some("Eco".into()),
            command: Some("bin/worker".into()),
        }
    );
}

// --- each error kind -----------------------------------------------------------

#[tokio::test]
async fn wrong_token_is_unauthorized() {
    let heroku = fake();
    for credentials in [
        Credentials::bearer("hk-wrong-token"),
        Credentials::basic("ops@example.com", "hk-wrong-token"),
    ] {
        let client = Client::new(config(&heroku, credentials)).unwrap();
        let err = client.update("worker", 2).await.unwrap_err();
        assert!(api(401, "unauthorized")(&err), "{err:?}");
        assert_eq!(
            err.to_string(),
            "Heroku said 401 unauthorized: Invalid credentials provided."
        );
        assert_eq!(err.kind(), "unauthorized");
        assert_eq!(err.status(), Some(401));
        assert_eq!(err.id(), Some("unauthorized"));
        assert!(!err.is_transient());
        assert!(err.rate_limit_remaining().is_some());
    }
    assert_eq!(heroku.quantity("worker"), Some(0));
}

#[tokio::test]
async fn a_token_without_access_is_forbidden() {
    let heroku = fake();
    let client = Client::new(config(&heroku, Credentials::bearer(OTHER_TOKEN))).unwrap();
    let err = client.info("worker").await.unwrap_err();
    assert!(api(403, "forbidden")(&err), "{err:?}");
    assert_eq!(err.kind(), "forbidden");
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        "Heroku said 403 forbidden: You do not have access to the app mm-test-app."
    );
    assert_no_secret(&renderings(&err));
}

#[tokio::test]
async fn an_unknown_app_is_not_found() {
    let heroku = fake();
    let config = ClientConfig::new("someone-elses-app", Credentials::bearer(TOKEN))
        .with_base_url(heroku.url());
    let client = Client::new(config).unwrap();
    let err = client.list().await.unwrap_err();
    assert!(api(404, "not_found")(&err), "{err:?}");
    assert_eq!(
        err.to_string(),
        "Heroku said 404 not_found: Couldn't find that app."
    );
    assert_eq!(err.kind(), "not_found");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn an_unknown_process_type_is_not_found() {
    let heroku = fake();
    let client = bearer(&heroku);
    for err in [
        client.info("sidekiq").await.unwrap_err(),
        client.update("sidekiq", 1).await.unwrap_err(),
        client
            .batch_update(&[("worker".into(), 1), ("sidekiq".into(), 1)])
            .await
            .unwrap_err(),
    ] {
        assert!(api(404, "not_found")(&err), "{err:?}");
        assert_eq!(
            err.to_string(),
            "Heroku said 404 not_found: Couldn't find that process type (sidekiq)."
        );
    }
    // The batch is all or nothing.
    assert_eq!(heroku.quantity("worker"), Some(0));
}

#[tokio::test]
async fn invalid_params_is_unprocessable() {
    let heroku = fake();
    heroku.fail_next(
        1,
        422,
        "invalid_params",
        "Invalid params: `quantity` must be a non-negative integer.",
    );
    let err = bearer(&heroku).update("worker", 1).await.unwrap_err();
    assert!(api(422, "invalid_params")(&err), "{err:?}");
    assert_eq!(err.kind(), "unprocessable");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn scaling_above_the_eco_limit_is_unprocessable() {
    let heroku = FakeHeroku::builder()
        .token(TOKEN)
        .eco()
        .process("worker1", 0)
        .process("worker2", 0)
        .start();
    let client = bearer(&heroku);
    assert_eq!(client.update("worker1", 1).await.unwrap().value.quantity, 1);
    let err = client.update("worker1", 2).await.unwrap_err();
    assert!(api(422, "cannot_update_above_limit")(&err), "{err:?}");
    assert_eq!(
        err.to_string(),
        "Heroku said 422 cannot_update_above_limit: Cannot update to more than 1 Eco size dynos per process type."
    );
    assert_eq!(err.kind(), "unprocessable");
    assert_eq!(err.id(), Some("cannot_update_above_limit"));
    assert!(!err.is_transient());

    let err = client
        .batch_update(&[("worker1".into(), 1), ("worker2".into(), 2)])
        .await
        .unwrap_err();
    assert_eq!(err.id(), Some("cannot_update_above_limit"));
    assert_eq!(heroku.quantity("worker2"), Some(0));
}

#[tokio::test]
async fn rate_limiting_is_transient_and_reports_zero_remaining() {
    let heroku = fake();
    let client = bearer(&heroku);
    heroku.rate_limited(1);
    let err = client.update("worker", 1).await.unwrap_err();
    assert!(api(429, "rate_limit")(&err), "{err:?}");
    assert_eq!(err.kind(), "rate_limited");
    assert!(err.is_transient());
    assert_eq!(err.rate_limit_remaining(), Some(0));
    assert!(err.to_string().starts_with(
        "Heroku said 429 rate_limit: Your account reached the API rate limit Please wait"
    ));
    assert!(!err.to_string().contains('\n'));
    assert_eq!(heroku.quantity("worker"), Some(0));

    // An exhausted bucket answers 429 by itself.
    heroku.set_rate_limit_remaining(0);
    let err = client.info("worker").await.unwrap_err();
    assert_eq!(err.kind(), "rate_limited");
    assert_eq!(err.rate_limit_remaining(), Some(0));
    heroku.set_rate_limit_remaining(75);
    assert_eq!(
        client.info("worker").await.unwrap().rate_limit_remaining,
        Some(74)
    );
}

#[tokio::test]
async fn server_errors_are_transient_and_carry_the_remaining_count() {
    let heroku = fake();
    let client = bearer(&heroku);
    heroku.set_rate_limit_remaining(1000);
    heroku.fail_next(
        3,
        503,
        "unavailable",
        "Heroku API is temporarily unavailable.",
    );
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let err = client.update("worker", 2).await.unwrap_err();
        assert!(api(503, "unavailable")(&err), "{err:?}");
        assert_eq!(err.kind(), "server_error");
        assert!(err.is_transient());
        remaining.push(err.rate_limit_remaining().unwrap());
    }
    assert_eq!(remaining, vec![999, 998, 997]);
    assert_eq!(heroku.pending_faults(), 0);
    let ok = client.update("worker", 2).await.unwrap();
    assert_eq!(ok.rate_limit_remaining, Some(996));
    assert_eq!(heroku.patch_count(), 4);
    assert_eq!(heroku.quantity("worker"), Some(2));
}

#[tokio::test]
async fn a_non_json_error_page_keeps_a_short_excerpt() {
    let heroku = fake();
    let page = format!(
        "<html><body><h1>Bad gateway</h1>{}</body></html>",
        "padding ".repeat(500)
    );
    heroku.fail_next_with_body(1, 502, "text/html", &page);
    let err = bearer(&heroku).info("worker").await.unwrap_err();
    let HerokuError::Api {
        status,
        id,
        message,
        rate_limit_remaining,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*status, id.as_str()), (502, ""));
    assert!(
        message.starts_with("<html><body><h1>Bad gateway</h1>padding"),
        "{message}"
    );
    assert!(message.chars().count() <= 201, "{}", message.len());
    assert_eq!(*rate_limit_remaining, Some(4499));
    assert_eq!(err.kind(), "server_error");
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_malformed_success_body_is_malformed() {
    let heroku = fake();
    let client = bearer(&heroku);
    heroku.malformed_next(2);
    let err = client.update("worker", 1).await.unwrap_err();
    let HerokuError::Malformed { status, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 200);
    assert!(detail.contains("expected a formation object"), "{detail}");
    assert!(detail.contains("Application Error"), "{detail}");
    assert_eq!(err.kind(), "malformed");
    assert_eq!(err.status(), Some(200));
    assert!(!err.is_transient());
    assert!(err
        .to_string()
        .starts_with("Heroku answered 200 with an unexpected body: "));

    let err = client.list().await.unwrap_err();
    assert_eq!(err.kind(), "malformed");
    assert!(
        err.to_string().contains("an array of formation objects"),
        "{err}"
    );
}

#[tokio::test]
async fn a_hanging_server_times_out() {
    let heroku = fake();
    heroku.hang();
    let config = config(&heroku, Credentials::bearer(TOKEN))
        .with_timeouts(Duration::from_secs(2), Duration::from_millis(300));
    let client = Client::new(config).unwrap();
    let started = std::time::Instant::now();
    let err = client.update("worker", 4).await.unwrap_err();
    assert_eq!(err, HerokuError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.kind(), "timeout");
    assert!(err.is_transient());
    assert_eq!(err.status(), None);
    assert_eq!(heroku.patch_count(), 1);
    assert_eq!(heroku.last_request().unwrap().status, None);

    // A slow answer is a timeout too; once the server answers in time again,
    // so does the client.
    heroku.resume();
    heroku.delay(Duration::from_secs(3));
    assert_eq!(
        client.info("worker").await.unwrap_err(),
        HerokuError::Timeout
    );
    heroku.clear_faults();
    assert!(client.info("worker").await.is_ok());
}

#[tokio::test]
async fn a_closed_port_is_a_connection_error() {
    let config = ClientConfig::new("mm-test-app", Credentials::bearer(TOKEN))
        .with_base_url(FakeHeroku::closed_port_url())
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(5));
    let client = Client::new(config).unwrap();
    let err = client.update("worker", 1).await.unwrap_err();
    let HerokuError::Connect(detail) = &err else {
        panic!("{err:?}")
    };
    assert!(detail.starts_with("PATCH http://127.0.0.1:"), "{detail}");
    assert!(
        detail.contains("/apps/mm-test-app/formation/worker"),
        "{detail}"
    );
    assert!(detail.to_lowercase().contains("refused"), "{detail}");
    assert_eq!(err.kind(), "connection");
    assert!(err.is_transient());
    assert_eq!(err.status(), None);
    assert_no_secret(&renderings(&err));
}

#[tokio::test]
async fn a_dropped_connection_is_a_connection_error() {
    let heroku = fake();
    heroku.drop_next(1);
    let err = bearer(&heroku).update("worker", 1).await.unwrap_err();
    assert_eq!(err.kind(), "connection", "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn invalid_arguments_are_rejected_before_anything_is_sent() {
    let heroku = fake();
    let client = bearer(&heroku);
    for err in [
        client.info("../apps").await.unwrap_err(),
        client.update("work er", 1).await.unwrap_err(),
        client.update("", 1).await.unwrap_err(),
        client.batch_update(&[]).await.unwrap_err(),
        client
            .batch_update(&[("ok".into(), 1), ("not/ok".into(), 1)])
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), "invalid_argument", "{err:?}");
        assert!(!err.is_transient());
    }
    let err = Client::new(ClientConfig::new("Not An App", Credentials::bearer(TOKEN))).unwrap_err();
    assert_eq!(err.kind(), "invalid_argument");
    assert_eq!(heroku.request_count(), 0);
}

// --- secrets -------------------------------------------------------------------

#[tokio::test]
async fn secrets_never_appear_in_debug_display_or_errors() {
    let heroku = fake();
    let secret = Secret::new(TOKEN);
    let bearer_creds = Credentials::bearer(TOKEN);
    let basic_creds = Credentials::basic("ops@example.com", TOKEN);
    let bearer_config = config(&heroku, bearer_creds.clone());
    let basic_config = config(&heroku, basic_creds.clone());
    let bearer_client = Client::new(bearer_config.clone()).unwrap();
    let basic_client = Client::new(basic_config.clone()).unwrap();
    let mut texts = vec![
        format!("{secret:?}"),
        format!("{secret}"),
        format!("{bearer_creds:?} {bearer_creds:#?} {bearer_creds}"),
        format!("{basic_creds:?} {basic_creds:#?} {basic_creds}"),
        format!("{bearer_config:?} {bearer_config:#?} {bearer_config}"),
        format!("{basic_config:?} {basic_config:#?} {basic_config}"),
        format!("{bearer_client:?} {bearer_client:#?} {bearer_client}"),
        format!("{basic_client:?} {basic_client:#?} {basic_client}"),
    ];

    // A server that echoes the token (or the Basic header) back in an error
    // does not get it into our error text either.
    let basic_header = {
        basic_client.info("web").await.unwrap();
        heroku
            .last_request()
            .unwrap()
            .header("authorization")
            .unwrap()
            .to_owned()
    };
    let encoded = basic_header.strip_prefix("Basic ").unwrap().to_owned();
    heroku.fail_next(1, 401, TOKEN, &format!("token {TOKEN} rejected"));
    heroku.fail_next(1, 500, "echo", &format!("you sent {basic_header}"));
    heroku.fail_next_with_body(1, 200, "text/plain", &format!("Bearer {TOKEN}"));
    heroku.fail_next_with_body(
        1,
        502,
        "text/plain",
        &format!("Authorization: Bearer {TOKEN}"),
    );
    let echoed = vec![
        bearer_client.info("web").await.unwrap_err(),
        basic_client.info("web").await.unwrap_err(),
        bearer_client.info("web").await.unwrap_err(),
        bearer_client.list().await.unwrap_err(),
    ];
    assert_eq!(
        echoed[0].to_string(),
        "Heroku said 401 [REDACTED]: token [REDACTED] rejected"
    );
    assert_eq!(
        echoed[1].to_string(),
        "Heroku said 500 echo: you sent Basic [REDACTED]"
    );
    assert_eq!(echoed[2].kind(), "malformed");

    let mut errors = echoed;
    let wrong = Client::new(config(&heroku, Credentials::bearer(format!("{TOKEN}-x")))).unwrap();
    errors.push(wrong.info("web").await.unwrap_err());
    heroku.rate_limited(1);
    errors.push(bearer_client.info("web").await.unwrap_err());
    heroku.malformed_next(1);
    errors.push(basic_client.update("worker", 1).await.unwrap_err());
    heroku.hang();
    let impatient = Client::new(
        config(&heroku, Credentials::bearer(TOKEN))
            .with_timeouts(Duration::from_secs(1), Duration::from_millis(200)),
    )
    .unwrap();
    errors.push(impatient.info("web").await.unwrap_err());
    heroku.resume();
    let refused = Client::new(
        ClientConfig::new("mm-test-app", Credentials::basic("ops@example.com", TOKEN))
            .with_base_url(FakeHeroku::closed_port_url()),
    )
    .unwrap();
    errors.push(refused.list().await.unwrap_err());
    errors.push(bearer_client.update("bad type", 1).await.unwrap_err());
    errors.push(
        Client::new(ClientConfig::new(
            TOKEN.to_lowercase(),
            Credentials::bearer(TOKEN.to_lowercase()),
        ))
        .unwrap_err(),
    );
    errors.push(
        Client::new(
            config(&heroku, Credentials::bearer(TOKEN))
                .with_base_url(format!("https://x:{TOKEN}@h")),
        )
        .unwrap_err(),
    );

    let kinds: Vec<&str> = errors.iter().map(HerokuError::kind).collect();
    assert_eq!(
        kinds,
        vec![
            "unauthorized",
            "server_error",
            "malformed",
            "server_error",
            "unauthorized",
            "rate_limited",
            "malformed",
            "timeout",
            "connection",
            "invalid_argument",
            "invalid_argument",
            "invalid_argument",
        ]
    );
    for err in &errors {
        texts.extend(renderings(err));
        let boxed: Box<dyn std::error::Error> = Box::new(err.clone());
        texts.push(boxed.to_string());
    }
    assert_no_secret(&texts);
    for text in &texts {
        assert!(!text.contains(&encoded), "{text}");
        assert!(!text.contains(&TOKEN.to_lowercase()), "{text}");
    }
}

// --- the fake validates like Heroku ---------------------------------------------
// Raw requests, so that the dispatcher's tests can trust the fake to reject
// what Heroku would reject.

async fn raw(
    heroku: &FakeHeroku,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Value, Option<u32>) {
    let http = reqwest::Client::new();
    let mut request = http.request(method.parse().unwrap(), format!("{}{path}", heroku.url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let remaining = response
        .headers()
        .get("ratelimit-remaining")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, remaining)
}

#[tokio::test]
async fn the_fake_validates_requests_like_heroku() {
    let heroku = fake();
    let auth = format!("Bearer {TOKEN}");
    let good: Vec<(&str, &str)> = vec![("accept", ACCEPT), ("authorization", &auth)];
    let json_headers: Vec<(&str, &str)> = vec![
        ("accept", ACCEPT),
        ("authorization", &auth),
        ("content-type", "application/json"),
    ];
    let path = "/apps/mm-test-app/formation/worker";
    let batch = "/apps/mm-test-app/formation";

    let (status, body, remaining) = raw(&heroku, "GET", path, &good, None).await;
    assert_eq!(status, 200);
    assert_eq!(remaining, Some(4499));
    for key in [
        "app",
        "command",
        "created_at",
        "dyno_size",
        "id",
        "quantity",
        "size",
        "type",
        "updated_at",
    ] {
        assert!(body.get(key).is_some(), "{key} missing from {body}");
    }
    assert_eq!(body["app"]["name"], "mm-test-app");
    assert_eq!(body["dyno_size"]["name"], "Standard-1X");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));

    let expect = |(status, body, _): (u16, Value, Option<u32>), want_status: u16, want_id: &str| {
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["id"], want_id, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    };
    // Version header.
    expect(
        raw(&heroku, "GET", path, &[("authorization", &auth)], None).await,
        400,
        "bad_request",
    );
    expect(
        raw(
            &heroku,
            "GET",
            path,
            &[("accept", "application/json"), ("authorization", &auth)],
            None,
        )
        .await,
        400,
        "bad_request",
    );
    // Credentials.
    expect(
        raw(&heroku, "GET", path, &[("accept", ACCEPT)], None).await,
        401,
        "unauthorized",
    );
    expect(
        raw(
            &heroku,
            "GET",
            path,
            &[("accept", ACCEPT), ("authorization", "Bearer nope")],
            None,
        )
        .await,
        401,
        "unauthorized",
    );
    expect(
        raw(
            &heroku,
            "GET",
            path,
            &[("accept", ACCEPT), ("authorization", "Basic !!!")],
            None,
        )
        .await,
        401,
        "unauthorized",
    );
    // Routes, apps, types.
    expect(
        raw(&heroku, "GET", "/apps/mm-test-app/dynos", &good, None).await,
        404,
        "not_found",
    );
    expect(
        raw(&heroku, "DELETE", path, &good, None).await,
        404,
        "not_found",
    );
    expect(
        raw(&heroku, "GET", "/apps/other-app/formation", &good, None).await,
        404,
        "not_found",
    );
    expect(
        raw(
            &heroku,
            "GET",
            "/apps/mm-test-app/formation/clock",
            &good,
            None,
        )
        .await,
        404,
        "not_found",
    );
    // Bodies.
    expect(
        raw(&heroku, "PATCH", path, &good, Some(r#"{"quantity":1}"#)).await,
        400,
        "bad_request",
    );
    expect(
        raw(&heroku, "PATCH", path, &json_headers, Some("{quantity:")).await,
        400,
        "bad_request",
    );
    for bad in [
        r#"{}"#,
        r#"[]"#,
        r#"{"quantity":-1}"#,
        r#"{"quantity":1.5}"#,
        r#"{"quantity":"2"}"#,
        r#"{"quantity":1,"type":"worker"}"#,
        r#"{"quantity":1,"extra":true}"#,
    ] {
        expect(
            raw(&heroku, "PATCH", path, &json_headers, Some(bad)).await,
            422,
            "invalid_params",
        );
    }
    for bad in [
        r#"{}"#,
        r#"{"updates":{}}"#,
        r#"{"updates":[{"quantity":1}]}"#,
        r#"{"updates":[{"type":"worker","quantity":-3}]}"#,
        r#"{"updates":[{"type":"worker","quantity":1,"command":"x"}]}"#,
        r#"{"updates":[{"type":"worker","quantity":1}],"extra":1}"#,
        r#"{"updates":[{"type":"bad type","quantity":1}]}"#,
    ] {
        expect(
            raw(&heroku, "PATCH", batch, &json_headers, Some(bad)).await,
            422,
            "invalid_params",
        );
    }
    assert_eq!(heroku.quantity("worker"), Some(0));
    assert!(heroku.scale_history().is_empty());

    // Valid variants the schema allows.
    let (status, body, _) = raw(
        &heroku,
        "PATCH",
        path,
        &json_headers,
        Some(r#"{"quantity":2,"dyno_size":{"name":"Standard-2X"}}"#),
    )
    .await;
    assert_eq!(
        (status, body["quantity"].as_u64(), body["size"].as_str()),
        (200, Some(2), Some("Standard-2X"))
    );
    let (status, body, _) = raw(
        &heroku,
        "PATCH",
        batch,
        &json_headers,
        Some(r#"{"updates":[]}"#),
    )
    .await;
    assert_eq!((status, body), (200, json!([])));
    let (status, _, _) = raw(
        &heroku,
        "PATCH",
        "/apps/mm-test-app/formation/work%65r",
        &json_headers,
        Some(r#"{"quantity":3}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(heroku.quantity("worker"), Some(3));

    // Every response, errors included, carried the counter.
    let statuses: Vec<Option<u16>> = heroku.requests().iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(Option::is_some));
    assert_eq!(
        heroku.rate_limit_remaining(),
        4500 - heroku.request_count() as u32
    );
}

#[test]
fn the_fake_can_be_waited_on_from_synchronous_code() {
    let heroku = fake();
    assert!(!heroku.wait_for_requests(1, Duration::from_millis(50)));
    let url = heroku.url();
    let runner = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let config = ClientConfig::new(FakeHeroku::DEFAULT_APP, Credentials::bearer(TOKEN))
                .with_base_url(url);
            let client = Client::new(config).unwrap();
            client.update("worker", 2).await.unwrap();
            client.update("worker", 3).await.unwrap();
        });
    });
    assert!(heroku.wait_for_patches(2, Duration::from_secs(10)));
    assert!(heroku.wait_for_quantity("worker", 3, Duration::from_secs(10)));
    runner.join().unwrap();
    let requests = heroku.requests();
    assert!(requests[1].at >= requests[0].at);
}

#[tokio::test]
async fn the_fake_can_be_waited_on_from_async_code() {
    let heroku = fake();
    let client = bearer(&heroku);
    let task = tokio::spawn(async move { client.update("worker", 1).await });
    assert!(
        heroku
            .wait_for_patches_async(1, Duration::from_secs(10))
            .await
    );
    assert!(
        heroku
            .wait_for_requests_async(1, Duration::from_secs(10))
            .await
    );
    task.await.unwrap().unwrap();
    assert!(
        !heroku
            .wait_for_requests_async(2, Duration::from_millis(50))
            .await
    );
}

#[tokio::test]
async fn dropping_the_fake_closes_its_port() {
    let heroku = fake();
    let client = bearer(&heroku);
    client.info("web").await.unwrap();
    heroku.hang();
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.info("web").await }
    });
    assert!(
        heroku
            .wait_for_requests_async(2, Duration::from_secs(10))
            .await
    );
    drop(heroku);
    // The hung request ends (connection closed), and new ones are refused.
    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), "connection", "{err:?}");
    let err = client.info("web").await.unwrap_err();
    assert_eq!(err.kind(), "connection", "{err:?}");
}
