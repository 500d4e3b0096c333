//! The Heroku client against wiremock: each case mounts the answer it needs
//! (a status, a body, a header, a delay, a dropped connection) and checks
//! what the client sent and what it made of the answer. How Heroku itself
//! validates, limits and rate-limits is modelled once, by the Ruby local
//! formation (lib/middle_management/local_formation/).

use std::time::{Duration, Instant};

use base64::Engine;
use middle_management::heroku::{
    Client, ClientConfig, Credentials, Formation, HerokuError, Reply, Secret,
};
use serde_json::{json, Value};
use wiremock::matchers::{any, body_json, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const APP: &str = "mm-test-app";
const APP_ID: &str = "01234567-89ab-cdef-0123-000000000001";
/// Distinctive, so that its absence from any text can be asserted.
const TOKEN: &str = "hk-SECRET-7f3a9c1e-TOKEN-never-print";
const HEROKU_ACCEPT: &str = "application/vnd.heroku+json; version=3";

/// A formation object with every property Heroku's schema lists.
fn formation(process_type: &str, quantity: u64, size: &str) -> Value {
    json!({
        "app": { "id": APP_ID, "name": APP },
        "command": format!("bin/{process_type}"),
        "created_at": "2012-01-01T12:00:00Z",
        "dyno_size": { "id": "01234567-89ab-cdef-0123-000000005153", "name": size },
        "id": "01234567-89ab-cdef-0123-000000000100",
        "quantity": quantity,
        "size": size,
        "type": process_type,
        "updated_at": "2012-01-01T12:00:00Z",
    })
}

fn ok(body: Value, remaining: u32) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(body)
        .insert_header("RateLimit-Remaining", remaining.to_string())
}

fn heroku_error(status: u16, id: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "id": id, "message": message }))
}

/// `response` to the next request only; later ones go to what is mounted next.
async fn once(server: &MockServer, response: ResponseTemplate) {
    Mock::given(any())
        .respond_with(response)
        .up_to_n_times(1)
        .mount(server)
        .await;
}

fn config(base_url: String, credentials: Credentials) -> ClientConfig {
    ClientConfig {
        base_url,
        app: APP.into(),
        credentials,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
    }
}

fn client(server: &MockServer, credentials: Credentials) -> Client {
    Client::new(config(server.uri(), credentials)).unwrap()
}

