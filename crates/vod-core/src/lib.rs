//! Domain types shared by every component, the typed configuration, the supervisor and the
//! event hub. Nothing here performs I/O beyond reading a config file on request.

pub mod capture;
pub mod config;
pub mod frame;
pub mod hub;
pub mod occupancy;
pub mod scan;
pub mod supervisor;
pub mod trigger;
pub mod vehicle;

pub use capture::{Capture, CaptureImage};
pub use frame::{Burst, Frame, PixelFormat};
pub use hub::{Event, Hub};
pub use occupancy::{ModelRef, Occupancy, PersonDetection, RowCount, SeatRow};
pub use scan::Scan;
pub use supervisor::{Component, SharedReceiver};
pub use trigger::TriggerCommand;
pub use vehicle::{VehicleClass, VehicleEvent, VehicleEventKind, VehicleId, VehicleMeasurements};

/// The error type that supervised tasks return; the supervisor logs it with its cause chain.
pub type TaskError = Box<dyn std::error::Error + Send + Sync + 'static>;
