//! glibc's allocator gives threads that allocate at the same time arenas of their own (up to
//! eight per core) and keeps what a thread frees in its arena: with the vision stage's blocking
//! threads, ONNX Runtime's and tokio's workers all handing 4 MB frames around, the freed memory
//! of many arenas adds up. `vod run` asks for two (docs/PERFORMANCE.md, "The whole box": peak
//! RSS at 8 lanes 330 -> 286 MB, latency unchanged). `MALLOC_ARENA_MAX` in the environment
//! still decides where it is set.

/// Call before the process starts threads.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets one of the allocator's parameters.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