fn basic_header(username: &str) -> String {
    let pair = format!("{username}:{TOKEN}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}

/// Every rendering of an error.
fn renderings(err: &HerokuError) -> Vec<String> {
    let boxed: Box<dyn std::error::Error> = Box::new(err.clone());
    vec![
        format!("{err}"),
        format!("{err:?}"),
        format!("{err:#?}"),
        boxed.to_string(),
    ]
}

/// The four calls, each answered by the endpoint the schema names; `None`
/// per call when it succeeded.
async fn each_call(client: &Client) -> Vec<Option<HerokuError>> {
    vec![
        client.info("worker").await.err(),
        client.list().await.err(),
        client.update("worker", 1).await.err(),
        client
            .batch_update(&[("worker".into(), 1), ("urgent_worker".into(), 0)])
            .await
            .err(),
    ]
}

// --- what goes over the wire ---------------------------------------------------

async fn every_call_as_the_schema_has_it(credentials: Credentials, authorization: &str) {
    let server = MockServer::start().await;
    let formation_path = format!("/apps/{APP}/formation");
    let worker_path = format!("/apps/{APP}/formation/worker");
    Mock::given(method("GET"))
        .and(path(format!("/apps/{APP}/formation/web")))
        .respond_with(ok(formation("web", 1, "Standard-1X"), 4499))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&formation_path))
        .respond_with(ok(
            json!([
                formation("web", 1, "Standard-1X"),
                formation("worker", 0, "Standard-1X")
            ]),
            4498,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(&worker_path))
        .and(body_json(json!({ "quantity": 3 })))
        .respond_with(ok(formation("worker", 3, "Standard-1X"), 4497))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(&formation_path))
        .and(body_json(json!({ "updates": [
            { "type": "worker", "quantity": 5 },
            { "type": "urgent_worker", "quantity": 2 },
        ] })))
        .respond_with(ok(
            json!([
                formation("worker", 5, "Standard-1X"),
                formation("urgent_worker", 2, "Standard-2X")
            ]),
            4496,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, credentials);

    let Reply {
        value: web,
        rate_limit_remaining,
    } = client.info("web").await.unwrap();
    assert_eq!(
        web,
        Formation {
            process_type: "web".into(),
            quantity: 1,
            size: Some("Standard-1X".into()),
            command: Some("bin/web".into()),
        }
    );
    assert_eq!(rate_limit_remaining, Some(4499));

    let list = client.list().await.unwrap();
    let pairs = |formations: &[Formation]| -> Vec<(String, u32)> {
        formations
            .iter()
            .map(|f| (f.process_type.clone(), f.quantity))
            .collect()
    };
    assert_eq!(
        pairs(&list.value),
        vec![("web".into(), 1), ("worker".into(), 0)]
    );
    assert_eq!(list.rate_limit_remaining, Some(4498));

    let updated = client.update("worker", 3).await.unwrap();
    assert_eq!(
        (updated.value.quantity, updated.rate_limit_remaining),
        (3, Some(4497))
    );

    let batch = client
        .batch_update(&[("worker".to_owned(), 5), ("urgent_worker".to_owned(), 2)])
        .await
        .unwrap();
    assert_eq!(
        pairs(&batch.value),
        vec![("worker".into(), 5), ("urgent_worker".into(), 2)]
    );
    assert_eq!(batch.value[1].size.as_deref(), Some("Standard-2X"));
    assert_eq!(batch.rate_limit_remaining, Some(4496));

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert_eq!(header(request, "accept"), Some(HEROKU_ACCEPT));
        assert!(
            header(request, "user-agent").is_some_and(|ua| ua.starts_with("middle_management/")),
            "{:?}",
            request.headers
        );
        assert_eq!(header(request, "authorization"), Some(authorization));
        assert_eq!(request.url.query(), None);
        if request.method.as_str() == "PATCH" {
            assert_eq!(header(request, "content-type"), Some("application/json"));
        } else {
            assert_eq!(header(request, "content-type"), None);
            assert!(request.body.is_empty());
        }
    }
}

#[tokio::test]
async fn every_call_is_sent_with_bearer_credentials() {
    every_call_as_the_schema_has_it(Credentials::bearer(TOKEN), &format!("Bearer {TOKEN}")).await;
}

#[tokio::test]
async fn every_call_is_sent_with_basic_credentials_even_without_a_user_name() {
    for username in ["ops@example.com", ""] {
        every_call_as_the_schema_has_it(
            Credentials::basic(username, TOKEN),
            &basic_header(username),
        )
        .await;
    }
}

#[tokio::test]
async fn the_app_can_be_named_by_its_id_and_the_base_url_may_end_with_a_slash() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(format!("/apps/{APP_ID}/formation/worker")))
        .respond_with(ok(formation("worker", 1, "Standard-1X"), 4000))
        .expect(1)
        .mount(&server)
        .await;
    let config = ClientConfig {
        app: APP_ID.into(),
        ..config(format!("{}/", server.uri()), Credentials::bearer(TOKEN))
    };
    let client = Client::new(config).unwrap();
    assert_eq!(client.update("worker", 1).await.unwrap().value.quantity, 1);
}

