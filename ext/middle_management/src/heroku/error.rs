//! Typed errors of the Heroku client.

use std::fmt;

use serde::Deserialize;

/// Longest excerpt of an unexpected response body kept in an error, in chars.
pub const EXCERPT_CHARS: usize = 200;

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
    /// Rejected on our side before anything was sent (bad app name, process
    /// type, base URL, timeout…).
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

    /// Builds the error for a non-2xx answer from its body.
    pub(crate) fn from_response(
        status: u16,
        reason: Option<&str>,
        body: &[u8],
        rate_limit_remaining: Option<u32>,
    ) -> HerokuError {
        let (id, message) = match parse_error_body(body) {
            Some(parsed) => parsed,
            None => {
                let text = excerpt(body, EXCERPT_CHARS);
                let message = if text.is_empty() {
                    reason.unwrap_or("").to_owned()
                } else {
                    text
                };
                (String::new(), message)
            }
        };
        HerokuError::Api {
            status,
            id,
            message,
            rate_limit_remaining,
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

#[derive(Deserialize)]
struct ErrorBody {
    id: String,
    message: String,
}

/// Heroku's `{"id": "...", "message": "..."}` (extra fields such as `url`
/// allowed). `None` when the body is anything else.
pub(crate) fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let id = one_line(&parsed.id, 64);
    let message = one_line(&parsed.message, 2 * EXCERPT_CHARS);
    Some((id, message))
}

/// A bounded, single-line excerpt of a body (lossy UTF-8, whitespace and
/// control characters collapsed, `…` appended when cut).
pub(crate) fn excerpt(body: &[u8], max_chars: usize) -> String {
    one_line(&String::from_utf8_lossy(body), max_chars)
}

fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    for ch in text.chars() {
        if ch.is_whitespace() || ch.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            if count >= max_chars {
                out.push('…');
                return out;
            }
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        if count >= max_chars {
            out.push('…');
            return out;
        }
        out.push(ch);
        count += 1;
    }
    out
}

/// Replaces every occurrence of each non-empty marker with `[REDACTED]`.
pub(crate) fn scrub(mut text: String, markers: &[String]) -> String {
    for marker in markers {
        if !marker.is_empty() && text.contains(marker.as_str()) {
            text = text.replace(marker.as_str(), super::credentials::REDACTED);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heroku_error_bodies() {
        let err = HerokuError::from_response(
            401,
            Some("Unauthorized"),
            br#"{"id":"unauthorized","message":"Invalid credentials provided."}"#,
            Some(4499),
        );
        assert_eq!(
            err,
            HerokuError::Api {
                status: 401,
                id: "unauthorized".into(),
                message: "Invalid credentials provided.".into(),
                rate_limit_remaining: Some(4499),
            }
        );
        assert_eq!(
            err.to_string(),
            "Heroku said 401 unauthorized: Invalid credentials provided."
        );
        assert_eq!(err.kind(), "unauthorized");
        assert_eq!(err.id(), Some("unauthorized"));
        assert_eq!(err.status(), Some(401));
        assert_eq!(err.rate_limit_remaining(), Some(4499));
        assert!(!err.is_transient());
    }

    #[test]
    fn tolerates_extra_fields_in_error_bodies() {
        let body = br#"{"id":"cannot_update_above_limit","message":"Cannot update to more than 1 Eco size dynos per process type.","url":"https://devcenter.heroku.com"}"#;
        let err = HerokuError::from_response(422, None, body, None);
        assert_eq!(err.id(), Some("cannot_update_above_limit"));
        assert_eq!(err.kind(), "unprocessable");
        assert!(err.to_string().ends_with("per process type."));
    }

    #[test]
    fn non_json_bodies_become_bounded_excerpts() {
        let html = format!("<html>\n  <body>{}</body>\n</html>", "x".repeat(5000));
        let err = HerokuError::from_response(502, Some("Bad Gateway"), html.as_bytes(), None);
        let HerokuError::Api { id, message, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(id, "");
        assert!(message.starts_with("<html> <body>xxx"), "{message}");
        assert!(message.ends_with('…'));
        assert_eq!(message.chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(err.id(), None);
        assert_eq!(err.kind(), "server_error");
        assert!(err.is_transient());
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn empty_bodies_use_the_reason_phrase() {
        let err = HerokuError::from_response(503, Some("Service Unavailable"), b"", Some(12));
        assert_eq!(err.to_string(), "Heroku said 503: Service Unavailable");
        let err = HerokuError::from_response(503, None, b"  ", None);
        assert_eq!(err.to_string(), "Heroku said 503");
    }

    #[test]
    fn json_that_is_not_an_error_body_is_excerpted() {
        let err = HerokuError::from_response(500, None, br#"{"error":"boom"}"#, None);
        assert_eq!(err.id(), None);
        assert_eq!(err.to_string(), r#"Heroku said 500: {"error":"boom"}"#);
        let err = HerokuError::from_response(500, None, br#"{"id":1,"message":"x"}"#, None);
        assert_eq!(err.id(), None);
    }

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
    fn excerpt_is_one_bounded_line() {
        assert_eq!(excerpt(b"  a \r\n b\t c  ", 10), "a b c");
        assert_eq!(excerpt(b"abcdef", 3), "abc…");
        assert_eq!(excerpt(b"abc def", 3), "abc…");
        assert_eq!(excerpt(&[0xff, b'a'], 10), "\u{fffd}a");
        assert_eq!(excerpt("ééééé".as_bytes(), 2), "éé…");
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
