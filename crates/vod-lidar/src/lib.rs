//! The LIDAR side of the appliance, from socket to camera triggers.
//!
//! - `cola`: SICK CoLa-A/B framing and the LMDscandata codec (fuzz target in `fuzz/`, cargo
//!   fuzz in its own workspace).
//! - `session`: one scanner over TCP: login, device state (`sRN STlms`: a status of 0 to 2 or
//!   an out-of-range temperature refuses to measure and goes the reconnect backoff), start,
//!   subscribe, stall detection, reconnection with capped backoff.
//! - `recording`: sick_scan_xd pcapng.json exports (and `vod lidar decode --json`).
//! - `detector`: the pure `VehicleDetector`: background subtraction; `detector/scene.rs` groups
//!   a scan's object points into objects and gives each to one lane (the lane whose vehicle it
//!   continues, else the one holding most of its width, so a lane changer counts once);
//!   `detector/lane.rs` ends a vehicle at the first scan of road or of only bumper-high points
//!   (the dip before a tailgater), and holds it while another lane's vehicle hides its lane. New
//!   settings are taken up between vehicles.
//! - `speed`: speed and length from two scan planes a known distance apart; `speed/pairing.rs`
//!   is the state the two scanner tasks of a `[[speed_planes]]` lane share.
//! - `trigger`: the pure `TriggerPlanner` (by delay, or by distance at the measured speed).
//! - `pipeline`: the task of one scanner ([`ScannerSetup`], a `Component` that runs on a
//!   thread of its own under SCHED_FIFO where allowed, `realtime.rs`), watching the running
//!   config; vehicle events go to the hub and, on a channel of their own, to the recorder.
//! - `metrics`: every `vod_lidar_*` metric.

pub mod cola;
pub mod detector;
pub mod metrics;
pub mod pipeline;
mod realtime;
pub mod recording;
pub mod session;
pub mod speed;
pub mod trigger;

pub use detector::{DetectorError, VehicleDetector};
pub use metrics::LidarMetrics;
pub use pipeline::{ScannerSetup, run_scanner, run_scanner_on_thread};
pub use speed::pairing::SpeedPlanes;
pub use trigger::TriggerPlanner;
