//! When a formation call may be made for one pool, and when counts are due.
//!
//! Heroku's API budget is shared by the whole account and every dyno restart
//! costs money, so calls are throttled, coalesced to the latest wish, skipped
//! when Heroku already has the answer, and scale-downs can be stabilised.
//! Time is injected (`now`, from any fixed origin) so every rule is testable
//! without sleeping.

use std::collections::VecDeque;
use std::time::Duration;

mod memory;

use memory::Memory;
pub use memory::MEMORY_MAX_CHARS;

/// The most earlier wishes remembered (see `Pacer::merge_closest`).
pub const MAX_SUPERSEDED: usize = 16;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacingConfig {
    /// Minimum spacing between the starts of two formation calls; zero disables it.
    pub api_throttle: Duration,
    /// How long a lower worker count must be wanted before it is sent; zero
    /// scales down as soon as the throttle allows (the original behaviour).
    pub scale_down_delay: Duration,
    /// A token bucket for a pool's calls: a queue that never settles
    /// changes the formation at a bounded rate, while work after a quiet
    /// spell is answered at once. None: no budget.
    pub change_budget: Option<ChangeBudget>,
}

/// Up to `calls` formation calls at once, and `calls` per `per` on
/// average: as a bucket of `calls` tokens, each call spending one and one
/// coming back every `per / calls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeBudget {
    pub calls: u32,
    pub per: Duration,
}

impl ChangeBudget {
    /// A burst the budget lets through after a quiet spell.
    pub const BURST: u32 = 10;

    /// MIDDLE_MANAGEMENT_CHANGES_PER_HOUR: that many an hour on average, in
    /// bursts of up to `BURST`; 0 for no budget.
    pub fn per_hour(changes: u32) -> Option<ChangeBudget> {
        (changes > 0).then(|| ChangeBudget {
            calls: Self::BURST,
            per: Duration::from_secs(3600) * Self::BURST / changes,
        })
    }

    fn refill_every(self) -> Duration {
        self.per / self.calls.max(1)
    }

    /// How far ahead of a call's time the budget's clock may run: the
    /// burst (the generic cell rate algorithm's tolerance).
    fn burst(self) -> Duration {
        self.refill_every() * self.calls.saturating_sub(1)
    }
}

/// What the dispatcher should do for this pool now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Call Heroku now with this quantity.
    Send(u32),
    /// Something is pending, but nothing may be sent before this instant.
    WaitUntil(Duration),
    /// Heroku already has what is wanted.
    Idle,
}

/// One pool's pacing, as a decision sees it: restored from the app's record
/// (`restore`), told the policy's wish (`desire`), asked what to send
/// (`poll`; on `Send`, `sent` and `known` as if the call succeeds: only
/// Heroku's answer is recorded), and written back (`memory`). A failed call
/// needs nothing here: the record's window, opened by the call, spaces the
/// next one.
#[derive(Debug, Clone)]
pub struct Pacer {
    cfg: PacingConfig,
    /// The latest wish from the policy.
    desired: Option<u32>,
    /// When the first desire arrived: before that, nothing is known to have
    /// been wanted, so a scale-down must wait a full delay from here.
    first_desired_at: Option<Duration>,
    /// Earlier desired counts above the current one, with when they stopped
    /// being wanted. Values strictly decrease front to back: a value no higher
    /// than a later one can never be the window's maximum, so it is dropped.
    superseded: VecDeque<(Duration, u32)>,
    known: Option<u32>,
    last_call: Option<Duration>,
    /// The change budget's clock (the generic cell rate algorithm's
    /// theoretical arrival time): a call may go once `now` is within the
    /// burst of it; each call moves it a refill on. None: the budget is full.
    budget_at: Option<Duration>,
}

impl Pacer {
    pub fn new(cfg: PacingConfig) -> Pacer {
        Pacer {
            cfg,
            desired: None,
            first_desired_at: None,
            superseded: VecDeque::new(),
            known: None,
            last_call: None,
            budget_at: None,
        }
    }

