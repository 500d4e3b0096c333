//! Heroku Platform API client: the formation endpoints (info, list, update,
//! batch update) over async reqwest, with typed errors built from Heroku's
//! `{"id","message"}` bodies and the `RateLimit-Remaining` header read on
//! every answer.
//!
//! The client knows nothing of Ruby and does no retrying or pacing of its
//! own (that is the dispatcher's job); it only makes one request per call
//! and says precisely what happened. Secrets never show up in `Debug`,
//! `Display` or error text: [`Secret`] redacts itself and every error is
//! scrubbed of the token before it is returned, even when a server echoes
//! it back.

pub mod credentials;
pub mod error;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT as ACCEPT_HEADER, AUTHORIZATION, CONTENT_TYPE,
};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use credentials::{Credentials, Secret};
pub use error::HerokuError;

/// Heroku's Platform API.
pub const DEFAULT_BASE_URL: &str = "https://api.heroku.com";
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The `Accept` header every request carries (Platform API version 3).
pub const ACCEPT: &str = "application/vnd.heroku+json; version=3";
/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!("middle_management/", env!("CARGO_PKG_VERSION"));
/// Name of the rate-limit header Heroku sends on every answer.
pub const RATE_LIMIT_REMAINING: &str = "RateLimit-Remaining";

/// Bodies larger than this are not read any further (Heroku's are tiny).
const MAX_BODY_BYTES: usize = 1 << 20;

/// How to reach Heroku and for which app.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// API base URL, `https://api.heroku.com` by default; a trailing slash
    /// and a path prefix (for a proxy) are fine; userinfo, query strings and
    /// fragments are rejected by [`Client::new`].
    pub base_url: String,
    /// App name (`^[a-z][a-z0-9-]{1,28}[a-z0-9]$`) or app UUID.
    pub app: String,
    pub credentials: Credentials,
    pub connect_timeout: Duration,
    /// Whole request, answer body included.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// A configuration with the default base URL and timeouts.
    pub fn new(app: impl Into<String>, credentials: Credentials) -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            app: app.into(),
            credentials,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    pub fn with_timeouts(mut self, connect_timeout: Duration, request_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self.request_timeout = request_timeout;
        self
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &redact_url_text(&self.base_url))
            .field("app", &self.app)
            .field("credentials", &self.credentials)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl fmt::Display for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "app {:?} at {} ({})",
            self.app,
            redact_url_text(&self.base_url),
            self.credentials
        )
    }
}

/// One process type's formation, as Heroku reports it. Unknown fields are
/// ignored; `size` falls back to `dyno_size.name` when Heroku omits the
/// deprecated `size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawFormation")]
pub struct Formation {
    #[serde(rename = "type")]
    pub process_type: String,
    pub quantity: u32,
    pub size: Option<String>,
    pub command: Option<String>,
}

#[derive(Deserialize)]
struct RawFormation {
    #[serde(rename = "type")]
    process_type: String,
    quantity: u32,
    size: Option<String>,
    command: Option<String>,
    dyno_size: Option<RawDynoSize>,
}

#[derive(Deserialize)]
struct RawDynoSize {
    name: Option<String>,
}

impl From<RawFormation> for Formation {
    fn from(raw: RawFormation) -> Self {
        Formation {
            process_type: raw.process_type,
            quantity: raw.quantity,
            size: raw.size.or_else(|| raw.dyno_size.and_then(|d| d.name)),
            command: raw.command,
        }
    }
}

/// A successful answer and the `RateLimit-Remaining` it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<T> {
    pub value: T,
    pub rate_limit_remaining: Option<u32>,
}

