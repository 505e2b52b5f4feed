//! The whole appliance started in-process on port 0 against the scanner emulator: a change
//! of the detector threshold and of a camera's trigger delay through the live configuration
//! handle reaches the next vehicle, is written into the file with its comments, and is in the
//! history.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::broadcast;
use vod_core::config::live::{ChangeSource, Origin};
use vod_core::{Event, VehicleId, VehicleMeasurements};
use vod_sim::emulator::EmulatorConfig;
use vod_store::Store;
use vod_testkit::{http_get, metric_sum};

/// Generous: the machine may be busy; nothing here measures how fast the box is.
const PATIENCE: Duration = Duration::from_secs(90);
/// cam-1 watches lane-1; its trigger delay goes from 20 ms to this.
const NEW_DELAY_MS: i64 = 250;
/// Cars (1.4 to 1.6 m) stand lower above the road than this; vans and trucks reach above.
const NEW_THRESHOLD_MM: u32 = 2000;
/// Vehicles this high or higher are vans or trucks.
const TALL_MM: u32 = 1750;

/// Vehicles as the hub tells of them: when each entered and, once it left, what it measured.
#[derive(Debug, Default)]
struct Vehicles {
    entered: HashMap<VehicleId, DateTime<Utc>>,
    left: Vec<(VehicleId, VehicleMeasurements)>,
}

impl Vehicles {
    /// Follows the hub until `done` holds, or fails after `PATIENCE` saying what it waited for.
    async fn until(
        &mut self,
        events: &mut broadcast::Receiver<Arc<Event>>,
        what: &str,
        done: impl Fn(&Vehicles) -> bool,
    ) {
        let follow = async {
            while !done(self) {
                match &*events.recv().await.expect("the hub keeps up") {
                    Event::VehicleEntered { vehicle_id, at, .. } => {
                        self.entered.insert(*vehicle_id, *at);
                    }
                    Event::VehicleLeft {
                        vehicle_id,
                        measured,
                        ..
                    } => self.left.push((*vehicle_id, *measured)),
                    _ => {}
                }
            }
        };
        if tokio::time::timeout(PATIENCE, follow).await.is_err() {
            panic!("{what} not seen within {PATIENCE:?}; seen so far: {self:?}");
        }
    }

    /// The measurements of the vehicles that entered after `since`.
    fn entered_after(&self, since: DateTime<Utc>) -> Vec<VehicleMeasurements> {
        self.left
            .iter()
            .filter(|(id, _)| self.entered.get(id).is_some_and(|at| *at > since))
            .map(|(_, measured)| *measured)
            .collect()
    }
}

/// The delay from detection to cam-1's first frame, for its captures detected after `since`.
async fn cam_1_delays_ms(store: &Store, since: DateTime<Utc>) -> Vec<i64> {
    store
        .recent_captures(200)
        .await
        .unwrap()
        .iter()
        .filter(|capture| capture.camera == "cam-1" && capture.detected_utc > since)
        .filter_map(|capture| {
            let first = capture.first_image_utc?;
            Some((first - capture.detected_utc).num_milliseconds())
        })
        .collect()
}

