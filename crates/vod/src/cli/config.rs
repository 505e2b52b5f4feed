//! `vod config check FILE`, and the loading of a config file that `vod run` shares with it.

use std::path::Path;
use std::process::ExitCode;

use prometheus::Registry;
use vod_core::config::{Config, LoadedConfig};
use vod_store::{Store, StoreMetrics};

use crate::{EX_IOERR, EX_USAGE};

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

/// Opens the store of the box whose config is `path`, for a field command named `command`.
pub async fn open_store(path: &Path, command: &str) -> Result<Store, ExitCode> {
    let loaded = load(path)?;
    let metrics = StoreMetrics::register(&Registry::new()).map_err(|error| {
        eprintln!("{command}: {error}");
        ExitCode::FAILURE
    })?;
    Store::open(&loaded.config.storage, metrics)
        .await
        .map_err(|error| {
            eprintln!("{command}: opening the store: {error}");
            ExitCode::from(EX_IOERR)
        })
}
