//! Fault points for the tests that show how the box copes with a broken component (the
//! `failpoints` feature, configured by `FAILPOINTS` in the environment of `vod run`). Before
//! each burst, `camera::<name>::burst` may panic (`panic(message)`), hog the CPU of the
//! task's thread (`delay(ms)`, a busy wait) or stall the task for good (`return`).

/// Whether the task is to stall now; panics and busy waits happen in here.
pub(crate) fn stall_before_burst(camera: &str) -> bool {
    fail::eval(&format!("camera::{camera}::burst"), |_| ()).is_some()
}
