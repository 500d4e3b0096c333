//! How to reach Heroku and for which app: what [`super::Client::new`] is given.

use std::fmt;
use std::time::Duration;

use super::credentials::Credentials;
use super::redact::redact_url_text;

/// Every field comes from Ruby's settings, which check them at boot naming
/// the variable and own their defaults (the API's URL, the timeouts); the
/// client only asserts what it relies on.
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
        let config = ClientConfig {
            base_url: format!("https://u:{TOKEN}@h/x?t={TOKEN}"),
            app: "my-app".into(),
            credentials: Credentials::bearer(TOKEN),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        };
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
