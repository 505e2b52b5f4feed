//! `vod run` under systemd's `Type=notify`: `READY=1` once it serves, `WATCHDOG=1` from the
//! control sampler while the pipeline makes progress, `STOPPING=1` on SIGTERM; told through
//! the datagram socket `NOTIFY_SOCKET` names, as systemd does.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use vod_testkit::free_port;

/// The messages received until `last` came, or panics after `patience` with what came.
fn until(socket: &UnixDatagram, last: &str, patience: Duration, seen: &mut Vec<String>) {
    let deadline = Instant::now() + patience;
    let mut buffer = [0u8; 256];
    while !seen.iter().any(|message| message == last) {
        assert!(
            Instant::now() < deadline,
            "no {last} within {patience:?}: {seen:?}"
        );
        if let Ok(n) = socket.recv(&mut buffer) {
            seen.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
    }
}

#[test]
fn systemd_hears_ready_the_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let (scanner, web, metrics) = (free_port(), free_port(), free_port());
    let _emulator = common::start_emulator(scanner, 5);
    let text = common::bench_config(dir.path(), common::loopback(scanner), web, metrics, None);
    let config = common::write_config(dir.path(), &text);
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut appliance = common::Process(
        Command::new(env!("CARGO_BIN_EXE_vod"))
            .args(["run", "--config"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &path)
            .spawn()
            .unwrap(),
    );
    let mut seen = Vec::new();
    until(&socket, "READY=1", Duration::from_secs(60), &mut seen);
    // The sampler looks every 5 s.
    until(&socket, "WATCHDOG=1", Duration::from_secs(30), &mut seen);
    assert_eq!(seen[0], "READY=1", "ready before anything else: {seen:?}");

    let pid = appliance.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    until(&socket, "STOPPING=1", Duration::from_secs(30), &mut seen);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = appliance.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}
