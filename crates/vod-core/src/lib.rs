//! Domain types shared by every component, the typed configuration, the supervisor and the
//! event hub. Its only I/O is the config file.
//!
//! - `config`: the one typed `Config`, read from TOML and validated completely
//!   (`config/problems.rs` reports every problem with its key path; `config/validate.rs` the
//!   semantic checks; `config/choices.rs` the file's spelling of the exclusive choices). The live
//!   configuration handle (`config/live.rs`, [`config::live::ConfigHandle`]) is the one way a
//!   running box's config changes: plan by key path (`config/diff.rs`: what applies at once,
//!   what waits for a restart), ready the live parts, write back with toml_edit atomically
//!   (`config/file.rs`), apply, audit; secrets masked everywhere (`config/secrets.rs`).
//! - `scan`, `vehicle` (vehicle events and their one `VehicleMeasurements`), `frame`
//!   (`Frame` and the `Burst` one trigger produced), `capture`, `occupancy`.
//! - `scanner_view`: the latest scan of a running scanner pipeline as its detector saw it, and
//!   the request to learn the road again, for the web page and the bus.
//! - `supervisor`: runs each [`Component`] with restart, backoff and a restart intensity;
//!   [`supervisor::channel`] makes the bounded channels whose receivers outlive restarts; its
//!   `Children` table says what each component is doing (state, restarts and their last cause,
//!   its task's busy time and wake-ups) and restarts one on request.
//! - `control`: the [`control::BoxControl`] trait the bus's control plane asks (state, top,
//!   test captures, relearn, restart, log filter, snapshot); the appliance implements it.
//! - `trigger`: what the trigger planner asks of a camera, and [`TestTriggers`], the test
//!   captures a person asks for on the web page or the bus.
//! - `log_ring`: the newest log lines in memory, for the web page; `log_budget`: one line per
//!   interval for input that goes bad many times a second.
//! - `hub`: the broadcast of [`Event`]s to the web page, the bus and the logs.

pub mod capture;
pub mod config;
pub mod control;
pub mod frame;
pub mod hub;
pub mod log_budget;
pub mod log_ring;
pub mod occupancy;
pub mod scan;
pub mod scanner_view;
pub mod supervisor;
pub mod trigger;
pub mod vehicle;

pub use capture::{Capture, CaptureImage};
pub use frame::{Burst, Frame, PixelFormat};
pub use hub::{Event, Hub};
pub use occupancy::{Doubt, DoubtKind, ModelRef, Occupancy, PersonDetection, RowCount, SeatRow};
pub use scan::Scan;
pub use scanner_view::{ScanSnapshot, ScannerView};
pub use supervisor::{Component, SharedReceiver};
pub use trigger::{TestTriggerError, TestTriggers, TriggerCommand};
pub use vehicle::{
    VEHICLE_LOG, VehicleClass, VehicleEvent, VehicleEventKind, VehicleId, VehicleMeasurements,
};

/// An error and its causes on one line: `what failed: why: the cause of that`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The error type that supervised tasks return; the supervisor logs it with its cause chain.
pub type TaskError = Box<dyn std::error::Error + Send + Sync + 'static>;
