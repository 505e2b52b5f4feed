//! `vod run --config FILE`: the appliance under this process's logger and signals. SIGHUP
//! applies the file as it is on disk through the live configuration handle; Ctrl-C or
//! SIGTERM stops the box.

use std::path::Path;
use std::process::ExitCode;

use vod_core::config::LoadedConfig;
use vod_core::config::live::{ChangeSource, Origin};
use vod_core::log_ring::LogRing;

use crate::appliance::{Appliance, Listeners, Outcome, Setup};
use crate::telemetry::{self, LogFilter};
use crate::{EX_SOFTWARE, EX_USAGE, signals};

pub fn main(path: &Path) -> ExitCode {
    crate::malloc::limit_arenas();
    // The fault points FAILPOINTS names, for the tests of broken components.
    #[cfg(feature = "failpoints")]
    let _faults = fail::FailScenario::setup();
    let loaded = match super::config::load(path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let (log_filter, logs) = match telemetry::init(&loaded.config.log) {
        Ok(logger) => logger,
        Err(error) => {
            eprintln!("log filter (RUST_LOG): {error:#}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "Cannot start the async runtime.");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(path, loaded, log_filter, logs)) {
        Ok(Outcome::Stopped) => {
            tracing::info!("Stopped.");
            ExitCode::SUCCESS
        }
        Ok(Outcome::GaveUp(error)) => {
            tracing::error!(%error, "Giving up.");
            ExitCode::from(EX_SOFTWARE)
        }
        Err(error) => {
            tracing::error!("Cannot start: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    path: &Path,
    loaded: LoadedConfig,
    log_filter: LogFilter,
    logs: LogRing,
) -> anyhow::Result<Outcome> {
    // From here on a SIGHUP is a change of the config, not the end of the process.
    let mut hangups = signals::hangups()?;
    raise_open_files_limit(loaded.config.web.max_connections);
    let listeners = Listeners::bind(&loaded.config)?;
    let appliance = Appliance::start(Setup {
        path: path.to_owned(),
        loaded,
        listeners,
        log_filter: Some(log_filter),
        logs,
    })
    .await?;
    let config = appliance.config.clone();
    let reloads = tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!(signal = "SIGHUP", "Applying the config file.");
            // Logged, counted, published and kept in the history by the handle.
            let _outcome = config
                .reload_file(Origin::new(ChangeSource::Sighup, "signal"))
                .await;
        }
    });
    crate::systemd::ready();
    let outcome = appliance
        .run(async {
            match signals::stop_signal().await {
                Ok(signal) => tracing::info!(signal, "Stopping."),
                Err(error) => tracing::error!(%error, "Cannot listen for stop signals; stopping."),
            }
            crate::systemd::stopping();
        })
        .await;
    reloads.abort();
    Ok(outcome)
}

/// Files the process needs beyond the web page's connections: the database, image files,
/// scanner and camera sockets, the metrics port.
const OPEN_FILES_RESERVE: u64 = 512;

/// Raises the soft limit of open files to the hard one, so that the web page's connection
/// cap, not the descriptor limit, is what a flood of connections meets.
fn raise_open_files_limit(max_connections: u32) {
    let needed = u64::from(max_connections) + OPEN_FILES_RESERVE;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => tracing::warn!(
            limit,
            needed,
            "The open-files limit is below web.max_connections and the box's own files: raise \
             it (LimitNOFILE in the systemd unit, ulimits in compose) or lower \
             web.max_connections."
        ),
        Ok(limit) => tracing::debug!(limit, "Open-files limit."),
        Err(error) => tracing::warn!(%error, "The open-files limit could not be read or raised."),
    }
}
