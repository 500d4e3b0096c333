//! What the dispatcher tells Ruby: events, each worth a log line (and an
//! ActiveSupport notification). Requests, which Ruby must answer, are
//! `request::Request`; both travel in the `outbox::Outbox`.

use std::time::Duration;

use crate::heroku::HerokuError;
use crate::policy::Reason;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Heroku accepted a formation change (or, in a dry run, would have been asked).
    Scaled {
        pool: String,
        from: Option<u32>,
        to: u32,
        formation: Vec<(String, u32)>,
        outstanding: u64,
        /// The count stopped at the cap: there are at least `outstanding`.
        at_least: bool,
        sizing: String,
        /// What set the quantity: a busy dyno kept is said in the line.
        reason: Reason,
        dry_run: bool,
    },
    /// A call failed. `calls`: each pool and the quantity it asked for.
    /// `retry_in` is set when the pools decide again by themselves (a
    /// transient error); a refusal is not asked again until the wanted
    /// quantity changes.
    CallFailed {
        calls: Vec<(String, u32)>,
        error: HerokuError,
        retry_in: Option<Duration>,
    },
    /// Heroku's formation, read before a call: what it has is confirmed.
    Learned { pool: String, quantity: u32 },
    /// Anything else worth a log line.
    Notice { level: Level, message: String },
}

impl Event {
    pub fn level(&self) -> Level {
        match self {
            Event::Scaled { .. } => Level::Info,
            Event::CallFailed {
                retry_in: Some(_), ..
            } => Level::Warn,
            Event::CallFailed { .. } => Level::Error,
            Event::Learned { .. } => Level::Debug,
            Event::Notice { level, .. } => *level,
        }
    }

    /// One readable log line.
    pub fn message(&self) -> String {
        match self {
            Event::Scaled {
                pool,
                from,
                to,
                formation,
                outstanding,
                at_least,
                sizing,
                reason,
                dry_run,
            } => {
                let verb = if *dry_run { "would scale" } else { "scaled" };
                let change = from.map_or(format!("to {to}"), |from| format!("{from} -> {to}"));
                let kept = match reason {
                    Reason::BusyDyno(n) => format!("; kept {to}: {pool}.{n} is busy"),
                    Reason::BusyUnnumbered => format!("; kept {to}: {reason}"),
                    _ => String::new(),
                };
                let at_least = if *at_least { "≥ " } else { "" };
                let mut line = format!(
                    "{verb} {pool} {change} ({at_least}{outstanding} outstanding, {sizing}{kept})"
                );
                if formation.len() > 1 || formation.first().is_some_and(|(t, _)| t != pool) {
                    let types: Vec<String> =
                        formation.iter().map(|(t, q)| format!("{t}={q}")).collect();
                    line.push_str(&format!(" [{}]", types.join(" ")));
                }
                line
            }
            Event::CallFailed {
                calls,
                error,
                retry_in,
            } => {
                let pools: Vec<&str> = calls.iter().map(|(pool, _)| pool.as_str()).collect();
                let next = match retry_in {
                    Some(d) => format!("retrying in {:.1}s", d.as_secs_f64()),
                    None => "not retrying until the desired count changes".into(),
                };
                format!("could not scale {}: {error}; {next}", pools.join(", "))
            }
            Event::Learned { pool, quantity } => format!("Heroku has {pool} at {quantity}"),
            Event::Notice { message, .. } => message.clone(),
        }
    }

    /// What Heroku is now known to have, for the app's record: a pool and
    /// its quantity. A dry run's imaginary Heroku says yes to every call.
    pub fn confirmed(&self) -> Option<(&str, u32)> {
        match self {
            Event::Scaled { pool, to, .. } => Some((pool, *to)),
            Event::Learned { pool, quantity } => Some((pool, *quantity)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_line_reads_like_the_readme() {
        let e = Event::Scaled {
            pool: "worker".into(),
            from: Some(3),
            to: 10,
            formation: vec![("worker".into(), 10)],
            outstanding: 106,
            at_least: false,
            sizing: "1 job per worker".into(),
            reason: Reason::Work,
            dry_run: false,
        };
        assert_eq!(
            e.message(),
            "scaled worker 3 -> 10 (106 outstanding, 1 job per worker)"
        );
        let capped = Event::Scaled {
            pool: "worker".into(),
            from: Some(3),
            to: 10,
            formation: vec![("worker".into(), 10)],
            outstanding: 11,
            at_least: true,
            sizing: "1 job per worker".into(),
            reason: Reason::Work,
            dry_run: false,
        };
        assert_eq!(
            capped.message(),
            "scaled worker 3 -> 10 (≥ 11 outstanding, 1 job per worker)"
        );
        let kept = Event::Scaled {
            pool: "worker".into(),
            from: Some(6),
            to: 4,
            formation: vec![("worker".into(), 4)],
            outstanding: 2,
            at_least: false,
            sizing: "1 job per worker".into(),
            reason: Reason::BusyDyno(4),
            dry_run: false,
        };
        assert_eq!(
            kept.message(),
            "scaled worker 6 -> 4 (2 outstanding, 1 job per worker; kept 4: worker.4 is busy)"
        );
    }
}
