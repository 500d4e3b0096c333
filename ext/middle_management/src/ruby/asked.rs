//! The requests handed to Ruby and not yet answered, by id: Ruby's answer
//! names its request, and a decision made waits here for Ruby to record it
//! (`settle`). A few at most: Ruby answers one before it reads the next,
//! and a request is asked again only after `ANSWER_GRACE`.

use std::collections::VecDeque;

use crate::dispatcher::{Decided, Request};

/// More open than this means Ruby dropped some: the oldest go.
const OPEN_MAX: usize = 8;

#[derive(Default)]
pub struct Asked {
    last_id: u64,
    open: VecDeque<Open>,
}

struct Open {
    id: u64,
    request: Request,
    /// Per pool, once decided: sent only when Ruby says it was recorded.
    decided: Option<Vec<Decided>>,
}

impl Asked {
    pub fn ask(&mut self, request: Request) -> u64 {
        self.last_id += 1;
        if self.open.len() == OPEN_MAX {
            self.open.pop_front();
        }
        self.open.push_back(Open {
            id: self.last_id,
            request,
            decided: None,
        });
        self.last_id
    }

    pub fn request(&self, id: u64) -> Option<Request> {
        self.find(id).map(|open| self.open[open].request)
    }

    pub fn decided(&mut self, id: u64, decided: Vec<Decided>) {
        if let Some(open) = self.find(id) {
            self.open[open].decided = Some(decided);
        }
    }

    /// The request is answered: what was decided for it, if anything.
    pub fn close(&mut self, id: u64) -> Option<Vec<Decided>> {
        let open = self.find(id)?;
        self.open.remove(open)?.decided
    }

    fn find(&self, id: u64) -> Option<usize> {
        self.open.iter().position(|open| open.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatcher::Why;

    #[test]
    fn answers_find_their_request_and_old_ones_go() {
        let mut asked = Asked::default();
        let first = asked.ask(Request { why: Why::News });
        let second = asked.ask(Request { why: Why::Flush });
        assert_eq!(asked.request(second).map(|r| r.why), Some(Why::Flush));
        asked.decided(first, Vec::new());
        assert_eq!(asked.close(first), Some(Vec::new()));
        assert_eq!(asked.close(first), None, "answered once");
        assert_eq!(asked.close(second), None, "nothing decided");
        for _ in 0..OPEN_MAX + 1 {
            asked.ask(Request { why: Why::Due });
        }
        assert_eq!(asked.open.len(), OPEN_MAX);
    }
}
