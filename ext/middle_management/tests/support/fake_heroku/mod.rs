//! A fake Heroku Platform API (formation endpoints) for tests.
//!
//! A wiremock server on `127.0.0.1:<random port>` (its own thread and
//! runtime, so it serves `#[test]`, `#[tokio::test]` with a paused clock, and
//! the dispatcher's runtime alike) whose one responder is the formation API
//! of `api.rs`. On top of what the schema says, it keeps Heroku's
//! `RateLimit-Remaining` counter, records every request, and injects faults
//! on demand. Dropping it stops the server and closes every connection.
//!
//! ```ignore
//! let heroku = FakeHeroku::builder().process("worker", 0).start();
//! heroku.fail_next(2, 503, "unavailable", "Heroku is down");
//! // ... point the client at heroku.url() with FakeHeroku::DEFAULT_TOKEN ...
//! assert!(heroku.wait_for_patches(1, Duration::from_secs(5)));
//! assert_eq!(heroku.quantity("worker"), Some(3));
//! ```

mod api;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex};
use serde_json::{json, Value};
use tokio::sync::watch;
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

#[allow(unused_imports)] // each test binary uses some of them
pub use api::{base64_decode, HEROKU_ACCEPT};
use api::{fake_uuid, iso8601, Formation, Process};

pub const RATE_LIMIT_MESSAGE: &str =
    "Your account reached the API rate limit\nPlease wait a few minutes before making new requests";
pub const MALFORMED_BODY: &str =
    "<!DOCTYPE html><html><head><title>Application Error</title></head><body>oops</body></html>";

/// How long a hung request waits: longer than any test, shorter than forever
/// (the server's runtime ends them all when the fake is dropped).
const HUNG: Duration = Duration::from_secs(24 * 3600);

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path as sent (still percent-encoded), without the query string.
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// Status answered; `None` when the fake hung or dropped the connection.
    pub status: Option<u16>,
}

impl RecordedRequest {
    fn from_wiremock(request: &Request) -> RecordedRequest {
        RecordedRequest {
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            query: request.url.query().map(str::to_owned),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
                .collect(),
            body: request.body.clone(),
            at: Instant::now(),
            status: None,
        }
    }

    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A successful change of a quantity, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleEvent {
    pub process_type: String,
    pub from: u32,
    pub to: u32,
    pub at: Instant,
}

/// Counts published for waiters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: usize,
    pub patches: usize,
}

#[derive(Clone, Debug)]
struct CannedResponse {
    status: u16,
    content_type: &'static str,
    body: String,
    /// Overrides the counter for this response's `RateLimit-Remaining`.
    rate_limit_remaining: Option<u32>,
}

impl CannedResponse {
    fn error(status: u16, id: &str, message: &str) -> CannedResponse {
        CannedResponse {
            status,
            content_type: "application/json",
            body: json!({ "id": id, "message": message }).to_string(),
            rate_limit_remaining: None,
        }
    }

    fn rate_limited() -> CannedResponse {
        CannedResponse {
            rate_limit_remaining: Some(0),
            ..CannedResponse::error(429, "rate_limit", RATE_LIMIT_MESSAGE)
        }
    }
}

#[derive(Clone, Debug)]
enum Fault {
    Respond(CannedResponse),
    /// Read the request, then close the connection without answering.
    Drop,
}

struct State {
    formation: Formation,
    rate_limit_remaining: u32,
    faults: VecDeque<Fault>,
    delay: Duration,
    hang: bool,
    requests: Vec<RecordedRequest>,
    patches: usize,
    next_request_id: u64,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    counts: watch::Sender<Counts>,
}

/// Builder for [`FakeHeroku`]. Without any `process` call the formation is
/// `web = 1`, `worker = 0`.
#[derive(Debug, Clone)]
pub struct FakeHerokuBuilder {
    app: String,
    token: String,
    forbidden_tokens: Vec<String>,
    processes: Vec<(String, u32)>,
    eco: bool,
    rate_limit_remaining: u32,
}

impl FakeHerokuBuilder {
    pub fn app(mut self, app: &str) -> Self {
        self.app = app.to_owned();
        self
    }

    /// The valid API token (Bearer token, or Basic password with any user).
    pub fn token(mut self, token: &str) -> Self {
        self.token = token.to_owned();
        self
    }

    /// A token that authenticates but has no access to the app (403).
    pub fn forbidden_token(mut self, token: &str) -> Self {
        self.forbidden_tokens.push(token.to_owned());
        self
    }

    pub fn process(mut self, process_type: &str, quantity: u32) -> Self {
        self.processes.push((process_type.to_owned(), quantity));
        self
    }

