//! A fake Heroku Platform API (formation endpoints) for tests.
//!
//! A real HTTP/1.1 server on `127.0.0.1:<random port>`, running on its own
//! thread with its own current-thread tokio runtime, so it works the same
//! from `#[test]` and `#[tokio::test]` (paused clock included) and from code
//! that runs its own runtime (the dispatcher). It validates requests the way
//! the formation schema says (Accept/version header, credentials, app, process
//! type, body shape), answers with schema-shaped formation objects and a
//! `RateLimit-Remaining` header on every response, records every request,
//! and injects faults on demand. Dropping it stops the server and closes
//! every connection.
//!
//! ```ignore
//! let heroku = FakeHeroku::builder().process("worker", 0).start();
//! heroku.fail_next(2, 503, "unavailable", "Heroku is down");
//! // ... point the client at heroku.url() with FakeHeroku::DEFAULT_TOKEN ...
//! assert!(heroku.wait_for_patches(1, Duration::from_secs(5)));
//! assert_eq!(heroku.quantity("worker"), Some(3));
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};

/// The `Accept` value Heroku's API version 3 requires.
pub const HEROKU_ACCEPT: &str = "application/vnd.heroku+json; version=3";
pub const RATE_LIMIT_MESSAGE: &str =
    "Your account reached the API rate limit\nPlease wait a few minutes before making new requests";
pub const MALFORMED_BODY: &str =
    "<!DOCTYPE html><html><head><title>Application Error</title></head><body>oops</body></html>";

const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path as sent (still percent-encoded), without the query string.
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// Status answered; `None` when the fake hung or dropped the connection.
    pub status: Option<u16>,
}

impl RecordedRequest {
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

#[derive(Clone, Debug)]
enum Fault {
    Respond(CannedResponse),
    /// Read the request, then close the connection without answering.
    Drop,
}

#[derive(Debug)]
struct Process {
    id: String,
    quantity: u32,
    max: Option<u32>,
    size: String,
    command: String,
    created_at: String,
    updated_at: String,
}

struct State {
    app: String,
    app_id: String,
    token: String,
    forbidden_tokens: Vec<String>,
    processes: BTreeMap<String, Process>,
    rate_limit_remaining: u32,
    faults: VecDeque<Fault>,
    delay: Duration,
    hang: bool,
    requests: Vec<RecordedRequest>,
    patches: usize,
    history: Vec<ScaleEvent>,
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
    processes: Vec<(String, u32, Option<u32>)>,
    size: String,
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
        self.processes
            .push((process_type.to_owned(), quantity, None));
        self
    }

    /// A process type that cannot be scaled above `max` (422
    /// `cannot_update_above_limit`).
    pub fn process_with_max(mut self, process_type: &str, quantity: u32, max: u32) -> Self {
        self.processes
            .push((process_type.to_owned(), quantity, Some(max)));
        self
    }

    /// Dyno size reported for every process type (default `Standard-1X`).
    pub fn size(mut self, size: &str) -> Self {
        self.size = size.to_owned();
        self
    }

