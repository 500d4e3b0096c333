//! Native core of the middle_management gem.
//!
//! Pure decision logic (`policy`, `pacing`, `backoff`, and `decision`, which
//! combines them over the app's shared record), the replay of job traces
//! through them (`simulation`), the Heroku client
//! (`heroku`), the alerts' `webhook` and the background `dispatcher` know
//! nothing of Ruby; only
//! `ruby` touches magnus. Threading model: see `dispatcher`.

pub mod backoff;
pub mod decision;
pub mod dispatcher;
pub mod heroku;
pub mod pacing;
pub mod policy;
mod ruby;
pub mod simulation;
pub mod webhook;

#[magnus::init]
fn init(ruby: &magnus::Ruby) -> Result<(), magnus::Error> {
    ruby::init(ruby)
}
