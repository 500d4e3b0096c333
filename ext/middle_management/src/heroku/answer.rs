//! Reading an answer: its status, `RateLimit-Remaining` and a bounded body,
//! then what it means: a [`Reply`], or a [`HerokuError`] from Heroku's
//! `{"id","message"}` body or a one-line excerpt of whatever else came.

use reqwest::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::HerokuError;
use super::formation::Reply;
use super::redact::scrub;

/// Name of the rate-limit header Heroku sends on every answer.
const RATE_LIMIT_REMAINING: &str = "RateLimit-Remaining";

/// Bodies larger than this are not read any further (Heroku's are tiny).
const MAX_BODY_BYTES: usize = 1 << 20;

/// Longest excerpt of an unexpected response body kept in an error, in chars.
const EXCERPT_CHARS: usize = 200;

/// An answer as read off the wire, its body cut at [`MAX_BODY_BYTES`].
pub(crate) struct Answer {
    status: StatusCode,
    rate_limit_remaining: Option<u32>,
    body: Vec<u8>,
    truncated: bool,
}

impl Answer {
    pub(crate) async fn read(mut response: Response) -> Result<Answer, reqwest::Error> {
        let rate_limit_remaining = response
            .headers()
            .get(RATE_LIMIT_REMAINING)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u32>().ok());
        let mut answer = Answer {
            status: response.status(),
            rate_limit_remaining,
            body: Vec::new(),
            truncated: false,
        };
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_BODY_BYTES - answer.body.len();
            if chunk.len() > room {
                answer.body.extend_from_slice(&chunk[..room]);
                answer.truncated = true;
                break;
            }
            answer.body.extend_from_slice(&chunk);
        }
        Ok(answer)
    }

    /// What the answer means: the value the schema promises, or the error.
    pub(crate) fn reply<T: DeserializeOwned>(
        &self,
        expected: &str,
        markers: &[String],
    ) -> Result<Reply<T>, HerokuError> {
        // A body may echo the token: it is scrubbed whole, before an excerpt
        // cuts it where the marker would no longer match.
        let text = || scrub(String::from_utf8_lossy(&self.body).into_owned(), markers);
        let status = self.status.as_u16();
        if !self.status.is_success() {
            return Err(api_error(
                status,
                self.status.canonical_reason(),
                text().as_bytes(),
                self.rate_limit_remaining,
            ));
        }
        if self.truncated {
            return Err(HerokuError::Malformed {
                status,
                detail: format!(
                    "expected {expected}, got a body larger than {MAX_BODY_BYTES} bytes"
                ),
            });
        }
        match serde_json::from_slice::<T>(&self.body) {
            Ok(value) => Ok(Reply {
                value,
                rate_limit_remaining: self.rate_limit_remaining,
            }),
            Err(err) => Err(HerokuError::Malformed {
                status,
                detail: format!(
                    "expected {expected} ({err}); body: {:?}",
                    excerpt(text().as_bytes(), EXCERPT_CHARS)
                ),
            }),
        }
    }
}

/// The error for a non-2xx answer, from its body.
fn api_error(
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

#[derive(Deserialize)]
struct ErrorBody {
    id: String,
    message: String,
}

/// Heroku's `{"id": "...", "message": "..."}` (extra fields such as `url`
/// allowed). `None` when the body is anything else.
fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let id = one_line(&parsed.id, 64);
    let message = one_line(&parsed.message, 2 * EXCERPT_CHARS);
    Some((id, message))
}

/// A bounded, single-line excerpt of a body (lossy UTF-8, whitespace and
/// control characters collapsed, `…` appended when cut).
fn excerpt(body: &[u8], max_chars: usize) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heroku::Formation;

    const TOKEN: &str = "hk-UNIT-T0KEN-do-not-print";

    #[test]
    fn a_token_at_the_excerpts_edge_is_scrubbed_before_the_cut() {
        let markers = vec![TOKEN.to_owned()];
        let echo = |status: u16| Answer {
            status: StatusCode::from_u16(status).unwrap(),
            rate_limit_remaining: None,
            body: format!("{}{TOKEN}", "x".repeat(EXCERPT_CHARS - 4)).into_bytes(),
            truncated: false,
        };
        for status in [502, 200] {
            let err = echo(status)
                .reply::<Formation>("a formation object", &markers)
                .unwrap_err();
            assert!(!format!("{err}").contains(&TOKEN[..4]), "{err}");
        }
    }

    #[test]
    fn parses_heroku_error_bodies() {
        let err = api_error(
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
        let err = api_error(422, None, body, None);
        assert_eq!(err.id(), Some("cannot_update_above_limit"));
        assert_eq!(err.kind(), "unprocessable");
        assert!(err.to_string().ends_with("per process type."));
    }

    #[test]
    fn non_json_bodies_become_bounded_excerpts() {
        let html = format!("<html>\n  <body>{}</body>\n</html>", "x".repeat(5000));
        let err = api_error(502, Some("Bad Gateway"), html.as_bytes(), None);
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
        let err = api_error(503, Some("Service Unavailable"), b"", Some(12));
        assert_eq!(err.to_string(), "Heroku said 503: Service Unavailable");
        let err = api_error(503, None, b"  ", None);
        assert_eq!(err.to_string(), "Heroku said 503");
    }

    #[test]
    fn json_that_is_not_an_error_body_is_excerpted() {
        let err = api_error(500, None, br#"{"error":"boom"}"#, None);
        assert_eq!(err.id(), None);
        assert_eq!(err.to_string(), r#"Heroku said 500: {"error":"boom"}"#);
        let err = api_error(500, None, br#"{"id":1,"message":"x"}"#, None);
        assert_eq!(err.id(), None);
    }

    #[test]
    fn excerpt_is_one_bounded_line() {
        assert_eq!(excerpt(b"  a \r\n b\t c  ", 10), "a b c");
        assert_eq!(excerpt(b"abcdef", 3), "abc…");
        assert_eq!(excerpt(b"abc def", 3), "abc…");
        assert_eq!(excerpt(&[0xff, b'a'], 10), "\u{fffd}a");
        assert_eq!(excerpt("ééééé".as_bytes(), 2), "éé…");
    }
}
