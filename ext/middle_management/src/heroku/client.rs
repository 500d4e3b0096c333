//! The HTTP client: one request per call, its answer read into a [`Reply`]
//! or a [`HerokuError`] scrubbed of the token.

use std::fmt;
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT as ACCEPT_HEADER, AUTHORIZATION};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use super::answer::Answer;
use super::config::ClientConfig;
use super::error::HerokuError;
use super::formation::{Formation, Reply};
use super::redact::{error_chain, safe_url};
use super::url::{formation_url, parse_base_url};

/// The `Accept` header every request carries (Platform API version 3).
const ACCEPT: &str = "application/vnd.heroku+json; version=3";
/// The `User-Agent` every request carries.
const USER_AGENT: &str = concat!("middle_management/", env!("CARGO_PKG_VERSION"));

/// The Platform API client. Cheap to clone (an `Arc`); `Debug` and
/// `Display` never show the secret.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
    leak_markers: Vec<String>,
    /// As given, for `Debug` and `Display`.
    config: ClientConfig,
}

impl Client {
    /// Builds the HTTP client; sends nothing. Fails only for a base URL or
    /// token that cannot be put in a request.
    pub fn new(config: ClientConfig) -> Result<Client, HerokuError> {
        let leak_markers = config.credentials.leak_markers();
        Self::build(config, &leak_markers).map_err(|err| err.scrubbed(&leak_markers))
    }

    fn build(config: ClientConfig, leak_markers: &[String]) -> Result<Client, HerokuError> {
        // Ruby sends fixed timeouts; zero would fail every call at once.
        debug_assert!(!config.connect_timeout.is_zero() && !config.request_timeout.is_zero());
        let base = parse_base_url(&config.base_url)?;
        let authorization = config.credentials.header()?;

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
                authorization,
                leak_markers: leak_markers.to_vec(),
                config,
            }),
        })
    }

    /// `GET /apps/{app}/formation/{type}`.
    pub async fn info(&self, process_type: &str) -> Result<Reply<Formation>, HerokuError> {
        let url = self.url(Some(process_type));
        self.call(Method::GET, url, None, "a formation object")
            .await
    }

    /// `GET /apps/{app}/formation`.
    pub async fn list(&self) -> Result<Reply<Vec<Formation>>, HerokuError> {
        let url = self.url(None);
        self.call(Method::GET, url, None, "an array of formation objects")
            .await
    }

    /// `PATCH /apps/{app}/formation/{type}` with `{"quantity": N}`.
    pub async fn update(
        &self,
        process_type: &str,
        quantity: u32,
    ) -> Result<Reply<Formation>, HerokuError> {
        let url = self.url(Some(process_type));
        let body = serde_json::json!({ "quantity": quantity });
        self.call(Method::PATCH, url, Some(body), "a formation object")
            .await
    }

    /// `PATCH /apps/{app}/formation` with
    /// `{"updates": [{"type": …, "quantity": …}, …]}`.
    pub async fn batch_update(
        &self,
        updates: &[(String, u32)],
    ) -> Result<Reply<Vec<Formation>>, HerokuError> {
        // Heroku accepts an empty batch; a caller that sends one has lost
        // track of its pool.
        debug_assert!(!updates.is_empty(), "an empty batch update");
        let updates: Vec<serde_json::Value> = updates
            .iter()
            .map(|(process_type, quantity)| {
                serde_json::json!({ "type": process_type, "quantity": quantity })
            })
            .collect();
        let body = serde_json::json!({ "updates": updates });
        let url = self.url(None);
        self.call(
            Method::PATCH,
            url,
            Some(body),
            "an array of formation objects",
        )
        .await
    }

    fn url(&self, process_type: Option<&str>) -> Url {
        formation_url(&self.inner.base, &self.inner.config.app, process_type)
    }

    /// One request; whatever error it ends in is scrubbed of the token.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        expected: &'static str,
    ) -> Result<Reply<T>, HerokuError> {
        let markers = &self.inner.leak_markers;
        self.send(method, url, body)
            .await
            .and_then(|answer| answer.reply(expected, markers))
            .map_err(|err| err.scrubbed(markers))
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
    ) -> Result<Answer, HerokuError> {
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, self.inner.authorization.clone());
        if let Some(body) = body {
            request = request.json(&body);
        }

        let transport = |err| transport_error(&method, &url, err);
        let response = request.send().await.map_err(transport)?;
        Answer::read(response).await.map_err(transport)
    }
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

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Client").field(&self.inner.config).finish()
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Heroku client for {}", self.inner.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_errors_cross_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Client>();
        assert_send_sync::<ClientConfig>();
        assert_send_sync::<HerokuError>();
        assert_send_sync::<Reply<Vec<Formation>>>();
    }
}