    /// A pacer as the app's shared record keeps it: Heroku's quantity and
    /// the last call come from the record's own fields, the rest from the
    /// text `memory()` wrote. Times are durations from the record's epoch;
    /// `now` is the record's clock. A memory that is not what `memory()`
    /// writes (edited by hand, an older version, a time in the future) is
    /// nothing remembered: the store's text is never trusted further.
    pub fn restore(
        cfg: PacingConfig,
        known: Option<u32>,
        last_call: Option<Duration>,
        memory: &str,
        now: Duration,
    ) -> Pacer {
        let mut pacer = Pacer::new(cfg);
        pacer.known = known;
        pacer.last_call = last_call;
        if let Some(memory) = Memory::read(memory, now) {
            pacer.desired = memory.d;
            pacer.first_desired_at = memory.f.map(Duration::from_millis);
            pacer.superseded = memory
                .s
                .into_iter()
                .map(|(at, workers)| (Duration::from_millis(at), workers))
                .collect();
            while pacer.superseded.len() > MAX_SUPERSEDED {
                pacer.merge_closest(); // a longer memory of an earlier version
            }
            // Never more than a full budget ahead (a clock edited by hand
            // would hold the calls back without end).
            let most = cfg.change_budget.map_or(Duration::ZERO, |b| now.saturating_add(b.per));
            pacer.budget_at = memory.b.map(Duration::from_millis).filter(|&at| at <= most);
        }
        pacer
    }

    /// What `restore` reads back: the latest wish and the recent higher
    /// ones, as JSON of at most `MEMORY_MAX_CHARS` (the store's column).
    pub fn memory(&self) -> String {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let memory = Memory {
            d: self.desired,
            f: self.first_desired_at.map(millis),
            s: self
                .superseded
                .iter()
                .map(|&(at, v)| (millis(at), v))
                .collect(),
            b: self.budget_at.map(millis),
        };
        serde_json::to_string(&memory).unwrap_or_default()
    }

    pub fn desire(&mut self, now: Duration, workers: u32) {
        self.first_desired_at.get_or_insert(now);
        if self.desired != Some(workers) {
            if let Some(old) = self.desired.replace(workers) {
                self.supersede(now, old);
            }
            self.drop_dominated_by(workers);
        }
        let delay = self.cfg.scale_down_delay;
        while self
            .superseded
            .front()
            .is_some_and(|&(until, _)| until.saturating_add(delay) <= now)
        {
            self.superseded.pop_front();
        }
    }

    fn supersede(&mut self, now: Duration, old: u32) {
        self.drop_dominated_by(old);
        self.superseded.push_back((now, old));
        if self.superseded.len() > MAX_SUPERSEDED {
            self.merge_closest();
        }
    }

    /// Bounds the memory (a queue draining step by step from 100 would
    /// otherwise keep 100 wishes) on the safe side: of the two neighbours
    /// closest in time, the higher wish is kept as if wanted until the
    /// lower one's end, so a scale-down is at worst held a little longer,
    /// never released sooner.
    fn merge_closest(&mut self) {
        let closest = (0..self.superseded.len() - 1).min_by_key(|&i| {
            self.superseded[i + 1]
                .0
                .saturating_sub(self.superseded[i].0)
        });
        if let Some(i) = closest {
            let (until, _) = self.superseded[i + 1];
            self.superseded[i].0 = until;
            self.superseded.remove(i + 1);
        }
    }

    /// Entries no higher than a later wish are never the window's maximum.
    fn drop_dominated_by(&mut self, later: u32) {
        while self.superseded.back().is_some_and(|&(_, v)| v <= later) {
            self.superseded.pop_back();
        }
    }

    /// Heroku's quantity, from a GET or a successful PATCH response.
    pub fn known(&mut self, quantity: u32) {
        self.known = Some(quantity);
    }