    /// Eco/Basic: size `Eco`, at most one dyno per process type (422
    /// `cannot_update_above_limit` above it).
    pub fn eco(mut self) -> Self {
        self.eco = true;
        self
    }

    /// Starting value of the `RateLimit-Remaining` counter (default 4500).
    pub fn rate_limit_remaining(mut self, remaining: u32) -> Self {
        self.rate_limit_remaining = remaining;
        self
    }

    pub fn start(self) -> FakeHeroku {
        FakeHeroku::start_with(self)
    }

    fn formation(self) -> Formation {
        let now = iso8601(SystemTime::now());
        let mut defs = self.processes;
        if defs.is_empty() {
            defs = vec![("web".to_owned(), 1), ("worker".to_owned(), 0)];
        }
        let size = if self.eco { "Eco" } else { "Standard-1X" };
        let processes = defs
            .into_iter()
            .enumerate()
            .map(|(i, (name, quantity))| {
                let process = Process {
                    id: fake_uuid(0x100 + i as u64),
                    quantity,
                    max: self.eco.then_some(1),
                    size: size.to_owned(),
                    command: format!("bin/{name}"),
                    created_at: now.clone(),
                    updated_at: now.clone(),
                };
                (name, process)
            })
            .collect();
        Formation {
            app: self.app,
            app_id: fake_uuid(1),
            token: self.token,
            forbidden_tokens: self.forbidden_tokens,
            processes,
            history: Vec::new(),
        }
    }
}

/// The fake server; see the module docs. Dropping it shuts it down.
pub struct FakeHeroku {
    url: String,
    shared: Arc<Shared>,
    // Dropping it drops the MockServer, on the thread that runs it.
    _server: ServerThread,
}

impl FakeHeroku {
    pub const DEFAULT_APP: &'static str = "mm-test-app";
    pub const DEFAULT_TOKEN: &'static str = "fake-heroku-token-0123";
    pub const DEFAULT_RATE_LIMIT: u32 = 4500;

    pub fn builder() -> FakeHerokuBuilder {
        FakeHerokuBuilder {
            app: Self::DEFAULT_APP.to_owned(),
            token: Self::DEFAULT_TOKEN.to_owned(),
            forbidden_tokens: Vec::new(),
            processes: Vec::new(),
            eco: false,
            rate_limit_remaining: Self::DEFAULT_RATE_LIMIT,
        }
    }

    /// Default app and token, formation `web = 1`, `worker = 0`.
    pub fn start() -> FakeHeroku {
        Self::builder().start()
    }

