//! The file's spelling of the config's exclusive choices, turned into enums when a file is
//! read and back when a config is written or compared: a camera's trigger
//! (`trigger_delay_ms` or `trigger_distance_mm`), a simulated camera's size and scenes
//! (`width`, `height`, `scenes`, `occupants_dir`, `side`, for `source = "sim"`
//! only) and the retention sweep's schedule (`sweep_every_s` or
//! `sweep_cron`). A wrong combination is a serde error whose message names the key, in a form
//! that `problems.rs` turns into a problem at that key's path.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{
    CameraConfig, CameraSource, CameraTrigger, GigeSourceConfig, RetentionConfig, SimScenes,
    SimSide, SimSource, SweepSchedule, UsbSourceConfig,
};

/// The message of a key that must be given: `problems.rs` reports "missing: {explanation}" at
/// the key's path.
fn missing(key: &str, explanation: &str) -> String {
    format!("missing field `{key}`: {explanation}")
}

/// The message of a key that must not be given here: `problems.rs` reports `reason` at the
/// key's path and takes the key out of the way.
fn not_allowed(key: &str, reason: &str) -> String {
    format!("field `{key}` not allowed: {reason}")
}

/// `source = "sim"`, or a table `[cameras.source.gige]` or `[cameras.source.usb]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SourceFile {
    Sim,
    Gige(GigeSourceConfig),
    Usb(UsbSourceConfig),
}

/// A `[[cameras]]` entry as the file spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CameraFile {
    name: String,
    lane: String,
    source: SourceFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scenes: Option<SimScenes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    occupants_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    side: Option<SimSide>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trigger_delay_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trigger_distance_mm: Option<u32>,
    burst_frames: u32,
    burst_interval_ms: u32,
}

impl TryFrom<CameraFile> for CameraConfig {
    type Error = String;

    fn try_from(file: CameraFile) -> Result<Self, String> {
        let trigger = match (file.trigger_delay_ms, file.trigger_distance_mm) {
            (Some(_), Some(_)) => {
                return Err(not_allowed(
                    "trigger_distance_mm",
                    "give either trigger_delay_ms or trigger_distance_mm, not both",
                ));
            }
            (None, None) => {
                return Err(missing(
                    "trigger_delay_ms",
                    "give trigger_delay_ms or trigger_distance_mm",
                ));
            }
            (Some(delay_ms), None) => CameraTrigger::DelayMs(delay_ms),
            (None, Some(distance_mm)) => CameraTrigger::DistanceMm(distance_mm),
        };
        let source = match (file.source, file.width, file.height) {
            (SourceFile::Sim, Some(width), Some(height)) => CameraSource::Sim(SimSource {
                width,
                height,
                scenes: file.scenes.unwrap_or_default(),
                occupants_dir: file.occupants_dir,
                side: file.side.unwrap_or_default(),
            }),
            (SourceFile::Sim, None, _) => return Err(missing("width", "the simulated image size")),
            (SourceFile::Sim, _, None) => {
                return Err(missing("height", "the simulated image size"));
            }
            _ if file.scenes.is_some() => return Err(not_allowed("scenes", ONLY_FOR_SIM)),
            _ if file.occupants_dir.is_some() => {
                return Err(not_allowed("occupants_dir", ONLY_FOR_SIM));
            }
            _ if file.side.is_some() => return Err(not_allowed("side", ONLY_FOR_SIM)),
            (_, Some(_), _) => return Err(not_allowed("width", SIZE_ONLY_FOR_SIM)),
            (_, _, Some(_)) => return Err(not_allowed("height", SIZE_ONLY_FOR_SIM)),
            (SourceFile::Gige(gige), None, None) => CameraSource::Gige(gige),
            (SourceFile::Usb(usb), None, None) => CameraSource::Usb(usb),
        };
        Ok(CameraConfig {
            name: file.name,
            lane: file.lane,
            source,
            trigger,
            burst_frames: file.burst_frames,
            burst_interval_ms: file.burst_interval_ms,
        })
    }
}

const SIZE_ONLY_FOR_SIM: &str =
    "only a simulated camera (source = \"sim\") has a size; a real one reports its own";

const ONLY_FOR_SIM: &str = "only a simulated camera (source = \"sim\") renders scenes";

impl From<CameraConfig> for CameraFile {
    fn from(camera: CameraConfig) -> Self {
        let (source, sim) = match camera.source {
            CameraSource::Sim(sim) => (SourceFile::Sim, Some(sim)),
            CameraSource::Gige(gige) => (SourceFile::Gige(gige), None),
            CameraSource::Usb(usb) => (SourceFile::Usb(usb), None),
        };
        let (trigger_delay_ms, trigger_distance_mm) = match camera.trigger {
            CameraTrigger::DelayMs(delay_ms) => (Some(delay_ms), None),
            CameraTrigger::DistanceMm(distance_mm) => (None, Some(distance_mm)),
        };
        CameraFile {
            name: camera.name,
            lane: camera.lane,
            source,
            width: sim.as_ref().map(|sim| sim.width),
            height: sim.as_ref().map(|sim| sim.height),
            scenes: sim
                .as_ref()
                .map(|sim| sim.scenes)
                .filter(|scenes| *scenes != SimScenes::Clear),
            side: sim
                .as_ref()
                .map(|sim| sim.side)
                .filter(|side| *side != SimSide::Left),
            occupants_dir: sim.and_then(|sim| sim.occupants_dir),
            trigger_delay_ms,
            trigger_distance_mm,
            burst_frames: camera.burst_frames,
            burst_interval_ms: camera.burst_interval_ms,
        }
    }
}

/// `[retention]` as the file spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetentionFile {
    captures_max_age_days: u32,
    vehicles_max_age_days: u32,
    job_history_days: u32,
    image_quota_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sweep_every_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sweep_cron: Option<String>,
}

impl TryFrom<RetentionFile> for RetentionConfig {
    type Error = String;

    fn try_from(file: RetentionFile) -> Result<Self, String> {
        let sweep = match (file.sweep_every_s, file.sweep_cron) {
            (Some(_), Some(_)) => {
                return Err(not_allowed(
                    "sweep_cron",
                    "give either sweep_every_s or sweep_cron, not both",
                ));
            }
            (None, None) => {
                return Err(missing("sweep_every_s", "give sweep_every_s or sweep_cron"));
            }
            (Some(seconds), None) => SweepSchedule::EverySeconds(seconds),
            (None, Some(expression)) => SweepSchedule::Cron(expression),
        };
        Ok(RetentionConfig {
            captures_max_age_days: file.captures_max_age_days,
            vehicles_max_age_days: file.vehicles_max_age_days,
            job_history_days: file.job_history_days,
            image_quota_bytes: file.image_quota_bytes,
            sweep,
        })
    }
}

impl From<RetentionConfig> for RetentionFile {
    fn from(retention: RetentionConfig) -> Self {
        let (sweep_every_s, sweep_cron) = match retention.sweep {
            SweepSchedule::EverySeconds(seconds) => (Some(seconds), None),
            SweepSchedule::Cron(expression) => (None, Some(expression)),
        };
        RetentionFile {
            captures_max_age_days: retention.captures_max_age_days,
            vehicles_max_age_days: retention.vehicles_max_age_days,
            job_history_days: retention.job_history_days,
            image_quota_bytes: retention.image_quota_bytes,
            sweep_every_s,
            sweep_cron,
        }
    }
}