    /// Opens the throttle window: it is measured from the start of a call.
    pub fn sent(&mut self, now: Duration) {
        self.last_call = Some(now);
        if let Some(budget) = self.cfg.change_budget {
            let at = self.budget_at.map_or(now, |at| at.max(now));
            self.budget_at = Some(at.saturating_add(budget.refill_every()));
        }
    }

    /// When the change budget lets the next call go.
    fn budget_opens(&self) -> Duration {
        match (self.cfg.change_budget, self.budget_at) {
            (Some(budget), Some(at)) => at.saturating_sub(budget.burst()),
            _ => Duration::ZERO,
        }
    }

    pub fn poll(&self, now: Duration) -> Step {
        let Some(desired) = self.desired else {
            return Step::Idle;
        };
        let target = self.target(now, desired);
        let window_opens = self
            .last_call
            .map_or(Duration::ZERO, |t| t.saturating_add(self.cfg.api_throttle))
            .max(self.budget_opens());
        if Some(target) != self.known {
            return if now >= window_opens {
                Step::Send(target)
            } else {
                Step::WaitUntil(window_opens)
            };
        }
        match self.known {
            Some(known) if desired < known => {
                Step::WaitUntil(self.release_at(known).max(window_opens))
            }
            _ => Step::Idle,
        }
    }

    /// The count to send now: the latest wish, except that a scale-down goes
    /// no lower than the highest count wanted within the last
    /// `scale_down_delay` (HPA-style stabilisation). Scale-ups are never held.
    fn target(&self, now: Duration, desired: u32) -> u32 {
        let Some(known) = self.known else {
            return desired;
        };
        let start = now.checked_sub(self.cfg.scale_down_delay);
        let covered =
            matches!((start, self.first_desired_at), (Some(s), Some(first)) if first <= s);
        if !covered {
            return desired.max(known);
        }
        let start = start.unwrap_or_default();
        let recent_max = self
            .superseded
            .iter()
            .filter(|&&(until, _)| until > start)
            .map(|&(_, v)| v)
            .max();
        desired.max(known.min(recent_max.unwrap_or(desired)))
    }

