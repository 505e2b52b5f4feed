//! The real binary uploading to a directory target and pushing to a receiver registered with
//! `vod push add`, killed with SIGKILL in the middle and started again: every capture reaches
//! the target once, under its own keys, and the receiver hears of every capture (at least
//! once, always under the capture's message id).
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Process, count, loopback, sqlite, start_emulator, wait_until};
use vod_testkit::free_port;

const VOD: &str = env!("CARGO_BIN_EXE_vod");
const PATIENCE: Duration = Duration::from_secs(90);

fn start_appliance(config: &Path) -> Process {
    Process(
        Command::new(VOD)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The files under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

#[test]
fn sigkill_during_uploads_and_pushes_loses_nothing_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let scanner = free_port();
    let mut emulator = start_emulator(scanner, 11);
    let (web, metrics) = (free_port(), free_port());
    let text = common::bench_config(dir.path(), loopback(scanner), web, metrics, None);
    let config = common::write_config(dir.path(), &text);
    let (hook, ids) = common::webhook_receiver();
    let url = format!("http://{hook}/hook");
    let added = Command::new(VOD)
        .args(["push", "add", "--config"])
        .arg(&config)
        .args(["--url", &url, "--client", "back-office"])
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let printed = String::from_utf8(added.stdout).unwrap();
    assert!(printed.contains("secret\twhsec_"), "{printed}");
    let listed = Command::new(VOD)
        .args(["push", "list", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains("back-office")
            && listed.contains("secret=set")
            && !listed.contains("whsec_"),
        "{listed}"
    );

    let db = dir.path().join("data/vod.db");
    let target = dir.path().join("data/uplink");
    let appliance = start_appliance(&config);
    wait_until("captures uploaded before the kill", PATIENCE, || {
        count(
            &db,
            "select count(*) from jobs where queue = 'upload' and state = 'completed'",
        ) >= 4
    });
    // SIGKILL, while captures, uploads and pushes go on.
    drop(appliance);
    let stored_before = count(&db, "select count(*) from captures");
    let appliance = start_appliance(&config);
    wait_until("captures after the restart", PATIENCE, || {
        count(&db, "select count(*) from captures") >= stored_before + 4
    });
    // No new vehicles: let the box finish what it has.
    let _stopped = emulator.0.kill();
    emulator.0.wait().unwrap();
    wait_until("every upload and push done", PATIENCE, || {
        count(
            &db,
            "select count(*) from jobs where queue in ('upload', 'push:1') \
             and state in ('available', 'running')",
        ) == 0
    });
    let pid = appliance.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    drop(appliance);

    // Every stored capture, once, under its own keys: two images (the bench rig's bursts)
    // and its metadata; no capture twice, nothing else but what a cut write left staged.
    let uuids: HashSet<String> = sqlite(&db, "select uuid from captures where status = 'ok'")
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(uuids.len() >= 8, "{uuids:?}");
    let stored = files(&target);
    let complete: Vec<&String> = stored.iter().filter(|f| !f.contains('#')).collect();
    let documents: HashSet<String> = complete
        .iter()
        .filter(|f| f.ends_with("/metadata.json"))
        .map(|f| f.split('/').rev().nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(documents, uuids);
    for uuid in &uuids {
        let under: Vec<&&String> = complete
            .iter()
            .filter(|f| f.contains(uuid.as_str()))
            .collect();
        let names: Vec<&str> = under
            .iter()
            .map(|f| f.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["0.jpg", "1.jpg", "metadata.json"], "{uuid}");
    }
    assert_eq!(complete.len(), uuids.len() * 3, "{complete:#?}");

    // The receiver heard of every capture under its message id, at least once.
    let heard: HashSet<String> = ids.lock().unwrap().iter().cloned().collect();
    let all_captures: HashSet<String> = sqlite(&db, "select 'msg_' || uuid from captures")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(heard, all_captures);
}
