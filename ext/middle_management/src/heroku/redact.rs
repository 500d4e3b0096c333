//! Keeping the token out of text: whatever the client puts in an error or a
//! log line passes through here, because servers echo what they were sent
//! and reqwest's errors quote URLs.

use reqwest::Url;

/// Text shown wherever a secret would otherwise be printed.
pub const REDACTED: &str = "[REDACTED]";

/// Replaces every occurrence of each non-empty marker with `[REDACTED]`.
pub(crate) fn scrub(mut text: String, markers: &[String]) -> String {
    for marker in markers {
        if !marker.is_empty() && text.contains(marker.as_str()) {
            text = text.replace(marker.as_str(), REDACTED);
        }
    }
    text
}

/// `scheme://host:port/path`: no userinfo, query or fragment.
pub(crate) fn safe_url(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// An error and its sources joined with ": ", repeats left out, with any URL
/// in the text cut at its query string.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
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
pub(crate) fn redact_url_text(text: &str) -> String {
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
                // reqwest writes "(url)": keep the parenthesis the query cut off.
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
    fn safe_urls_keep_only_origin_and_path() {
        let url = Url::parse("https://u:p@host:8443/a/b?token=x#f").unwrap();
        assert_eq!(safe_url(&url), "https://host:8443/a/b");
    }
}
