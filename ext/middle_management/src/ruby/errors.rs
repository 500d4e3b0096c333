//! Rust errors as the gem's Ruby exceptions (defined in
//! lib/middle_management/errors.rb), and the guard that keeps panics on
//! this side of the boundary.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use magnus::{exception::ExceptionClass, prelude::*, Error, RModule, Ruby};

fn gem_exception(name: &str) -> ExceptionClass {
    let ruby = Ruby::get().expect("called from a Ruby thread");
    ruby.class_object()
        .const_get::<_, RModule>("MiddleManagement")
        .and_then(|gem| gem.const_get::<_, ExceptionClass>(name))
        .unwrap_or_else(|_| ruby.exception_runtime_error())
}

pub fn configuration_error(message: impl Into<String>) -> Error {
    Error::new(gem_exception("ConfigurationError"), message.into())
}

pub fn gem_error(message: impl Into<String>) -> Error {
    Error::new(gem_exception("Error"), message.into())
}

/// Runs the body of a native method so that a panic never reaches Ruby as
/// magnus would raise it, `fatal`, which passes every `rescue
/// StandardError` and kills the thread that met it: it becomes a
/// MiddleManagement::Error naming `what`.
pub fn guarded<T>(what: &str, body: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        Err(gem_error(format!(
            "{what} failed in the native extension: {}",
            panic_message(panic.as_ref())
        )))
    })
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}
