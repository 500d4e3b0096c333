//! `MiddleManagement::Internal::Native::Event`: something the dispatcher
//! did, for the log and for ActiveSupport::Notifications. Ruby reads it
//! through typed readers; the Hash a notification carries is built only when
//! someone instruments it.

use magnus::{Error, IntoValue, RArray, RHash, Ruby, Symbol, Value};

use crate::dispatcher::{Event, Level};

#[magnus::wrap(
    class = "MiddleManagement::Internal::Native::Event",
    free_immediately,
    size
)]
pub struct RbEvent(pub Event);

impl RbEvent {
    /// :debug, :info, :warn or :error: the Logger method to write it with.
    pub fn level(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(match rb_self.0.level() {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }

    pub fn message(&self) -> String {
        self.0.message()
    }

    /// The ActiveSupport::Notifications name, or nil for a plain notice.
    pub fn notification(&self) -> Option<&'static str> {
        match self.0 {
            Event::Scaled { .. } => Some("scale.middle_management"),
            Event::CallFailed { .. } => Some("error.middle_management"),
            Event::Learned { .. } | Event::Notice { .. } => None,
        }
    }

    /// [pool name, quantity] Heroku is now known to have, for the app's
    /// record (which holds only what Heroku confirmed); nil otherwise.
    pub fn confirmed(&self) -> Option<(String, u32)> {
        self.0
            .confirmed()
            .map(|(pool, quantity)| (pool.to_owned(), quantity))
    }

    /// The notification's payload (README, "Logging and notifications").
    pub fn payload(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let hash = ruby.hash_new();
        let set = |key: &str, value: Value| hash.aset(ruby.to_symbol(key), value);
        set("level", Self::level(ruby, rb_self).into_value_with(ruby))?;
        set("message", rb_self.message().into_value_with(ruby))?;
        match &rb_self.0 {
            Event::Scaled {
                pool,
                from,
                to,
                formation,
                outstanding,
                at_least,
                dry_run,
                ..
            } => {
                set("pool", pool.as_str().into_value_with(ruby))?;
                set("from", from.into_value_with(ruby))?;
                set("to", to.into_value_with(ruby))?;
                set(
                    "formation",
                    formation_hash(ruby, formation)?.into_value_with(ruby),
                )?;
                set("outstanding", outstanding.into_value_with(ruby))?;
                // Where the count stopped at the cap, as status says it.
                if *at_least {
                    set("capped", true.into_value_with(ruby))?;
                }
                set("dry_run", dry_run.into_value_with(ruby))?;
            }
            Event::CallFailed {
                calls,
                error,
                retry_in,
            } => {
                let pools = RArray::from_iter(calls.iter().map(|(pool, _)| pool.as_str()));
                set("pools", pools.into_value_with(ruby))?;
                set("calls", formation_hash(ruby, calls)?.into_value_with(ruby))?;
                set(
                    "error_kind",
                    ruby.to_symbol(error.kind()).into_value_with(ruby),
                )?;
                set("status", error.status().into_value_with(ruby))?;
                // Heroku's own words, scrubbed of the token like the line.
                set("error", error.to_string().into_value_with(ruby))?;
                set("error_id", error.id().into_value_with(ruby))?;
                let retry_in = retry_in.map(|d| d.as_secs_f64());
                set("retry_in", retry_in.into_value_with(ruby))?;
            }
            Event::Learned { .. } | Event::Notice { .. } => {}
        }
        Ok(hash)
    }
}

/// Process type (or pool) name => quantity.
pub fn formation_hash(ruby: &Ruby, formation: &[(String, u32)]) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    for (process_type, quantity) in formation {
        hash.aset(process_type.as_str(), *quantity)?;
    }
    Ok(hash)
}
