//! The hosted autoscalers users would pick instead, modelled from their
//! public documentation, as periodic controllers that see the queue at each
//! checkup and may call Heroku then. Neither protects busy dynos: a
//! scale-down stops the highest-numbered ones, as Heroku does.

/// HireFire's job-queue manager (help.hirefire.io: "Dyno Manager Checkup
/// Frequency", "Timeout Options", "Decrementable Option"): every
/// `checkup_ms` (60 s by default, 15 s at extra cost) it wants
/// ceil(queue / ratio) dynos within [min, max], where the queue is the due
/// jobs, running ones included (its Delayed Job macro counts them); it scales
/// up at most once per `upscale_timeout_ms` and down at most once per
/// `downscale_timeout_ms`; unless `decrementable`, it never scales down
/// while jobs remain, and then straight to the minimum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HireFire {
    pub checkup_ms: u64,
    pub ratio: u64,
    pub min: u32,
    pub max: u32,
    pub upscale_timeout_ms: u64,
    pub downscale_timeout_ms: u64,
    pub decrementable: bool,
}

/// Judoscale's worker autoscaling by queue latency (judoscale.com/guides/
/// autoscaling-behavior, /docs/tuning-your-application): every 10 s, if the
/// oldest waiting job has waited longer than `upscale_ms`, add `jump`
/// dynos, at most once per `upscale_cooldown_ms` (three minutes); once the
/// latency has stayed below `downscale_ms` for `downscale_delay_ms` (ten
/// minutes), remove one dyno, and again after each further delay. The
/// latency thresholds are this model's assumption (Judoscale's defaults
/// are not published for workers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judoscale {
    pub cadence_ms: u64,
    pub upscale_ms: u64,
    pub downscale_ms: u64,
    pub jump: u32,
    pub min: u32,
    pub max: u32,
    pub upscale_cooldown_ms: u64,
    pub downscale_delay_ms: u64,
}

/// What a checkup sees.
#[derive(Debug, Clone, Copy)]
pub struct Queue {
    pub now: u64,
    pub due: u64,
    pub running: u64,
    /// How long the oldest due, waiting job has waited.
    pub latency_ms: u64,
    pub quantity: u32,
}

/// A controller's memory between checkups.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    last_up: Option<u64>,
    last_down: Option<u64>,
    /// Since when the latency has been below the downscale threshold.
    calm_since: Option<u64>,
}

impl HireFire {
    pub fn checkup(&self, q: &Queue, m: &mut Memory) -> Option<u32> {
        let queue = q.due + q.running;
        let wanted = (queue.div_ceil(self.ratio.max(1)) as u32).clamp(self.min, self.max);
        let wanted = if wanted < q.quantity && !self.decrementable && queue > 0 {
            q.quantity
        } else {
            wanted
        };
        let since = |at: Option<u64>| at.map_or(u64::MAX, |at| q.now - at);
        if wanted > q.quantity && since(m.last_up) >= self.upscale_timeout_ms {
            m.last_up = Some(q.now);
            Some(wanted)
        } else if wanted < q.quantity && since(m.last_down) >= self.downscale_timeout_ms {
            m.last_down = Some(q.now);
            Some(wanted)
        } else {
            None
        }
    }
}

impl Judoscale {
    pub fn checkup(&self, q: &Queue, m: &mut Memory) -> Option<u32> {
        if q.latency_ms > self.upscale_ms {
            m.calm_since = None;
            let cooled = m
                .last_up
                .map_or(true, |at| q.now - at >= self.upscale_cooldown_ms);
            let wanted = (q.quantity + self.jump).clamp(self.min, self.max);
            if cooled && wanted > q.quantity {
                m.last_up = Some(q.now);
                return Some(wanted);
            }
            return None;
        }
        if q.latency_ms >= self.downscale_ms {
            m.calm_since = None;
            return None;
        }
        let calm_since = *m.calm_since.get_or_insert(q.now);
        let waited = q.now - m.last_down.map_or(calm_since, |at| at.max(calm_since));
        if waited >= self.downscale_delay_ms && q.quantity > self.min {
            m.last_down = Some(q.now);
            return Some(q.quantity - 1);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn queue(now: u64, due: u64, running: u64, latency_ms: u64, quantity: u32) -> Queue {
        Queue {
            now,
            due,
            running,
            latency_ms,
            quantity,
        }
    }

    fn hirefire(decrementable: bool) -> HireFire {
        HireFire {
            checkup_ms: MIN,
            ratio: 5,
            min: 0,
            max: 10,
            upscale_timeout_ms: 0,
            downscale_timeout_ms: 2 * MIN,
            decrementable,
        }
    }

    #[test]
    fn hirefire_follows_the_ratio_within_its_timeouts() {
        let mut m = Memory::default();
        let h = hirefire(true);
        assert_eq!(h.checkup(&queue(0, 23, 0, 0, 0), &mut m), Some(5));
        assert_eq!(h.checkup(&queue(MIN, 3, 2, 0, 5), &mut m), Some(1));
        assert_eq!(
            h.checkup(&queue(2 * MIN, 0, 0, 0, 1), &mut m),
            None,
            "the downscale timeout"
        );
        assert_eq!(h.checkup(&queue(3 * MIN, 0, 0, 0, 1), &mut m), Some(0));
    }

    #[test]
    fn hirefire_not_decrementable_waits_for_an_empty_queue() {
        let mut m = Memory::default();
        let h = hirefire(false);
        assert_eq!(h.checkup(&queue(0, 3, 2, 0, 5), &mut m), None);
        assert_eq!(h.checkup(&queue(MIN, 0, 0, 0, 5), &mut m), Some(0));
    }

    #[test]
    fn judoscale_jumps_up_on_latency_and_steps_down_after_a_calm_delay() {
        let j = Judoscale {
            cadence_ms: 10_000,
            upscale_ms: 5_000,
            downscale_ms: 2_000,
            jump: 2,
            min: 0,
            max: 10,
            upscale_cooldown_ms: 3 * MIN,
            downscale_delay_ms: 10 * MIN,
        };
        let mut m = Memory::default();
        assert_eq!(j.checkup(&queue(0, 9, 0, 8_000, 0), &mut m), Some(2));
        assert_eq!(
            j.checkup(&queue(MIN, 9, 2, 8_000, 2), &mut m),
            None,
            "cooling down"
        );
        assert_eq!(j.checkup(&queue(3 * MIN, 9, 2, 8_000, 2), &mut m), Some(4));
        assert_eq!(
            j.checkup(&queue(4 * MIN, 0, 0, 0, 4), &mut m),
            None,
            "calm from here"
        );
        assert_eq!(j.checkup(&queue(14 * MIN, 0, 0, 0, 4), &mut m), Some(3));
        assert_eq!(j.checkup(&queue(15 * MIN, 0, 0, 0, 3), &mut m), None);
        assert_eq!(j.checkup(&queue(24 * MIN, 0, 0, 0, 3), &mut m), Some(2));
    }
}
