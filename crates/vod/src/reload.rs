//! Reading the config file again while the box runs (on SIGHUP, or from whoever calls
//! [`Reloader::reload`]): the file is checked as `vod config check` checks it; the vision
//! section is applied by loading a new vision set and swapping it in (a burst in flight
//! finishes with the old one); changed keys that only a restart applies are named in one
//! warning and left as they run. A refused reload changes nothing.

use std::fmt;
use std::path::PathBuf;

use prometheus::{IntCounterVec, Opts, Registry};
use serde_json::Value;
use tokio::sync::Mutex;
use vod_core::Event;
use vod_core::Hub;
use vod_core::config::{Config, ConfigError, LoadedConfig};
use vod_store::{ConfigSource, Store};
use vod_vision::{ModelError, Vision, VisionSet};

/// The config section applied without a restart.
const LIVE_SECTION: &str = "vision";

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Keys now in effect, such as `vision.review_below`; `vision.models` when the model
    /// files changed under the same manifest names.
    pub applied: Vec<String>,
    /// Top-level sections that differ in the file but apply only after a restart.
    pub restart_needed: Vec<String>,
}

#[derive(Debug)]
pub enum ReloadError {
    /// The file cannot be read or is not a valid config; every problem is listed.
    Config { path: PathBuf, error: ConfigError },
    /// A model named by the new vision section was refused (the message names its manifest).
    Vision(ModelError),
    /// The thread loading the file or the models ended abnormally.
    Loader(tokio::task::JoinError),
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::Config { path, error } => write!(f, "{}: {error}", path.display()),
            ReloadError::Vision(error) => write!(f, "{error}"),
            ReloadError::Loader(error) => write!(f, "the loader thread failed: {error}"),
        }
    }
}

impl std::error::Error for ReloadError {}

/// Applies the config file at `path` to the running box; one reload at a time.
pub struct Reloader {
    path: PathBuf,
    /// The config as it runs now: the start-up file plus every applied vision section.
    running: Mutex<Config>,
    vision: Vision,
    hub: Hub,
    /// Keeps each applied file in the config history.
    store: Store,
    reloads_total: IntCounterVec,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        running: Config,
        vision: Vision,
        hub: Hub,
        store: Store,
        registry: &Registry,
    ) -> Result<Reloader, prometheus::Error> {
        let reloads_total = IntCounterVec::new(
            Opts::new(
                "vod_config_reloads_total",
                "Config file reloads, by result (applied or refused).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(reloads_total.clone()))?;
        Ok(Reloader {
            path,
            running: Mutex::new(running),
            vision,
            hub,
            store,
            reloads_total,
        })
    }

    /// Reads, checks and applies the file. The outcome is logged, counted and published on
    /// the hub here; the result is for a caller that answers someone (a bus command).
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let mut running = self.running.lock().await;
        let result = self.apply(&mut running).await;
        let event = match &result {
            Ok(report) => {
                self.reloads_total.with_label_values(&["applied"]).inc();
                tracing::info!(applied = ?report.applied, "Config reloaded.");
                if !report.restart_needed.is_empty() {
                    tracing::warn!(
                        sections = ?report.restart_needed,
                        "Config changes that need a restart were not applied."
                    );
                }
                Event::ConfigReloaded {
                    applied: report.applied.clone(),
                    restart_needed: report.restart_needed.clone(),
                    error: None,
                }
            }
            Err(error) => {
                self.reloads_total.with_label_values(&["refused"]).inc();
                tracing::error!("Config reload refused; the running config is kept: {error}");
                Event::ConfigReloaded {
                    applied: Vec::new(),
                    restart_needed: Vec::new(),
                    error: Some(error.to_string()),
                }
            }
        };
        self.hub.publish(event);
        result
    }

    async fn apply(&self, running: &mut Config) -> Result<ReloadReport, ReloadError> {
        let path = self.path.clone();
        let LoadedConfig { config: new, text } =
            tokio::task::spawn_blocking(move || Config::load(&path))
                .await
                .map_err(ReloadError::Loader)?
                .map_err(|error| ReloadError::Config {
                    path: self.path.clone(),
                    error,
                })?;
        let changes = Changes::between(running, &new);
        // The vision set is loaded even when its section is unchanged: a model file may have
        // been replaced under the same manifest name.
        let vision_config = new.vision.clone();
        let set = tokio::task::spawn_blocking(move || VisionSet::load(&vision_config))
            .await
            .map_err(ReloadError::Loader)?
            .map_err(ReloadError::Vision)?;
        let mut applied = changes.live;
        if set.model_refs() != self.vision.current().model_refs() {
            applied.push(format!("{LIVE_SECTION}.models"));
        }
        self.vision.replace(set);
        running.vision = new.vision;
        crate::appliance::record_config(&self.store, &text, ConfigSource::Reload).await;
        Ok(ReloadReport {
            applied,
            restart_needed: changes.restart_needed,
        })
    }
}

/// The keys that differ between two configs, split by how they take effect.
#[derive(Debug, PartialEq, Eq)]
struct Changes {
    /// `vision.<key>` for each changed key of the live section.
    live: Vec<String>,
    /// Each other top-level section that changed.
    restart_needed: Vec<String>,
}

impl Changes {
    fn between(old: &Config, new: &Config) -> Changes {
        let (old, new) = (tree(old), tree(new));
        let restart_needed = changed_keys(&old, &new)
            .into_iter()
            .filter(|key| key != LIVE_SECTION)
            .collect();
        let live = changed_keys(&old[LIVE_SECTION], &new[LIVE_SECTION])
            .into_iter()
            .map(|key| format!("{LIVE_SECTION}.{key}"))
            .collect();
        Changes {
            live,
            restart_needed,
        }
    }
}

fn tree(config: &Config) -> Value {
    // A Config is plain data: serializing it cannot fail.
    serde_json::to_value(config).unwrap_or(Value::Null)
}

/// The keys of two JSON objects whose values differ, present in either, sorted.
fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (old, new) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|key| old.get(*key) != new.get(*key))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCH_CONFIG: &str = include_str!("../../../deploy/bench/vod.toml");

    fn config(edit: impl Fn(&mut Config)) -> Config {
        let mut config = Config::parse(BENCH_CONFIG).expect("the bench config is valid");
        edit(&mut config);
        config
    }

    #[test]
    fn vision_keys_are_live_and_other_sections_need_a_restart() {
        let old = config(|_| {});
        let new = config(|c| {
            c.vision.review_below = 0.9;
            c.vision.threads += 1;
            c.web.listen.set_port(8081);
            c.cameras[0].burst_frames += 1;
        });
        assert_eq!(
            Changes::between(&old, &new),
            Changes {
                live: vec!["vision.review_below".into(), "vision.threads".into()],
                restart_needed: vec!["cameras".into(), "web".into()],
            }
        );
    }

    #[test]
    fn the_same_config_changes_nothing() {
        let old = config(|_| {});
        assert_eq!(
            Changes::between(&old, &old.clone()),
            Changes {
                live: Vec::new(),
                restart_needed: Vec::new(),
            }
        );
    }
}
