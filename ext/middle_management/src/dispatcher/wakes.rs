//! The hooks' wake-ups, coalesced: per pool a count of news and the
//! earliest due job heard of, and one `Notify` for the loop. A hook costs
//! two atomic operations and a notify whatever the loop is doing, and any
//! number of wake-ups while the app's window is closed take no memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

const NONE: u64 = u64::MAX;

struct PoolWakes {
    /// Every wake-up so far.
    news: AtomicU64,
    /// The earliest due job heard of since the loop last looked, in ms
    /// from `origin` (`NONE`: none).
    due_at_ms: AtomicU64,
}

pub struct Wakes {
    origin: Instant,
    pools: Vec<PoolWakes>,
    pub notify: Notify,
}

impl Wakes {
    /// `origin`: the loop's own, so that due times mean the same to both.
    pub fn new(pools: usize, origin: Instant) -> Wakes {
        Wakes {
            origin,
            pools: (0..pools)
                .map(|_| PoolWakes {
                    news: AtomicU64::new(0),
                    due_at_ms: AtomicU64::new(NONE),
                })
                .collect(),
            notify: Notify::new(),
        }
    }

    /// A hook saw a job change in `pool`; `due_in`: a job scheduled that
    /// far ahead. False when there is no such pool.
    pub fn wake(&self, pool: usize, due_in: Option<Duration>) -> bool {
        let Some(wakes) = self.pools.get(pool) else {
            return false;
        };
        wakes.news.fetch_add(1, Ordering::Relaxed);
        if let Some(due_in) = due_in {
            let at = (self.origin.elapsed() + due_in).as_millis();
            let at = u64::try_from(at).unwrap_or(NONE - 1);
            wakes.due_at_ms.fetch_min(at, Ordering::Relaxed);
        }
        self.notify.notify_one();
        true
    }

    /// For the loop: `pool`'s news so far, and the earliest due job heard
    /// of since the last take (from the origin).
    pub fn take(&self, pool: usize) -> (u64, Option<Duration>) {
        let wakes = &self.pools[pool];
        let due = wakes.due_at_ms.swap(NONE, Ordering::Relaxed);
        let news = wakes.news.load(Ordering::Relaxed);
        (news, (due != NONE).then(|| Duration::from_millis(due)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wake_ups_fold_into_a_count_and_the_earliest_due_job() {
        let wakes = Wakes::new(2, Instant::now());
        for _ in 0..1_000 {
            assert!(wakes.wake(0, None));
        }
        wakes.wake(0, Some(Duration::from_secs(30)));
        wakes.wake(0, Some(Duration::from_secs(15)));
        assert!(!wakes.wake(2, None), "no such pool");
        assert_eq!(wakes.take(0), (1_002, Some(Duration::from_secs(15))));
        assert_eq!(wakes.take(0), (1_002, None), "a due job is taken once");
        assert_eq!(wakes.take(1), (0, None));
    }
}
