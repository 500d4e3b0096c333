//! Shared test support. Use from an integration test with `mod support;`.
#![allow(dead_code)]

pub mod fake_heroku;
