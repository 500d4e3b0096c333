//! `MiddleManagement::Internal::Native.simulate`: a job trace replayed
//! through the real decision code in virtual time (`crate::simulation`),
//! for `middle_management simulate`. The settings are the
//! `Bridge::Settings` a Configuration builds for a dispatcher, the options
//! a `Bridge::Simulation`; the trace comes flat.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use magnus::{Error, RHash, Ruby, Value};

use super::bridge::{self, Kind};
use super::errors::configuration_error;
use super::gvl::without_gvl;
use super::settings::{dispatcher_config, member, seconds};
use crate::simulation::{self, HerokuParams, HireFire, Job, Judoscale, Report, Settings, Strategy};

#[magnus::wrap(
    class = "MiddleManagement::Internal::Native::SimulationReport",
    free_immediately,
    size
)]
pub struct RbReport(Report);

impl RbReport {
    /// The figures by name, as `middle_management simulate --json` prints them.
    pub fn to_h(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let r = &rb_self.0;
        let hash = ruby.hash_new();
        hash.aset(ruby.to_symbol("dyno_hours"), r.dyno_hours)?;
        hash.aset(ruby.to_symbol("cost"), r.cost)?;
        hash.aset(ruby.to_symbol("wait_p50"), r.wait_p50)?;
        hash.aset(ruby.to_symbol("wait_p95"), r.wait_p95)?;
        hash.aset(ruby.to_symbol("wait_max"), r.wait_max)?;
        hash.aset(ruby.to_symbol("calls"), r.calls)?;
        hash.aset(ruby.to_symbol("max_calls_per_hour"), r.max_calls_per_hour)?;
        hash.aset(ruby.to_symbol("peak_workers"), r.peak_workers)?;
        hash.aset(ruby.to_symbol("killed"), r.killed)?;
        hash.aset(ruby.to_symbol("lost"), r.lost)?;
        hash.aset(ruby.to_symbol("unfinished"), r.unfinished)?;
        let learned = match r.learned {
            Some((measured, per_worker)) => {
                let learned = ruby.hash_new();
                learned.aset(ruby.to_symbol("job_seconds"), measured.job.as_secs_f64())?;
                learned.aset(ruby.to_symbol("boot_seconds"), measured.boot.as_secs_f64())?;
                learned.aset(ruby.to_symbol("jobs_per_worker"), per_worker)?;
                Some(learned)
            }
            None => None,
        };
        hash.aset(ruby.to_symbol("learned"), learned)?;
        Ok(hash)
    }
}

/// `jobs`: enqueued_at, due_at, duration (seconds from the trace's start),
/// for each job in enqueue order.
pub fn simulate(
    ruby: &Ruby,
    settings: Value,
    jobs: Vec<f64>,
    options: Value,
) -> Result<RbReport, Error> {
    let config = dispatcher_config(ruby, settings)?;
    let options = bridge::read(ruby, options, Kind::Simulation)?;
    let pool = config
        .pools
        .into_iter()
        .next()
        .ok_or_else(|| configuration_error(String::from("no pool to simulate")))?;
    let concurrency = pool.policy.dyno_concurrency();
    let settings = Settings {
        policy: pool.policy,
        pacing: config.pacing,
        count_interval: config.count_interval,
        heroku: HerokuParams {
            boot_ms: ms(seconds(options, "boot_time")?),
            grace_ms: ms(seconds(options, "grace")?),
            concurrency,
        },
        price_per_dyno_hour: member(options, "price")?,
    };
    let (min, max) = (settings.policy.min_workers(), settings.policy.max_workers());
    let strategy = match member::<String>(options, "strategy")?.as_str() {
        "ours" => Strategy::Ours,
        "always-on" => Strategy::AlwaysOn(member(options, "workers")?),
        "clairvoyant" => Strategy::Clairvoyant,
        "hirefire" => Strategy::HireFire(HireFire {
            checkup_ms: ms(seconds(options, "checkup")?),
            ratio: member(options, "ratio")?,
            min,
            max,
            upscale_timeout_ms: ms(seconds(options, "upscale_timeout")?),
            downscale_timeout_ms: ms(seconds(options, "downscale_timeout")?),
            decrementable: member(options, "decrementable")?,
        }),
        "judoscale" => Strategy::Judoscale(Judoscale {
            cadence_ms: 10_000,
            upscale_ms: 5_000,
            downscale_ms: 2_000,
            jump: member(options, "jump")?,
            min,
            max,
            upscale_cooldown_ms: 180_000,
            downscale_delay_ms: 600_000,
        }),
        other => return Err(configuration_error(format!("no strategy {other:?}"))),
    };
    if jobs.len() % 3 != 0 {
        return Err(configuration_error(String::from(
            "jobs come as enqueued_at, due_at, duration triples",
        )));
    }
    let to_ms = |s: f64| ms(Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO));
    let jobs: Vec<Job> = jobs
        .chunks_exact(3)
        .map(|j| Job {
            enqueued_at: to_ms(j[0]),
            due_at: to_ms(j[1]),
            duration: to_ms(j[2]),
        })
        .collect();
    // Without the GVL, so that a signal (Ctrl-C, SIGTERM) is handled: Ruby
    // sets `stop` and the replay returns at its next step (or, with an
    // interrupt already pending, does not start). Ruby then handles the
    // interrupt: a signal's exception is raised from here; after anything
    // else (a trap that returns) the replay starts again.
    let stop = AtomicBool::new(false);
    loop {
        stop.store(false, Ordering::Relaxed);
        let report = without_gvl(
            || simulation::simulate_until(&jobs, &settings, strategy, &stop),
            || stop.store(true, Ordering::Relaxed),
        );
        if let Some(Some(report)) = report {
            return Ok(RbReport(report));
        }
        ruby.thread_check_ints()?;
    }
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
