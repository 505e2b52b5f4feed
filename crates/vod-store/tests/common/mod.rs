//! Helpers shared by the store's integration tests: generated captures and direct reads of
//! the database and image files.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of these helpers"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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
                // A 20 ms trigger delay, frames 40 ms apart.
                captured_utc: detected_utc
                    + TimeDelta::milliseconds(20 + i64::from(burst_index) * 40),
                width: 640,
                height: 480,
                jpeg: jpeg_bytes(sequence, burst_index),
            })
            .collect(),
        occupancy: None,
        test: false,
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

/// Runs the test `child_test` of this test binary as a child process once per entry of
/// `runs`, SIGKILLs it after the given number of acknowledgements and pause, and returns every
/// acknowledged capture id with its sequence number. The child gets `data_dir` in `dir_env`
/// and the first sequence number of its run (run index x 1000) in `sequence_env`, and prints
/// `ACK <capture id> <sequence>` after each commit.
pub fn kill_runs(
    child_test: &str,
    (dir_env, data_dir): (&str, &Path),
    sequence_env: &str,
    runs: &[(u32, Duration)],
) -> BTreeMap<i64, u32> {
    let mut acknowledged = BTreeMap::new();
    for (run, (acks_before_kill, pause)) in runs.iter().enumerate() {
        let first_sequence = u32::try_from(run).expect("small") * 1_000;
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", child_test, "--nocapture", "--test-threads=1"])
            .env(dir_env, data_dir)
            .env(sequence_env, first_sequence.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("child starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut acks_this_run = 0;
        while acks_this_run < *acks_before_kill {
            let line = lines
                .next()
                .expect("the child acknowledges before it is killed")
                .expect("stdout line");
            if let Some((id, sequence)) = parse_ack(&line) {
                acknowledged.insert(id, sequence);
                acks_this_run += 1;
            }
        }
        std::thread::sleep(*pause);
        child.kill().expect("SIGKILL");
        // Lines written before the kill are acknowledgements too.
        for line in lines {
            if let Some((id, sequence)) = parse_ack(&line.expect("stdout line")) {
                acknowledged.insert(id, sequence);
            }
        }
        child.wait().expect("child reaped");
    }
    acknowledged
}

fn parse_ack(line: &str) -> Option<(i64, u32)> {
    // libtest may have begun the line ("test crash_writer ... ") before the child's output.
    let (_, ack) = line.split_once("ACK ")?;
    let mut fields = ack.split(' ');
    let id = fields.next()?.parse().ok()?;
    let sequence = fields.next()?.parse().ok()?;
    Some((id, sequence))
}
