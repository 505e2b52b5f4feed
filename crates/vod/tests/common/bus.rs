//! Driving a box through the bus as people do: nats-server with the accounts of
//! deploy/nats/accounts.conf, the box started against it, and `vod ctl` as its users.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use vod_testkit::{NatsServer, free_port, http_get, metric_sum, wait_for_port};

use super::{Process, loopback, start_emulator};

const VOD: &str = env!("CARGO_BIN_EXE_vod");

/// The accounts and permissions a site starts from (deploy/nats/accounts.conf): the box may
/// publish its events and answer requests; the engineer may send every command; the viewer
/// may only look. Each user's password is `<user>-test-password`.
pub fn nats_accounts() -> String {
    let mut config = include_str!("../../../../deploy/nats/accounts.conf").to_owned();
    for (variable, user) in [
        ("$VOD_BOX_PASSWORD", "box-bench-rig"),
        ("$VOD_ENGINEER_PASSWORD", "engineer"),
        ("$VOD_VIEWER_PASSWORD", "viewer"),
    ] {
        assert!(
            config.contains(variable),
            "{variable} left deploy/nats/accounts.conf"
        );
        config = config.replace(variable, &format!("\"{user}-test-password\""));
    }
    config
}

/// A box, its scanner emulator and its nats-server; killed when dropped.
pub struct Rig {
    pub nats_url: String,
    pub nats_port: u16,
    pub metrics: u16,
    pub config: PathBuf,
    pub nats: Option<NatsServer>,
    _emulator: Process,
    appliance: Process,
}

impl Rig {
    /// Sends the box SIGTERM.
    pub fn terminate(&self) {
        let pid = self.appliance.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
    }

    /// Waits for the box to exit; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.appliance.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the box still runs after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The bench config with the box's NATS user, `edit`ed, run with `environment` against
    /// nats-server and the emulator (seed `seed`); waits until its service answers.
    pub fn start(
        dir: &std::path::Path,
        seed: u64,
        edit: impl Fn(String) -> String,
        environment: &[(&str, &str)],
    ) -> Rig {
        let nats_port = free_port();
        let nats = NatsServer::with_config(nats_port, &nats_accounts());
        let (scanner, web, metrics) = (free_port(), free_port(), free_port());
        let emulator = start_emulator(scanner, seed);
        let text = super::bench_config(dir, loopback(scanner), web, metrics, Some(&nats.url()))
            .replace(
                "subject_prefix = \"vod\"",
                "subject_prefix = \"vod\"\nuser = \"box-bench-rig\"\npassword = \"box-bench-rig-test-password\"",
            );
        let config = super::write_config(dir, &edit(text));
        let appliance = Process(
            Command::new(VOD)
                .args(["run", "--config", &config.to_string_lossy()])
                .env("RUST_LOG", "info")
                .envs(environment.iter().copied())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for_port(loopback(metrics), Duration::from_secs(30));
        let rig = Rig {
            nats_url: nats.url(),
            nats_port,
            metrics,
            config,
            nats: Some(nats),
            _emulator: emulator,
            appliance,
        };
        // The box's service answers once it has connected.
        rig.ask_until(&["ls"], Duration::from_secs(30), |found| {
            found.as_array().is_some_and(|boxes| boxes.len() == 1)
        });
        rig
    }

    /// `vod ctl ARGS --json` as `user`; its output.
    pub fn ctl(&self, user: &str, args: &[&str]) -> Output {
        Command::new(VOD)
            .arg("ctl")
            .args(args)
            .args(["--json", "--server", &self.nats_url])
            .env("NATS_USER", user)
            .env("NATS_PASSWORD", format!("{user}-test-password"))
            .output()
            .unwrap()
    }

    /// `vod ctl ARGS` as the engineer, which must succeed; its JSON reply.
    pub fn ask(&self, args: &[&str]) -> Value {
        let output = self.ctl("engineer", args);
        assert!(
            output.status.success(),
            "vod ctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Asks until `accept` takes the reply, or panics after `timeout`.
    pub fn ask_until(
        &self,
        args: &[&str],
        timeout: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let output = self.ctl("engineer", args);
            let reply: Option<Value> = serde_json::from_slice(&output.stdout).ok();
            if output.status.success()
                && let Some(reply) = reply.filter(|reply| accept(reply))
            {
                return reply;
            }
            assert!(
                Instant::now() < deadline,
                "vod ctl {args:?} not as expected within {timeout:?}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn captures_stored(&self) -> f64 {
        let body = http_get(loopback(self.metrics), "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default();
        metric_sum(&body, "vod_store_captures_total")
    }
}

/// `vod ctl events --follow` as the engineer; each event line arrives on the channel.
pub fn follow_events(rig: &Rig) -> (Process, mpsc::Receiver<Value>) {
    let mut child = Command::new(VOD)
        .args([
            "ctl",
            "events",
            "--follow",
            "--json",
            "--server",
            &rig.nats_url,
        ])
        .env("NATS_USER", "engineer")
        .env("NATS_PASSWORD", "engineer-test-password")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, events) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str(&line)
                && lines.send(event).is_err()
            {
                break;
            }
        }
    });
    (Process(child), events)
}

/// Waits for an event `accept` takes, or panics after `timeout`.
pub fn wait_event(
    events: &mpsc::Receiver<Value>,
    timeout: Duration,
    what: &str,
    accept: impl Fn(&Value) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if accept(&event) => return,
            Ok(_) => {}
            Err(_) => panic!("{what}: no such event within {timeout:?}"),
        }
    }
}
