//! `vod config check FILE`, and the loading of a config file that `vod run` shares with it.

use std::path::Path;
use std::process::ExitCode;

use vod_core::config::{Config, LoadedConfig};

use crate::EX_USAGE;

/// Checks `file` completely: prints `FILE: ok`, or every problem and exits 64.
pub fn check(file: &Path) -> ExitCode {
    match load(file) {
        Ok(_) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Loads and validates a config, printing every problem to stderr on failure.
pub fn load(path: &Path) -> Result<LoadedConfig, ExitCode> {
    Config::load(path).map_err(|error| {
        eprintln!("{}: {error}", path.display());
        ExitCode::from(EX_USAGE)
    })
}
