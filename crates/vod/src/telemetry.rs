//! Logging: tracing with an env filter (RUST_LOG at start, else the config's `log.filter`) as
//! text or JSON lines, on stderr, so that a command's own output on stdout stays clean. The
//! filter follows `log.filter` while the box runs ([`LogFilter`] is a live part of the config).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};
use vod_core::config::live::{LivePart, Prepared};
use vod_core::config::{Config, LogConfig, LogFormat};

/// The installed logger's filter, which a config change replaces.
#[derive(Debug, Clone)]
pub struct LogFilter(reload::Handle<EnvFilter, Registry>);

/// Installs the logger for the whole process.
pub fn init(config: &LogConfig) -> anyhow::Result<LogFilter> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::try_new(from_env)?,
        _ => EnvFilter::try_new(&config.filter)?,
    };
    let (filter, handle) = reload::Layer::new(filter);
    let output = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let output = match config.format {
        LogFormat::Text => output.boxed(),
        LogFormat::Json => output.json().flatten_event(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))?;
    Ok(LogFilter(handle))
}

impl LivePart for LogFilter {
    fn name(&self) -> &'static str {
        "the logger"
    }

    /// A new `log.filter` replaces the filter, the one RUST_LOG gave at start included: the
    /// change is the later word.
    fn prepare(
        &self,
        running: &Config,
        next: &Config,
        _reread: bool,
    ) -> Result<Option<Prepared>, String> {
        if running.log.filter == next.log.filter {
            return Ok(None);
        }
        let filter = EnvFilter::try_new(&next.log.filter).map_err(|e| e.to_string())?;
        let handle = self.0.clone();
        Ok(Some(Prepared {
            applied: Vec::new(),
            commit: Box::new(move || {
                if let Err(error) = handle.reload(filter) {
                    tracing::error!(%error, "The log filter could not be replaced.");
                }
            }),
        }))
    }
}
