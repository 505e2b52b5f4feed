//! The control plane end to end: the real binary against the scanner emulator, driven only
//! through a real nats-server with the accounts and permissions of deploy/nats/accounts.conf
//! (the box's own account, and an operations account that imports its service with the
//! requester's identity shared), by
//! `vod ctl` as an engineer and a viewer would use it, and by an independent micro-protocol
//! client (nats-py's, from `scripts/setup.sh test`). Then nats-server is killed and started
//! again while vehicles pass.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Process, loopback, start_emulator};
use serde_json::Value;
use vod_testkit::{NatsServer, free_port, http_get, metric_sum, wait_for_port};

const VOD: &str = env!("CARGO_BIN_EXE_vod");

/// The accounts and permissions a site starts from (deploy/nats/accounts.conf): the box may
/// publish its events and answer requests; the engineer may send every command; the viewer
/// may only look. Each user's password is `<user>-test-password`.
fn nats_accounts() -> String {
    let mut config = include_str!("../../../deploy/nats/accounts.conf").to_owned();
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

struct Rig {
    nats_url: String,
    metrics: u16,
    config: std::path::PathBuf,
}

impl Rig {
    /// `vod ctl ARGS --json` as `user`; its output.
    fn ctl(&self, user: &str, args: &[&str]) -> Output {
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
    fn ask(&self, args: &[&str]) -> Value {
        let output = self.ctl("engineer", args);
        assert!(
            output.status.success(),
            "vod ctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Asks until `accept` takes the reply, or panics after `timeout`.
    fn ask_until(
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

    fn captures_stored(&self) -> f64 {
        let body = http_get(loopback(self.metrics), "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default();
        metric_sum(&body, "vod_store_captures_total")
    }
}

/// `vod ctl events --follow` as the engineer; each event line arrives on the channel.
fn follow_events(rig: &Rig) -> (Process, mpsc::Receiver<Value>) {
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
fn wait_event(
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

#[test]
fn an_engineer_drives_the_box_through_the_bus_alone() {
    let dir = tempfile::tempdir().unwrap();
    let nats_port = free_port();
    let nats = NatsServer::with_config(nats_port, &nats_accounts());
    let (scanner, web, metrics) = (free_port(), free_port(), free_port());
    let _emulator = start_emulator(scanner, 11);
    let text = common::bench_config(
        dir.path(),
        loopback(scanner),
        web,
        metrics,
        Some(&nats.url()),
    )
    .replace(
        "subject_prefix = \"vod\"",
        "subject_prefix = \"vod\"\nuser = \"box-bench-rig\"\npassword = \"box-bench-rig-test-password\"",
    );
    let config = common::write_config(dir.path(), &text);
    let _appliance = Process(
        Command::new(VOD)
            .args(["run", "--config", &config.to_string_lossy()])
            .env("RUST_LOG", "info")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(loopback(metrics), Duration::from_secs(30));
    let rig = Rig {
        nats_url: nats.url(),
        metrics,
        config,
    };

    // Found as `nats micro ls` finds services.
    let found = rig.ask_until(&["ls"], Duration::from_secs(30), |found| {
        found.as_array().is_some_and(|boxes| boxes.len() == 1)
    });
    assert_eq!(found[0]["site"], "bench-rig", "{found}");

    // An independent client of the micro protocol reads its info and stats.
    let micro = Command::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/nats-py/bin/python"),
    )
    .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/micro_client.py"))
    .args([&rig.nats_url, "engineer", "engineer-test-password"])
    .output()
    .expect("nats-py must be installed (scripts/setup.sh test)");
    assert!(
        micro.status.success(),
        "the micro client failed: {}",
        String::from_utf8_lossy(&micro.stderr)
    );
    let micro: Value = serde_json::from_slice(&micro.stdout).unwrap();
    assert_eq!(micro["name"], "vod", "{micro}");
    assert_eq!(micro["site"], "bench-rig", "{micro}");
    assert!(micro["endpoints"].as_u64().unwrap() >= 16, "{micro}");
    assert_eq!(micro["bad_request_code"], "400", "{micro}");
    assert!(micro["state_requests"].as_u64().unwrap() >= 1, "{micro}");

    // Every component's state, read from the component; the scanner is connected.
    let state = rig.ask_until(&["state"], Duration::from_secs(30), |state| {
        state["components"]["lidar:gantry"]["counters"]["vod_lidar_connected"] == 1.0
    });
    let components = state["components"].as_object().unwrap();
    for name in [
        "lidar:gantry",
        "camera:cam-1",
        "camera:cam-2",
        "vision",
        "store",
        "vehicles",
        "bus",
        "bus:service",
        "web",
    ] {
        assert_eq!(
            components[name]["supervisor"]["state"], "running",
            "{name}: {}",
            components[name]
        );
    }
    assert_eq!(components["camera:cam-1"]["settings"]["lane"], "lane-1");
    assert_eq!(components["vision"]["input"]["bound"], 8);
    assert!(components["lidar:gantry"]["detector"]["lanes"].is_array());
    let top = rig.ask(&["top", "--once"]);
    assert!(top["threads"]["lidar-gantry"]["cpu_ms"].is_u64(), "{top}");
    assert!(
        top["components"]["store"]["wakeups"].as_u64().unwrap() > 0,
        "{top}"
    );

    let (_follower, events) = follow_events(&rig);

    // A detector value changed over the bus is applied, persisted and audited with the
    // engineer's name.
    let report = rig.ask(&["config", "set", "detector.enter_scans=3"]);
    assert_eq!(
        report["applied"],
        serde_json::json!(["detector.enter_scans"]),
        "{report}"
    );
    let value = rig.ask(&["config", "get", "detector.enter_scans"]);
    assert_eq!(value["value"], 3);
    let file = std::fs::read_to_string(&rig.config).unwrap();
    assert!(file.contains("enter_scans = 3"), "{file}");
    let history = rig.ask(&["config", "history", "--limit", "1"]);
    assert_eq!(history["entries"][0]["actor"], "nats:engineer", "{history}");
    assert_eq!(history["entries"][0]["source"], "bus", "{history}");

    // A test capture, seen as its event.
    let fired = rig.ask(&["trigger", "--lane", "lane-1"]);
    let vehicle_id = fired["captures"]["cam-1"].as_str().unwrap().to_owned();
    wait_event(
        &events,
        Duration::from_secs(30),
        "the test capture",
        |event| {
            event["type"] == "capture_stored"
                && event["vehicle_id"] == vehicle_id
                && event["test"] == true
        },
    );

    // A component restarted on request comes back.
    rig.ask(&["restart", "camera:cam-2"]);
    wait_event(&events, Duration::from_secs(30), "the restart", |event| {
        event["type"] == "component_restarted" && event["component"] == "camera:cam-2"
    });
    let camera = rig.ask_until(
        &["state", "camera:cam-2"],
        Duration::from_secs(30),
        |state| state["components"]["camera:cam-2"]["supervisor"]["state"] == "running",
    );
    let supervisor = &camera["components"]["camera:cam-2"]["supervisor"];
    assert_eq!(supervisor["restarts"], 1, "{supervisor}");
    assert_eq!(
        supervisor["last_cause"],
        "restart asked for by nats:engineer"
    );

    // The viewer may look but not act: the server refuses its request.
    let looked = rig.ctl("viewer", &["state", "vision"]);
    assert!(
        looked.status.success(),
        "{}",
        String::from_utf8_lossy(&looked.stderr)
    );
    let refused = rig.ctl("viewer", &["restart", "vision"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("Permissions Violation"), "{stderr}");

    // nats-server goes away while vehicles pass: the box stores on, and commands and events
    // come back by themselves when the server does.
    drop(nats);
    let before = rig.captures_stored();
    let deadline = Instant::now() + Duration::from_secs(60);
    while rig.captures_stored() < before + 2.0 {
        assert!(
            Instant::now() < deadline,
            "no captures stored while NATS was down"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _nats = NatsServer::with_config(nats_port, &nats_accounts());
    rig.ask_until(&["state", "store"], Duration::from_secs(30), |state| {
        state["components"]["store"]["supervisor"]["state"] == "running"
    });
    while events.try_recv().is_ok() {} // what came before the server went away
    wait_event(
        &events,
        Duration::from_secs(60),
        "a capture after NATS came back",
        |event| event["type"] == "capture_stored" && event["test"] == false,
    );
}
