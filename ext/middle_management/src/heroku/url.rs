//! The formation endpoints' URLs, built on the configured base.
//!
//! Ruby's settings check the base URL (http(s), a host, https unless
//! loopback, nothing that could hold a secret), the app name or id and every
//! process type at boot; here they are only asserted.

use reqwest::Url;

use super::error::HerokuError;

/// The base URL, parsed. Errors only for text that is no URL the client can
/// put path segments on.
pub(crate) fn parse_base_url(base_url: &str) -> Result<Url, HerokuError> {
    let invalid = |why: String| HerokuError::InvalidArgument(format!("base_url {why}"));
    let url = Url::parse(base_url.trim())
        .map_err(|err| invalid(format!("is not a valid URL ({err})")))?;
    if url.cannot_be_a_base() {
        return Err(invalid(format!("{:?} cannot take a path", url.scheme())));
    }
    debug_assert!(matches!(url.scheme(), "http" | "https"), "{}", url.scheme());
    debug_assert!(
        url.username().is_empty() && url.password().is_none(),
        "user info in the base URL"
    );
    debug_assert!(
        url.query().is_none() && url.fragment().is_none(),
        "a query or fragment in the base URL"
    );
    Ok(url)
}

/// `{base}/apps/{app}/formation[/{process_type}]`.
pub(crate) fn formation_url(base: &Url, app: &str, process_type: Option<&str>) -> Url {
    debug_assert!(is_one_segment(app), "app {app:?}");
    debug_assert!(
        process_type.map_or(true, is_one_segment),
        "process type {process_type:?}"
    );
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("parse_base_url refuses URLs that cannot be a base")
        .pop_if_empty()
        .push("apps")
        .push(app)
        .push("formation")
        .extend(process_type);
    url
}

/// Heroku's names and ids (`^[-\w]{1,128}$` for process types, narrower for
/// apps) are one path segment as they are: `url` would drop an empty or
/// dot segment and escape anything else.
fn is_one_segment(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let base = parse_base_url(base).unwrap();
            assert_eq!(
                formation_url(&base, "my-app", Some("worker")).as_str(),
                expected,
                "{base}"
            );
            assert_eq!(
                formation_url(&base, "my-app", None).as_str(),
                expected.trim_end_matches("/worker"),
                "{base}"
            );
        }
    }

    #[test]
    fn only_text_that_cannot_be_a_base_is_refused() {
        for (text, expected) in [
            ("not a url", "base_url is not a valid URL"),
            ("mailto:ops@example.com", "\"mailto\" cannot take a path"),
        ] {
            let err = parse_base_url(text).unwrap_err();
            assert_eq!(err.kind(), "invalid_argument");
            assert!(err.to_string().contains(expected), "{err}");
        }
    }
}
