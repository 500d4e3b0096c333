//! The way out of the dispatcher thread, which never calls Ruby: requests
//! (decide now; Ruby answers) and events (what happened; Ruby logs them),
//! apart, in one place one Ruby thread waits on with the GVL released.
//! Events are bounded so a Ruby side that stopped reading costs memory only
//! up to `CAPACITY`; requests are few (one per pool at a time) and never
//! dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::event::{Event, Level};
use super::request::Request;

const CAPACITY: usize = 1024;

#[derive(Default)]
struct Queues {
    requests: VecDeque<Request>,
    events: VecDeque<Event>,
    dropped: u64,
    interrupted: bool,
}

#[derive(Default)]
pub struct Outbox {
    queues: Mutex<Queues>,
    ready: Condvar,
}

#[derive(Debug)]
pub enum Message {
    Request(Request),
    Event(Event),
    TimedOut,
    Interrupted,
}

impl Outbox {
    pub fn request(&self, request: Request) {
        self.queues.lock().requests.push_back(request);
        self.ready.notify_one();
    }

    pub fn event(&self, event: Event) {
        let mut q = self.queues.lock();
        if q.events.len() >= CAPACITY {
            q.events.pop_front();
            q.dropped += 1;
        }
        q.events.push_back(event);
        drop(q);
        self.ready.notify_one();
    }

    /// Waits up to `timeout` for a request (first) or an event. `interrupt`
    /// (Ruby's unblocking function, on Thread#kill or exit) ends the wait.
    pub fn pop(&self, timeout: Duration) -> Message {
        let deadline = Instant::now() + timeout;
        let mut q = self.queues.lock();
        loop {
            if std::mem::take(&mut q.interrupted) {
                return Message::Interrupted;
            }
            if let Some(request) = q.requests.pop_front() {
                return Message::Request(request);
            }
            if q.dropped > 0 {
                let dropped = std::mem::take(&mut q.dropped);
                return Message::Event(Event::Notice {
                    level: Level::Warn,
                    message: format!(
                        "{dropped} events were dropped: nothing read them for a while"
                    ),
                });
            }
            if let Some(event) = q.events.pop_front() {
                return Message::Event(event);
            }
            if self.ready.wait_until(&mut q, deadline).timed_out() {
                return Message::TimedOut;
            }
        }
    }

    pub fn interrupt(&self) {
        self.queues.lock().interrupted = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatcher::request::Why;

    fn notice(n: usize) -> Event {
        Event::Notice {
            level: Level::Info,
            message: n.to_string(),
        }
    }

    fn request(n: u64) -> Request {
        Request {
            why: if n == 0 { Why::News } else { Why::Due },
        }
    }

    #[test]
    fn requests_come_before_events_and_each_in_order() {
        let q = Outbox::default();
        q.event(notice(1));
        q.request(request(0));
        q.event(notice(2));
        q.request(request(1));
        assert!(matches!(q.pop(Duration::ZERO), Message::Request(r) if r == request(0)));
        assert!(matches!(q.pop(Duration::ZERO), Message::Request(r) if r == request(1)));
        assert!(matches!(q.pop(Duration::ZERO), Message::Event(e) if e == notice(1)));
        assert!(matches!(q.pop(Duration::ZERO), Message::Event(e) if e == notice(2)));
        assert!(matches!(q.pop(Duration::from_millis(5)), Message::TimedOut));
    }

    #[test]
    fn a_full_queue_drops_the_oldest_events_and_says_so() {
        let q = Outbox::default();
        for n in 0..CAPACITY + 3 {
            q.event(notice(n));
        }
        let Message::Event(first) = q.pop(Duration::ZERO) else {
            panic!("no event")
        };
        assert!(first.message().contains("3 events were dropped"));
        assert!(matches!(q.pop(Duration::ZERO), Message::Event(e) if e == notice(3)));
    }

    #[test]
    fn interrupt_wakes_a_waiting_reader() {
        let q = std::sync::Arc::new(Outbox::default());
        let reader = {
            let q = q.clone();
            std::thread::spawn(move || {
                matches!(q.pop(Duration::from_secs(30)), Message::Interrupted)
            })
        };
        q.interrupt();
        assert!(reader.join().unwrap());
    }
}
