//! The one typed configuration of the appliance, read from a TOML file and validated
//! completely (every problem reported, each with its key path) before any port is bound.

mod problems;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use problems::{ConfigError, Problem};

use crate::supervisor::RestartPolicy;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub site: SiteConfig,
    pub storage: StorageConfig,
    pub web: WebConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub supervisor: SupervisorConfig,
    /// Without this section the box runs without a message bus.
    pub bus: Option<BusConfig>,
    pub detector: DetectorConfig,
    pub scanners: Vec<ScannerConfig>,
    pub lanes: Vec<LaneConfig>,
    pub cameras: Vec<CameraConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Names this box in uploads, bus subjects and logs.
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Holds the SQLite database (`vod.db`) and the image files.
    pub data_dir: PathBuf,
}

impl StorageConfig {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("vod.db")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing env-filter directive such as `info,vod_lidar=debug`; `RUST_LOG` overrides it.
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    /// Restarts of one component allowed within `window_s` before the process exits.
    pub max_restarts: u32,
    pub window_s: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

impl SupervisorConfig {
    pub fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy {
            max_restarts: self.max_restarts,
            window: Duration::from_secs(self.window_s),
            backoff_initial: Duration::from_millis(self.backoff_initial_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    /// Such as `nats://127.0.0.1:4222`.
    pub nats_url: String,
    /// First token of every subject this box publishes, such as `vod`.
    pub subject_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Scans used to learn the empty road before detecting.
    pub background_scans: u32,
    /// A beam counts as hitting an object when its range is this much shorter than the road's.
    pub foreground_threshold_mm: u32,
    /// Object beams needed within a lane's zone for the lane to count as occupied.
    pub min_object_beams: u32,
    /// Consecutive occupied scans that make a vehicle enter.
    pub enter_scans: u32,
    /// Consecutive empty scans that make a vehicle leave.
    pub leave_scans: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    pub name: String,
    /// `host:port` of the scanner's CoLa-B port (2112 on SICK devices).
    pub address: String,
    /// Height of the scanner's optical centre above the road.
    pub mount_height_mm: u32,
    pub connect_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneConfig {
    pub name: String,
    pub scanner: String,
    /// The lane's zone across the road, in millimetres from the point below the scanner,
    /// positive towards the scanner's 0 deg side.
    pub lateral_from_mm: i32,
    pub lateral_to_mm: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub name: String,
    pub lane: String,
    pub source: CameraSource,
    /// Image size the simulated camera renders.
    pub width: u32,
    pub height: u32,
    /// From the vehicle entering the scan plane to the first exposure.
    pub trigger_delay_ms: u32,
    pub burst_frames: u32,
    pub burst_interval_ms: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraSource {
    /// Renders the passing vehicle; for the bench rig and tests.
    Sim,
}

impl Config {
    /// Parses and validates `text`; `origin` names the file in messages.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config = problems::deserialize_reporting_all(text)?;
        let problems = validate::check(&config);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text)
    }
}

#[cfg(test)]
mod tests;
