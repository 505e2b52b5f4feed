//! `[record]`: the folder of one run's recording, a telegram recorder per scanner and, with
//! `bursts`, one for the raw bursts of evidence mode. What `vod replay` reads back.

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
use vod_vision::VisionMetrics;
use vod_vision::bursts::BurstRecorder;

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

/// The raw bursts of a recording, when `[record] bursts` was on.
pub const BURSTS_DIR: &str = "bursts";

/// What records a run: a telegram recorder per scanner, and one for raw bursts.
#[derive(Debug, Default)]
pub struct Recorders {
    pub scanners: HashMap<String, TelegramRecorder>,
    pub bursts: Option<BurstRecorder>,
}

/// Creates this run's folder under `record.dir` and the recorders (`config_text` is the file
/// as read, written back with its secrets masked).
pub fn start(
    record: &RecordConfig,
    config: &Config,
    config_text: &str,
    lidar: &LidarMetrics,
    vision: &VisionMetrics,
) -> anyhow::Result<(PathBuf, Recorders)> {
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
    let mut recorders = Recorders::default();
    for scanner in &config.scanners {
        let path = telegrams_file(&dir, &scanner.name);
        let dropped = lidar
            .recorded_telegrams_dropped_total
            .with_label_values(&[&scanner.name]);
        let recorder = TelegramRecorder::create(&path, started, dropped)
            .with_context(|| format!("creating {}", path.display()))?;
        recorders.scanners.insert(scanner.name.clone(), recorder);
    }
    if record.bursts {
        let bursts = dir.join(BURSTS_DIR);
        let dropped = vision.recorded_bursts_dropped_total.clone();
        recorders.bursts = Some(
            BurstRecorder::create(bursts.clone(), dropped)
                .with_context(|| format!("creating {}", bursts.display()))?,
        );
    }
    Ok((dir, recorders))
}
