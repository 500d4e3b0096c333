use super::*;
use crate::policy::{Policy, Sizing};

const SEC: u64 = 1_000;

fn settings(max: u32, throttle_s: u64) -> Settings {
    Settings {
        policy: Policy::new(0, max, Sizing::JobsPerWorker(1), 1, Duration::from_secs(30)),
        pacing: PacingConfig {
            api_throttle: Duration::from_secs(throttle_s),
            scale_down_delay: Duration::ZERO,
            change_budget: None,
        },
        count_interval: Duration::from_secs(60),
        heroku: HerokuParams {
            boot_ms: 30 * SEC,
            grace_ms: 30 * SEC,
            concurrency: 1,
        },
        price_per_dyno_hour: 1.0,
    }
}

fn now_jobs(durations_s: &[u64]) -> Vec<Job> {
    durations_s
        .iter()
        .map(|&d| Job {
            enqueued_at: 0,
            due_at: 0,
            duration: d * SEC,
        })
        .collect()
}

#[test]
fn ours_hires_at_once_waits_for_the_boot_and_fires_when_done() {
    let r = simulate(&now_jobs(&[60, 60, 60]), &settings(10, 10), Strategy::Ours);
    assert_eq!((r.calls, r.peak_workers, r.killed), (2, 3, 0), "3, then 0");
    assert_eq!((r.wait_p50, r.wait_max), (30.0, 30.0), "the boot");
    assert!(
        (r.dyno_hours - 3.0 * 90.0 / 3600.0).abs() < 1e-9,
        "{}",
        r.dyno_hours
    );
}

#[test]
fn ours_keeps_the_dynos_that_work_long_jobs() {
    // worker.3 and worker.4 get the long jobs: the work needs 2 dynos after
    // 40 s, but a formation of 2 would stop both.
    let r = simulate(
        &now_jobs(&[10, 10, 100, 100]),
        &settings(10, 10),
        Strategy::Ours,
    );
    assert_eq!(r.killed, 0);
    assert_eq!(r.calls, 2, "4, then 0 once the long jobs are done");
    assert!(
        (r.dyno_hours - 4.0 * 130.0 / 3600.0).abs() < 1e-9,
        "{}",
        r.dyno_hours
    );
}

#[test]
fn a_scheduled_job_gets_its_worker_in_time() {
    let jobs = [Job {
        enqueued_at: 0,
        due_at: 120 * SEC,
        duration: 10 * SEC,
    }];
    let r = simulate(&jobs, &settings(10, 10), Strategy::Ours);
    // Woken 30 s (the wake lead) before it is due, the dyno is ready as it comes due.
    assert_eq!(r.wait_max, 0.0);
    assert!(
        (r.dyno_hours - 40.0 / 3600.0).abs() < 1e-9,
        "{}",
        r.dyno_hours
    );
}

#[test]
fn always_on_bills_every_dyno_for_the_whole_trace() {
    let r = simulate(
        &now_jobs(&[60, 60, 60]),
        &settings(10, 10),
        Strategy::AlwaysOn(2),
    );
    // Two dynos from 0: jobs at 30 s and 30 s, the third at 90 s, done at 150 s.
    assert_eq!((r.calls, r.peak_workers, r.wait_max), (1, 2, 90.0));
    assert!(
        (r.dyno_hours - 2.0 * 150.0 / 3600.0).abs() < 1e-9,
        "{}",
        r.dyno_hours
    );
}

#[test]
fn clairvoyant_waits_for_nothing_and_pays_a_boot_per_dyno() {
    let jobs = [
        Job {
            enqueued_at: 0,
            due_at: 0,
            duration: 60 * SEC,
        },
        Job {
            enqueued_at: 0,
            due_at: 70 * SEC,
            duration: 60 * SEC,
        }, // 10 s after: the dyno waits
        Job {
            enqueued_at: 0,
            due_at: 500 * SEC,
            duration: 60 * SEC,
        }, // long after: a new boot
    ];
    let r = simulate(&jobs, &settings(10, 10), Strategy::Clairvoyant);
    assert_eq!((r.wait_max, r.calls, r.peak_workers), (0.0, 0, 1));
    assert!(
        (r.dyno_hours - (30.0 + 60.0 + 10.0 + 60.0 + 30.0 + 60.0) / 3600.0).abs() < 1e-9,
        "{}",
        r.dyno_hours
    );
}

#[test]
fn a_max_below_the_work_queues_the_rest() {
    let r = simulate(&now_jobs(&[60, 60, 60]), &settings(1, 10), Strategy::Ours);
    assert_eq!((r.peak_workers, r.wait_max), (1, 150.0));
    assert_eq!(r.killed, 0);
}

