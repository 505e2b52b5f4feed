//! Raw bursts on disk, for `[record] bursts` and `vod replay`: each burst a folder `<vehicle
//! id>/<camera>/` with `burst.json` (the trigger and each frame's metadata) and one lossless
//! PNG a frame. The vision stage records a burst only while evidence mode is on (raw frames
//! are never kept otherwise). A writer thread of its own encodes and writes; the stage only
//! hands the burst to a small bounded queue (raw frames are megabytes each), and a full queue
//! drops the burst from the recording and counts it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use chrono::{DateTime, Utc};
use prometheus::IntCounter;
use serde::{Deserialize, Serialize};
use vod_core::{Burst, Frame, PixelFormat, TriggerCommand, VehicleId};

/// Bursts waiting for the writer: 4 of 2 frames of 1280x1024 BGR hold 31 MB.
const QUEUE_BURSTS: usize = 4;

/// `burst.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurstRecord {
    pub vehicle_id: VehicleId,
    pub lane: String,
    pub camera: String,
    pub detected_utc: DateTime<Utc>,
    pub interval_ms: u32,
    pub test: bool,
    pub frames: Vec<FrameRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    pub burst_index: u32,
    pub captured_utc: DateTime<Utc>,
    pub device_timestamp_ns: Option<u64>,
    pub file: String,
}

/// The folder of one burst under `dir`.
pub fn burst_dir(dir: &Path, vehicle_id: VehicleId, camera: &str) -> PathBuf {
    dir.join(vehicle_id.to_string()).join(camera)
}

#[derive(Debug, thiserror::Error)]
pub enum BurstFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {source}")]
    Image {
        path: PathBuf,
        source: image::ImageError,
    },
}

/// A handle to the recording of raw bursts; clones write to the same folder.
#[derive(Debug, Clone)]
pub struct BurstRecorder {
    queue: SyncSender<Burst>,
    dropped: IntCounter,
}

impl BurstRecorder {
    /// Starts the writer thread, which writes under `dir` until the last handle is dropped.
    pub fn create(dir: PathBuf, dropped: IntCounter) -> std::io::Result<BurstRecorder> {
        std::fs::create_dir_all(&dir)?;
        let (queue, bursts) = sync_channel(QUEUE_BURSTS);
        std::thread::Builder::new()
            .name("burst-recorder".to_owned())
            .spawn(move || write_all(&dir, &bursts))?;
        Ok(BurstRecorder { queue, dropped })
    }

    /// Queues `burst` (its frames are shared, not copied).
    pub fn record(&self, burst: &Burst) {
        if self.queue.try_send(burst.clone()).is_err() {
            self.dropped.inc();
        }
    }
}

fn write_all(dir: &Path, bursts: &Receiver<Burst>) {
    while let Ok(burst) = bursts.recv() {
        if let Err(error) = write_burst(dir, &burst) {
            tracing::warn!(%error, "A raw burst could not be recorded.");
        }
    }
}

/// Writes one burst's folder: the frames first, `burst.json` last (a folder without it was
/// cut short and is not read back).
pub fn write_burst(dir: &Path, burst: &Burst) -> Result<PathBuf, BurstFileError> {
    let trigger = &burst.trigger;
    let folder = burst_dir(dir, trigger.vehicle_id, &trigger.camera);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BurstFileError::Io { path, source }
    };
    std::fs::create_dir_all(&folder).map_err(io(&folder))?;
    let mut frames = Vec::with_capacity(burst.frames.len());
    for frame in &burst.frames {
        let file = format!("frame_{}.png", frame.burst_index);
        let path = folder.join(&file);
        save_png(frame, &path).map_err(|source| BurstFileError::Image {
            path: path.clone(),
            source,
        })?;
        frames.push(FrameRecord {
            burst_index: frame.burst_index,
            captured_utc: frame.captured_utc,
            device_timestamp_ns: frame.device_timestamp_ns,
            file,
        });
    }
    let record = BurstRecord {
        vehicle_id: trigger.vehicle_id,
        lane: trigger.lane.to_string(),
        camera: trigger.camera.to_string(),
        detected_utc: trigger.detected_utc,
        interval_ms: trigger.interval_ms,
        test: trigger.test,
        frames,
    };
    let path = folder.join("burst.json");
    let json = serde_json::to_vec_pretty(&record).map_err(|source| BurstFileError::Json {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&path, json).map_err(io(&path))?;
    Ok(folder)
}

fn save_png(frame: &Frame, path: &Path) -> Result<(), image::ImageError> {
    let (w, h) = (frame.width, frame.height);
    let shape = || {
        image::ImageError::Parameter(image::error::ParameterError::from_kind(
            image::error::ParameterErrorKind::DimensionMismatch,
        ))
    };
    match frame.pixel_format {
        PixelFormat::Mono8 => image::GrayImage::from_raw(w, h, frame.pixels.clone())
            .ok_or_else(shape)?
            .save(path),
        PixelFormat::Bgr8 => image::RgbImage::from_raw(w, h, swap_red_and_blue(&frame.pixels))
            .ok_or_else(shape)?
            .save(path),
    }
}