#[tokio::test]
async fn a_cloned_client_runs_calls_concurrently() {
    let server = MockServer::start().await;
    // Each answer waits: one after the other they would take three times as long.
    let slow = Duration::from_millis(400);
    Mock::given(method("GET"))
        .and(path(format!("/apps/{APP}/formation/worker")))
        .respond_with(ok(formation("worker", 0, "Standard-1X"), 4000).set_delay(slow))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/apps/{APP}/formation")))
        .respond_with(ok(json!([formation("worker", 0, "Standard-1X")]), 4000).set_delay(slow))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, Credentials::bearer(TOKEN));
    let (first, second) = (client.clone(), client.clone());
    let started = Instant::now();
    let (a, b, c) = tokio::join!(first.info("worker"), client.info("worker"), second.list());
    assert!(started.elapsed() < 3 * slow, "{:?}", started.elapsed());
    assert_eq!(a.unwrap().value.process_type, "worker");
    assert_eq!(b.unwrap().value.process_type, "worker");
    assert_eq!(c.unwrap().value.len(), 1);
}

#[tokio::test]
async fn eco_sizes_are_reported_and_quantities_of_zero_sent() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(body_json(json!({ "quantity": 0 })))
        .respond_with(ok(formation("worker", 0, "Eco"), 4000))
        .expect(1)
        .mount(&server)
        .await;
    let reply = client(&server, Credentials::bearer(TOKEN))
        .update("worker", 0)
        .await
        .unwrap();
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

// --- Heroku's answers, each error kind -----------------------------------------

/// What each status means (kind, transience) is error.rs's to test; here,
/// that every call hands Heroku's answer on whole.
#[tokio::test]
async fn herokus_error_answers_keep_status_id_message_and_remaining_count() {
    let cases = [
        (401, "unauthorized", "Invalid credentials provided."),
        (
            403,
            "forbidden",
            "You do not have access to the app mm-test-app.",
        ),
        (
            404,
            "not_found",
            "Couldn't find that process type (sidekiq).",
        ),
        (
            422,
            "invalid_params",
            "Invalid params: `quantity` must be an integer.",
        ),
        (
            422,
            "cannot_update_above_limit",
            "Cannot update to more than 1 Eco size dynos per process type.",
        ),
        (429, "rate_limit", "Your account reached the API rate limit"),
        (503, "unavailable", "Heroku API is temporarily unavailable."),
    ];
    for (status, id, message) in cases {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(
                heroku_error(status, id, message).insert_header("RateLimit-Remaining", "17"),
            )
            .mount(&server)
            .await;
        for err in each_call(&client(&server, Credentials::bearer(TOKEN))).await {
            let err = err.expect("an error");
            assert_eq!(
                err,
                HerokuError::Api {
                    status,
                    id: id.into(),
                    message: message.into(),
                    rate_limit_remaining: Some(17),
                }
            );
            assert_eq!(
                err.to_string(),
                format!("Heroku said {status} {id}: {message}")
            );
        }
    }
}

#[tokio::test]
async fn a_rate_limit_answer_is_one_line_with_nothing_remaining() {
    let server = MockServer::start().await;
    once(
        &server,
        heroku_error(
            429,
            "rate_limit",
            "Your account reached the API rate limit\nPlease wait a few minutes before making new requests",
        )
        .insert_header("RateLimit-Remaining", "0"),
    )
    .await;
    let err = client(&server, Credentials::bearer(TOKEN))
        .update("worker", 1)
        .await
        .unwrap_err();
    assert_eq!(err.rate_limit_remaining(), Some(0));
    assert_eq!(
        err.to_string(),
        "Heroku said 429 rate_limit: Your account reached the API rate limit Please wait a few \
         minutes before making new requests"
    );
}

