//! The signals the process listens for: Ctrl-C (SIGINT) and SIGTERM ask it to stop, SIGHUP to
//! reload its config file.

/// Waits for the first stop signal and names it.
pub async fn stop_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map(|()| "SIGINT"),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}

/// SIGHUP, which asks for the config file to be read again. Listening starts here, so a
/// SIGHUP from now on no longer ends the process.
pub fn hangups() -> std::io::Result<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
}