#[test]
fn hirefire_stops_the_busy_top_dynos_where_ours_keeps_them() {
    let hirefire = HireFire {
        checkup_ms: 60 * SEC,
        ratio: 1,
        min: 0,
        max: 10,
        upscale_timeout_ms: 0,
        downscale_timeout_ms: 0,
        decrementable: true,
    };
    let jobs = now_jobs(&[10, 10, 100, 100]);
    let r = simulate(&jobs, &settings(10, 10), Strategy::HireFire(hirefire));
    // At the 60 s checkup two jobs run, on worker.3 and worker.4: it scales
    // to 2, which stops them; 30 s later they are killed and run again.
    assert_eq!(r.killed, 2);
    assert_eq!(simulate(&jobs, &settings(10, 10), Strategy::Ours).killed, 0);
}

fn judoscale(max: u32) -> Strategy {
    Strategy::Judoscale(Judoscale {
        cadence_ms: 10 * SEC,
        upscale_ms: 5 * SEC,
        downscale_ms: 2 * SEC,
        jump: 1,
        min: 0,
        max,
        upscale_cooldown_ms: 180 * SEC,
        downscale_delay_ms: 600 * SEC,
    })
}

#[test]
fn a_strategy_that_kills_a_job_over_and_over_still_ends() {
    // Judoscale stops a dyno after ten calm minutes, busy or not: a job of
    // 700 s is stopped every time it runs. It is given up after
    // MAX_ATTEMPTS, and the replay ends.
    let r = simulate(&now_jobs(&[700]), &settings(3, 10), judoscale(3));
    assert_eq!(
        (r.killed, r.lost, r.unfinished),
        (u64::from(MAX_ATTEMPTS), 1, 0)
    );
    // Ours never stops it.
    let ours = simulate(&now_jobs(&[700]), &settings(3, 10), Strategy::Ours);
    assert_eq!((ours.killed, ours.lost, ours.unfinished), (0, 0, 0));
}

#[test]
fn a_replay_ends_a_day_after_the_last_job_could_have_ended() {
    // No dyno ever: the job waits until the replay gives up on it.
    let r = simulate(&now_jobs(&[60]), &settings(0, 10), Strategy::Ours);
    assert_eq!((r.lost, r.unfinished, r.calls), (0, 1, 0));
}

#[test]
fn a_replay_stops_when_asked() {
    let stop = AtomicBool::new(true);
    let jobs = now_jobs(&[60, 60]);
    assert!(simulate_until(&jobs, &settings(3, 10), Strategy::Ours, &stop).is_none());
    assert!(simulate_until(&jobs, &settings(3, 10), Strategy::Clairvoyant, &stop).is_some());
}

#[test]
fn auto_learns_the_traces_durations_and_boot_and_sizes_by_them() {
    // Jobs of 3 s, one every 2 s for two hours, then a burst of 40; dynos boot in 30 s.
    let mut jobs: Vec<Job> = (0..3_600)
        .map(|i| Job {
            enqueued_at: i * 2 * SEC,
            due_at: i * 2 * SEC,
            duration: 3 * SEC,
        })
        .collect();
    let burst_at = 7_300 * SEC;
    jobs.extend((0..40).map(|_| Job {
        enqueued_at: burst_at,
        due_at: burst_at,
        duration: 3 * SEC,
    }));
    let mut auto = settings(10, 10);
    auto.policy = Policy::new(0, 10, Sizing::Learned { fallback: 10 }, 1, Duration::from_secs(30));
    let r = simulate(&jobs, &auto, Strategy::Ours);
    let (measured, per_worker) = r.learned.expect("learned");
    assert_eq!((measured.job, measured.boot), (Duration::from_secs(3), Duration::from_secs(30)));
    assert_eq!(per_worker, 11, "30 s ÷ 3 s, and the one it starts at 30 s");
    // The burst of 40 (with the trickle's last) is sized 11 a worker: 4 or 5 dynos.
    let burst_peak = r.changes.iter().filter(|&&(at, _)| at >= burst_at).map(|&(_, q)| q).max();
    assert!(matches!(burst_peak, Some(4 | 5)), "{:?}", r.changes.iter().filter(|&&(at, _)| at >= burst_at).collect::<Vec<_>>());

    // Jobs of 16 s learn 2 a worker.
    for job in &mut jobs {
        job.duration = 16 * SEC;
    }
    let r = simulate(&jobs, &auto, Strategy::Ours);
    assert_eq!(r.learned.map(|(_, per)| per), Some(2));
    let fixed = simulate(&jobs, &settings(10, 10), Strategy::Ours);
    assert_eq!(fixed.learned, None, "a number set learns nothing");
}