#[tokio::test]
async fn each_call_is_one_request_even_when_it_fails() {
    let server = MockServer::start().await;
    for _ in 0..3 {
        once(
            &server,
            heroku_error(503, "unavailable", "Heroku API is temporarily unavailable."),
        )
        .await;
    }
    Mock::given(method("PATCH"))
        .respond_with(ok(formation("worker", 2, "Standard-1X"), 996))
        .mount(&server)
        .await;
    let client = client(&server, Credentials::bearer(TOKEN));
    for _ in 0..3 {
        let err = client.update("worker", 2).await.unwrap_err();
        assert_eq!(err.kind(), "server_error");
    }
    let ok = client.update("worker", 2).await.unwrap();
    assert_eq!(ok.rate_limit_remaining, Some(996));
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_non_json_error_page_keeps_a_short_excerpt() {
    let server = MockServer::start().await;
    let page = format!(
        "<html><body><h1>Bad gateway</h1>{}</body></html>",
        "padding ".repeat(500)
    );
    once(
        &server,
        ResponseTemplate::new(502)
            .set_body_raw(page, "text/html")
            .insert_header("RateLimit-Remaining", "4499"),
    )
    .await;
    let err = client(&server, Credentials::bearer(TOKEN))
        .info("worker")
        .await
        .unwrap_err();
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
async fn a_success_without_a_formation_is_malformed() {
    let server = MockServer::start().await;
    let page = "<!DOCTYPE html><html><head><title>Application Error</title></head></html>";
    for _ in 0..2 {
        once(
            &server,
            ResponseTemplate::new(200).set_body_raw(page, "text/html"),
        )
        .await;
    }
    once(
        &server,
        ResponseTemplate::new(200).set_body_raw(vec![b' '; 2 << 20], "application/json"),
    )
    .await;
    let client = client(&server, Credentials::bearer(TOKEN));

    let err = client.update("worker", 1).await.unwrap_err();
    let HerokuError::Malformed { status, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 200);
    assert!(detail.contains("expected a formation object"), "{detail}");
    assert!(detail.contains("Application Error"), "{detail}");
    assert_eq!((err.kind(), err.is_transient()), ("malformed", false));
    assert!(err
        .to_string()
        .starts_with("Heroku answered 200 with an unexpected body: "));

    let err = client.list().await.unwrap_err();
    assert!(
        err.to_string().contains("an array of formation objects"),
        "{err}"
    );

    let err = client.list().await.unwrap_err();
    assert!(
        err.to_string().contains("larger than 1048576 bytes"),
        "{err}"
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/elsewhere"))
        .respond_with(ok(formation("worker", 1, "Standard-1X"), 4000))
        .expect(0)
        .mount(&server)
        .await;
    once(
        &server,
        ResponseTemplate::new(307).insert_header("Location", format!("{}/elsewhere", server.uri())),
    )
    .await;
    let err = client(&server, Credentials::bearer(TOKEN))
        .update("worker", 1)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.kind()),
        (Some(307), "http_error"),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

// --- no answer -------------------------------------------------------------------

#[tokio::test]
async fn a_slow_answer_is_a_timeout_and_the_next_call_is_fresh() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .respond_with(
            ok(formation("worker", 4, "Standard-1X"), 4000).set_delay(Duration::from_secs(30)),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ok(formation("worker", 4, "Standard-1X"), 4000))
        .mount(&server)
        .await;
    let impatient = ClientConfig {
        request_timeout: Duration::from_millis(300),
        ..config(server.uri(), Credentials::bearer(TOKEN))
    };
    let client = Client::new(impatient).unwrap();
    let started = Instant::now();
    let err = client.update("worker", 4).await.unwrap_err();
    assert_eq!(err, HerokuError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        (err.kind(), err.is_transient(), err.status()),
        ("timeout", true, None)
    );
    assert_eq!(client.update("worker", 4).await.unwrap().value.quantity, 4);
}

/// A base URL on which nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn a_closed_port_is_a_connection_error_naming_the_call() {
    let client = Client::new(config(closed_port_url(), Credentials::bearer(TOKEN))).unwrap();
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
    assert_eq!(
        (err.kind(), err.is_transient(), err.status()),
        ("connection", true, None)
    );
}

#[tokio::test]
async fn a_dropped_connection_is_a_connection_error() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with_err(|_: &Request| std::io::Error::other("dropped"))
        .mount(&server)
        .await;
    let err = client(&server, Credentials::bearer(TOKEN))
        .update("worker", 1)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "connection", "{err:?}");
    assert!(err.is_transient());
}

