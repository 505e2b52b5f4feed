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
    /// False once the capture thread ended (the camera went away).
    capturing: Arc<AtomicBool>,
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
        let capturing = Arc::new(AtomicBool::new(true));
        // nokhwa's camera is not Send, so the thread opens it and reports how that went.
        let (opened_tx, opened_rx) = std::sync::mpsc::sync_channel(1);
        let (thread_ring, thread_stop, thread_name) = (ring.clone(), stop.clone(), name.clone());
        let thread_capturing = capturing.clone();
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
                            thread_capturing.store(false, Ordering::Relaxed);
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
            capturing,
            tolerance,
        })
    }

    /// Whether the capture thread still runs.
    fn capturing(&self) -> bool {
        self.capturing.load(Ordering::Relaxed)
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

/// The appliance's USB camera: opened when the box starts if it is there, and opened again
/// at a trigger when it is not (absent at the start, or gone since), at most once per
/// `REOPEN_AFTER`; meanwhile its triggers fail (counted, the vehicle stored without image)
/// and the rest of the box runs on.
#[derive(Debug)]
pub struct ReopeningUsbCamera {
    name: Arc<str>,
    device: String,
    ring_frames: usize,
    tolerance: Duration,
    camera: Option<UsbCamera>,
    next_attempt: Instant,
}

/// How long a USB camera that could not be opened is left alone.
pub const REOPEN_AFTER: Duration = Duration::from_secs(5);

impl ReopeningUsbCamera {
    pub fn new(name: Arc<str>, device: &str, ring_frames: usize, tolerance: Duration) -> Self {
        let mut camera = ReopeningUsbCamera {
            name,
            device: device.to_owned(),
            ring_frames,
            tolerance,
            camera: None,
            next_attempt: Instant::now(),
        };
        if let Err(error) = camera.opened() {
            tracing::error!(%error, "USB camera not available; trying again at triggers.");
        }
        camera
    }

    /// The open camera, opening it if it is closed and the last attempt is long enough ago.
    fn opened(&mut self) -> Result<&mut UsbCamera, CameraError> {
        if self
            .camera
            .as_ref()
            .is_some_and(|camera| !camera.capturing())
        {
            self.camera = None;
            self.next_attempt = Instant::now();
        }
        if self.camera.is_none() {
            if Instant::now() < self.next_attempt {
                return Err(CameraError::Device {
                    camera: self.name.to_string(),
                    what: "opening the USB camera",
                    detail: format!(
                        "not available; next attempt within {} s",
                        REOPEN_AFTER.as_secs()
                    ),
                });
            }
            self.next_attempt = Instant::now() + REOPEN_AFTER;
            let camera = UsbCamera::open(
                self.name.clone(),
                &self.device,
                self.ring_frames,
                self.tolerance,
            )?;
            tracing::info!(camera = %self.name, device = %self.device, "USB camera opened.");
            self.camera = Some(camera);
        }
        self.camera.as_mut().ok_or_else(|| CameraError::Device {
            camera: self.name.to_string(),
            what: "opening the USB camera",
            detail: "not open".into(),
        })
    }
}

impl Camera for ReopeningUsbCamera {
    fn grab(&mut self, trigger: &TriggerCommand, burst_index: u32) -> Result<Frame, CameraError> {
        self.opened()?.grab(trigger, burst_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_camera_fails_its_triggers_and_is_tried_again_later() {
        let mut camera =
            ReopeningUsbCamera::new("cam".into(), "/dev/video99", 4, Duration::from_millis(10));
        let now = Instant::now();
        let trigger = TriggerCommand {
            camera: "cam".into(),
            vehicle_id: vod_core::VehicleId::new(Utc::now(), 1, 1),
            lane: "lane-1".into(),
            fire_at: now,
            frames: 1,
            interval_ms: 0,
            detected_at: now,
            detected_utc: Utc::now(),
            test: false,
        };
        let error = camera.grab(&trigger, 0).unwrap_err().to_string();
        assert!(error.contains("next attempt"), "{error}");
        // Due again: the camera is opened again (and still absent).
        camera.next_attempt = Instant::now();
        let error = camera.grab(&trigger, 0).unwrap_err().to_string();
        assert!(
            error.contains("/dev/video99") || error.contains("opening"),
            "{error}"
        );
        assert!(camera.next_attempt > Instant::now());
    }

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