    fn start_with(config: FakeHerokuBuilder) -> FakeHeroku {
        let rate_limit_remaining = config.rate_limit_remaining;
        let state = State {
            formation: config.formation(),
            rate_limit_remaining,
            faults: VecDeque::new(),
            delay: Duration::ZERO,
            hang: false,
            requests: Vec::new(),
            patches: 0,
            next_request_id: 1,
        };
        let (counts, _) = watch::channel(Counts::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            counts,
        });
        let (server, url) = ServerThread::start(Arc::clone(&shared));
        FakeHeroku {
            url,
            shared,
            _server: server,
        }
    }

    /// `http://127.0.0.1:<port>`, the base URL for the client.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn app(&self) -> String {
        self.shared.state.lock().formation.app.clone()
    }

    pub fn app_id(&self) -> String {
        self.shared.state.lock().formation.app_id.clone()
    }

    pub fn token(&self) -> String {
        self.shared.state.lock().formation.token.clone()
    }

    /// A base URL on which nothing listens (connection refused).
    pub fn closed_port_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        drop(listener);
        format!("http://{addr}")
    }

    // --- formation -------------------------------------------------------

    pub fn quantity(&self, process_type: &str) -> Option<u32> {
        self.shared
            .state
            .lock()
            .formation
            .processes
            .get(process_type)
            .map(|p| p.quantity)
    }

    pub fn quantities(&self) -> BTreeMap<String, u32> {
        self.shared
            .state
            .lock()
            .formation
            .processes
            .iter()
            .map(|(name, p)| (name.clone(), p.quantity))
            .collect()
    }

    /// Every successful quantity change made through the API, in order.
    pub fn scale_history(&self) -> Vec<ScaleEvent> {
        self.shared.state.lock().formation.history.clone()
    }

    // --- rate limit ------------------------------------------------------

    /// The counter: decremented by every request; at 0 every request gets
    /// 429 `rate_limit`.
    pub fn rate_limit_remaining(&self) -> u32 {
        self.shared.state.lock().rate_limit_remaining
    }

    pub fn set_rate_limit_remaining(&self, remaining: u32) {
        self.shared.state.lock().rate_limit_remaining = remaining;
    }

    // --- faults ----------------------------------------------------------
    // Queued faults answer the next requests in FIFO order, before any
    // validation (they model Heroku or its router misbehaving).

    /// The next `n` requests get `status` with `{"id": id, "message": message}`.
    pub fn fail_next(&self, n: usize, status: u16, id: &str, message: &str) {
        self.push_faults(n, Fault::Respond(CannedResponse::error(status, id, message)));
    }

    /// The next `n` requests get `status` with this raw body (e.g. a router's
    /// HTML error page).
    pub fn fail_next_with_body(&self, n: usize, status: u16, content_type: &'static str, body: &str) {
        let canned = CannedResponse {
            status,
            content_type,
            body: body.to_owned(),
            rate_limit_remaining: None,
        };
        self.push_faults(n, Fault::Respond(canned));
    }

    /// The next `n` requests get 429 `rate_limit` with `RateLimit-Remaining: 0`.
    pub fn rate_limited(&self, n: usize) {
        self.push_faults(n, Fault::Respond(CannedResponse::rate_limited()));
    }

    /// The next `n` requests get 200 with a non-JSON (HTML) body.
    pub fn malformed_next(&self, n: usize) {
        self.fail_next_with_body(n, 200, "text/html", MALFORMED_BODY);
    }

    /// The next `n` requests are read and then the connection is closed
    /// without an answer.
    pub fn drop_next(&self, n: usize) {
        self.push_faults(n, Fault::Drop);
    }

    /// Every response waits this long before it is written (state changes
    /// are applied before the wait). `Duration::ZERO` turns it off.
    pub fn delay(&self, delay: Duration) {
        self.shared.state.lock().delay = delay;
    }

    /// From now on requests are read and recorded but never answered (until
    /// [`resume`](Self::resume)); the connection stays open until the client
    /// gives up.
    pub fn hang(&self) {
        self.shared.state.lock().hang = true;
    }

    /// Ends [`hang`](Self::hang) for new requests.
    pub fn resume(&self) {
        self.shared.state.lock().hang = false;
    }

    /// Removes queued faults, the delay and hanging.
    pub fn clear_faults(&self) {
        let mut state = self.shared.state.lock();
        state.faults.clear();
        state.delay = Duration::ZERO;
        state.hang = false;
    }

    /// How many queued faults are still waiting for a request.
    pub fn pending_faults(&self) -> usize {
        self.shared.state.lock().faults.len()
    }

    fn push_faults(&self, n: usize, fault: Fault) {
        let mut state = self.shared.state.lock();
        state.faults.extend((0..n).map(|_| fault.clone()));
    }

    // --- request log -----------------------------------------------------

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state.lock().requests.clone()
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.state.lock().requests.last().cloned()
    }

    pub fn request_count(&self) -> usize {
        self.shared.state.lock().requests.len()
    }

    /// PATCH requests received (whatever they were answered).
    pub fn patch_count(&self) -> usize {
        self.shared.state.lock().patches
    }

    /// Forgets recorded requests, the PATCH count and the scale history.
    pub fn clear_requests(&self) {
        let mut state = self.shared.state.lock();
        state.requests.clear();
        state.patches = 0;
        state.formation.history.clear();
        self.shared.counts.send_replace(Counts::default());
    }

    /// Blocks until at least `n` requests were received (and, unless hung or
    /// dropped, processed); false on timeout. For synchronous tests.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| state.requests.len() >= n)
    }

    /// Blocks until at least `n` PATCH requests were received; false on
    /// timeout.
    pub fn wait_for_patches(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| state.patches >= n)
    }

    /// Blocks until `process_type` has `quantity`; false on timeout.
    pub fn wait_for_quantity(&self, process_type: &str, quantity: u32, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| {
            state.formation.processes.get(process_type).map(|p| p.quantity) == Some(quantity)
        })
    }

    fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock();
        loop {
            if done(&state) {
                return true;
            }
            if self.shared.changed.wait_until(&mut state, deadline).timed_out() {
                return done(&state);
            }
        }
    }

    /// Async form of [`wait_for_requests`](Self::wait_for_requests). Its
    /// timeout is a tokio timer: with a paused clock prefer the blocking form.
    pub async fn wait_for_requests_async(&self, n: usize, timeout: Duration) -> bool {
        self.wait_counts_async(timeout, move |c| c.requests >= n).await
    }

    pub async fn wait_for_patches_async(&self, n: usize, timeout: Duration) -> bool {
        self.wait_counts_async(timeout, move |c| c.patches >= n).await
    }

    async fn wait_counts_async(&self, timeout: Duration, done: impl FnMut(&Counts) -> bool) -> bool {
        let mut rx = self.shared.counts.subscribe();
        let reached = matches!(tokio::time::timeout(timeout, rx.wait_for(done)).await, Ok(Ok(_)));
        reached
    }
}

