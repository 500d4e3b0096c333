//! The Ruby-facing layer: `MiddleManagement::Internal::Native`, private to
//! the gem (its Ruby side is `MiddleManagement::Runtime`). Everything else
//! in the crate is plain Rust; this is the only place that knows about
//! magnus. One file per Ruby class; the plain values that cross are Ruby
//! Structs, `Internal::Bridge` (`bridge`).

mod asked;
mod bridge;
mod dispatcher;
mod errors;
mod event;
mod gvl;
mod settings;
mod simulation;

use magnus::{function, method, prelude::*, typed_data::TypedData, Error, Ruby};

use dispatcher::RbDispatcher;
use event::RbEvent;

pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let native = ruby
        .define_module("MiddleManagement")?
        .define_module("Internal")?
        .define_module("Native")?;
    native.define_singleton_method("crate_version", function!(crate_version, 0))?;
    native.const_set("MAX_ATTEMPTS", crate::simulation::MAX_ATTEMPTS)?;
    native.define_singleton_method("simulate", function!(simulation::simulate, 3))?;
    let report = native.define_class("SimulationReport", ruby.class_object())?;
    report.define_method("to_h", method!(simulation::RbReport::to_h, 0))?;

    let class = native.define_class("Dispatcher", ruby.class_object())?;
    class.define_singleton_method("new", function!(RbDispatcher::new, 1))?;
    class.define_method("wake", method!(RbDispatcher::wake, 2))?;
    class.define_method("watch", method!(RbDispatcher::watch, 0))?;
    class.define_method("check", method!(RbDispatcher::check, 0))?;
    class.define_method("alert", method!(RbDispatcher::alert, 1))?;
    class.define_method("next_message", method!(RbDispatcher::next_message, 1))?;
    class.define_method("count_caps", method!(RbDispatcher::count_caps, 0))?;
    class.define_method("decide", method!(RbDispatcher::decide, 1))?;
    class.define_method("settle", method!(RbDispatcher::settle, 2))?;
    class.define_method("held", method!(RbDispatcher::held, 3))?;
    class.define_method("failed", method!(RbDispatcher::failed, 1))?;
    class.define_method("flush", method!(RbDispatcher::flush, 2))?;
    class.define_method("status", method!(RbDispatcher::status, 0))?;
    class.define_method("shutdown", method!(RbDispatcher::shutdown, 0))?;

    let event = native.define_class("Event", ruby.class_object())?;
    event.define_method("level", method!(RbEvent::level, 0))?;
    event.define_method("message", method!(RbEvent::message, 0))?;
    event.define_method("notification", method!(RbEvent::notification, 0))?;
    event.define_method("confirmed", method!(RbEvent::confirmed, 0))?;
    event.define_method("payload", method!(RbEvent::payload, 0))?;

    // Each wrapped class is looked up by name once, now: the first lookup
    // made as the process exits could raise, and magnus unwraps it.
    RbEvent::class(ruby);
    RbDispatcher::class(ruby);
    bridge::init(ruby)
}

/// The crate's version, which must equal `MiddleManagement::VERSION`: a
/// mismatch means a stale compiled extension is being loaded.
fn crate_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
