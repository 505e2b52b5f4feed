//! The control plane end to end: the real binary against the scanner emulator, driven only
//! through a real nats-server with the accounts and permissions of deploy/nats/accounts.conf
//! (the box's own account, and an operations account that imports its service with the
//! requester's identity shared), by
//! `vod ctl` as an engineer and a viewer would use it, and by an independent micro-protocol
//! client (nats-py's, from `scripts/setup.sh test`). Then nats-server is killed and started
//! again while vehicles pass.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use common::bus::{Rig, follow_events, nats_accounts, wait_event};
use serde_json::{Value, json};
use vod_bus::{BusClient, ClientError, MAX_REQUEST_BYTES};
use vod_core::config::BusConfig;
use vod_testkit::NatsServer;

/// 1,000 bad requests, 50 at a time, as the engineer; the error codes they got.
fn flood(rig: &Rig) -> BTreeMap<u16, usize> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = BusConfig {
            nats_url: rig.nats_url.clone(),
            user: Some("engineer".into()),
            password: Some("engineer-test-password".into()),
            ..BusConfig::default()
        };
        let client = BusClient::connect(&config).await.unwrap();
        let target = client.pick(None, Duration::from_secs(2)).await.unwrap();
        let huge = json!({ "path": "x".repeat(MAX_REQUEST_BYTES) });
        let mut codes = BTreeMap::new();
        for _ in 0..20 {
            let replies = futures::future::join_all((0..50).map(|n| {
                let (command, payload) = match n % 4 {
                    0 => ("config.get", json!({ "bogus": n })),
                    1 => ("config.get", huge.clone()),
                    2 => ("no.such.command", json!({})),
                    _ => ("jobs.retry", json!({ "id": "seven" })),
                };
                let (client, target) = (&client, &target);
                async move { client.request(target, command, &payload).await }
            }))
            .await;
            for reply in replies {
                match reply {
                    Err(ClientError::Refused { code, .. }) => *codes.entry(code).or_insert(0) += 1,
                    other => panic!("a bad request got {other:?}"),
                }
            }
        }
        codes
    })
}

#[test]
fn an_engineer_drives_the_box_through_the_bus_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = Rig::start(dir.path(), 11, |text| text, &[]);

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

    // A thousand malformed, oversized or unknown requests: each gets an error, and the box
    // goes on storing.
    let before = rig.captures_stored();
    let codes = flood(&rig);
    assert_eq!(codes.values().sum::<usize>(), 1000, "{codes:?}");
    // Every oversized and every unknown request is refused before the rate limit. (Through
    // nats-server 2.9.10's service import a few of these replies reach the client as the
    // reply of another request in flight: counted together.)
    let code = |code: u16| codes.get(&code).copied().unwrap_or(0);
    assert_eq!(code(413) + code(404), 500, "{codes:?}");
    assert!(
        codes
            .keys()
            .all(|code| [400, 404, 413, 429, 503].contains(code)),
        "{codes:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while rig.captures_stored() <= before {
        assert!(
            Instant::now() < deadline,
            "no capture stored after the flood"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // nats-server goes away while vehicles pass: the box stores on, and commands and events
    // come back by themselves when the server does.
    drop(rig.nats.take());
    let before = rig.captures_stored();
    let deadline = Instant::now() + Duration::from_secs(60);
    while rig.captures_stored() < before + 2.0 {
        assert!(
            Instant::now() < deadline,
            "no captures stored while NATS was down"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    rig.nats = Some(NatsServer::with_config(rig.nats_port, &nats_accounts()));
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
