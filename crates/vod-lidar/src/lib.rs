//! The LIDAR side of the appliance: the SICK CoLa codec, the scanner session over TCP, the
//! recordings reader, the vehicle detector, the trigger planner, and the async pipeline that
//! runs one scanner from socket to camera triggers.

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
