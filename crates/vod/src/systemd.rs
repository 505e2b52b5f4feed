//! systemd's service notifications (sd_notify(3)) without libsystemd: one datagram to the
//! socket `NOTIFY_SOCKET` names (a path, or `@name` in the abstract namespace). Without the
//! variable (not started by systemd with `Type=notify`) nothing is sent.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once `READY=1` went out: the watchdog is fed only after it.
static READY_SENT: AtomicBool = AtomicBool::new(false);

/// `READY=1`: the box serves (sent once it started every stage).
pub fn ready() {
    READY_SENT.store(true, Ordering::Relaxed);
    notify("READY=1");
}

/// `STOPPING=1`: a stop was asked for.
pub fn stopping() {
    notify("STOPPING=1");
}

/// `WATCHDOG=1`, once ready: the pipeline makes progress (the control sampler's verdict).
pub fn watchdog() {
    if READY_SENT.load(Ordering::Relaxed) {
        notify("WATCHDOG=1");
    }
}

/// Sends `state` to systemd; `false` when there is nobody to tell or the send failed.
fn notify(state: &str) -> bool {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;

    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return false;
    };
    let sent = match target.as_encoded_bytes().strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)
            .and_then(|address| socket.send_to_addr(state.as_bytes(), &address)),
        None => socket.send_to(state.as_bytes(), &target),
    };
    sent.is_ok()
}
