//! A full disk, for real: the images directory is a small tmpfs. Captures keep being stored,
//! as metadata, while their images cannot be written; the store says so in its health, its
//! metrics and on the hub, and recovers by itself once retention frees space.
//!
//! Mounting needs its own mount namespace, so the test re-runs its own binary under
//! `unshare --mount` (with `--map-root-user` when not root); the mount vanishes with that
//! process whatever happens.

mod common;

use std::process::Command;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use vod_core::config::{RetentionConfig, SweepSchedule};
use vod_core::supervisor::channel;
use vod_core::{Component, Event, Hub};
use vod_store::{CaptureStatus, ImageWrites, Writer};

const CHILD_ENV: &str = "VOD_STORE_DISK_FULL_CHILD";
const PASSED: &str = "DISK FULL SCENARIO PASSED";
/// Room for a few captures of two 20-50 kB images.
const TMPFS_SIZE: &str = "size=300k";

#[test]
fn a_full_disk_keeps_metadata_and_recovers_when_space_returns() {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let is_root = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .is_some_and(|uids| uids.split_whitespace().nth(1) == Some("0"));
    let mut unshare = Command::new("unshare");
    if !is_root {
        unshare.arg("--map-root-user");
    }
    let output = unshare
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "disk_full_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("unshare runs (util-linux)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(PASSED),
        "{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
}

#[test]
fn disk_full_child() {
    // Does nothing unless the test above started this binary in its own mount namespace.
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("images dir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", TMPFS_SIZE, "tmpfs"])
        .arg(&images)
        .status()
        .expect("mount runs");
    assert!(mounted.success(), "mount tmpfs: {mounted}");

    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(scenario(dir.path()));
    println!("{PASSED}");
}

async fn scenario(data_dir: &std::path::Path) {
    let (store, registry) = common::open(data_dir).await;
    let hub = Hub::new(256);
    let mut events = hub.subscribe();
    let mut storage_events = Vec::new();
    let (captures, capture_rx) = channel(4);
    let stop = CancellationToken::new();
    let writer = Writer {
        store: store.clone(),
        captures: capture_rx,
        hub,
        outbound: tokio::sync::watch::channel(vod_store::Outbound::default()).1,
    };
    let shutdown = stop.clone();
    let writer = tokio::spawn(async move { writer.run(shutdown).await });

    // Fill the disk: captures keep coming after the images stop fitting.
    let mut sequence = 0;
    let mut stored_with_images = 0;
    while store.image_writes() == ImageWrites::Ok {
        assert!(sequence < 50, "300 kB should fill long before 50 captures");
        captures
            .send(common::capture(sequence, 2))
            .await
            .expect("send");
        let images = next_stored(&mut events, &mut storage_events).await;
        assert_eq!(images == 2, store.image_writes() == ImageWrites::Ok);
        sequence += 1;
        stored_with_images += 1;
    }
    stored_with_images -= 1;
    let ImageWrites::Failing { reason, .. } = store.image_writes() else {
        unreachable!("the loop ended on a failure")
    };
    assert!(reason.contains("No space left on device"), "{reason}");
    for _ in 0..3 {
        captures
            .send(common::capture(sequence, 2))
            .await
            .expect("send");
        assert_eq!(next_stored(&mut events, &mut storage_events).await, 0);
        sequence += 1;
    }
    assert_eq!(
        store.capture_count().await.expect("count"),
        u64::from(sequence)
    );
    let recent = store.recent_captures(u32::MAX).await.expect("recent");
    let dropped = recent
        .iter()
        .filter(|capture| capture.status == CaptureStatus::ImagesDropped)
        .count();
    assert_eq!(dropped, 4, "the capture that hit the limit and three more");
    assert!(
        recent
            .iter()
            .filter(|capture| capture.status == CaptureStatus::ImagesDropped)
            .all(|capture| capture.image_count == 0 && capture.first_image.is_none())
    );
    assert_eq!(common::sample(&registry, "vod_store_images_writable"), 0.0);
    assert_eq!(
        common::sample(&registry, "vod_store_images_dropped_total"),
        8.0
    );
    // No temporary file of a failed write stays behind.
    let files = common::files_under(&data_dir.join("images"));
    assert!(
        files.iter().all(|file| !file.ends_with(".tmp")),
        "{files:?}"
    );
    assert_eq!(files.len(), stored_with_images as usize * 2);

    // Retention frees space under a quota; the next capture has its images again.
    let quota = RetentionConfig {
        captures_max_age_days: 3650,
        vehicles_max_age_days: 90,
        job_history_days: 7,
        image_quota_bytes: 100_000,
        sweep: SweepSchedule::EverySeconds(600),
    };
    let report = store
        .sweep_retention(&quota, chrono::Utc::now().timestamp_millis())
        .await
        .expect("sweep");
    assert!(report.image_files_removed > 0);
    captures
        .send(common::capture(sequence, 2))
        .await
        .expect("send");
    assert_eq!(next_stored(&mut events, &mut storage_events).await, 2);
    assert_eq!(store.image_writes(), ImageWrites::Ok);
    assert_eq!(common::sample(&registry, "vod_store_images_writable"), 1.0);
    let newest = &store.recent_captures(1).await.expect("recent")[0];
    assert_eq!(newest.status, CaptureStatus::Ok);
    assert_eq!(newest.image_count, 2);

    stop.cancel();
    writer.await.expect("writer joined").expect("writer ok");
    assert_eq!(storage_events, ["storage_degraded", "storage_recovered"]);
}

/// Waits for the next CaptureStored and returns how many images it says were stored, noting
/// the storage events published before it.
async fn next_stored(
    events: &mut broadcast::Receiver<Arc<Event>>,
    storage_events: &mut Vec<&'static str>,
) -> usize {
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), events.recv())
            .await
            .expect("a capture stored within 30 s")
            .expect("hub open");
        match &*event {
            Event::CaptureStored { images, .. } => return *images,
            Event::StorageDegraded { .. } | Event::StorageRecovered => {
                storage_events.push(event.kind());
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}
