//! What the box tells the cloud and the push endpoints about a capture: one JSON document,
//! and the object keys of the capture's files. Pure: the same capture gives the same keys and
//! the same bytes, so a retry overwrites what an earlier attempt wrote.

use chrono::{DateTime, Utc};
use serde::Serialize;
use vod_core::Occupancy;
use vod_store::CaptureExport;

/// The version of the metadata document; a consumer checks it first.
pub const METADATA_VERSION: u32 = 1;

/// The keys of one capture's objects under `prefix` (empty for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureKeys {
    /// `PREFIX/SITE/YYYY/MM/DD/CAPTURE_UUID`, the detection's date in UTC.
    pub folder: String,
}

impl CaptureKeys {
    pub fn new(prefix: &str, site: &str, capture: &CaptureExport) -> CaptureKeys {
        let date = capture.capture.detected_utc.format("%Y/%m/%d");
        let prefix = prefix.trim_matches('/');
        let folder = if prefix.is_empty() {
            format!("{site}/{date}/{}", capture.capture.uuid)
        } else {
            format!("{prefix}/{site}/{date}/{}", capture.capture.uuid)
        };
        CaptureKeys { folder }
    }

    /// The image of burst index `index`: images are JPEG.
    pub fn image(&self, index: u32) -> String {
        format!("{}/{index}.jpg", self.folder)
    }

    /// The metadata: uploaded last, so its presence means the capture is complete.
    pub fn metadata(&self) -> String {
        format!("{}/metadata.json", self.folder)
    }
}

#[derive(Debug, Serialize)]
pub struct Metadata<'a> {
    pub version: u32,
    pub site: &'a str,
    pub capture: CaptureSection<'a>,
    /// `None` while the vehicle has not left the scan plane (or was not recorded).
    pub vehicle: Option<VehicleSection<'a>>,
    pub occupancy: Option<&'a Occupancy>,
    pub images: Vec<ImageSection>,
}

#[derive(Debug, Serialize)]
pub struct CaptureSection<'a> {
    pub uuid: &'a str,
    pub camera: &'a str,
    pub lane: &'a str,
    pub detected_at: DateTime<Utc>,
    /// `ok`, `no_image` or `images_dropped`.
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
pub struct VehicleSection<'a> {
    pub id: &'a str,
    pub class: Option<&'a str>,
    pub speed_kmh: Option<f64>,
    pub length_mm: Option<i64>,
    pub max_width_mm: Option<i64>,
    pub max_height_mm: Option<i64>,
    pub occupancy_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct ImageSection {
    /// The object key under which the cloud upload stores it.
    pub key: String,
    pub burst_index: u32,
    pub captured_at: DateTime<Utc>,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub sha256: String,
}

impl<'a> Metadata<'a> {
    pub fn of(site: &'a str, keys: &CaptureKeys, capture: &'a CaptureExport) -> Metadata<'a> {
        Metadata {
            version: METADATA_VERSION,
            site,
            capture: CaptureSection {
                uuid: &capture.capture.uuid,
                camera: &capture.capture.camera,
                lane: &capture.capture.lane,
                detected_at: capture.capture.detected_utc,
                status: capture.capture.status.as_str(),
            },
            vehicle: capture.vehicle.as_ref().map(|vehicle| VehicleSection {
                id: &vehicle.id,
                class: vehicle.class.as_deref(),
                speed_kmh: vehicle.speed_kmh,
                length_mm: vehicle.length_mm,
                max_width_mm: vehicle.max_width_mm,
                max_height_mm: vehicle.max_height_mm,
                occupancy_ms: vehicle.occupancy_ms,
            }),
            occupancy: capture.occupancy.as_ref(),
            images: capture
                .images
                .iter()
                .map(|image| ImageSection {
                    key: keys.image(image.burst_index),
                    burst_index: image.burst_index,
                    captured_at: image.captured_utc,
                    width: image.width,
                    height: image.height,
                    bytes: image.byte_len,
                    sha256: image.sha256.clone(),
                })
                .collect(),
        }
    }

    /// The document as bytes. Plain data: serializing it cannot fail.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