    /// Eco/Basic: size `Eco`, at most one dyno per process type.
    pub fn eco(mut self) -> Self {
        self.size = "Eco".to_owned();
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
}

/// The fake server; see the module docs. Dropping it shuts it down.
pub struct FakeHeroku {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
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
            size: "Standard-1X".to_owned(),
            eco: false,
            rate_limit_remaining: Self::DEFAULT_RATE_LIMIT,
        }
    }

    /// Default app and token, formation `web = 1`, `worker = 0`.
    pub fn start() -> FakeHeroku {
        Self::builder().start()
    }

    fn start_with(config: FakeHerokuBuilder) -> FakeHeroku {
        let now = iso8601(SystemTime::now());
        let mut defs = config.processes.clone();
        if defs.is_empty() {
            defs = vec![("web".to_owned(), 1, None), ("worker".to_owned(), 0, None)];
        }
        let mut processes = BTreeMap::new();
        for (i, (name, quantity, max)) in defs.into_iter().enumerate() {
            let max = max.or(if config.eco { Some(1) } else { None });
            processes.insert(
                name.clone(),
                Process {
                    id: fake_uuid(0x100 + i as u64),
                    quantity,
                    max,
                    size: config.size.clone(),
                    command: format!("bin/{name}"),
                    created_at: now.clone(),
                    updated_at: now.clone(),
                },
            );
        }
        let state = State {
            app: config.app,
            app_id: fake_uuid(1),
            token: config.token,
            forbidden_tokens: config.forbidden_tokens,
            processes,
            rate_limit_remaining: config.rate_limit_remaining,
            faults: VecDeque::new(),
            delay: Duration::ZERO,
            hang: false,
            requests: Vec::new(),
            patches: 0,
            history: Vec::new(),
            next_request_id: 1,
        };
        let (counts, _) = watch::channel(Counts::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            counts,
        });

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown, mut shutdown_rx) = oneshot::channel::<()>();
        let server_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("fake-heroku".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake heroku runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    loop {
                        tokio::select! {
                            _ = &mut shutdown_rx => break,
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    let _ = stream.set_nodelay(true);
                                    tokio::spawn(serve_connection(Arc::clone(&server_shared), stream));
                                }
                            }
                        }
                    }
                });
                // Dropping the runtime cancels every connection task and
                // closes their sockets.
                drop(runtime);
            })
            .expect("spawn fake heroku thread");

        FakeHeroku {
            addr,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`, the base URL for the client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn app(&self) -> String {
        self.shared.state.lock().app.clone()
    }

    pub fn app_id(&self) -> String {
        self.shared.state.lock().app_id.clone()
    }

    pub fn token(&self) -> String {
        self.shared.state.lock().token.clone()
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
            .processes
            .get(process_type)
            .map(|p| p.quantity)
    }

    pub fn quantities(&self) -> BTreeMap<String, u32> {
        self.shared
            .state
            .lock()
            .processes
            .iter()
            .map(|(name, p)| (name.clone(), p.quantity))
            .collect()
    }

    /// Sets a quantity (creating the process type if needed), as if someone
    /// ran `heroku ps:scale` by hand. Not recorded in the scale history.
    pub fn set_quantity(&self, process_type: &str, quantity: u32) {
        let mut state = self.shared.state.lock();
        let n = state.processes.len() as u64;
        let size = state
            .processes
            .values()
            .next()
            .map(|p| p.size.clone())
            .unwrap_or_else(|| "Standard-1X".to_owned());
        let now = iso8601(SystemTime::now());
        let process = state
            .processes
            .entry(process_type.to_owned())
            .or_insert_with(|| Process {
                id: fake_uuid(0x100 + n),
                quantity: 0,
                max: None,
                size,
                command: format!("bin/{process_type}"),
                created_at: now.clone(),
                updated_at: now.clone(),
            });
        process.quantity = quantity;
        process.updated_at = now;
    }

    /// Limits a process type (`None` removes the limit).
    pub fn set_max_quantity(&self, process_type: &str, max: Option<u32>) {
        if let Some(p) = self.shared.state.lock().processes.get_mut(process_type) {
            p.max = max;
        }
    }

    /// Every successful quantity change made through the API, in order.
    pub fn scale_history(&self) -> Vec<ScaleEvent> {
        self.shared.state.lock().history.clone()
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
        let body = json!({ "id": id, "message": message }).to_string();
        self.push_faults(
            n,
            Fault::Respond(CannedResponse {
                status,
                content_type: "application/json",
                body,
                rate_limit_remaining: None,
            }),
        );
    }

    /// The next `n` requests get `status` with this raw body (e.g. a router's
    /// HTML error page).
    pub fn fail_next_with_body(
        &self,
        n: usize,
        status: u16,
        content_type: &'static str,
        body: &str,
    ) {
        self.push_faults(
            n,
            Fault::Respond(CannedResponse {
                status,
                content_type,
                body: body.to_owned(),
                rate_limit_remaining: None,
            }),
        );
    }

    /// The next `n` requests get 429 `rate_limit` with `RateLimit-Remaining: 0`.
    pub fn rate_limited(&self, n: usize) {
        self.push_faults(n, Fault::Respond(rate_limit_response()));
    }

    /// The next `n` requests get 200 with a non-JSON (HTML) body.
    pub fn malformed_next(&self, n: usize) {
        self.push_faults(
            n,
            Fault::Respond(CannedResponse {
                status: 200,
                content_type: "text/html",
                body: MALFORMED_BODY.to_owned(),
                rate_limit_remaining: None,
            }),
        );
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
        for _ in 0..n {
            state.faults.push_back(fault.clone());
        }
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
        state.history.clear();
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
            state.processes.get(process_type).map(|p| p.quantity) == Some(quantity)
        })
    }

    fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock();
        loop {
            if done(&state) {
                return true;
            }
            if self
                .shared
                .changed
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                return done(&state);
            }
        }
    }

    /// Async form of [`wait_for_requests`](Self::wait_for_requests). Its
    /// timeout is a tokio timer: with a paused clock prefer the blocking form.
    pub async fn wait_for_requests_async(&self, n: usize, timeout: Duration) -> bool {
        self.wait_counts_async(timeout, move |c| c.requests >= n)
            .await
    }

    pub async fn wait_for_patches_async(&self, n: usize, timeout: Duration) -> bool {
        self.wait_counts_async(timeout, move |c| c.patches >= n)
            .await
    }

    async fn wait_counts_async(
        &self,
        timeout: Duration,
        done: impl FnMut(&Counts) -> bool,
    ) -> bool {
        let mut rx = self.shared.counts.subscribe();
        let reached = matches!(
            tokio::time::timeout(timeout, rx.wait_for(done)).await,
            Ok(Ok(_))
        );
        reached
    }
}

impl Drop for FakeHeroku {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for FakeHeroku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHeroku")
            .field("addr", &self.addr)
            .finish()
    }
}

// --- connection handling ---------------------------------------------------

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

enum Action {
    Respond { response: Response, delay: Duration },
    Hang,
    Drop,
}

struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    rate_limit_remaining: u32,
    request_id: String,
}

async fn serve_connection(shared: Arc<Shared>, mut stream: TcpStream) {
    let mut buf = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buf).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(_) => {
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                return;
            }
        };
        let keep_alive = request.keep_alive;
        match handle(&shared, request) {
            Action::Drop => return,
            Action::Hang => {
                // Never answer; just wait for the client to go away.
                let mut sink = [0u8; 1024];
                while let Ok(n) = stream.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
                return;
            }
            Action::Respond { response, delay } => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let head = format!(
                    "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nRateLimit-Remaining: {}\r\nRequest-Id: {}\r\nConnection: {}\r\n\r\n",
                    response.status,
                    reason(response.status),
                    response.content_type,
                    response.body.len(),
                    response.rate_limit_remaining,
                    response.request_id,
                    if keep_alive { "keep-alive" } else { "close" },
                );
                let mut out = head.into_bytes();
                out.extend_from_slice(response.body.as_bytes());
                if stream.write_all(&out).await.is_err()
                    || stream.flush().await.is_err()
                    || !keep_alive
                {
                    return;
                }
            }
        }
    }
}

/// Reads one request; `Ok(None)` when the client closed the connection
/// between requests.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Request>> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let head_end = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(bad("head too large"));
        }
        if !fill(stream, buf).await? {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(bad("eof in head"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);

    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && t.starts_with('/') => {
            (m.to_owned(), t.to_owned(), v.to_owned())
        }
        _ => return Err(bad("bad request line")),
    };
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| bad("bad header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let connection = get("connection").unwrap_or_default();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    if get("expect").as_deref() == Some("100-continue") {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }

    let body = if get("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let line = read_line(stream, buf).await?;
            let size_text = line.split(';').next().unwrap_or_default().trim().to_owned();
            let size = usize::from_str_radix(&size_text, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !read_line(stream, buf).await?.is_empty() {}
                break;
            }
            if body.len() + size > MAX_BODY_BYTES {
                return Err(bad("body too large"));
            }
            let chunk = read_exact(stream, buf, size + 2).await?;
            body.extend_from_slice(&chunk[..size]);
        }
        body
    } else if let Some(length) = get("content-length") {
        let length: usize = length
            .trim()
            .parse()
            .map_err(|_| bad("bad content-length"))?;
        if length > MAX_BODY_BYTES {
            return Err(bad("body too large"));
        }
        read_exact(stream, buf, length).await?
    } else {
        Vec::new()
    };

    Ok(Some(Request {
        method,
        target,
        headers,
        body,
        keep_alive,
    }))
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

async fn read_line(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<String> {
    loop {
        if let Some(pos) = find(buf, b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..pos]).into_owned();
            buf.drain(..pos + 2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD_BYTES || !fill(stream, buf).await? {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "line",
            ));
        }
    }
}

async fn read_exact(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    n: usize,
) -> std::io::Result<Vec<u8>> {
    while buf.len() < n {
        if !fill(stream, buf).await? {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "body",
            ));
        }
    }
    Ok(buf.drain(..n).collect())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// --- the API ---------------------------------------------------------------

fn handle(shared: &Shared, request: Request) -> Action {
    let mut state = shared.state.lock();
    let exhausted = state.rate_limit_remaining == 0;
    state.rate_limit_remaining = state.rate_limit_remaining.saturating_sub(1);
    let (path, query) = match request.target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (request.target.clone(), None),
    };
    let index = state.requests.len();
    state.requests.push(RecordedRequest {
        method: request.method.clone(),
        path: path.clone(),
        query,
        headers: request.headers.clone(),
        body: request.body.clone(),
        at: Instant::now(),
        status: None,
    });
    if request.method == "PATCH" {
        state.patches += 1;
    }

    let outcome: Result<Option<CannedResponse>, ()> = if state.hang {
        Ok(None)
    } else if let Some(fault) = state.faults.pop_front() {
        match fault {
            Fault::Respond(response) => Ok(Some(response)),
            Fault::Drop => Err(()),
        }
    } else if exhausted {
        Ok(Some(rate_limit_response()))
    } else {
        let (status, body) = route(&mut state, &request, &path);
        Ok(Some(CannedResponse {
            status,
            content_type: "application/json",
            body: body.to_string(),
            rate_limit_remaining: None,
        }))
    };

    let action = match outcome {
        Ok(Some(canned)) => {
            state.requests[index].status = Some(canned.status);
            let request_id = format!("fake-{:08}", state.next_request_id);
            state.next_request_id += 1;
            Action::Respond {
                response: Response {
                    status: canned.status,
                    content_type: canned.content_type,
                    body: canned.body,
                    rate_limit_remaining: canned
                        .rate_limit_remaining
                        .unwrap_or(state.rate_limit_remaining),
                    request_id,
                },
                delay: state.delay,
            }
        }
        Ok(None) => Action::Hang,
        Err(()) => Action::Drop,
    };
    let counts = Counts {
        requests: state.requests.len(),
        patches: state.patches,
    };
    drop(state);
    shared.counts.send_replace(counts);
    shared.changed.notify_all();
    action
}

fn rate_limit_response() -> CannedResponse {
    CannedResponse {
        status: 429,
        content_type: "application/json",
        body: json!({ "id": "rate_limit", "message": RATE_LIMIT_MESSAGE }).to_string(),
        rate_limit_remaining: Some(0),
    }
}

fn error(status: u16, id: &str, message: &str) -> (u16, Value) {
    (status, json!({ "id": id, "message": message }))
}

fn route(state: &mut State, request: &Request, path: &str) -> (u16, Value) {
    // Version header.
    let accept = request.header("accept").unwrap_or_default();
    if !accept.contains(HEROKU_ACCEPT) {
        return error(
            400,
            "bad_request",
            "Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.",
        );
    }

    // Credentials.
    let authorization = request.header("authorization").unwrap_or_default();
    let presented = presented_token(authorization);
    let forbidden = match presented {
        Some(ref token) if *token == state.token => false,
        Some(ref token) if state.forbidden_tokens.contains(token) => true,
        _ => return error(401, "unauthorized", "Invalid credentials provided."),
    };

    // Route.
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let endpoint_not_found = || {
        error(
            404,
            "not_found",
            "The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and did you specify your intended version with the `Accept` header?",
        )
    };
    let process_type = match segments.as_slice() {
        [apps, _, formation] if apps == "apps" && formation == "formation" => None,
        [apps, _, formation, process_type] if apps == "apps" && formation == "formation" => {
            Some(process_type.clone())
        }
        _ => return endpoint_not_found(),
    };
    if request.method != "GET" && request.method != "PATCH" {
        return endpoint_not_found();
    }
    let app = &segments[1];
    if *app != state.app && *app != state.app_id {
        return error(404, "not_found", "Couldn't find that app.");
    }
    if forbidden {
        let message = format!("You do not have access to the app {}.", state.app);
        return error(403, "forbidden", &message);
    }

    // Body.
    let body = if request.method == "PATCH" {
        let content_type = request
            .header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !content_type.starts_with("application/json") {
            return error(
                400,
                "bad_request",
                "Request body must be JSON (Content-Type: application/json).",
            );
        }
        match serde_json::from_slice::<Value>(&request.body) {
            Ok(body) => Some(body),
            Err(_) => {
                return error(
                    400,
                    "bad_request",
                    "Unable to parse the request body as JSON.",
                )
            }
        }
    } else {
        None
    };

    match (request.method.as_str(), process_type, body) {
        ("GET", None, _) => {
            let list: Vec<Value> = state
                .processes
                .iter()
                .map(|(name, p)| formation_json(state, name, p))
                .collect();
            (200, Value::Array(list))
        }
        ("GET", Some(process_type), _) => match find_process(state, &process_type) {
            Some(name) => (200, formation_json(state, &name, &state.processes[&name])),
            None => type_not_found(&process_type),
        },
        ("PATCH", Some(process_type), Some(body)) => patch_one(state, &process_type, &body),
        ("PATCH", None, Some(body)) => patch_batch(state, &body),
        _ => endpoint_not_found(),
    }
}

fn type_not_found(process_type: &str) -> (u16, Value) {
    error(
        404,
        "not_found",
        &format!("Couldn't find that process type ({process_type})."),
    )
}

fn invalid_params(message: &str) -> (u16, Value) {
    error(422, "invalid_params", message)
}

/// A process type by name or formation id.
fn find_process(state: &State, identity: &str) -> Option<String> {
    if state.processes.contains_key(identity) {
        return Some(identity.to_owned());
    }
    state
        .processes
        .iter()
        .find(|(_, p)| p.id == identity)
        .map(|(name, _)| name.clone())
}

struct Change {
    name: String,
    quantity: Option<u32>,
    size: Option<String>,
}

/// Validates one update object against the schema's properties.
/// (type, quantity, size) of a valid update object, or the error response.
type ParsedUpdate = (Option<String>, Option<u32>, Option<String>);

fn parse_update(
    update: &Value,
    allowed: &[&str],
    require_type: bool,
) -> Result<ParsedUpdate, (u16, Value)> {
    let object: &Map<String, Value> = match update.as_object() {
        Some(object) => object,
        None => {
            return Err(invalid_params(
                "Expected an object of formation properties.",
            ))
        }
    };
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(invalid_params(&format!(
                "Invalid params: unexpected property `{key}`."
            )));
        }
    }
    let process_type = match object.get("type") {
        None if require_type => return Err(invalid_params("Invalid params: `type` is required.")),
        None => None,
        Some(Value::String(t)) if valid_type(t) => Some(t.clone()),
        Some(_) => {
            return Err(invalid_params(
                "Invalid params: `type` must be a process type name.",
            ))
        }
    };
    let quantity = match object.get("quantity") {
        None => None,
        Some(value) => match value.as_u64() {
            Some(q) if value.is_u64() && q <= u32::MAX as u64 => Some(q as u32),
            _ => {
                return Err(invalid_params(
                    "Invalid params: `quantity` must be a non-negative integer.",
                ))
            }
        },
    };
    let size = match (object.get("dyno_size"), object.get("size")) {
        (Some(Value::Object(d)), _) => match d.get("name").or_else(|| d.get("id")) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => {
                return Err(invalid_params(
                    "Invalid params: `dyno_size` needs `name` or `id`.",
                ))
            }
        },
        (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => Some(s.clone()),
        (None, None) => None,
        _ => return Err(invalid_params("Invalid params: bad dyno size.")),
    };
    Ok((process_type, quantity, size))
}

fn valid_type(t: &str) -> bool {
    (1..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn patch_one(state: &mut State, identity: &str, body: &Value) -> (u16, Value) {
    let (_, quantity, size) = match parse_update(body, &["quantity", "dyno_size", "size"], false) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    if quantity.is_none() {
        return invalid_params("Invalid params: `quantity` is required.");
    }
    let Some(name) = find_process(state, identity) else {
        return type_not_found(identity);
    };
    let changes = vec![Change {
        name,
        quantity,
        size,
    }];
    match apply(state, changes) {
        Ok(mut updated) => (200, updated.remove(0)),
        Err(response) => response,
    }
}

fn patch_batch(state: &mut State, body: &Value) -> (u16, Value) {
    let object = match body.as_object() {
        Some(object) => object,
        None => return invalid_params("Invalid params: expected an object with `updates`."),
    };
    if let Some(key) = object.keys().find(|k| *k != "updates") {
        return invalid_params(&format!("Invalid params: unexpected property `{key}`."));
    }
    let updates = match object.get("updates") {
        Some(Value::Array(updates)) => updates,
        Some(_) => return invalid_params("Invalid params: `updates` must be an array."),
        None => return invalid_params("Invalid params: `updates` is required."),
    };
    let mut changes = Vec::new();
    for update in updates {
        let (process_type, quantity, size) =
            match parse_update(update, &["type", "quantity", "dyno_size", "size"], true) {
                Ok(parsed) => parsed,
                Err(response) => return response,
            };
        let process_type = process_type.unwrap_or_default();
        let Some(name) = find_process(state, &process_type) else {
            return type_not_found(&process_type);
        };
        changes.push(Change {
            name,
            quantity,
            size,
        });
    }
    match apply(state, changes) {
        Ok(updated) => (200, Value::Array(updated)),
        Err(response) => response,
    }
}

/// Checks limits for all changes, then applies them all (atomic).
fn apply(state: &mut State, changes: Vec<Change>) -> Result<Vec<Value>, (u16, Value)> {
    for change in &changes {
        let process = &state.processes[&change.name];
        if let (Some(quantity), Some(max)) = (change.quantity, process.max) {
            if quantity > max {
                let size = change.size.as_deref().unwrap_or(&process.size);
                return Err(error(
                    422,
                    "cannot_update_above_limit",
                    &format!(
                        "Cannot update to more than {max} {size} size dynos per process type."
                    ),
                ));
            }
        }
    }
    let now = iso8601(SystemTime::now());
    let at = Instant::now();
    let mut updated = Vec::new();
    for change in changes {
        let process = state.processes.get_mut(&change.name).expect("validated");
        if let Some(quantity) = change.quantity {
            if quantity != process.quantity {
                state.history.push(ScaleEvent {
                    process_type: change.name.clone(),
                    from: process.quantity,
                    to: quantity,
                    at,
                });
            }
            process.quantity = quantity;
        }
        if let Some(size) = change.size {
            process.size = size;
        }
        process.updated_at = now.clone();
        let process = &state.processes[&change.name];
        updated.push(formation_json(state, &change.name, process));
    }
    Ok(updated)
}

fn formation_json(state: &State, name: &str, p: &Process) -> Value {
    json!({
        "app": { "id": state.app_id, "name": state.app },
        "command": p.command,
        "created_at": p.created_at,
        "dyno_size": { "id": fake_uuid(0x5153 + p.size.len() as u64), "name": p.size },
        "id": p.id,
        "quantity": p.quantity,
        "size": p.size,
        "type": name,
        "updated_at": p.updated_at,
    })
}

/// The token presented in a Bearer header, or the password of a Basic one.
fn presented_token(authorization: &str) -> Option<String> {
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64_decode(rest)?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_, password) = decoded.split_once(':')?;
        return Some(password.to_owned());
    }
    None
}

pub fn base64_decode(input: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(input).ok()
}

fn percent_decode(segment: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn fake_uuid(n: u64) -> String {
    format!("01234567-89ab-cdef-0123-{:012x}", n)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC).
fn iso8601(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_known_dates() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(1_325_419_200)),
            "2012-01-01T12:00:00Z"
        );
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn base64_and_percent_decoding() {
        assert_eq!(
            base64_decode("QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap(),
            b"Aladdin:open sesame"
        );
        assert_eq!(base64_decode("Zm9vYg==").unwrap(), b"foob");
        assert!(base64_decode("Zm9v!").is_none());
        assert_eq!(percent_decode("a%2Fb%"), "a/b%");
        assert_eq!(percent_decode("%41"), "A");
    }
}
