//! Where alerts go besides the log: a POST of `{"text": …}` (the body of
//! Slack's incoming webhooks, which most chat tools accept as well) to
//! MIDDLE_MANAGEMENT_ALERT_WEBHOOK_URL. Which alerts to send, and how
//! often, is decided in Ruby under the app's record; this only delivers.
//!
//! The URL is a secret: Slack's carries its token in the path. Only its
//! host ever shows, in `Debug` and in errors.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

use crate::heroku::error_chain;

const USER_AGENT: &str = concat!("middle_management/", env!("CARGO_PKG_VERSION"));

pub struct Webhook {
    http: reqwest::Client,
    url: Url,
    host: String,
}

impl Webhook {
    /// Builds the client; sends nothing. Ruby has checked the URL (http(s),
    /// https unless the host is a loopback one).
    pub fn new(
        url: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Webhook, String> {
        let url = Url::parse(url).map_err(|_| "the webhook URL does not parse".to_owned())?;
        let host = url.host_str().unwrap_or("?").to_owned();
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            // A redirect could carry the alert somewhere the user never named.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| {
                format!(
                    "could not build the webhook's client: {}",
                    error_chain(&err)
                )
            })?;
        Ok(Webhook { http, url, host })
    }

    /// The URL's host: all of it that may be shown.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// One POST of `text`; Ok once the server answers 2xx.
    pub async fn post(&self, text: &str) -> Result<(), String> {
        let body = serde_json::json!({ "text": text });
        let answer = self
            .http
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|err| {
                format!(
                    "{} did not answer: {}",
                    self.host,
                    error_chain(&err.without_url())
                )
            })?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{} answered {}", self.host, status))
        }
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Webhook({})", self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const SECRET_PATH: &str = "/services/T000/B000/s3cr3t-w3bh00k";

    fn webhook(server: &MockServer) -> Webhook {
        let url = format!("{}{SECRET_PATH}", server.uri());
        Webhook::new(&url, Duration::from_secs(1), Duration::from_millis(300)).unwrap()
    }

    #[tokio::test]
    async fn posts_the_text_as_slack_reads_it() {
        let server = MockServer::builder().start().await;
        Mock::given(method("POST"))
            .and(path(SECRET_PATH))
            .and(body_json(serde_json::json!({ "text": "worker: stuck" })))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(webhook(&server).post("worker: stuck").await, Ok(()));
    }

    #[tokio::test]
    async fn failures_name_the_host_and_never_the_path() {
        let server = MockServer::builder().start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        let hook = webhook(&server);
        let refused = hook.post("x").await.unwrap_err();
        assert!(refused.contains("404"), "{refused}");
        assert!(!refused.contains("s3cr3t"), "{refused}");
        assert!(!format!("{hook:?}").contains("s3cr3t"));

        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
            .mount(&server)
            .await;
        let slow = hook.post("x").await.unwrap_err();
        assert!(!slow.contains("s3cr3t"), "{slow}");
        assert!(slow.contains("did not answer"), "{slow}");
    }
}
