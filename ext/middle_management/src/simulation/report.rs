//! A simulation's figures: what the workers cost and how long jobs waited.

use crate::policy::Measured;

/// Seconds, dyno-hours and dollars, as `middle_management simulate` prints them.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub dyno_hours: f64,
    pub cost: f64,
    /// From due to started, seconds.
    pub wait_p50: f64,
    pub wait_p95: f64,
    pub wait_max: f64,
    pub calls: u64,
    pub max_calls_per_hour: u64,
    pub peak_workers: u32,
    /// Jobs stopped mid-run by a scale-down (they ran again, up to
    /// MAX_ATTEMPTS times), given up, and not done when the replay ended.
    pub killed: u64,
    pub lost: u64,
    pub unfinished: u64,
    /// Each formation call: when (ms) and the quantity.
    pub changes: Vec<(u64, u32)>,
    /// With JOBS_PER_WORKER=auto: what was measured by the end, and the
    /// jobs per worker it gives.
    pub learned: Option<(Measured, u32)>,
}

/// What became of the jobs besides running once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fates {
    /// Stops mid-run by a scale-down.
    pub killed: u64,
    /// Jobs stopped MAX_ATTEMPTS times, given up.
    pub lost: u64,
    /// Jobs not done when the replay ended.
    pub unfinished: u64,
}

const HOUR_MS: u64 = 3_600_000;

impl Report {
    /// `billed_ms`: dyno-milliseconds; `waits`: ms per job; `calls`: when and what, in order.
    pub fn new(
        billed_ms: u64,
        price: f64,
        mut waits: Vec<u64>,
        calls: &[(u64, u32)],
        peak_workers: u32,
        fates: Fates,
    ) -> Report {
        waits.sort_unstable();
        let times: Vec<u64> = calls.iter().map(|&(at, _)| at).collect();
        let dyno_hours = billed_ms as f64 / HOUR_MS as f64;
        Report {
            dyno_hours,
            cost: dyno_hours * price,
            wait_p50: percentile(&waits, 0.50),
            wait_p95: percentile(&waits, 0.95),
            wait_max: waits.last().map_or(0.0, |&w| w as f64 / 1000.0),
            calls: calls.len() as u64,
            max_calls_per_hour: max_in_window(&times, HOUR_MS),
            peak_workers,
            killed: fates.killed,
            lost: fates.lost,
            unfinished: fates.unfinished,
            changes: calls.to_vec(),
            learned: None,
        }
    }
}

/// Nearest rank, in seconds.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

/// The most times within any `window` (times sorted).
fn max_in_window(times: &[u64], window: u64) -> u64 {
    let mut start = 0;
    let mut most = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= window {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank_and_calls_in_any_hour() {
        let waits: Vec<u64> = (1..=100).map(|s| s * 1000).collect();
        let calls: Vec<(u64, u32)> = [0, 10, HOUR_MS - 1, HOUR_MS + 5, 3 * HOUR_MS]
            .iter()
            .map(|&at| (at, 1))
            .collect();
        let r = Report::new(7_200_000, 0.5, waits, &calls, 3, Fates::default());
        assert_eq!((r.wait_p50, r.wait_p95, r.wait_max), (50.0, 95.0, 100.0));
        assert_eq!((r.dyno_hours, r.cost), (2.0, 1.0));
        assert_eq!((r.calls, r.max_calls_per_hour), (5, 3));
    }
}
