//! What the formation endpoints answer, as the client returns it.

use serde::{Deserialize, Serialize};

/// One process type's formation, as Heroku reports it. Unknown fields are
/// ignored, so a field Heroku adds breaks nothing; `size` falls back to
/// `dyno_size.name` because Heroku may omit the deprecated `size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawFormation")]
pub struct Formation {
    #[serde(rename = "type")]
    pub process_type: String,
    pub quantity: u32,
    pub size: Option<String>,
    pub command: Option<String>,
}

#[derive(Deserialize)]
struct RawFormation {
    #[serde(rename = "type")]
    process_type: String,
    quantity: u32,
    size: Option<String>,
    command: Option<String>,
    dyno_size: Option<RawDynoSize>,
}

#[derive(Deserialize)]
struct RawDynoSize {
    name: Option<String>,
}

impl From<RawFormation> for Formation {
    fn from(raw: RawFormation) -> Self {
        Formation {
            process_type: raw.process_type,
            quantity: raw.quantity,
            size: raw.size.or_else(|| raw.dyno_size.and_then(|d| d.name)),
            command: raw.command,
        }
    }
}

/// A successful answer and the `RateLimit-Remaining` it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<T> {
    pub value: T,
    pub rate_limit_remaining: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formation_parsing_is_tolerant() {
        let full = r#"{"app":{"id":"01234567-89ab-cdef-0123-456789abcdef","name":"example"},
            "command":"bundle exec rake jobs:work","created_at":"2012-01-01T12:00:00Z",
            "dyno_size":{"id":"01234567-89ab-cdef-0123-456789abcdef","name":"Standard-1X"},
            "id":"01234567-89ab-cdef-0123-456789abcdef","quantity":2,"size":"standard-1X",
            "type":"worker","updated_at":"2012-01-01T12:00:00Z","future":[1,2]}"#;
        let formation: Formation = serde_json::from_str(full).unwrap();
        assert_eq!(
            formation,
            Formation {
                process_type: "worker".into(),
                quantity: 2,
                size: Some("standard-1X".into()),
                command: Some("bundle exec rake jobs:work".into()),
            }
        );
        let minimal: Formation = serde_json::from_str(
            r#"{"type":"web","quantity":0,"command":null,"dyno_size":{"name":"Eco"}}"#,
        )
        .unwrap();
        assert_eq!(minimal.size.as_deref(), Some("Eco"));
        assert_eq!(minimal.command, None);
        assert!(serde_json::from_str::<Formation>(r#"{"type":"web","quantity":-1}"#).is_err());
        assert!(serde_json::from_str::<Formation>(r#"{"quantity":1}"#).is_err());
    }
}
