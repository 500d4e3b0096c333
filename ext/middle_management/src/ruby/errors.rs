//! Rust errors as the gem's Ruby exceptions (defined in lib/middle_management/errors.rb).

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