/// The Platform API client. Cheap to clone (an `Arc`); `Debug` and
/// `Display` never show the secret.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    app: String,
    credentials: Credentials,
    authorization: HeaderValue,
    leak_markers: Vec<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl Client {
    /// Validates the configuration (app name, base URL, timeouts,
    /// credentials) and builds the HTTP client. Sends nothing.
    pub fn new(config: ClientConfig) -> Result<Client, HerokuError> {
        let leak_markers = config.credentials.leak_markers();
        Self::build(config, &leak_markers).map_err(|err| err.scrubbed(&leak_markers))
    }

    fn build(config: ClientConfig, leak_markers: &[String]) -> Result<Client, HerokuError> {
        validate_app(&config.app)?;
        let base = parse_base_url(&config.base_url)?;
        for (name, value) in [
            ("connect_timeout", config.connect_timeout),
            ("request_timeout", config.request_timeout),
        ] {
            if value.is_zero() {
                return Err(HerokuError::InvalidArgument(format!(
                    "{name} must be greater than zero"
                )));
            }
        }
        let authorization = authorization_header(&config.credentials)?;

        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_HEADER, HeaderValue::from_static(ACCEPT));
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // The Platform API does not redirect; following one could carry
            // the Authorization header somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| {
                HerokuError::InvalidArgument(format!(
                    "could not build the HTTP client: {}",
                    error_chain(&err)
                ))
            })?;

        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                app: config.app,
                credentials: config.credentials,
                authorization,
                leak_markers: leak_markers.to_vec(),
                connect_timeout: config.connect_timeout,
                request_timeout: config.request_timeout,
            }),
        })
    }

    /// The app this client scales.
    pub fn app(&self) -> &str {
        &self.inner.app
    }

    /// The API base URL (normalised, no trailing slash).
    pub fn base_url(&self) -> String {
        self.inner.base.as_str().trim_end_matches('/').to_owned()
    }

    /// `GET /apps/{app}/formation/{type}`.
    pub async fn info(&self, process_type: &str) -> Result<Reply<Formation>, HerokuError> {
        validate_process_type(process_type)?;
        let url = self.formation_url(Some(process_type));
        self.call(Method::GET, url, None, "a formation object")
            .await
    }

    /// `GET /apps/{app}/formation`.
    pub async fn list(&self) -> Result<Reply<Vec<Formation>>, HerokuError> {
        let url = self.formation_url(None);
        self.call(Method::GET, url, None, "an array of formation objects")
            .await
    }

    /// `PATCH /apps/{app}/formation/{type}` with `{"quantity": N}`.
    pub async fn update(
        &self,
        process_type: &str,
        quantity: u32,
    ) -> Result<Reply<Formation>, HerokuError> {
        validate_process_type(process_type)?;
        let url = self.formation_url(Some(process_type));
        let body = serde_json::json!({ "quantity": quantity });
        self.call(Method::PATCH, url, Some(body), "a formation object")
            .await
    }

    /// `PATCH /apps/{app}/formation` with
    /// `{"updates": [{"type": …, "quantity": …}, …]}`. At least one update.
    pub async fn batch_update(
        &self,
        updates: &[(String, u32)],
    ) -> Result<Reply<Vec<Formation>>, HerokuError> {
        if updates.is_empty() {
            return Err(HerokuError::InvalidArgument(
                "batch_update needs at least one update".to_owned(),
            ));
        }
        for (process_type, _) in updates {
            validate_process_type(process_type)?;
        }
        let updates: Vec<serde_json::Value> = updates
            .iter()
            .map(|(process_type, quantity)| serde_json::json!({ "type": process_type, "quantity": quantity }))
            .collect();
        let body = serde_json::json!({ "updates": updates });
        let url = self.formation_url(None);
        self.call(
            Method::PATCH,
            url,
            Some(body),
            "an array of formation objects",
        )
        .await
    }

    fn formation_url(&self, process_type: Option<&str>) -> Url {
        let mut url = self.inner.base.clone();
        {
            // `parse_base_url` only accepts http(s) URLs, which can be bases.
            let mut segments = url.path_segments_mut().expect("http(s) URL");
            segments
                .pop_if_empty()
                .push("apps")
                .push(&self.inner.app)
                .push("formation");
            if let Some(process_type) = process_type {
                segments.push(process_type);
            }
        }
        url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        expected: &'static str,
    ) -> Result<Reply<T>, HerokuError> {
        self.call_unscrubbed(method, url, body, expected)
            .await
            .map_err(|err| err.scrubbed(&self.inner.leak_markers))
    }

    async fn call_unscrubbed<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        expected: &'static str,
    ) -> Result<Reply<T>, HerokuError> {
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, self.inner.authorization.clone());
        if let Some(body) = body {
            let bytes = serde_json::to_vec(&body)
                .map_err(|err| HerokuError::InvalidArgument(err.to_string()))?;
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(bytes);
        }

        let mut response = request
            .send()
            .await
            .map_err(|err| transport_error(&method, &url, err))?;
        let status = response.status();
        let rate_limit_remaining = response
            .headers()
            .get(RATE_LIMIT_REMAINING)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u32>().ok());

        let mut bytes: Vec<u8> = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| transport_error(&method, &url, err))?
        {
            let room = MAX_BODY_BYTES - bytes.len();
            if chunk.len() > room {
                bytes.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            bytes.extend_from_slice(&chunk);
        }

        // A body may echo the token: it is scrubbed whole, before an excerpt
        // cuts it where the marker would no longer match.
        let scrubbed = |bytes: &[u8]| {
            error::scrub(String::from_utf8_lossy(bytes).into_owned(), &self.inner.leak_markers)
        };
        if !status.is_success() {
            return Err(HerokuError::from_response(
                status.as_u16(),
                status.canonical_reason(),
                scrubbed(&bytes).as_bytes(),
                rate_limit_remaining,
            ));
        }
        if truncated {
            return Err(HerokuError::Malformed {
                status: status.as_u16(),
                detail: format!(
                    "expected {expected}, got a body larger than {MAX_BODY_BYTES} bytes"
                ),
            });
        }
        match serde_json::from_slice::<T>(&bytes) {
            Ok(value) => Ok(Reply {
                value,
                rate_limit_remaining,
            }),
            Err(err) => Err(HerokuError::Malformed {
                status: status.as_u16(),
                detail: format!(
                    "expected {expected} ({err}); body: {:?}",
                    error::excerpt(scrubbed(&bytes).as_bytes(), error::EXCERPT_CHARS)
                ),
            }),
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url())
            .field("app", &self.inner.app)
            .field("credentials", &self.inner.credentials)
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("request_timeout", &self.inner.request_timeout)
            .finish()
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Heroku client for app {:?} at {} ({})",
            self.inner.app,
            self.base_url(),
            self.inner.credentials
        )
    }
}

