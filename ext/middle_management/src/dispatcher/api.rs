//! The one thing the dispatcher needs from Heroku: set a formation, read it.
//! A trait so the pacing tests can run on tokio's paused clock, which real
//! sockets cannot share; everything else uses the real client.

use std::future::Future;

use crate::heroku::{Client, HerokuError, Reply};

/// Quantities by process type, as a formation call sets them and Heroku's
/// answer reports them.
pub type Quantities = Vec<(String, u32)>;

pub trait FormationApi: Send + Sync + 'static {
    /// Sets the given types' quantities in one call; answers what Heroku now has.
    fn apply(
        &self,
        updates: Quantities,
    ) -> impl Future<Output = Result<Reply<Quantities>, HerokuError>> + Send;
    /// Reads the whole formation.
    fn list(&self) -> impl Future<Output = Result<Reply<Quantities>, HerokuError>> + Send;
}

fn pairs(formation: Vec<crate::heroku::Formation>) -> Quantities {
    formation
        .into_iter()
        .map(|f| (f.process_type, f.quantity))
        .collect()
}

impl FormationApi for Client {
    async fn apply(&self, updates: Quantities) -> Result<Reply<Quantities>, HerokuError> {
        // One type: the plain update. Several: Heroku's batch update, one call.
        if let [(process_type, quantity)] = updates.as_slice() {
            let reply = self.update(process_type, *quantity).await?;
            Ok(Reply {
                value: pairs(vec![reply.value]),
                rate_limit_remaining: reply.rate_limit_remaining,
            })
        } else {
            let reply = self.batch_update(&updates).await?;
            Ok(Reply {
                value: pairs(reply.value),
                rate_limit_remaining: reply.rate_limit_remaining,
            })
        }
    }

    async fn list(&self) -> Result<Reply<Quantities>, HerokuError> {
        let reply = Client::list(self).await?;
        Ok(Reply {
            value: pairs(reply.value),
            rate_limit_remaining: reply.rate_limit_remaining,
        })
    }
}

/// `MIDDLE_MANAGEMENT_DRY_RUN`: every change "succeeds" without a call, so
/// decisions and log lines are exactly those of a real run.
pub struct DryRun;

impl FormationApi for DryRun {
    async fn apply(&self, updates: Quantities) -> Result<Reply<Quantities>, HerokuError> {
        Ok(Reply {
            value: updates,
            rate_limit_remaining: None,
        })
    }

    async fn list(&self) -> Result<Reply<Quantities>, HerokuError> {
        Ok(Reply {
            value: Vec::new(),
            rate_limit_remaining: None,
        })
    }
}
