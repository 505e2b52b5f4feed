//! The trigger planner: which cameras to fire, and when, for a vehicle that entered a lane:
//! a fixed offset after entry, or, for a camera aimed a known distance beyond the scan plane,
//! the time the vehicle takes to get there at its measured speed.

use std::sync::Arc;
use std::time::Duration;

use vod_core::config::{CameraConfig, CameraTrigger};
use vod_core::{TriggerCommand, VehicleEvent, VehicleEventKind};

/// When a camera fires after a vehicle entered its lane's (first) scan plane.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Timing {
    /// A fixed offset after entry.
    Delay(Duration),
    /// When the vehicle has driven this far past the plane, at its measured speed.
    DistanceMm(u32),
}

#[derive(Debug, Clone)]
struct PlannedCamera {
    name: Arc<str>,
    lane: String,
    timing: Timing,
    frames: u32,
    interval_ms: u32,
}

/// Turns `Entered` events into one trigger command per camera of the event's lane.
#[derive(Debug, Clone)]
pub struct TriggerPlanner {
    cameras: Vec<PlannedCamera>,
}

impl TriggerPlanner {
    /// Cameras with a `trigger_distance_mm` fire by distance, the others by delay.
    pub fn new(cameras: &[CameraConfig]) -> Self {
        TriggerPlanner {
            cameras: cameras
                .iter()
                .map(|camera| PlannedCamera {
                    name: camera.name.as_str().into(),
                    lane: camera.lane.clone(),
                    timing: match camera.trigger {
                        CameraTrigger::DistanceMm(distance_mm) => Timing::DistanceMm(distance_mm),
                        CameraTrigger::DelayMs(delay_ms) => {
                            Timing::Delay(Duration::from_millis(delay_ms.into()))
                        }
                    },
                    frames: camera.burst_frames,
                    interval_ms: camera.burst_interval_ms,
                })
                .collect(),
        }
    }

    /// The cameras watching `lane`.
    pub fn cameras_of<'a>(&'a self, lane: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.cameras
            .iter()
            .filter(move |camera| camera.lane == lane)
            .map(|camera| &*camera.name)
    }

    /// The commands of the cameras that fire by delay, for `event`: none unless a vehicle
    /// entered.
    pub fn plan(&self, event: &VehicleEvent) -> Vec<TriggerCommand> {
        self.commands(event, |timing| match timing {
            Timing::Delay(delay) => Some(delay),
            Timing::DistanceMm(_) => None,
        })
    }

    /// The commands of the cameras that fire by distance, for the `Entered` event of the
    /// lane's first plane once the vehicle's speed is known; a camera whose moment has passed
    /// fires at once. None for a speed that is not above 0.
    pub fn plan_with_speed(&self, entered: &VehicleEvent, speed_kmh: f64) -> Vec<TriggerCommand> {
        if !(speed_kmh > 0.0 && speed_kmh.is_finite()) {
            return Vec::new();
        }
        let speed_mm_per_s = speed_kmh / 3.6 * 1000.0;
        self.commands(entered, |timing| match timing {
            Timing::Delay(_) => None,
            Timing::DistanceMm(distance_mm) => Some(Duration::from_secs_f64(
                f64::from(distance_mm) / speed_mm_per_s,
            )),
        })
    }

    fn commands(
        &self,
        event: &VehicleEvent,
        delay_of: impl Fn(Timing) -> Option<Duration>,
    ) -> Vec<TriggerCommand> {
        if event.kind != VehicleEventKind::Entered {
            return Vec::new();
        }
        self.cameras
            .iter()
            .filter(|camera| *camera.lane == *event.lane)
            .filter_map(|camera| {
                let delay = delay_of(camera.timing)?;
                Some(TriggerCommand {
                    camera: camera.name.clone(),
                    vehicle_id: event.vehicle_id,
                    lane: event.lane.clone(),
                    fire_at: event.at + delay,
                    frames: camera.frames,
                    interval_ms: camera.interval_ms,
                    detected_at: event.at,
                    detected_utc: event.at_utc,
                    test: false,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::DateTime;
    use vod_core::config::{CameraSource, SimSource};
    use vod_core::{VehicleClass, VehicleId, VehicleMeasurements};

    use super::*;

    fn camera(name: &str, lane: &str, delay_ms: u32) -> CameraConfig {
        CameraConfig {
            name: name.into(),
            lane: lane.into(),
            source: CameraSource::Sim(SimSource::sized(1280, 1024)),
            trigger: CameraTrigger::DelayMs(delay_ms),
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
        let left = VehicleEventKind::Left(VehicleMeasurements {
            occupancy_ms: 300,
            max_height_mm: 1500,
            max_width_mm: 1800,
            class: VehicleClass::Car,
            speed_kmh: None,
            length_mm: None,
        });
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
        let mut by_distance = camera("cam-1", "lane-1", 0);
        by_distance.trigger = CameraTrigger::DistanceMm(5000);
        let planner = TriggerPlanner::new(&[by_distance, camera("cam-1b", "lane-1", 30)]);
        let event = event("lane-1", VehicleEventKind::Entered);
        let delays_ms = |commands: Vec<TriggerCommand>| {
            commands
                .iter()
                .map(|c| {
                    (
                        c.camera.to_string(),
                        (c.fire_at - event.at).as_millis() as u64,
                    )
                })
                .collect::<Vec<_>>()
        };
        let cam = |name: &str, ms| (name.to_owned(), ms);
        // At entry only the camera with a delay fires; the other waits for the speed.
        assert_eq!(delays_ms(planner.plan(&event)), [cam("cam-1b", 30)]);
        // 5 m at 90 km/h (25 m/s): 200 ms.
        assert_eq!(
            delays_ms(planner.plan_with_speed(&event, 90.0)),
            [cam("cam-1", 200)]
        );
        assert_eq!(
            delays_ms(planner.plan_with_speed(&event, 180.0)),
            [cam("cam-1", 100)]
        );
        for unknown in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                delays_ms(planner.plan_with_speed(&event, unknown)),
                [],
                "{unknown:?}"
            );
        }
    }
}
