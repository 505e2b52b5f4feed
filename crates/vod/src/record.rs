//! `[record]`: the folder of one run's recording, and a telegram recorder per scanner. What
//! `vod replay` reads back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vod_core::config::secrets::mask_toml;
use vod_core::config::{Config, RecordConfig};
use vod_lidar::LidarMetrics;
use vod_lidar::recording::TelegramRecorder;

/// `recording.json`: when the recording started, for a replay to give its scans the times
/// they had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingInfo {
    pub started_utc: DateTime<Utc>,
    pub site: String,
    pub scanners: Vec<String>,
}

/// The config a recording was made with, its secrets masked.
pub const CONFIG_FILE: &str = "vod.toml";
pub const INFO_FILE: &str = "recording.json";

/// The file of `scanner`'s telegrams in a recording folder.
pub fn telegrams_file(dir: &Path, scanner: &str) -> PathBuf {
    dir.join(format!("{scanner}.pcapng.json"))
}

/// Creates this run's folder under `record.dir` and a recorder for each scanner of `config`
/// (`config_text` is the file as read, written back with its secrets masked).
pub fn start(
    record: &RecordConfig,
    config: &Config,
    config_text: &str,
    metrics: &LidarMetrics,
) -> anyhow::Result<(PathBuf, HashMap<String, TelegramRecorder>)> {
    let (started_utc, started) = (Utc::now(), Instant::now());
    let dir = record
        .dir
        .join(started_utc.format("%Y%m%dT%H%M%S%.3fZ").to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let info = RecordingInfo {
        started_utc,
        site: config.site.id.clone(),
        scanners: config.scanners.iter().map(|s| s.name.clone()).collect(),
    };
    std::fs::write(dir.join(INFO_FILE), serde_json::to_vec_pretty(&info)?)
        .with_context(|| format!("writing {}", dir.join(INFO_FILE).display()))?;
    std::fs::write(dir.join(CONFIG_FILE), mask_toml(config_text))
        .with_context(|| format!("writing {}", dir.join(CONFIG_FILE).display()))?;
    let mut recorders = HashMap::new();
    for scanner in &config.scanners {
        let path = telegrams_file(&dir, &scanner.name);
        let dropped = metrics
            .recorded_telegrams_dropped_total
            .with_label_values(&[&scanner.name]);
        let recorder = TelegramRecorder::create(&path, started, dropped)
            .with_context(|| format!("creating {}", path.display()))?;
        recorders.insert(scanner.name.clone(), recorder);
    }
    Ok((dir, recorders))
}
