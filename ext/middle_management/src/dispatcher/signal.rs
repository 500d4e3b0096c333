//! A one-shot "done" flag a blocked Ruby thread can wait on, with a way for
//! Ruby's unblocking function to end the wait early.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

#[derive(Default)]
pub struct Signal {
    state: Mutex<(bool, bool)>, // (done, interrupted)
    changed: Condvar,
}

impl Signal {
    pub fn set(&self) {
        self.state.lock().0 = true;
        self.changed.notify_all();
    }

    pub fn interrupt(&self) {
        self.state.lock().1 = true;
        self.changed.notify_all();
    }

    /// True when set before the timeout (and before an interrupt).
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        while !state.0 && !state.1 {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        state.0
    }
}