impl std::fmt::Debug for FakeHeroku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHeroku").field("url", &self.url).finish()
    }
}

// --- the server --------------------------------------------------------------

/// What the fake does with one request.
enum Action {
    Answer(ResponseTemplate),
    /// Close the connection without an answer.
    Drop,
}

/// Records a request, spends a rate-limit token, and decides the answer:
/// hang, then queued faults, then the exhausted counter, then the API.
fn handle(shared: &Shared, request: &Request) -> Action {
    let mut state = shared.state.lock();
    let exhausted = state.rate_limit_remaining == 0;
    state.rate_limit_remaining = state.rate_limit_remaining.saturating_sub(1);
    let mut recorded = RecordedRequest::from_wiremock(request);
    if recorded.method == "PATCH" {
        state.patches += 1;
    }

    let canned = if state.hang {
        None
    } else {
        match state.faults.pop_front() {
            Some(Fault::Drop) => {
                state.requests.push(recorded);
                drop(state);
                shared.publish();
                return Action::Drop;
            }
            Some(Fault::Respond(canned)) => Some(canned),
            None if exhausted => Some(CannedResponse::rate_limited()),
            None => {
                let (status, body) = api::route(&mut state.formation, &recorded);
                Some(CannedResponse {
                    status,
                    content_type: "application/json",
                    body: body.to_string(),
                    rate_limit_remaining: None,
                })
            }
        }
    };

    let template = match canned {
        None => ResponseTemplate::new(200).set_delay(HUNG),
        Some(canned) => {
            recorded.status = Some(canned.status);
            let request_id = format!("fake-{:08}", state.next_request_id);
            state.next_request_id += 1;
            let remaining = canned.rate_limit_remaining.unwrap_or(state.rate_limit_remaining);
            ResponseTemplate::new(canned.status)
                .insert_header("RateLimit-Remaining", remaining.to_string())
                .insert_header("Request-Id", request_id)
                .set_body_raw(canned.body, canned.content_type)
                .set_delay(state.delay)
        }
    };
    state.requests.push(recorded);
    drop(state);
    shared.publish();
    Action::Answer(template)
}

impl Shared {
    fn publish(&self) {
        let counts = {
            let state = self.state.lock();
            Counts {
                requests: state.requests.len(),
                patches: state.patches,
            }
        };
        self.counts.send_replace(counts);
        self.changed.notify_all();
    }

    fn next_is_drop(&self) -> bool {
        let state = self.state.lock();
        !state.hang && matches!(state.faults.front(), Some(Fault::Drop))
    }
}

/// The formation API, as wiremock's responder.
struct Api(Arc<Shared>);

impl Respond for Api {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match handle(&self.0, request) {
            Action::Answer(template) => template,
            // `DropsConnection` is matched first, and wiremock handles one
            // request at a time, so a Drop fault never reaches here.
            Action::Drop => unreachable!("a Drop fault is answered by DropsConnection"),
        }
    }
}

/// Matches when the next fault is a dropped connection; its responder's
/// error makes hyper close the connection unanswered.
struct DropsConnection(Arc<Shared>);

impl Match for DropsConnection {
    fn matches(&self, _request: &Request) -> bool {
        self.0.next_is_drop()
    }
}

/// The thread that owns the MockServer; wiremock serves it on a thread of its
/// own, and stops it (ending hung requests) when it is dropped.
struct ServerThread {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    fn start(shared: Arc<Shared>) -> (ServerThread, String) {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (ready, url) = std::sync::mpsc::channel::<String>();
        // A thread of its own: the caller may be inside a tokio runtime (a
        // paused one, even), where starting another would panic.
        let thread = std::thread::Builder::new()
            .name("fake-heroku".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake heroku runtime");
                let server = runtime.block_on(async {
                    let server = MockServer::builder().start().await;
                    let dropper = Arc::clone(&shared);
                    Mock::given(DropsConnection(Arc::clone(&shared)))
                        .respond_with_err(move |request: &Request| {
                            let _ = handle(&dropper, request);
                            std::io::Error::other("fake heroku: connection dropped")
                        })
                        .with_priority(1)
                        .mount(&server)
                        .await;
                    Mock::given(wiremock::matchers::any())
                        .respond_with(Api(shared))
                        .mount(&server)
                        .await;
                    server
                });
                let _ = ready.send(server.uri());
                let _ = stopped.recv();
                drop(server);
            })
            .expect("spawn fake heroku thread");
        let url = url.recv().expect("fake heroku started");
        let server = ServerThread {
            stop: Some(stop),
            thread: Some(thread),
        };
        (server, url)
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
