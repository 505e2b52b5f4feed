//! The subcommands of `vod`, each a function from its parsed arguments to an exit code.

pub mod bench;
pub mod camera;
pub mod config;
pub mod ctl;
pub mod e2e;
pub mod lidar;
pub mod push;
pub mod replay;
pub mod restart;
pub mod run;
pub mod sim;
pub mod user;
