//! The appliance as a library, and the subcommands of the `vod` binary.
//!
//! - [`appliance`]: the whole box in-process. [`appliance::Appliance::start`] takes the config
//!   file as read, the sockets to serve and the parts of the process that follow config
//!   changes; [`appliance::Appliance::run`] runs it until a future completes. Its
//!   [`vod_core::config::live::ConfigHandle`] is the one way the running config changes.
//! - [`cli`]: what each subcommand does (`run`, `config check`, `user`, `push`, `camera`, `lidar`,
//!   `sim`, `bench`, `ctl`, `replay`); `main.rs` only parses the command line.
//! - [`record`]: `[record]`'s folder per run and a telegram recorder per scanner; [`replay`]:
//!   a recording through the detector, the planner, simulated cameras, the vision stage's
//!   `process` and a fresh store, scan by scan, the same on every run.
//! - [`telemetry`]: the logger, whose filter follows `log.filter`.
//! - [`systemd`]: `READY=1`, `STOPPING=1` and the watchdog's `WATCHDOG=1` to systemd.
//! - `control`: the running box as the bus's control plane sees it (state, top, commands);
//!   `process`: what `/proc/self` says of memory, files and threads; `malloc`: two glibc
//!   arenas for `vod run`.

pub mod appliance;
pub mod cli;
mod control;
mod malloc;
mod process;
pub mod record;
pub mod replay;
mod signals;
pub mod systemd;
pub mod telemetry;

/// Exit code for a bad command line or config file (sysexits EX_USAGE).
pub const EX_USAGE: u8 = 64;
/// Exit code when a service the command needs (NATS, a box on it) cannot be reached
/// (sysexits EX_UNAVAILABLE).
pub const EX_UNAVAILABLE: u8 = 69;
/// Exit code when the store cannot be opened or written (sysexits EX_IOERR).
pub const EX_IOERR: u8 = 74;
/// Exit code when the appliance gives up on a failing component (sysexits EX_SOFTWARE).
pub const EX_SOFTWARE: u8 = 70;
