//! Vehicle size classes live in `vod_core` (they travel in events); the detector and the
//! emulator name them through this module.

pub use vod_core::VehicleClass;
