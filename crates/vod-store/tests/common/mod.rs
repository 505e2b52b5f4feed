//! Helpers shared by the store's integration tests: generated captures and direct reads of
//! the database and image files.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of these helpers"
)]

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use prometheus::Registry;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use vod_core::config::StorageConfig;
use vod_core::{Capture, CaptureImage, VehicleId};
use vod_store::{Store, StoreMetrics};

pub fn storage(data_dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: data_dir.to_path_buf(),
    }
}

pub async fn open(data_dir: &Path) -> (Store, Registry) {
    let registry = Registry::new();
    let metrics = StoreMetrics::register(&registry).expect("metrics register");
    let store = Store::open(&storage(data_dir), metrics)
        .await
        .expect("store opens");
    (store, registry)
}

pub fn detected_utc(sequence: u32) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_795_000_000_000 + i64::from(sequence) * 1_500)
        .expect("valid time")
}

pub fn vehicle_id(sequence: u32) -> VehicleId {
    VehicleId::new(detected_utc(sequence), sequence, 7)
}

/// A capture of vehicle `sequence` with `image_count` images whose bytes derive from both.
pub fn capture(sequence: u32, image_count: u32) -> Capture {
    let detected_utc = detected_utc(sequence);
    Capture {
        vehicle_id: vehicle_id(sequence),
        lane: "hov-1".into(),
        camera: "cam-north".into(),
        detected_utc,
        images: (0..image_count)
            .map(|burst_index| CaptureImage {
                burst_index,
                captured_utc: detected_utc + TimeDelta::milliseconds(i64::from(burst_index) * 40),
                width: 640,
                height: 480,
                jpeg: jpeg_bytes(sequence, burst_index),
            })
            .collect(),
        occupancy: None,
    }
}

/// Stand-in JPEG bytes (a JPEG's start and end markers around noise), different for each image.
pub fn jpeg_bytes(sequence: u32, burst_index: u32) -> Vec<u8> {
    let mut state = u64::from(sequence) << 32 | u64::from(burst_index) | 1;
    let len = 20_000 + (sequence as usize * 131 + burst_index as usize * 977) % 30_000;
    let mut bytes = vec![0xFF, 0xD8];
    bytes.extend((0..len).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state.to_le_bytes()[0]
    }));
    bytes.extend([0xFF, 0xD9]);
    bytes
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A second, independent connection to the store's database file.
pub async fn raw_db(data_dir: &Path) -> SqlitePool {
    SqlitePool::connect_with(
        SqliteConnectOptions::new().filename(storage(data_dir).database_path()),
    )
    .await
    .expect("database opens")
}

#[derive(Debug, sqlx::FromRow)]
pub struct ImageRow {
    pub burst_index: u32,
    pub captured_at_ms: i64,
    pub width: u32,
    pub height: u32,
    pub byte_len: u64,
    pub sha256: String,
    pub relative_path: String,
}

pub async fn image_rows(db: &SqlitePool, capture_id: i64) -> Vec<ImageRow> {
    sqlx::query_as(
        "SELECT burst_index, captured_at_ms, width, height, byte_len, sha256, relative_path \
         FROM capture_images WHERE capture_id = ? ORDER BY burst_index",
    )
    .bind(capture_id)
    .fetch_all(db)
    .await
    .expect("image rows")
}

/// The value of the unlabelled sample `name` in `registry`'s text exposition.
pub fn sample(registry: &Registry, name: &str) -> f64 {
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .expect("metrics encode");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} in {text}"))
        .parse()
        .expect("a number")
}

/// Every file under `dir`, recursively, relative to it.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("under dir");
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    files
}