// --- secrets -----------------------------------------------------------------------

#[tokio::test]
async fn secrets_never_appear_in_debug_display_or_errors() {
    let server = MockServer::start().await;
    let bearer_creds = Credentials::bearer(TOKEN);
    let basic_creds = Credentials::basic("ops@example.com", TOKEN);
    let bearer_config = config(server.uri(), bearer_creds.clone());
    let basic_config = config(server.uri(), basic_creds.clone());
    let bearer = Client::new(bearer_config.clone()).unwrap();
    let basic = Client::new(basic_config.clone()).unwrap();
    let secret = Secret::new(TOKEN);
    let mut texts = vec![
        format!("{secret:?} {secret}"),
        format!("{bearer_creds:?} {bearer_creds:#?} {bearer_creds}"),
        format!("{basic_creds:?} {basic_creds:#?} {basic_creds}"),
        format!("{bearer_config:?} {bearer_config:#?} {bearer_config}"),
        format!("{basic_config:?} {basic_config:#?} {basic_config}"),
        format!("{bearer:?} {bearer:#?} {bearer}"),
        format!("{basic:?} {basic:#?} {basic}"),
    ];

    // A server that echoes the token (or the Basic header) back does not get
    // it into our error text either.
    let basic_header = basic_header("ops@example.com");
    let encoded = basic_header.strip_prefix("Basic ").unwrap().to_owned();
    once(
        &server,
        heroku_error(401, TOKEN, &format!("token {TOKEN} rejected")),
    )
    .await;
    once(
        &server,
        heroku_error(500, "echo", &format!("you sent {basic_header}")),
    )
    .await;
    once(
        &server,
        ResponseTemplate::new(200).set_body_raw(format!("Bearer {TOKEN}"), "text/plain"),
    )
    .await;
    once(
        &server,
        ResponseTemplate::new(502)
            .set_body_raw(format!("Authorization: Bearer {TOKEN}"), "text/plain"),
    )
    .await;
    once(
        &server,
        heroku_error(429, "rate_limit", "Your account reached the API rate limit"),
    )
    .await;
    once(
        &server,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(30)),
    )
    .await;
    let impatient = Client::new(ClientConfig {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_millis(200),
        ..config(server.uri(), basic_creds.clone())
    })
    .unwrap();
    let refused = Client::new(config(closed_port_url(), basic_creds.clone())).unwrap();
    let errors = [
        bearer.info("web").await.unwrap_err(),
        basic.info("web").await.unwrap_err(),
        bearer.info("web").await.unwrap_err(),
        bearer.list().await.unwrap_err(),
        basic.update("worker", 1).await.unwrap_err(),
        impatient.info("web").await.unwrap_err(),
        refused.list().await.unwrap_err(),
        Client::new(config(
            format!("http://{TOKEN}:99999"),
            bearer_creds.clone(),
        ))
        .unwrap_err(),
    ];
    assert_eq!(
        errors[0].to_string(),
        "Heroku said 401 [REDACTED]: token [REDACTED] rejected"
    );
    assert_eq!(
        errors[1].to_string(),
        "Heroku said 500 echo: you sent Basic [REDACTED]"
    );
    let kinds: Vec<&str> = errors.iter().map(HerokuError::kind).collect();
    assert_eq!(
        kinds,
        [
            "unauthorized",
            "server_error",
            "malformed",
            "server_error",
            "rate_limited",
            "timeout",
            "connection",
            "invalid_argument",
        ]
    );
    texts.extend(errors.iter().flat_map(renderings));
    for text in &texts {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains(&encoded), "Basic header leaked: {text}");
    }
}
