//! How to reach Heroku and for which app: what [`super::Client::new`] is given.

use std::fmt;
use std::time::Duration;

use super::credentials::Credentials;
use super::redact::redact_url_text;

/// Heroku's Platform API.
const DEFAULT_BASE_URL: &str = "https://api.heroku.com";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Ruby's settings check every field at boot (`MiddleManagement::Settings`),
/// naming the variable; the client only asserts what it relies on.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// API base URL; a trailing slash and a path prefix (for a proxy) are
    /// fine.
    pub base_url: String,
    /// App name or app UUID.
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

// By hand: a base URL may carry a secret in its user info or query.
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

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "hk-UNIT-T0KEN-do-not-print";

    #[test]
    fn debug_and_display_hide_the_token_even_in_the_url() {
        let config = ClientConfig::new("my-app", Credentials::bearer(TOKEN))
            .with_base_url(format!("https://u:{TOKEN}@h/x?t={TOKEN}"));
        for text in [
            format!("{config:?}"),
            format!("{config:#?}"),
            format!("{config}"),
        ] {
            assert!(!text.contains(TOKEN), "{text}");
            assert!(text.contains("my-app"), "{text}");
            assert!(text.contains("https://h/x"), "{text}");
        }
    }
}