    /// When a held scale-down from `known` starts to go through: once the
    /// last wish at or above `known` has been out of the window for the full
    /// delay, and never before a full delay after the first wish.
    fn release_at(&self, known: u32) -> Duration {
        let last_high = self
            .superseded
            .iter()
            .take_while(|&&(_, v)| v >= known)
            .last()
            .map(|&(until, _)| until);
        let since = last_high.max(self.first_desired_at).unwrap_or_default();
        since.saturating_add(self.cfg.scale_down_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn config(throttle: u64, delay: u64) -> PacingConfig {
        PacingConfig {
            api_throttle: s(throttle),
            scale_down_delay: s(delay),
            change_budget: None,
        }
    }

    fn pacer(throttle: u64, delay: u64) -> Pacer {
        Pacer::new(config(throttle, delay))
    }

    /// The wish Heroku does not have yet, whatever the throttle and delay.
    fn owed(p: &Pacer) -> Option<u32> {
        p.desired.filter(|&d| Some(d) != p.known)
    }

    /// Does what a well-behaved dispatcher does on `Send`, assuming success.
    fn deliver(p: &mut Pacer, now: Duration) -> Step {
        let step = p.poll(now);
        if let Step::Send(q) = step {
            p.sent(now);
            p.known(q);
        }
        step
    }

    #[test]
    fn the_change_budget_lets_a_burst_through_then_spaces_the_calls() {
        let budget = ChangeBudget { calls: 3, per: s(180) }; // a token a minute, three at most
        let mut p = Pacer::new(PacingConfig { change_budget: Some(budget), ..config(0, 0) });
        p.known(0);
        for (at, wish) in [(0, 1), (1, 2), (2, 1)] {
            p.desire(s(at), wish);
            assert_eq!(deliver(&mut p, s(at)), Step::Send(wish), "the burst, at {at} s");
        }
        p.desire(s(3), 2);
        assert_eq!(deliver(&mut p, s(3)), Step::WaitUntil(s(60)), "a token comes back a minute after the first call");
        assert_eq!(deliver(&mut p, s(60)), Step::Send(2));
        p.desire(s(61), 3);
        assert_eq!(deliver(&mut p, s(61)), Step::WaitUntil(s(120)));
        // The memory keeps the bucket between decisions.
        let back = Pacer::restore(p.cfg, p.known, p.last_call, &p.memory(), s(61));
        assert_eq!(back.poll(s(61)), Step::WaitUntil(s(120)));
        let edited = p.memory().replace("240000", "99999999");
        let forgot = Pacer::restore(p.cfg, p.known, p.last_call, &edited, s(61));
        assert_eq!(forgot.poll(s(61)), Step::Send(3), "a clock beyond a full budget is forgotten");
        assert!(p.memory().contains(r#""b":240000"#), "{}", p.memory());
        // A quiet spell fills it again, to three.
        p.desire(s(1000), 0);
        for at in [1000, 1001, 1002] {
            p.desire(s(at), (at % 2) as u32 + 1);
            assert!(matches!(deliver(&mut p, s(at)), Step::Send(_)), "at {at} s");
        }
    }

    #[test]
    fn memory_round_trips_and_unreadable_memory_is_forgotten() {
        let mut p = pacer(10, 30);
        p.known(8);
        p.desire(s(100), 8);
        p.desire(s(105), 5);
        p.desire(s(110), 3);
        let memory = p.memory();
        assert_eq!(memory, r#"{"d":3,"f":100000,"s":[[105000,8],[110000,5]]}"#);
        let back = Pacer::restore(config(10, 30), Some(8), None, &memory, s(110));
        assert_eq!(back.memory(), memory);
        assert_eq!(back.poll(s(120)), p.poll(s(120)));
        assert_eq!(back.poll(s(141)), p.poll(s(141)));

        let legacy = Pacer::restore(
            config(10, 30),
            Some(8),
            None,
            "d3 f100000 s105000:8 s110000:5",
            s(110),
        );
        assert_eq!(
            legacy.memory(),
            memory,
            "the text format of earlier versions is read"
        );
        let long: Vec<String> = (0..40u64)
            .map(|i| format!("s{}:{}", 1_000 + i * 1_000, 100 - i))
            .collect();
        let long = Pacer::restore(
            config(10, 30),
            Some(100),
            None,
            &format!("d0 f0 {}", long.join(" ")),
            s(110),
        );
        assert!(long.superseded.len() <= MAX_SUPERSEDED && long.memory().len() <= MEMORY_MAX_CHARS);

        for garbled in [
            "é1",
            "d3 sX:2",
            r#"{"d":3,"f":100000,"s":[[105000,8]],"x":1}"#,
            r#"{"d":-1,"f":100000,"s":[]}"#,
            r#"{"d":3,"f":999999999,"s":[]}"#, // a first wish in the future
            r#"{"d":3,"f":100000,"s":[[105000,5],[106000,8]]}"#, // out of order
        ] {
            let back = Pacer::restore(config(10, 30), Some(8), Some(s(1)), garbled, s(110));
            assert_eq!((back.desired, back.known), (None, Some(8)), "{garbled}");
            assert_eq!(back.memory(), r#"{"d":null,"f":null,"s":[]}"#);
        }
    }

    #[test]
    fn a_long_descent_keeps_the_memory_short_and_never_scales_down_sooner() {
        // MAX_WORKERS 100, an hour's delay, a queue draining from 100 to 0.
        let delay = 3_600;
        let mut bounded = pacer(0, delay);
        let mut reference = Vec::new();
        for (i, workers) in (0..=100u32).rev().enumerate() {
            let at = s(10_000 + i as u64 * 30);
            bounded.desire(at, workers);
            reference.push((at, workers));
            let memory = bounded.memory();
            assert!(memory.len() <= MEMORY_MAX_CHARS, "{} chars", memory.len());
            bounded = Pacer::restore(config(0, delay), Some(100), None, &memory, at);
        }
        for probe in (10_000..10_000 + 3 * delay).step_by(60) {
            let target = |p: &Pacer| match p.poll(s(probe)) {
                Step::Send(q) => q,
                _ => 100,
            };
            let exact = reference_target(&reference, 100, s(probe), s(delay));
            assert!(
                target(&bounded) >= exact,
                "at {probe}: {} < {exact}",
                target(&bounded)
            );
        }
        assert_eq!(
            target_at(&bounded, s(10_000 + 3_000 + 2 * delay)),
            0,
            "it does reach 0"
        );
    }

    fn target_at(p: &Pacer, now: Duration) -> u32 {
        match p.poll(now) {
            Step::Send(q) => q,
            _ => p.known.unwrap_or(0),
        }
    }

    #[test]
    fn nothing_wanted_is_idle() {
        let p = pacer(10, 0);
        assert_eq!(p.poll(s(0)), Step::Idle);
        assert_eq!((owed(&p), p.desired, p.known), (None, None, None));
    }

    #[test]
    fn sends_when_heroku_is_unknown_and_skips_what_it_has() {
        let mut p = pacer(10, 0);
        p.desire(s(0), 0);
        assert_eq!(p.poll(s(0)), Step::Send(0));
        p.known(0);
        assert_eq!(p.poll(s(0)), Step::Idle);
        assert_eq!(owed(&p), None);
        p.desire(s(1), 3);
        assert_eq!(p.poll(s(1)), Step::Send(3));
    }

    #[test]
    fn first_call_goes_at_once_then_one_per_window_with_the_latest_value() {
        let mut p = pacer(10, 0);
        p.known(0);
        p.desire(s(100), 3);
        assert_eq!(deliver(&mut p, s(100)), Step::Send(3));
        p.desire(s(101), 5);
        p.desire(s(102), 7);
        assert_eq!(deliver(&mut p, s(102)), Step::WaitUntil(s(110)));
        p.desire(s(105), 6);
        assert_eq!(deliver(&mut p, s(109)), Step::WaitUntil(s(110)));
        assert_eq!(deliver(&mut p, s(110)), Step::Send(6));
        assert_eq!(p.poll(s(111)), Step::Idle);
    }

    #[test]
    fn a_change_undone_inside_the_window_sends_nothing() {
        let mut p = pacer(10, 0);
        p.known(2);
        p.desire(s(0), 2);
        p.sent(s(0));
        p.desire(s(3), 4);
        assert_eq!(p.poll(s(3)), Step::WaitUntil(s(10)));
        p.desire(s(5), 2);
        assert_eq!(p.poll(s(10)), Step::Idle);
    }

    #[test]
    fn zero_throttle_never_waits() {
        let mut p = pacer(0, 0);
        p.known(1);
        for (t, w) in [(0, 2), (0, 3), (0, 1)] {
            p.desire(s(t), w);
            assert_eq!(deliver(&mut p, s(t)), Step::Send(w));
        }
    }

    #[test]
    fn scale_down_waits_out_the_delay_but_scale_up_does_not() {
        let mut p = pacer(10, 60);
        p.known(5);
        p.desire(s(0), 5);
        p.desire(s(100), 2);
        assert_eq!(p.poll(s(100)), Step::WaitUntil(s(160)));
        assert_eq!(p.poll(s(159)), Step::WaitUntil(s(160)));
        assert_eq!(owed(&p), Some(2));
        p.desire(s(120), 8);
        assert_eq!(deliver(&mut p, s(120)), Step::Send(8));
        p.desire(s(125), 0);
        assert_eq!(p.poll(s(125)), Step::WaitUntil(s(185)));
        assert_eq!(deliver(&mut p, s(185)), Step::Send(0));
    }

    #[test]
    fn first_wish_below_heroku_waits_a_full_delay() {
        let mut p = pacer(0, 30);
        p.known(4);
        p.desire(s(10), 1);
        assert_eq!(p.poll(s(10)), Step::WaitUntil(s(40)));
        assert_eq!(p.poll(s(40)), Step::Send(1));
    }

    #[test]
    fn stabilised_scale_down_steps_through_the_recent_maximum() {
        let mut p = pacer(0, 60);
        p.known(10);
        p.desire(s(0), 8);
        p.desire(s(30), 3);
        assert_eq!(p.poll(s(30)), Step::WaitUntil(s(60)));
        assert_eq!(deliver(&mut p, s(60)), Step::Send(8));
        assert_eq!(p.poll(s(61)), Step::WaitUntil(s(90)));
        assert_eq!(deliver(&mut p, s(90)), Step::Send(3));
    }

    #[test]
    fn a_brief_dip_is_absorbed() {
        let mut p = pacer(10, 60);
        p.known(4);
        p.desire(s(0), 4);
        p.desire(s(100), 1);
        p.desire(s(130), 4);
        for t in [100, 130, 200, 1000] {
            assert_eq!(p.poll(s(t)), Step::Idle, "at {t}");
        }
    }

    #[test]
    fn history_stays_bounded() {
        let mut p = pacer(10, 60);
        for t in 0..10_000u64 {
            p.desire(s(t), (t % 7) as u32);
        }
        assert!(p.superseded.len() <= 6, "{:?}", p.superseded);
        p.desire(s(10_000), 9);
        assert!(p.superseded.is_empty(), "a new high outranks all history");
        let mut q = pacer(10, 0);
        for t in 0..100u64 {
            q.desire(s(t), (t % 2) as u32);
        }
        assert!(q.superseded.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Event {
        Advance(u64),
        Desire(u32),
        Known(u32),
    }

    fn events() -> impl Strategy<Value = Vec<Event>> {
        prop::collection::vec(
            prop_oneof![
                (0u64..30_000).prop_map(Event::Advance),
                (0u32..8).prop_map(Event::Desire),
                (0u32..8).prop_map(Event::Known),
            ],
            0..60,
        )
    }

    /// Stabilised target computed the slow, obvious way from the full history:
    /// the highest wish in effect at any moment of the last delay, counting
    /// any moment before the first wish as Heroku's own quantity.
    fn reference_target(
        history: &[(Duration, u32)],
        known: u32,
        now: Duration,
        delay: Duration,
    ) -> u32 {
        let desired = history.last().unwrap().1;
        let start = now.checked_sub(delay);
        let uncovered = start.map_or(true, |start| history[0].0 > start);
        let in_window = history.iter().enumerate().filter(|&(i, _)| {
            history.get(i + 1).map_or(true, |&(until, _)| {
                start.map_or(true, |start| until > start)
            })
        });
        let recent = in_window
            .map(|(_, &(_, v))| v)
            .chain(uncovered.then_some(known))
            .max()
            .unwrap();
        desired.max(known.min(recent))
    }

    proptest! {
        #[test]
        fn stabilisation_matches_the_obvious_definition(
            delay in 0u64..100, known in 0u32..8,
            wishes in prop::collection::vec((0u64..40, 0u32..8), 1..40),
        ) {
            let mut p = pacer(0, delay);
            p.known(known);
            let (mut now, mut history) = (Duration::ZERO, vec![]);
            for (dt, w) in wishes {
                now += s(dt);
                p.desire(now, w);
                if history.last().map(|&(_, v)| v) != Some(w) {
                    history.push((now, w));
                }
                for probe in [now, now + s(delay / 2), now + s(delay)] {
                    let target = |at| reference_target(&history, known, at, s(delay));
                    match p.poll(probe) {
                        Step::Send(q) => prop_assert!(q == target(probe) && q != known),
                        Step::Idle => prop_assert!(target(probe) == known && w == known),
                        Step::WaitUntil(t) => {
                            // Held exactly until the reference lets it go.
                            prop_assert_eq!(target(probe), known);
                            prop_assert_eq!(target(t - Duration::from_nanos(1)), known);
                            prop_assert_ne!(target(t), known);
                        }
                    }
                }
            }
        }

        #[test]
        fn throttled_coalesced_and_eventually_delivered(
            throttle_ms in 0u64..20_000, delay_ms in 0u64..120_000, evs in events(),
            budget in prop::option::of((1u32..12, 1u64..600)),
        ) {
            let budget = budget.map(|(calls, per)| ChangeBudget { calls, per: s(per) });
            let mut p = Pacer::new(PacingConfig {
                api_throttle: Duration::from_millis(throttle_ms),
                scale_down_delay: Duration::from_millis(delay_ms),
                change_budget: budget,
            });
            let mut now = Duration::ZERO;
            let mut calls: Vec<Duration> = vec![];
            let act = |p: &mut Pacer, now: Duration, calls: &mut Vec<Duration>| -> Result<(), TestCaseError> {
                match p.poll(now) {
                    Step::Send(q) => {
                        prop_assert_ne!(Some(q), p.known);
                        p.sent(now);
                        calls.push(now);
                    }
                    Step::WaitUntil(t) => prop_assert!(t > now),
                    Step::Idle => prop_assert!(p.desired.is_none() || p.desired == p.known),
                }
                Ok(())
            };
            for ev in evs {
                match ev {
                    Event::Advance(ms) => now += Duration::from_millis(ms),
                    Event::Desire(w) => p.desire(now, w),
                    Event::Known(q) => p.known(q),
                }
                act(&mut p, now, &mut calls)?;
            }
            for pair in calls.windows(2) {
                prop_assert!(pair[1] - pair[0] >= Duration::from_millis(throttle_ms), "{:?}", calls);
            }
            // The budget: in any stretch, its bucket's worth plus a call per refill.
            if let Some(b) = budget {
                for (i, &from) in calls.iter().enumerate() {
                    for (j, &to) in calls.iter().enumerate().skip(i) {
                        let refills = ((to - from).as_nanos() / b.refill_every().as_nanos()) as usize;
                        prop_assert!(j - i < b.calls as usize + refills, "{:?} under {:?}", calls, b);
                    }
                }
            }
            if let Some(latest) = p.desired {
                let later = now + Duration::from_millis(throttle_ms + delay_ms) + budget.map_or(Duration::ZERO, |b| b.refill_every());
                let expected = if p.known == Some(latest) { Step::Idle } else { Step::Send(latest) };
                prop_assert_eq!(p.poll(later), expected);
                prop_assert_eq!(owed(&p), (expected != Step::Idle).then_some(latest));
            }
        }

        #[test]
        fn waiting_until_the_promised_instant_makes_progress(
            delay in 0u64..100, known in 0u32..8, wishes in prop::collection::vec((0u64..50, 0u32..8), 1..20),
        ) {
            let mut p = pacer(10, delay);
            p.known(known);
            let mut now = Duration::ZERO;
            for (dt, w) in wishes {
                now += s(dt);
                p.desire(now, w);
                deliver(&mut p, now);
            }
            let latest = p.desired.unwrap();
            // Following WaitUntil hints alone reaches the latest wish in a few hops.
            for _ in 0..20 {
                match deliver(&mut p, now) {
                    Step::WaitUntil(t) => { prop_assert!(t > now); now = t; }
                    _ if p.known == Some(latest) => break,
                    _ => {}
                }
            }
            prop_assert_eq!(p.known, Some(latest));
        }
    }
}
