//! Running blocking Rust code with Ruby's GVL released, so other Ruby threads
//! (the app's) go on meanwhile. `unblock` is Ruby's unblocking function: it
//! is called from another thread (Thread#kill, process exit) and must make
//! `work` return soon.
//!
//! `rb_thread_call_without_gvl2`, not `..._gvl`: the latter handles pending
//! interrupts itself, before and after `work`, and a Thread#kill handled
//! there unwinds with longjmp straight through these Rust frames. The `2`
//! form only reports them (`work` does not run: `None`), and Ruby handles
//! them once the method has returned.

use std::ffi::c_void;

pub fn without_gvl<W: FnOnce() -> R, U: Fn(), R>(work: W, unblock: U) -> Option<R> {
    struct Call<W, U, R> {
        work: Option<W>,
        unblock: U,
        result: Option<R>,
    }

    unsafe extern "C" fn run<W: FnOnce() -> R, U, R>(data: *mut c_void) -> *mut c_void {
        // Fields are reached through the raw pointer: `stop` may read
        // `unblock` from another thread meanwhile.
        let call = data as *mut Call<W, U, R>;
        if let Some(work) = (*call).work.take() {
            // A panic must not unwind into Ruby's C frames.
            (*call).result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).ok();
        }
        std::ptr::null_mut()
    }

    unsafe extern "C" fn stop<W, U: Fn(), R>(data: *mut c_void) {
        let call = data as *const Call<W, U, R>;
        ((*call).unblock)();
    }

    let mut call = Call {
        work: Some(work),
        unblock,
        result: None,
    };
    let data = &mut call as *mut Call<W, U, R> as *mut c_void;
    // SAFETY: `call` outlives the call; Ruby runs `run` once on this thread and
    // may run `stop` from another thread while `run` is in progress (it only
    // reads `unblock`, which `run` never touches).
    unsafe {
        rb_sys::rb_thread_call_without_gvl2(
            Some(run::<W, U, R>),
            data,
            Some(stop::<W, U, R>),
            data,
        );
    }
    // None: interrupted before `work` ran, or `work` panicked.
    call.result
}
