//! A snapshot of what the dispatcher knows, for `MiddleManagement.status`.

use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolStatus {
    pub name: String,
    pub desired: Option<u32>,
    pub known: Option<u32>,
    pub runnable: u64,
    pub running: u64,
    pub next_run_in: Option<Duration>,
    pub calls: u64,
    pub errors: u64,
    pub last_call_at: Option<SystemTime>,
    pub last_result: Option<String>,
    /// A change asked of Heroku is not confirmed yet (`Pool::unconfirmed`).
    pub unconfirmed: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub pools: Vec<PoolStatus>,
    pub calls: u64,
    pub errors: u64,
    pub rate_limit_remaining: Option<u32>,
    pub dry_run: bool,
}
