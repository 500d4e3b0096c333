//! Heroku's worker dynos, as far as cost and job waits go. Assumptions
//! (the README's "What it costs" section repeats them):
//!
//! - A dyno bills from the formation call that starts it until it stops.
//! - It takes jobs `boot` after that call (Heroku and Judoscale report
//!   20–60 s for a Rails worker).
//! - A scale-down stops the highest-numbered dynos first (Cedar), busy or
//!   not: SIGTERM, then SIGKILL `grace` (30 s) later. A stopping dyno takes
//!   no job; one that finishes its jobs within the grace stops then, else
//!   its jobs are killed and go back to the queue, due at once.
//! - Each dyno runs up to `concurrency` jobs; a free slot takes the oldest
//!   due job; of several free dynos the lowest-numbered takes it.
//! - A call takes no time and never fails.
//!
//! Times are milliseconds of the simulation's clock.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HerokuParams {
    pub boot_ms: u64,
    pub grace_ms: u64,
    pub concurrency: u32,
}

#[derive(Debug, Clone)]
struct Dyno {
    number: u32,
    started_at: u64,
    ready_at: u64,
    /// Set by a scale-down: SIGKILL then.
    kill_at: Option<u64>,
    /// Job index => when it ends.
    running: BTreeMap<usize, u64>,
}

/// What became of a job a dyno was working when it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Killed {
    pub job: usize,
    pub at: u64,
}

#[derive(Debug, Default)]
pub struct Dynos {
    /// Dynos of the current formation, worker.1 first.
    dynos: Vec<Dyno>,
    /// SIGTERMed dynos finishing their jobs.
    stopping: Vec<Dyno>,
    billed_ms: u64,
    peak: u32,
}

impl Dynos {
    pub fn quantity(&self) -> u32 {
        self.dynos.len() as u32
    }

    pub fn peak(&self) -> u32 {
        self.peak
    }

    /// Dyno-milliseconds billed for dynos that have stopped.
    #[cfg(test)]
    pub fn billed_ms(&self) -> u64 {
        self.billed_ms
    }

    /// Also bills what still runs, as if stopped at `now`.
    pub fn billed_until(&self, now: u64) -> u64 {
        let running: u64 = self
            .dynos
            .iter()
            .chain(&self.stopping)
            .map(|d| now.saturating_sub(d.started_at))
            .sum();
        self.billed_ms + running
    }

    pub fn scale(&mut self, now: u64, quantity: u32, params: &HerokuParams) {
        while self.quantity() < quantity {
            let number = self.quantity() + 1;
            self.dynos.push(Dyno {
                number,
                started_at: now,
                ready_at: now + params.boot_ms,
                kill_at: None,
                running: BTreeMap::new(),
            });
        }
        while self.quantity() > quantity {
            let mut dyno = self.dynos.pop().expect("above quantity");
            if dyno.running.is_empty() {
                self.billed_ms += now - dyno.started_at;
            } else {
                dyno.kill_at = Some(now + params.grace_ms);
                self.stopping.push(dyno);
            }
        }
        self.peak = self.peak.max(quantity);
    }

    /// Ends the jobs due to end by `now`, and stops the stopping dynos that
    /// are done or past their grace. Returns the jobs ended, and those killed.
    pub fn advance(&mut self, now: u64) -> (Vec<usize>, Vec<Killed>) {
        let mut ended = Vec::new();
        let mut killed = Vec::new();
        for dyno in self.dynos.iter_mut().chain(self.stopping.iter_mut()) {
            let done: Vec<usize> = dyno
                .running
                .iter()
                .filter(|(_, end)| **end <= now)
                .map(|(job, _)| *job)
                .collect();
            for job in done {
                dyno.running.remove(&job);
                ended.push(job);
            }
        }
        let mut still = Vec::new();
        for mut dyno in std::mem::take(&mut self.stopping) {
            let kill_at = dyno.kill_at.expect("a stopping dyno has a deadline");
            if dyno.running.is_empty() {
                // It stopped as its last job ended: `advance` runs at every
                // job's end, so that is now.
                self.billed_ms += now - dyno.started_at;
            } else if now >= kill_at {
                killed.extend(dyno.running.keys().map(|&job| Killed { job, at: kill_at }));
                dyno.running.clear();
                self.billed_ms += kill_at - dyno.started_at;
            } else {
                still.push(dyno);
            }
        }
        self.stopping = still;
        (ended, killed)
    }

