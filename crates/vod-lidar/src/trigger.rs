//! The trigger planner: which cameras to fire, and when, for a vehicle that entered a lane:
//! a fixed offset after entry, or, for a camera aimed a known distance beyond the scan plane,
//! the time the vehicle takes to get there at its measured speed.

use std::sync::Arc;
use std::time::Duration;

use vod_core::config::CameraConfig;
use vod_core::{TriggerCommand, VehicleEvent, VehicleEventKind};

#[derive(Debug, Clone)]
struct PlannedCamera {
    name: Arc<str>,
    lane: String,
    delay: Duration,
    /// Where the camera looks, this far beyond the scan plane; used when the speed is known.
    distance_mm: Option<u32>,
    frames: u32,
    interval_ms: u32,
}

/// Turns `Entered` events into one trigger command per camera of the event's lane.
#[derive(Debug, Clone)]
pub struct TriggerPlanner {
    cameras: Vec<PlannedCamera>,
}

impl TriggerPlanner {
    pub fn new(cameras: &[CameraConfig]) -> Self {
        TriggerPlanner {
            cameras: cameras
                .iter()
                .map(|camera| PlannedCamera {
                    name: camera.name.as_str().into(),
                    lane: camera.lane.clone(),
                    delay: Duration::from_millis(camera.trigger_delay_ms.into()),
                    distance_mm: None,
                    frames: camera.burst_frames,
                    interval_ms: camera.burst_interval_ms,
                })
                .collect(),
        }
    }

    /// Fires `camera` when the vehicle has driven `distance_mm` past the scan plane, for
    /// events planned with a measured speed; without one its `trigger_delay_ms` still holds.
    /// `false` for an unknown camera.
    pub fn set_trigger_distance(&mut self, camera: &str, distance_mm: u32) -> bool {
        let mut found = false;
        for planned in self.cameras.iter_mut().filter(|c| &*c.name == camera) {
            planned.distance_mm = Some(distance_mm);
            found = true;
        }
        found
    }

    /// The cameras watching `lane`.
    pub fn cameras_of<'a>(&'a self, lane: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.cameras
            .iter()
            .filter(move |camera| camera.lane == lane)
            .map(|camera| &*camera.name)
    }

    /// The commands for `event`: none unless a vehicle entered.
    pub fn plan(&self, event: &VehicleEvent) -> Vec<TriggerCommand> {
        self.plan_with_speed(event, None)
    }

    /// As [`TriggerPlanner::plan`], with the vehicle's measured speed for the cameras that
    /// have a trigger distance. A speed that is not above 0 counts as unknown.
    pub fn plan_with_speed(
        &self,
        event: &VehicleEvent,
        speed_kmh: Option<f64>,
    ) -> Vec<TriggerCommand> {
        let speed_mm_per_s = speed_kmh
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(|s| s / 3.6 * 1000.0);
        if event.kind != VehicleEventKind::Entered {
            return Vec::new();
        }
        self.cameras
            .iter()
            .filter(|camera| *camera.lane == *event.lane)
            .map(|camera| TriggerCommand {
                camera: camera.name.clone(),
                vehicle_id: event.vehicle_id,
                lane: event.lane.clone(),
                fire_at: event.at
                    + match (camera.distance_mm, speed_mm_per_s) {
                        (Some(distance_mm), Some(speed)) => {
                            Duration::from_secs_f64(f64::from(distance_mm) / speed)
                        }
                        _ => camera.delay,
                    },
                frames: camera.frames,
                interval_ms: camera.interval_ms,
                detected_at: event.at,
                detected_utc: event.at_utc,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::DateTime;
    use vod_core::VehicleId;
    use vod_core::config::CameraSource;

    use super::*;

    fn camera(name: &str, lane: &str, delay_ms: u32) -> CameraConfig {
        CameraConfig {
            name: name.into(),
            lane: lane.into(),
            source: CameraSource::Sim,
            width: 1280,
            height: 1024,
            trigger_delay_ms: delay_ms,
            burst_frames: 2,
            burst_interval_ms: 40,
        }
    }

    fn event(lane: &str, kind: VehicleEventKind) -> VehicleEvent {
        let at_utc = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        VehicleEvent {
            vehicle_id: VehicleId::new(at_utc, 1, 0),
            lane: lane.into(),
            kind,
            at_utc,
            at: Instant::now(),
        }
    }

    #[test]
    fn plans_one_command_per_camera_of_the_lane() {
        let planner = TriggerPlanner::new(&[
            camera("cam-1", "lane-1", 20),
            camera("cam-1b", "lane-1", 0),
            camera("cam-2", "lane-2", 20),
        ]);
        let left = VehicleEventKind::Left {
            occupancy_ms: 300,
            max_height_mm: 1500,
            max_width_mm: 1800,
        };
        let cases = [
            (
                "lane-1",
                VehicleEventKind::Entered,
                vec![("cam-1", 20), ("cam-1b", 0)],
            ),
            ("lane-2", VehicleEventKind::Entered, vec![("cam-2", 20)]),
            ("lane-3", VehicleEventKind::Entered, vec![]),
            ("lane-1", left, vec![]),
        ];
        for (lane, kind, expected) in cases {
            let event = event(lane, kind);
            let commands = planner.plan(&event);
            let actual: Vec<_> = commands
                .iter()
                .map(|c| (&*c.camera, (c.fire_at - event.at).as_millis() as u64))
                .collect();
            assert_eq!(actual, expected, "{lane}");
            for command in &commands {
                assert_eq!(command.vehicle_id, event.vehicle_id);
                assert_eq!(&*command.lane, lane);
                assert_eq!((command.frames, command.interval_ms), (2, 40));
                assert_eq!(command.detected_at, event.at);
                assert_eq!(command.detected_utc, event.at_utc);
            }
        }
        assert_eq!(
            planner.cameras_of("lane-1").collect::<Vec<_>>(),
            ["cam-1", "cam-1b"]
        );
    }

    #[test]
    fn a_trigger_distance_turns_the_measured_speed_into_a_delay() {
        let mut planner = TriggerPlanner::new(&[
            camera("cam-1", "lane-1", 20),
            camera("cam-1b", "lane-1", 30),
        ]);
        assert!(planner.set_trigger_distance("cam-1", 5000));
        assert!(!planner.set_trigger_distance("cam-9", 5000));
        let event = event("lane-1", VehicleEventKind::Entered);
        let delays_ms = |speed_kmh| {
            planner
                .plan_with_speed(&event, speed_kmh)
                .iter()
                .map(|c| (c.fire_at - event.at).as_millis() as u64)
                .collect::<Vec<_>>()
        };
        // 5 m at 90 km/h (25 m/s): 200 ms; the camera without a distance keeps its offset.
        assert_eq!(delays_ms(Some(90.0)), [200, 30]);
        assert_eq!(delays_ms(Some(180.0)), [100, 30]);
        for unknown in [None, Some(0.0), Some(-5.0), Some(f64::NAN)] {
            assert_eq!(delays_ms(unknown), [20, 30], "{unknown:?}");
        }
    }
}
