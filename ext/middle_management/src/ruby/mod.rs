//! The Ruby-facing layer: `MiddleManagement::Native`, private to the gem.
//! Everything else in the crate is plain Rust; this is the only place that
//! knows about magnus.

mod dispatcher;
mod errors;
mod gvl;
mod settings;

use magnus::{function, method, prelude::*, Error, Ruby};

use dispatcher::RbDispatcher;

pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let native = ruby
        .define_module("MiddleManagement")?
        .define_module("Native")?;
    native.define_singleton_method("crate_version", function!(crate_version, 0))?;

    let class = native.define_class("Dispatcher", ruby.class_object())?;
    class.define_singleton_method("new", function!(RbDispatcher::new, 1))?;
    class.define_method("adjust", method!(RbDispatcher::adjust, 4))?;
    class.define_method("count_marker", method!(RbDispatcher::count_marker, 0))?;
    class.define_method("counted", method!(RbDispatcher::counted, 5))?;
    class.define_method("flush", method!(RbDispatcher::flush, 1))?;
    class.define_method("next_event", method!(RbDispatcher::next_event, 1))?;
    class.define_method("status", method!(RbDispatcher::status, 0))?;
    class.define_method("forked?", method!(RbDispatcher::forked, 0))?;
    class.define_method("shutdown", method!(RbDispatcher::shutdown, 0))?;
    Ok(())
}

/// The crate's version, which must equal `MiddleManagement::VERSION`: a
/// mismatch means a stale compiled extension is being loaded.
fn crate_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