    /// The dyno that would take a job now, if any: the lowest-numbered ready
    /// one with a free slot, numbered at most `up_to` (dynos above drain).
    pub fn free_dyno(&self, now: u64, concurrency: u32, up_to: u32) -> Option<u32> {
        self.dynos
            .iter()
            .find(|d| {
                d.number <= up_to && d.ready_at <= now && (d.running.len() as u32) < concurrency
            })
            .map(|d| d.number)
    }

    pub fn start(&mut self, number: u32, job: usize, ends_at: u64) {
        self.dynos[(number - 1) as usize]
            .running
            .insert(job, ends_at);
    }

    pub fn running(&self) -> u64 {
        self.dynos
            .iter()
            .chain(&self.stopping)
            .map(|d| d.running.len() as u64)
            .sum()
    }

    /// The highest number of a dyno of the formation that works a job.
    pub fn top_busy(&self) -> Option<u32> {
        self.dynos
            .iter()
            .rev()
            .find(|d| !d.running.is_empty())
            .map(|d| d.number)
    }

    /// When something next happens on its own: a job ends, a dyno becomes
    /// ready, a stopping dyno is killed.
    pub fn next_event(&self, now: u64) -> Option<u64> {
        let ends = self
            .dynos
            .iter()
            .chain(&self.stopping)
            .flat_map(|d| d.running.values().copied());
        let ready = self.dynos.iter().map(|d| d.ready_at).filter(|&at| at > now);
        let kills = self.stopping.iter().filter_map(|d| d.kill_at);
        ends.chain(ready).chain(kills).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: HerokuParams = HerokuParams {
        boot_ms: 30_000,
        grace_ms: 30_000,
        concurrency: 1,
    };

    #[test]
    fn a_dyno_bills_from_the_call_and_takes_jobs_after_its_boot() {
        let mut f = Dynos::default();
        f.scale(0, 2, &P);
        assert_eq!(f.free_dyno(29_999, 1, u32::MAX), None, "still booting");
        assert_eq!(
            f.free_dyno(30_000, 1, u32::MAX),
            Some(1),
            "lowest-numbered first"
        );
        f.scale(60_000, 0, &P);
        assert_eq!(
            f.billed_ms(),
            2 * 60_000,
            "two idle dynos for a minute, boot included"
        );
        assert_eq!(f.peak(), 2);
    }

    #[test]
    fn a_scale_down_stops_the_highest_numbers_first_and_kills_after_the_grace() {
        let mut f = Dynos::default();
        f.scale(0, 3, &P);
        f.start(1, 10, 200_000);
        f.start(3, 30, 200_000);
        f.scale(40_000, 1, &P);
        assert_eq!(f.quantity(), 1);
        assert_eq!(f.top_busy(), Some(1), "worker.3 left the formation, busy");
        assert_eq!(
            f.next_event(40_000),
            Some(70_000),
            "SIGKILL 30 s after SIGTERM"
        );
        let (ended, killed) = f.advance(70_000);
        assert!(ended.is_empty());
        assert_eq!(
            killed,
            vec![Killed {
                job: 30,
                at: 70_000
            }]
        );
        // worker.2 was idle: billed to the call; worker.3 to its kill.
        assert_eq!(f.billed_ms(), 40_000 + 70_000);
    }

    #[test]
    fn a_stopping_dyno_that_finishes_within_the_grace_stops_then() {
        let mut f = Dynos::default();
        f.scale(0, 2, &P);
        f.start(2, 7, 50_000);
        f.scale(40_000, 1, &P);
        assert_eq!(
            f.free_dyno(45_000, 1, u32::MAX),
            Some(1),
            "a stopping dyno takes no job"
        );
        let (ended, killed) = f.advance(50_000);
        assert_eq!((ended, killed), (vec![7], vec![]));
        assert_eq!(f.billed_ms(), 50_000);
    }

    #[test]
    fn concurrency_and_draining_limit_which_dyno_takes_a_job() {
        let mut f = Dynos::default();
        f.scale(0, 2, &P);
        f.start(1, 0, 90_000);
        assert_eq!(f.free_dyno(30_000, 2, u32::MAX), Some(1), "a second slot");
        assert_eq!(f.free_dyno(30_000, 1, u32::MAX), Some(2));
        assert_eq!(f.free_dyno(30_000, 1, 1), None, "worker.2 drains");
    }
}