async fn wait_for_delays(store: &Store, since: DateTime<Utc>) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let delays = cam_1_delays_ms(store, since).await;
        if !delays.is_empty() {
            return delays;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no capture of cam-1 detected after {since} within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_the_handle_reaches_the_next_vehicle_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (scanner_address, emulator_stop) = common::emulator(EmulatorConfig {
        flow_per_hour: 3000.0,
        ..EmulatorConfig::bench_rig()
    })
    .await;
    let text = common::bench_config(dir.path(), scanner_address, 8080, 9100, None);
    let path = common::write_config(dir.path(), &text);
    let appliance = common::InProcess::start(&path).await;
    let (handle, store) = (appliance.config.clone(), appliance.store.clone());
    let metrics_address = appliance.metrics_address;
    let mut events = appliance.hub.subscribe();

    // Before: cars are detected, and cam-1 fires 20 ms after detection.
    let mut vehicles = Vehicles::default();
    let started = DateTime::<Utc>::MIN_UTC;
    vehicles
        .until(&mut events, "a car", |v| {
            v.entered_after(started)
                .iter()
                .any(|m| m.max_height_mm < TALL_MM)
        })
        .await;
    let before = wait_for_delays(&store, started).await;
    assert!(before.iter().all(|&ms| ms < NEW_DELAY_MS), "{before:?}");

    let report = handle
        .set(
            &[
                (
                    "detector.foreground_threshold_mm".to_owned(),
                    json!(NEW_THRESHOLD_MM),
                ),
                (
                    "cameras[0].trigger_delay_ms".to_owned(),
                    json!(NEW_DELAY_MS),
                ),
            ],
            Origin::new(ChangeSource::Web, "test"),
        )
        .await
        .unwrap();
    let changed_at = Utc::now();
    assert_eq!(
        report.applied,
        [
            "cameras[0].trigger_delay_ms",
            "detector.foreground_threshold_mm"
        ]
    );

    // The detector takes the threshold up between vehicles: from then on, no car.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let scrape = move || {
        let (_, body) = http_get(metrics_address, "/metrics").unwrap();
        metric_sum(&body, "vod_lidar_detector_settings_applied_total")
    };
    while tokio::task::spawn_blocking(scrape).await.unwrap() < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the detector did not take up its new settings"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let adopted_at = Utc::now();
    vehicles
        .until(&mut events, "two vehicles after the change", |v| {
            v.entered_after(adopted_at).len() >= 2
        })
        .await;
    let after = vehicles.entered_after(adopted_at);
    assert!(
        after.iter().all(|m| m.max_height_mm >= TALL_MM),
        "a vehicle lower than {TALL_MM} mm was detected with a {NEW_THRESHOLD_MM} mm threshold: {after:?}"
    );
    // ... and the pipeline's recorder stores them.
    for (id, _) in vehicles.left.iter().rev().take(2) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while store
            .vehicle(*id)
            .await
            .unwrap()
            .is_none_or(|row| row.left_at_ms.is_none())
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "vehicle {id} not recorded"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // cam-1's next bursts come 250 ms after detection.
    let delays = wait_for_delays(&store, changed_at).await;
    assert!(
        delays.iter().all(|&ms| ms >= NEW_DELAY_MS),
        "{delays:?} ms after the change to {NEW_DELAY_MS} ms"
    );

    // The file holds the change, and nothing else changed in it, comments included.
    let expected = text
        .replace(
            "foreground_threshold_mm = 300",
            &format!("foreground_threshold_mm = {NEW_THRESHOLD_MM}"),
        )
        .replacen(
            "trigger_delay_ms = 20",
            &format!("trigger_delay_ms = {NEW_DELAY_MS}"),
            1,
        );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    let row = &handle.history(1).await.unwrap()[0];
    assert_eq!(Some(row.id), report.history_id);
    assert_eq!(
        (row.change.source, row.change.actor.as_str()),
        (ChangeSource::Web, "test")
    );
    assert_eq!(row.change.changed, report.applied);

    appliance.stop().await;
    emulator_stop.cancel();
}

/// A USB camera that is not there when the box starts does not stop it: the other lane
/// stores its captures with images, the absent camera's vehicles are stored without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_usb_camera_leaves_the_rest_of_the_box_running() {
    let dir = tempfile::tempdir().unwrap();
    let (scanner, emulator_stop) = common::emulator(EmulatorConfig {
        flow_per_hour: 3600.0,
        ..EmulatorConfig::bench_rig()
    })
    .await;
    let sim_cam_2 = "name = \"cam-2\"\nlane = \"lane-2\"\nsource = \"sim\"\nwidth = 1280\nheight = 1024\n\
                     trigger_delay_ms = 20\nburst_frames = 2\nburst_interval_ms = 40\n";
    let usb_cam_2 = "name = \"cam-2\"\nlane = \"lane-2\"\ntrigger_delay_ms = 20\nburst_frames = 2\n\
                     burst_interval_ms = 40\n[cameras.source.usb]\ndevice = \"/dev/video99\"\n\
                     ring_frames = 8\ntolerance_ms = 40\n";
    let text = common::bench_config(dir.path(), scanner, 8080, 9100, None);
    assert!(text.contains(sim_cam_2), "the bench config's cam-2 moved");
    let text = text.replace(sim_cam_2, usb_cam_2);
    let path = common::write_config(dir.path(), &text);
    let appliance = common::InProcess::start(&path).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let captures = appliance.store.recent_captures(1000).await.unwrap();
        let with_images = captures
            .iter()
            .any(|c| c.camera == "cam-1" && c.image_count > 0);
        let without = captures
            .iter()
            .any(|c| c.camera == "cam-2" && c.image_count == 0);
        if with_images && without {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "within {PATIENCE:?}: {captures:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    appliance.stop().await;
    emulator_stop.cancel();
}
