//! The limit no scaler can beat: every job starts the moment it is due,
//! on a dyno booted just in time for it, and a dyno stops as soon as it has
//! nothing to do, unless its next job comes sooner than a new dyno could
//! boot (then it waits, which costs less). Dyno slots are packed as tightly
//! as `concurrency` allows. No formation calls are counted: it is a bound,
//! not a strategy Heroku's API could follow.

use super::{Fates, Job, Report, Settings};

pub fn simulate(jobs: &[Job], settings: &Settings) -> Report {
    let boot = settings.heroku.boot_ms;
    let mut order: Vec<&Job> = jobs.iter().collect();
    order.sort_by_key(|job| job.due_at);
    // Each slot: when it is next free. A slot's billed time: from a boot
    // before its first job to its last job's end, gaps shorter than a boot kept.
    let mut slots: Vec<u64> = Vec::new();
    let mut billed_slot_ms = 0u64;
    let mut peak_slots = 0usize;
    let mut busy_until: Vec<u64> = Vec::new();
    for job in order {
        // The slot free the latest before the job is due: the least idle gap.
        let best = slots
            .iter()
            .enumerate()
            .filter(|(_, &free)| free <= job.due_at)
            .max_by_key(|(_, &free)| free);
        match best {
            Some((i, &free)) if job.due_at - free < boot => {
                billed_slot_ms += job.due_at - free + job.duration;
                slots[i] = job.due_at + job.duration;
            }
            Some((i, _)) => {
                billed_slot_ms += boot + job.duration;
                slots[i] = job.due_at + job.duration;
            }
            None => {
                billed_slot_ms += boot + job.duration;
                slots.push(job.due_at + job.duration);
            }
        }
        busy_until.retain(|&end| end > job.due_at);
        busy_until.push(job.due_at + job.duration);
        peak_slots = peak_slots.max(busy_until.len());
    }
    let concurrency = u64::from(settings.heroku.concurrency.max(1));
    let peak = peak_slots.div_ceil(concurrency as usize) as u32;
    Report::new(
        billed_slot_ms / concurrency,
        settings.price_per_dyno_hour,
        vec![0; jobs.len()],
        &[],
        peak,
        Fates::default(),
    )
}
