//! Heroku Platform API client: the formation endpoints (info, list, update,
//! batch update) over async reqwest, with typed errors built from Heroku's
//! `{"id","message"}` bodies and the `RateLimit-Remaining` header read on
//! every answer.
//!
//! The client knows nothing of Ruby and does no retrying or pacing of its
//! own (that is the dispatcher's job); it only makes one request per call
//! and says precisely what happened. Its configuration was checked by Ruby
//! at boot, so it asserts rather than validates. Secrets never show up in
//! `Debug`, `Display` or error text: [`Secret`] redacts itself and every
//! error is scrubbed of the token before it is returned, even when a server
//! echoes it back.

mod answer;
mod client;
mod config;
pub mod credentials;
pub mod error;
mod formation;
mod redact;
mod url;

pub use client::Client;
pub use config::ClientConfig;
pub use credentials::{Credentials, Secret};
pub use error::HerokuError;
pub use formation::{Formation, Reply};
pub(crate) use redact::error_chain;
