//! `MiddleManagement::Internal::Native::Request`: the dispatcher asking the
//! gem's Ruby thread to decide for the app (every pool). Answered with
//! `Dispatcher#decided`, `#held` or `#failed`, one call per pool.

use magnus::{RArray, Ruby, Symbol};

use crate::dispatcher::Request;

#[magnus::wrap(
    class = "MiddleManagement::Internal::Native::Request",
    free_immediately,
    size
)]
pub struct RbRequest(pub Request);

impl RbRequest {
    /// :news, :due, :boot, :periodic or :flush.
    pub fn why(ruby: &Ruby, rb_self: &Self) -> Symbol {
        ruby.to_symbol(rb_self.0.why.name())
    }

    /// Per pool (by index), the news this request covers.
    pub fn news(ruby: &Ruby, rb_self: &Self) -> RArray {
        ruby.ary_from_iter(rb_self.0.news.iter().copied())
    }
}