/// Checks an app identity: a Heroku app name
/// (`^[a-z][a-z0-9-]{1,28}[a-z0-9]$`) or an app UUID.
pub fn validate_app(app: &str) -> Result<(), HerokuError> {
    if is_app_name(app) || is_uuid(app) {
        return Ok(());
    }
    Err(HerokuError::InvalidArgument(format!(
        "app {} is not a Heroku app name (3 to 30 lowercase letters, digits and dashes, \
         starting with a letter and not ending with a dash) nor an app id",
        quoted_excerpt(app)
    )))
}

/// Checks a process type (formation identity): `^[-\w]{1,128}$`, ASCII.
pub fn validate_process_type(process_type: &str) -> Result<(), HerokuError> {
    let valid = (1..=128).contains(&process_type.len())
        && process_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        return Ok(());
    }
    Err(HerokuError::InvalidArgument(format!(
        "process type {} is not a Heroku process type (1 to 128 letters, digits, '_' and '-')",
        quoted_excerpt(process_type)
    )))
}

fn is_app_name(app: &str) -> bool {
    let bytes = app.as_bytes();
    (3..=30).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && bytes[bytes.len() - 1] != b'-'
}

fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn quoted_excerpt(text: &str) -> String {
    let mut shown: String = text.chars().take(64).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

fn parse_base_url(base_url: &str) -> Result<Url, HerokuError> {
    let invalid = |why: String| HerokuError::InvalidArgument(format!("base_url {why}"));
    let url = Url::parse(base_url.trim())
        .map_err(|err| invalid(format!("is not a valid URL ({err})")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid(format!(
            "must be an http or https URL, not {:?}",
            url.scheme()
        )));
    }
    if url.host_str().map_or(true, str::is_empty) {
        return Err(invalid("has no host".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not contain a user name or password; pass them as credentials".to_owned(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "must not contain a query string or fragment".to_owned(),
        ));
    }
    Ok(url)
}

fn authorization_header(credentials: &Credentials) -> Result<HeaderValue, HerokuError> {
    let trimmed;
    let credentials = match credentials {
        Credentials::Bearer(token) => {
            trimmed = Credentials::bearer(token.expose().trim());
            &trimmed
        }
        Credentials::Basic { username, password } => {
            if username.contains(':') {
                return Err(HerokuError::InvalidArgument(
                    "the HTTP Basic user name must not contain ':'".to_owned(),
                ));
            }
            trimmed = Credentials::basic(username.trim(), password.expose().trim());
            &trimmed
        }
    };
    if credentials.secret().is_empty() {
        return Err(HerokuError::InvalidArgument(
            "the API token is empty".to_owned(),
        ));
    }
    let mut value = HeaderValue::from_str(&credentials.authorization_value()).map_err(|_| {
        HerokuError::InvalidArgument(
            "the API token contains characters that cannot go in an HTTP header".to_owned(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Maps a reqwest failure (no answer, or the answer broke off).
fn transport_error(method: &Method, url: &Url, err: reqwest::Error) -> HerokuError {
    if err.is_timeout() {
        return HerokuError::Timeout;
    }
    let builder = err.is_builder();
    let detail = format!(
        "{method} {}: {}",
        safe_url(url),
        error_chain(&err.without_url())
    );
    if builder {
        HerokuError::InvalidArgument(detail)
    } else {
        HerokuError::Connect(detail)
    }
}

/// `scheme://host:port/path`: no userinfo, query or fragment.
fn safe_url(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// An error and its sources joined with ": ", repeats left out, with any URL
/// in the text cut at its query string.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        let text = text.trim();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(text)) {
            parts.push(text.to_owned());
        }
        current = e.source();
    }
    redact_url_text(&parts.join(": "))
}

/// Strips userinfo and query strings from anything URL-like in `text`.
fn redact_url_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match word.find("://") {
            Some(scheme_end) => {
                let (scheme, rest) = word.split_at(scheme_end + 3);
                let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let (authority, tail) = rest.split_at(authority_end);
                let host = match authority.rfind('@') {
                    Some(at) => &authority[at + 1..],
                    None => authority,
                };
                let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
                let closing = if tail[path_end..].ends_with(')') {
                    ")"
                } else {
                    ""
                };
                out.push_str(scheme);
                out.push_str(host);
                out.push_str(&tail[..path_end]);
                out.push_str(closing);
            }
            None => out.push_str(word),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "hk-UNIT-T0KEN-do-not-print";

    fn config() -> ClientConfig {
        ClientConfig::new("my-app", Credentials::bearer(TOKEN))
    }

    #[test]
    fn app_names() {
        for ok in [
            "my-app",
            "abc",
            "a1b",
            "a23456789012345678901234567890",
            "01234567-89ab-cdef-0123-456789ABCDEF",
        ] {
            assert!(validate_app(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "My-app",
            "1app",
            "app-",
            "a234567890123456789012345678901",
            "my app",
            "my_app",
            "my/app",
            "../x",
            "app%2F",
            "appé",
            "01234567-89ab-cdef-0123-456789abcdeg",
        ] {
            let err = validate_app(bad).unwrap_err();
            assert_eq!(err.kind(), "invalid_argument", "{bad}");
            assert!(
                err.to_string().starts_with("invalid argument: app "),
                "{err}"
            );
        }
    }

    #[test]
    fn process_types() {
        for ok in ["worker", "web", "urgent_worker-2", "W", &"x".repeat(128)] {
            assert!(validate_process_type(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a/b",
            "..",
            "a?b",
            "wörker",
            "a%20",
            &"x".repeat(129),
        ] {
            let err = validate_process_type(bad).unwrap_err();
            assert_eq!(err.kind(), "invalid_argument", "{bad}");
        }
        let long = validate_process_type(&"y".repeat(500))
            .unwrap_err()
            .to_string();
        assert!(long.len() < 200, "{long}");
    }

    #[test]
    fn urls_are_built_from_the_base() {
        for (base, expected) in [
            (
                "https://api.heroku.com",
                "https://api.heroku.com/apps/my-app/formation/worker",
            ),
            (
                "https://api.heroku.com/",
                "https://api.heroku.com/apps/my-app/formation/worker",
            ),
            (
                "http://127.0.0.1:4567/",
                "http://127.0.0.1:4567/apps/my-app/formation/worker",
            ),
            (
                "http://proxy.local/heroku/",
                "http://proxy.local/heroku/apps/my-app/formation/worker",
            ),
            (
                "http://proxy.local/heroku",
                "http://proxy.local/heroku/apps/my-app/formation/worker",
            ),
        ] {
            let client = Client::new(config().with_base_url(base)).unwrap();
            assert_eq!(
                client.formation_url(Some("worker")).as_str(),
                expected,
                "{base}"
            );
            assert_eq!(
                client.formation_url(None).as_str(),
                expected.trim_end_matches("/worker"),
                "{base}"
            );
        }
    }

    #[test]
    fn rejects_bad_configuration_without_echoing_secrets() {
        let cases: Vec<(ClientConfig, &str)> = vec![
            (
                config().with_base_url("not a url"),
                "base_url is not a valid URL",
            ),
            (config().with_base_url("ftp://x"), "http or https"),
            (
                config().with_base_url(format!("https://user:{TOKEN}@api.heroku.com")),
                "user name or password",
            ),
            (
                config().with_base_url(format!("https://api.heroku.com/?key={TOKEN}")),
                "query string",
            ),
            (
                ClientConfig::new("Bad App", Credentials::bearer(TOKEN)),
                "is not a Heroku app name",
            ),
            (
                ClientConfig::new(TOKEN, Credentials::bearer(TOKEN)),
                "is not a Heroku app name",
            ),
            (
                ClientConfig::new("my-app", Credentials::bearer("  ")),
                "token is empty",
            ),
            (
                ClientConfig::new("my-app", Credentials::bearer(format!("{TOKEN}\u{7f}x"))),
                "cannot go in an HTTP header",
            ),
            (
                ClientConfig::new("my-app", Credentials::basic("a:b", TOKEN)),
                "must not contain ':'",
            ),
            (
                config().with_timeouts(Duration::ZERO, Duration::from_secs(1)),
                "connect_timeout",
            ),
            (
                config().with_timeouts(Duration::from_secs(1), Duration::ZERO),
                "request_timeout",
            ),
        ];
        for (config, expected) in cases {
            let err = Client::new(config).unwrap_err();
            let text = format!("{err} {err:?}");
            assert_eq!(err.kind(), "invalid_argument");
            assert!(text.contains(expected), "{text}");
            assert!(!text.contains(TOKEN), "{text}");
        }
    }

    #[test]
    fn tokens_are_trimmed_and_sensitive() {
        let header = authorization_header(&Credentials::bearer(format!(" {TOKEN}\n"))).unwrap();
        assert_eq!(header.to_str().unwrap(), format!("Bearer {TOKEN}"));
        assert!(header.is_sensitive());
    }

    #[test]
    fn debug_and_display_hide_the_token() {
        let config = config().with_base_url("http://127.0.0.1:9/");
        let client = Client::new(config.clone()).unwrap();
        for text in [
            format!("{config:?}"),
            format!("{config:#?}"),
            format!("{config}"),
            format!("{client:?}"),
            format!("{client}"),
        ] {
            assert!(!text.contains(TOKEN), "{text}");
            assert!(text.contains("my-app"), "{text}");
        }
        let with_userinfo = ClientConfig {
            base_url: format!("https://u:{TOKEN}@h/x?t={TOKEN}"),
            ..config
        };
        assert!(!format!("{with_userinfo:?} {with_userinfo}").contains(TOKEN));
    }

    #[test]
    fn url_text_redaction() {
        assert_eq!(
            redact_url_text("error sending request for url (https://u:p@host:1/a/b?x=1#f)"),
            "error sending request for url (https://host:1/a/b)"
        );
        assert_eq!(redact_url_text("http://h?q"), "http://h");
        assert_eq!(redact_url_text("plain words"), "plain words");
    }

    #[test]
    fn formation_parsing_is_tolerant() {
        let full = r#"{"app":{"id":"01234567-89ab-cdef-0123-456789abcdef","name":"example"},
            "command":"bundle exec rake jobs:work","created_at":"2012-01-01T12:00:00Z",
            "dyno_size":{"id":"01234567-89ab-cdef-0123-456789abcdef","name":"Standard-1X"},
            "id":"01234567-89ab-cdef-0123-456789abcdef","quantity":2,"size":"standard-1X",
            "type":"worker","updated_at":"2012-01-01T12:00:00Z","future":[1,2]}"#;
        let formation: Formation = serde_json::from_str(full).unwrap();
        assert_eq!(
            formation,
            Formation {
                process_type: "worker".into(),
                quantity: 2,
                size: Some("standard-1X".into()),
                command: Some("bundle exec rake jobs:work".into()),
            }
        );
        let minimal: Formation = serde_json::from_str(
            r#"{"type":"web","quantity":0,"command":null,"dyno_size":{"name":"Eco"}}"#,
        )
        .unwrap();
        assert_eq!(minimal.size.as_deref(), Some("Eco"));
        assert_eq!(minimal.command, None);
        assert!(serde_json::from_str::<Formation>(r#"{"type":"web","quantity":-1}"#).is_err());
        assert!(serde_json::from_str::<Formation>(r#"{"quantity":1}"#).is_err());
    }

    #[test]
    fn client_and_errors_cross_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Client>();
        assert_send_sync::<ClientConfig>();
        assert_send_sync::<HerokuError>();
        assert_send_sync::<Reply<Vec<Formation>>>();
    }

    #[test]
    fn user_agent_names_the_gem() {
        assert_eq!(
            USER_AGENT,
            format!("middle_management/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
