//! Typed errors of the Heroku client.

use std::fmt;

use super::redact::scrub;

/// What went wrong talking to Heroku.
///
/// `Display` gives one readable line, e.g.
/// `Heroku said 401 unauthorized: Invalid credentials provided.`; no variant
/// ever holds the API token (the client scrubs server-provided text too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HerokuError {
    /// Heroku (or something in front of it) answered with a non-2xx status.
    /// `id`/`message` come from Heroku's `{"id","message"}` error body; when
    /// the body is not that JSON, `id` is `""` and `message` is a short
    /// excerpt of the body (or the status' reason phrase when it is empty).
    Api {
        status: u16,
        id: String,
        message: String,
        rate_limit_remaining: Option<u32>,
    },
    /// No complete answer within the configured timeout (connect or request).
    Timeout,
    /// The request could not be sent or the connection broke (refused, reset,
    /// DNS, TLS…). The description names the method and URL without query
    /// string or credentials.
    Connect(String),
    /// A 2xx answer whose body is not the JSON the schema promises.
    Malformed { status: u16, detail: String },
    /// Rejected on our side before anything was sent: a base URL the client
    /// cannot address, a token that cannot go in a header.
    InvalidArgument(String),
}

impl HerokuError {
    /// Worth retrying later: network trouble, timeouts, 5xx, 429 (and 408).
    /// Credentials, permissions, unknown app/type, 422s, malformed bodies
    /// and invalid arguments are not.
    pub fn is_transient(&self) -> bool {
        match self {
            HerokuError::Timeout | HerokuError::Connect(_) => true,
            HerokuError::Api { status, id, .. } => {
                *status >= 500 || *status == 429 || *status == 408 || id == "rate_limit"
            }
            HerokuError::Malformed { .. } | HerokuError::InvalidArgument(_) => false,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            HerokuError::Api { status, .. } | HerokuError::Malformed { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Heroku's error id (`"unauthorized"`, `"cannot_update_above_limit"`…),
    /// when the answer carried one.
    pub fn id(&self) -> Option<&str> {
        match self {
            HerokuError::Api { id, .. } if !id.is_empty() => Some(id),
            _ => None,
        }
    }

    /// Heroku's `RateLimit-Remaining` header on the error answer, if any.
    pub fn rate_limit_remaining(&self) -> Option<u32> {
        match self {
            HerokuError::Api {
                rate_limit_remaining,
                ..
            } => *rate_limit_remaining,
            _ => None,
        }
    }

    /// A short stable label, used for Ruby exception classes and log lines:
    /// `unauthorized`, `forbidden`, `not_found`, `unprocessable`,
    /// `rate_limited`, `server_error`, `bad_request`, `http_error` (any other
    /// status), `timeout`, `connection`, `malformed`, `invalid_argument`.
    pub fn kind(&self) -> &'static str {
        match self {
            HerokuError::Api { status, id, .. } => match *status {
                _ if id == "rate_limit" => "rate_limited",
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not_found",
                422 => "unprocessable",
                429 => "rate_limited",
                400 => "bad_request",
                500..=599 => "server_error",
                _ => "http_error",
            },
            HerokuError::Timeout => "timeout",
            HerokuError::Connect(_) => "connection",
            HerokuError::Malformed { .. } => "malformed",
            HerokuError::InvalidArgument(_) => "invalid_argument",
        }
    }

    /// Replaces every occurrence of the given markers in the texts this
    /// error holds with `[REDACTED]`.
    pub(crate) fn scrubbed(self, markers: &[String]) -> HerokuError {
        let scrub = |text: String| scrub(text, markers);
        match self {
            HerokuError::Api {
                status,
                id,
                message,
                rate_limit_remaining,
            } => HerokuError::Api {
                status,
                id: scrub(id),
                message: scrub(message),
                rate_limit_remaining,
            },
            HerokuError::Connect(detail) => HerokuError::Connect(scrub(detail)),
            HerokuError::Malformed { status, detail } => HerokuError::Malformed {
                status,
                detail: scrub(detail),
            },
            HerokuError::InvalidArgument(detail) => HerokuError::InvalidArgument(scrub(detail)),
            HerokuError::Timeout => HerokuError::Timeout,
        }
    }
}

impl fmt::Display for HerokuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HerokuError::Api {
                status,
                id,
                message,
                ..
            } => {
                write!(f, "Heroku said {status}")?;
                if !id.is_empty() {
                    write!(f, " {id}")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            HerokuError::Timeout => f.write_str("Heroku did not answer in time (timeout)"),
            HerokuError::Connect(detail) => write!(f, "could not reach Heroku: {detail}"),
            HerokuError::Malformed { status, detail } => {
                write!(
                    f,
                    "Heroku answered {status} with an unexpected body: {detail}"
                )
            }
            HerokuError::InvalidArgument(detail) => write!(f, "invalid argument: {detail}"),
        }
    }
}

impl std::error::Error for HerokuError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_transience() {
        let api = |status: u16, id: &str| HerokuError::Api {
            status,
            id: id.into(),
            message: String::new(),
            rate_limit_remaining: None,
        };
        let cases: Vec<(HerokuError, &str, bool)> = vec![
            (api(400, "bad_request"), "bad_request", false),
            (api(401, "unauthorized"), "unauthorized", false),
            (api(403, "forbidden"), "forbidden", false),
            (api(404, "not_found"), "not_found", false),
            (api(408, ""), "http_error", true),
            (api(409, "conflict"), "http_error", false),
            (api(422, "invalid_params"), "unprocessable", false),
            (
                api(422, "cannot_update_above_limit"),
                "unprocessable",
                false,
            ),
            (api(429, "rate_limit"), "rate_limited", true),
            (api(403, "rate_limit"), "rate_limited", true),
            (api(500, "internal_server_error"), "server_error", true),
            (api(503, "unavailable"), "server_error", true),
            (HerokuError::Timeout, "timeout", true),
            (HerokuError::Connect("refused".into()), "connection", true),
            (
                HerokuError::Malformed {
                    status: 200,
                    detail: "x".into(),
                },
                "malformed",
                false,
            ),
            (
                HerokuError::InvalidArgument("x".into()),
                "invalid_argument",
                false,
            ),
        ];
        for (err, kind, transient) in cases {
            assert_eq!(err.kind(), kind, "{err:?}");
            assert_eq!(err.is_transient(), transient, "{err:?}");
        }
        assert_eq!(HerokuError::Timeout.status(), None);
        assert_eq!(HerokuError::Timeout.id(), None);
    }

    #[test]
    fn scrub_removes_markers_everywhere() {
        let markers = vec!["s3cr3t".to_owned(), String::new()];
        let err = HerokuError::Api {
            status: 401,
            id: "s3cr3t".into(),
            message: "token s3cr3t is bad, s3cr3t!".into(),
            rate_limit_remaining: None,
        }
        .scrubbed(&markers);
        assert!(!format!("{err} {err:?}").contains("s3cr3t"));
        assert_eq!(
            err.to_string(),
            "Heroku said 401 [REDACTED]: token [REDACTED] is bad, [REDACTED]!"
        );
        let err = HerokuError::Connect("x s3cr3t".into()).scrubbed(&markers);
        assert_eq!(err, HerokuError::Connect("x [REDACTED]".into()));
    }
}
