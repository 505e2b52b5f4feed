//! USB (UVC) cameras through nokhwa's V4L2 backend. A USB camera has no trigger input, so it
//! runs free into a timestamped ring, and each trigger takes the frame nearest its moment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{ApiBackend, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};
use vod_core::config::usb_device_index;
use vod_core::{Frame, TriggerCommand};

use crate::imageops::{self, UsbFormat};
use crate::ring::FrameRing;
use crate::{Camera, CameraError, FrameTimes, frame_of};

/// One undecoded frame as the camera sent it; decoding waits until a trigger picks it.
#[derive(Debug)]
struct UsbFrame {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
    format: UsbFormat,
}

type SharedRing = Arc<(Mutex<FrameRing<Arc<UsbFrame>>>, Condvar)>;

/// A camera found on the V4L2 bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbListing {
    pub index: String,
    pub name: String,
    pub description: String,
}

/// Every V4L2 capture device.
pub fn discover() -> Result<Vec<UsbListing>, CameraError> {
    let devices = nokhwa::query(ApiBackend::Video4Linux).map_err(|e| CameraError::Device {
        camera: "usb".into(),
        what: "listing V4L2 devices",
        detail: e.to_string(),
    })?;
    Ok(devices
        .into_iter()
        .map(|info| UsbListing {
            index: info.index().to_string(),
            name: info.human_name(),
            description: info.description().to_owned(),
        })
        .collect())
}

/// A free-running USB camera; its capture thread stops when this is dropped.
#[derive(Debug)]
pub struct UsbCamera {
    name: Arc<str>,
    ring: SharedRing,
    stop: Arc<AtomicBool>,
    /// How far from the trigger's moment a frame may lie and still be taken.
    tolerance: Duration,
}

impl UsbCamera {
    /// Opens `device` (`/dev/videoN` or an index N) at its highest frame rate and starts
    /// capturing into a ring of `ring_frames`.
    pub fn open(
        name: Arc<str>,
        device: &str,
        ring_frames: usize,
        tolerance: Duration,
    ) -> Result<Self, CameraError> {
        let index =
            CameraIndex::Index(usb_device_index(device).ok_or_else(|| CameraError::Device {
                camera: name.to_string(),
                what: "naming the USB camera",
                detail: format!("{device:?} is neither /dev/videoN nor an index N"),
            })?);
        let ring: SharedRing = Arc::new((Mutex::new(FrameRing::new(ring_frames)), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        // nokhwa's camera is not Send, so the thread opens it and reports how that went.
        let (opened_tx, opened_rx) = std::sync::mpsc::sync_channel(1);
        let (thread_ring, thread_stop, thread_name) = (ring.clone(), stop.clone(), name.clone());
        std::thread::Builder::new()
            .name(format!("usb:{name}"))
            .spawn(move || {
                let requested = RequestedFormat::new::<RgbFormat>(
                    RequestedFormatType::AbsoluteHighestFrameRate,
                );
                let opened = nokhwa::Camera::new(index, requested).and_then(|mut camera| {
                    camera.open_stream()?;
                    Ok(camera)
                });
                let mut camera = match opened {
                    Ok(camera) => {
                        let _ = opened_tx.send(Ok(()));
                        camera
                    }
                    Err(error) => {
                        let _ = opened_tx.send(Err(error.to_string()));
                        return;
                    }
                };
                while !thread_stop.load(Ordering::Relaxed) {
                    match camera.frame() {
                        Ok(buffer) => {
                            let at = Instant::now();
                            let resolution = buffer.resolution();
                            let frame = UsbFrame {
                                bytes: buffer.buffer().to_vec(),
                                width: resolution.width(),
                                height: resolution.height(),
                                format: usb_format(buffer.source_frame_format()),
                            };
                            let (lock, arrived) = &*thread_ring;
                            if let Ok(mut ring) = lock.lock() {
                                ring.push(at, Arc::new(frame));
                            }
                            arrived.notify_all();
                        }
                        Err(error) => {
                            tracing::warn!(camera = %thread_name, %error, "USB capture stopped.");
                            return;
                        }
                    }
                }
            })
            .map_err(|e| CameraError::Device {
                camera: name.to_string(),
                what: "starting the capture thread",
                detail: e.to_string(),
            })?;
        let opened = opened_rx
            .recv()
            .unwrap_or_else(|_| Err("the capture thread ended".into()));
        if let Err(detail) = opened {
            return Err(CameraError::Device {
                camera: name.to_string(),
                what: "opening the USB camera",
                detail,
            });
        }
        Ok(UsbCamera {
            name,
            ring,
            stop,
            tolerance,
        })
    }

    /// Waits until a frame after `at` has arrived (or `at + tolerance` has passed), then
    /// takes the frame nearest `at`.
    fn pick(&self, at: Instant) -> Result<(Instant, Arc<UsbFrame>), CameraError> {
        let (lock, arrived) = &*self.ring;
        let deadline = at + self.tolerance;
        let poisoned = || CameraError::Device {
            camera: self.name.to_string(),
            what: "reading the frame ring",
            detail: "lock poisoned".into(),
        };
        let mut ring = lock.lock().map_err(|_| poisoned())?;
        while !ring.covers(at) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            ring = arrived.wait_timeout(ring, left).map_err(|_| poisoned())?.0;
        }
        ring.nearest(at, self.tolerance)
            .ok_or_else(|| CameraError::Device {
                camera: self.name.to_string(),
                what: "finding a frame near the trigger",
                detail: format!("none within {} ms", self.tolerance.as_millis()),
            })
    }
}

impl Drop for UsbCamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn usb_format(format: FrameFormat) -> UsbFormat {
    match format {
        FrameFormat::MJPEG => UsbFormat::Mjpeg,
        FrameFormat::YUYV => UsbFormat::Yuyv,
        FrameFormat::NV12 => UsbFormat::Nv12,
        FrameFormat::GRAY => UsbFormat::Gray,
        FrameFormat::RAWRGB => UsbFormat::Rgb,
        FrameFormat::RAWBGR => UsbFormat::Bgr,
    }
}

impl Camera for UsbCamera {
    fn grab(&mut self, trigger: &TriggerCommand, burst_index: u32) -> Result<Frame, CameraError> {
        let at = trigger.fire_at
            + Duration::from_millis(u64::from(trigger.interval_ms) * u64::from(burst_index));
        let (captured_at, picked) = self.pick(at)?;
        let age = chrono::Duration::from_std(captured_at.elapsed()).unwrap_or_default();
        let times = FrameTimes {
            captured_utc: Utc::now() - age,
            device_timestamp_ns: None,
        };
        imageops::decode_usb(&picked.bytes, picked.width, picked.height, picked.format)
            .and_then(|image| frame_of(&self.name, trigger, burst_index, &image, times))
            .map_err(|source| CameraError::Image {
                camera: self.name.to_string(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_is_a_clear_error() {
        let error = UsbCamera::open("cam".into(), "/dev/video99", 4, Duration::from_millis(10))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cam") && error.contains("opening the USB camera"),
            "{error}"
        );
        let error = UsbCamera::open("cam".into(), "front", 4, Duration::from_millis(10))
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"front\""), "{error}");
    }
}
