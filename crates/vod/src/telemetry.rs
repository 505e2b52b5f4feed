//! Logging: tracing with an env filter (RUST_LOG at start, else the config's `log.filter`) as
//! text or JSON lines, on stderr, so that a command's own output on stdout stays clean. The
//! filter follows `log.filter` while the box runs ([`LogFilter`] is a live part of the config).
//! Every line the filter lets through is also kept in a [`LogRing`] for the web page.

use std::fmt::Write;

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};
use vod_core::config::live::{LivePart, Prepared};
use vod_core::config::{Config, LogConfig, LogFormat};
use vod_core::log_ring::{LogLine, LogRing};

/// Log lines the ring keeps.
const RING_LINES: usize = 2000;

/// The installed logger's filter, which a config change replaces.
#[derive(Debug, Clone)]
pub struct LogFilter(reload::Handle<EnvFilter, Registry>);

/// Installs the logger for the whole process; returns its filter and its ring.
pub fn init(config: &LogConfig) -> anyhow::Result<(LogFilter, LogRing)> {
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
    let ring = LogRing::new(RING_LINES);
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .with(RingLayer(ring.clone()))
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))?;
    Ok((LogFilter(handle), ring))
}
/// Copies every line the filter lets through into the ring the web page reads.
struct RingLayer(LogRing);

impl<S: tracing::Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _context: Context<'_, S>) {
        let mut text = LineText::default();
        event.record(&mut text);
        let metadata = event.metadata();
        self.0.push(LogLine {
            at: chrono::Utc::now(),
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            text: text.finish(),
        });
    }
}

/// An event's message, then its other fields as `key=value`.
#[derive(Default)]
struct LineText {
    message: String,
    fields: String,
}

impl LineText {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for LineText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _infallible = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _infallible = write!(self.message, "{value:?}");
        } else {
            let _infallible = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl LogFilter {
    /// Replaces the filter now, until the next change of `log.filter` or restart.
    pub fn replace(&self, filter: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(filter).map_err(|e| format!("bad log filter: {e}"))?;
        self.0.reload(filter).map_err(|e| e.to_string())
    }
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