/// BGR to RGB, or back: three bytes a pixel, the first and the last swapped.
fn swap_red_and_blue(pixels: &[u8]) -> Vec<u8> {
    pixels
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect()
}

/// The recorded burst for `trigger`'s vehicle and camera, its frames as the camera gave them
/// (BGR, or mono for a monochrome PNG); `None` when none was recorded (or its folder was cut
/// short).
pub fn read_burst(
    dir: &Path,
    trigger: &TriggerCommand,
) -> Result<Option<Vec<Frame>>, BurstFileError> {
    let folder = burst_dir(dir, trigger.vehicle_id, &trigger.camera);
    let path = folder.join("burst.json");
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(BurstFileError::Io { path, source }),
    };
    let record: BurstRecord =
        serde_json::from_slice(&text).map_err(|source| BurstFileError::Json {
            path: path.clone(),
            source,
        })?;
    let mut frames = Vec::with_capacity(record.frames.len());
    for meta in &record.frames {
        let path = folder.join(&meta.file);
        let decoded = image::open(&path).map_err(|source| BurstFileError::Image {
            path: path.clone(),
            source,
        })?;
        let (width, height) = (decoded.width(), decoded.height());
        let (pixel_format, pixels) = match decoded {
            image::DynamicImage::ImageLuma8(grey) => (PixelFormat::Mono8, grey.into_raw()),
            other => (
                PixelFormat::Bgr8,
                swap_red_and_blue(&other.to_rgb8().into_raw()),
            ),
        };
        frames.push(Frame {
            camera: Arc::from(record.camera.as_str()),
            vehicle_id: record.vehicle_id,
            lane: Arc::from(record.lane.as_str()),
            burst_index: meta.burst_index,
            captured_utc: meta.captured_utc,
            device_timestamp_ns: meta.device_timestamp_ns,
            width,
            height,
            pixel_format,
            pixels,
        });
    }
    Ok(Some(frames))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn frame(burst_index: u32, pixel_format: PixelFormat, vehicle_id: VehicleId) -> Frame {
        let (width, height) = (5, 3);
        let len = (width * height) as usize * pixel_format.bytes_per_pixel();
        Frame {
            camera: Arc::from("cam-1"),
            vehicle_id,
            lane: Arc::from("lane-1"),
            burst_index,
            captured_utc: DateTime::from_timestamp(1_780_000_000, 5_000_000).unwrap(),
            device_timestamp_ns: Some(42),
            width,
            height,
            pixel_format,
            pixels: (0..len).map(|i| (i * 7 % 256) as u8).collect(),
        }
    }

    fn trigger(vehicle_id: VehicleId, frames: u32) -> TriggerCommand {
        TriggerCommand {
            camera: Arc::from("cam-1"),
            vehicle_id,
            lane: Arc::from("lane-1"),
            fire_at: Instant::now(),
            frames,
            interval_ms: 40,
            detected_at: Instant::now(),
            detected_utc: Utc::now(),
            test: false,
        }
    }

    #[test]
    fn a_recorded_burst_reads_back_pixel_for_pixel() {
        let dir = tempfile::tempdir().unwrap();
        for (i, format) in [PixelFormat::Bgr8, PixelFormat::Mono8]
            .into_iter()
            .enumerate()
        {
            let vehicle_id = VehicleId::new(Utc::now(), i as u32, 1);
            let frames = || (0..2).map(|n| frame(n, format, vehicle_id));
            let burst = Burst {
                trigger: trigger(vehicle_id, 2),
                frames: frames().map(Arc::new).collect(),
            };
            write_burst(dir.path(), &burst).unwrap();
            let read = read_burst(dir.path(), &burst.trigger).unwrap().unwrap();
            assert_eq!(read, frames().collect::<Vec<_>>(), "{format:?}");
        }
        let other = trigger(VehicleId::new(Utc::now(), 9, 1), 2);
        assert_eq!(read_burst(dir.path(), &other).unwrap(), None);
    }

    #[test]
    fn the_recorder_writes_on_its_own_thread_and_counts_what_it_drops() {
        let dir = tempfile::tempdir().unwrap();
        let dropped = IntCounter::new("dropped", "dropped").unwrap();
        let recorder = BurstRecorder::create(dir.path().to_owned(), dropped.clone()).unwrap();
        let vehicle_id = VehicleId::new(Utc::now(), 1, 1);
        let burst = Burst {
            trigger: trigger(vehicle_id, 1),
            frames: vec![Arc::new(frame(0, PixelFormat::Bgr8, vehicle_id))],
        };
        recorder.record(&burst);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while read_burst(dir.path(), &burst.trigger)
            .ok()
            .flatten()
            .is_none()
        {
            assert!(Instant::now() < deadline, "never written");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(dropped.get(), 0);
    }
}
