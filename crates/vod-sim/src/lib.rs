//! The tools that test the box, kept out of the crates that ship in it:
//!
//! - `emulator`: a TCP server that speaks CoLa-B like a SICK LMS511 (the appliance's session
//!   or SICK's sick_scan_xd can talk to it) and streams scans of synthetic traffic with side
//!   profiles (bumpers, bonnet, boot, a truck's chassis between cab and box), tailgating, lane
//!   changes only into a gap (`emulator/schedule.rs`), a plane offset for a second scanner,
//!   dropouts, rain and wet-road mirror images; or a recording replayed
//!   (`emulator/replay.rs`); `emulator/sopas.rs` answers the rest of a driver's SOPAS
//!   start-up (device state, identity, scan and output configuration, evaluation fields,
//!   inputs, settings and event streams) as sick_scan_xd 3.9.0 asks for them for an LMS5xx.
//! - `lidar_accuracy`: the vehicle detector against the emulator's ground truth, lane by lane,
//!   naming the cause of every miss.
//! - `occupancy_accuracy`: the vision stage's counts per seat row against the occupants the
//!   simulated camera drew (`vod bench occupancy`).
//! - `vision_bench`: the whole vision stage against plain Python onnxruntime running the same
//!   models on the same tensors, in the same run (`vod bench vision`).
//!
//! Benchmarks: `cargo bench -p vod-sim --bench lidar` (docs/PERFORMANCE.md).

pub mod emulator;
pub mod lidar_accuracy;
pub mod occupancy_accuracy;
pub mod site;
pub mod vision_bench;
