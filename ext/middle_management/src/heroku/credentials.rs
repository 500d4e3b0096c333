//! Credentials for the Platform API, and the `Secret` wrapper that keeps a
//! token out of every `Debug`, `Display`, log line and error message.

use std::fmt;

use reqwest::header::HeaderValue;

use super::error::HerokuError;
use super::redact::REDACTED;

/// A secret string (an API token or password).
///
/// `Debug` and `Display` print `[REDACTED]`; the only way to read the value
/// is [`Secret::expose`], which the client calls when it builds the
/// `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself. Never log or format what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// How the client authenticates.
///
/// * `Bearer` — `MIDDLE_MANAGEMENT_HEROKU_API_KEY`: `Authorization: Bearer <token>`.
/// * `Basic` — the original gem's `MIDDLE_MANAGEMENT_HEROKU_USERNAME` /
///   `_PASSWORD`: HTTP Basic, the password being an API token. The username
///   (an e-mail address) is not secret and is shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Credentials {
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

impl Credentials {
    pub fn bearer(token: impl Into<Secret>) -> Self {
        Credentials::Bearer(token.into())
    }

    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The secret part (token or password).
    pub fn secret(&self) -> &Secret {
        match self {
            Credentials::Bearer(token) => token,
            Credentials::Basic { password, .. } => password,
        }
    }

    /// The `Authorization` header, marked sensitive so that the HTTP stack
    /// leaves it out of its own debug output.
    pub(crate) fn header(&self) -> Result<HeaderValue, HerokuError> {
        // Ruby's settings refuse these at boot, naming the variable.
        debug_assert!(!self.secret().is_empty(), "an empty API token");
        debug_assert!(
            !matches!(self, Credentials::Basic { username, .. } if username.contains(':')),
            "a ':' in the HTTP Basic user name shifts the password"
        );
        let mut value = HeaderValue::from_str(&self.authorization_value()).map_err(|_| {
            HerokuError::InvalidArgument(
                "the API token contains characters that cannot go in an HTTP header".to_owned(),
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// The value of the `Authorization` header. Secret: never log it.
    pub(crate) fn authorization_value(&self) -> String {
        match self {
            Credentials::Bearer(token) => format!("Bearer {}", token.expose()),
            Credentials::Basic { username, password } => {
                let mut raw = String::with_capacity(username.len() + 1 + password.0.len());
                raw.push_str(username);
                raw.push(':');
                raw.push_str(password.expose());
                format!("Basic {}", base64_encode(raw.as_bytes()))
            }
        }
    }

    /// Every string whose appearance in text would leak the secret: the
    /// secret itself and the encoded `Authorization` value.
    pub(crate) fn leak_markers(&self) -> Vec<String> {
        let mut markers = Vec::new();
        if !self.secret().is_empty() {
            markers.push(self.secret().expose().to_owned());
        }
        if let Credentials::Basic { .. } = self {
            let header = self.authorization_value();
            if let Some(encoded) = header.strip_prefix("Basic ") {
                if !encoded.is_empty() {
                    markers.push(encoded.to_owned());
                }
            }
        }
        markers
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Bearer(_) => write!(f, "bearer token {REDACTED}"),
            Credentials::Basic { username, .. } => {
                write!(f, "basic auth as {username:?} with password {REDACTED}")
            }
        }
    }
}

/// Standard base64 (RFC 4648, with padding), for HTTP Basic.
pub(crate) fn base64_encode(input: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "hk-TOKEN-c0ffee-5ecret";

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new(TOKEN);
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{secret}"), REDACTED);
        assert_eq!(secret.expose(), TOKEN);
    }

    #[test]
    fn credentials_never_print_the_secret() {
        for creds in [
            Credentials::bearer(TOKEN),
            Credentials::basic("ops@example.com", TOKEN),
        ] {
            for text in [
                format!("{creds:?}"),
                format!("{creds:#?}"),
                format!("{creds}"),
            ] {
                assert!(!text.contains(TOKEN), "{text}");
                assert!(text.contains(REDACTED), "{text}");
            }
        }
        let basic = Credentials::basic("ops@example.com", TOKEN);
        assert!(format!("{basic:?}").contains("ops@example.com"));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64_encode(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn authorization_values() {
        assert_eq!(
            Credentials::bearer("abc").authorization_value(),
            "Bearer abc"
        );
        // "Aladdin:open sesame" is RFC 7617's example.
        assert_eq!(
            Credentials::basic("Aladdin", "open sesame").authorization_value(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        let markers = Credentials::basic("Aladdin", "open sesame").leak_markers();
        assert_eq!(
            markers,
            vec![
                "open sesame".to_owned(),
                "QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_owned()
            ]
        );
    }

    #[test]
    fn the_header_is_sensitive_and_refuses_what_http_cannot_carry() {
        let header = Credentials::bearer(TOKEN).header().unwrap();
        assert_eq!(header.to_str().unwrap(), format!("Bearer {TOKEN}"));
        assert!(header.is_sensitive());
        let err = Credentials::bearer(format!("{TOKEN}\u{7f}x"))
            .header()
            .unwrap_err();
        assert_eq!(err.kind(), "invalid_argument");
        assert!(!format!("{err} {err:?}").contains(TOKEN), "{err:?}");
    }
}
