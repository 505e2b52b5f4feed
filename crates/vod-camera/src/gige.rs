//! GigE Vision (any GenICam camera Aravis can open): discovery, configuration, triggered
//! exposures from a pool of stream buffers, stream statistics, and reconnection after the
//! camera drops off the network.

use std::sync::{Arc, Mutex};

use aravis::prelude::*;
use aravis::{Buffer, BufferStatus, Stream};
use chrono::{DateTime, Utc};
use vod_core::config::{CameraConfig, CameraSource};
use vod_core::{Frame, TriggerCommand};

use crate::imageops::{Processing, Roi, SensorFormat};
use crate::{Camera, CameraError, CameraMetrics, FrameTimes, frame_of};

/// Aravis keeps its device list in global state; every use of it goes through this lock.
static ARAVIS: Mutex<()> = Mutex::new(());

/// What starts an exposure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerMode {
    /// The appliance sends the GenICam `TriggerSoftware` command.
    Software,
    /// An electrical input of the camera (for example `Line1`) starts the exposure.
    Line(String),
    /// No trigger: the camera streams at its frame rate and each exposure takes the next
    /// frame (benchmarks, focusing).
    FreeRun,
}

/// How to set a camera up; every value is written to the camera on each (re)connection.
#[derive(Debug, Clone, PartialEq)]
pub struct GigeSettings {
    /// An Aravis device id (`Vendor-Serial`), or the camera's IP address.
    pub device_id: String,
    pub pixel_format: SensorFormat,
    pub exposure_micros: f64,
    pub gain_db: f64,
    /// Caps the frame rate where the camera supports it.
    pub frame_rate_hz: Option<f64>,
    /// The sensor region to read out; the full sensor when absent.
    pub roi: Option<Roi>,
    pub trigger: TriggerMode,
    /// Stream buffers kept queued at the camera.
    pub buffer_count: u32,
    /// How long to wait for a frame after a trigger.
    pub frame_timeout_ms: u32,
    pub processing: Processing,
}

impl From<&vod_core::config::GigeSourceConfig> for GigeSettings {
    fn from(config: &vod_core::config::GigeSourceConfig) -> Self {
        let roi = config.roi.map(|roi| Roi {
            x: roi.x,
            y: roi.y,
            width: roi.width,
            height: roi.height,
        });
        GigeSettings {
            device_id: config.device_id.clone(),
            pixel_format: config.pixel_format.into(),
            exposure_micros: config.exposure_micros,
            gain_db: config.gain_db,
            frame_rate_hz: config.frame_rate_hz,
            roi,
            trigger: if config.trigger_source.eq_ignore_ascii_case("software") {
                TriggerMode::Software
            } else {
                TriggerMode::Line(config.trigger_source.clone())
            },
            buffer_count: config.buffer_count,
            frame_timeout_ms: config.frame_timeout_ms,
            processing: Processing {
                clahe_clip_limit: config.clahe_clip_limit,
                crop: None,
                resize: None,
            },
        }
    }
}

/// One camera found on the network or bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceListing {
    pub id: String,
    pub vendor: String,
    pub model: String,
    pub serial: String,
    pub protocol: String,
    pub address: String,
}

/// Makes Aravis's in-process simulated camera `Fake_1` discoverable (tests and benchmarks).
pub fn enable_fake_interface() {
    let _aravis = lock_aravis();
    ffi::enable_interface(c"Fake");
}

/// Every camera Aravis can find now (GigE Vision, USB3 Vision, and Fake when enabled).
pub fn discover() -> Vec<DeviceListing> {
    let _aravis = lock_aravis();
    ffi::device_list()
}

fn lock_aravis() -> std::sync::MutexGuard<'static, ()> {
    ARAVIS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One exposure as the camera delivered it, before decoding: a view into the stream buffer,
/// valid while the buffer is out of the stream (see [`GigeCamera::expose_with`]).
#[derive(Debug)]
pub struct Exposure<'buffer> {
    pub raw: &'buffer [u8],
    pub width: u32,
    pub height: u32,
    pub format: SensorFormat,
    pub frame_id: u64,
    /// The camera's own clock, in nanoseconds (its epoch is the camera's).
    pub device_timestamp_ns: u64,
    /// When the host received the frame.
    pub host_utc: DateTime<Utc>,
}

struct Connection {
    camera: aravis::Camera,
    stream: Stream,
    width: u32,
    height: u32,
    /// Stream statistics already added to the counters: completed, failures, underruns.
    reported: (u64, u64, u64),
}

/// A GenICam camera that reconnects by itself: when an exposure fails because the camera is
/// gone, the next exposure opens it again.
pub struct GigeCamera {
    name: Arc<str>,
    settings: GigeSettings,
    metrics: CameraMetrics,
    connection: Option<Connection>,
    /// Connections made so far; every one after the first is a recovery.
    connections: u64,
}

impl std::fmt::Debug for GigeCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GigeCamera")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("connected", &self.connection.is_some())
            .field("connections", &self.connections)
            .finish()
    }
}

impl GigeCamera {
    /// Opens the camera now, so that a wrong id or setting is reported at start-up.
    pub fn open(
        name: Arc<str>,
        settings: GigeSettings,
        metrics: CameraMetrics,
    ) -> Result<Self, CameraError> {
        let mut camera = GigeCamera::unconnected(name, settings, metrics);
        camera.connect()?;
        Ok(camera)
    }

    fn unconnected(name: Arc<str>, settings: GigeSettings, metrics: CameraMetrics) -> Self {
        GigeCamera {
            name,
            settings,
            metrics,
            connection: None,
            connections: 0,
        }
    }

    /// For the appliance: a camera that is absent at start-up is logged and opened by the
    /// first trigger that finds it; until then each trigger yields "no image".
    pub fn start(name: Arc<str>, settings: GigeSettings, metrics: CameraMetrics) -> Self {
        let mut camera = GigeCamera::unconnected(name, settings, metrics);
        if let Err(error) = camera.connect() {
            tracing::error!(%error, "Camera is not available; retrying at each trigger.");
        }
        camera
    }

    pub fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    /// The trigger source the camera reports (`Software`, `Line1`, ...).
    pub fn trigger_source(&self) -> Result<String, CameraError> {
        let connection = self
            .connection
            .as_ref()
            .ok_or_else(|| self.error("reading the trigger source", "not connected"))?;
        connection
            .camera
            .trigger_source()
            .map(|source| source.to_string())
            .map_err(|e| self.error("reading the trigger source", e))
    }

    fn error(&self, what: &'static str, source: impl std::fmt::Display) -> CameraError {
        CameraError::Device {
            camera: self.name.to_string(),
            what,
            detail: source.to_string(),
        }
    }

    fn connect(&mut self) -> Result<(), CameraError> {
        let settings = &self.settings;
        let camera = {
            let _aravis = lock_aravis();
            let device = open_by(&settings.device_id, &ffi::device_list());
            aravis::Camera::new(Some(&device)).map_err(|e| self.error("opening the camera", e))?
        };
        let configure = |camera: &aravis::Camera| -> Result<(u32, u32), aravis::glib::Error> {
            camera.set_pixel_format_from_string(settings.pixel_format.genicam_name())?;
            if let Some(roi) = settings.roi {
                camera.set_region(
                    roi.x as i32,
                    roi.y as i32,
                    roi.width as i32,
                    roi.height as i32,
                )?;
            }
            camera.set_exposure_time(settings.exposure_micros)?;
            if camera.is_gain_available()? {
                camera.set_gain(settings.gain_db)?;
            }
            if let Some(rate) = settings.frame_rate_hz {
                camera.set_frame_rate(rate)?;
            }
            match &settings.trigger {
                TriggerMode::Software => camera.set_trigger("Software")?,
                TriggerMode::Line(line) => camera.set_trigger(line)?,
                TriggerMode::FreeRun => camera.clear_triggers()?,
            }
            let (_, _, width, height) = camera.region()?;
            Ok((width as u32, height as u32))
        };
        let (width, height) = configure(&camera).map_err(|e| self.error("configuring", e))?;
        let payload = camera
            .payload()
            .map_err(|e| self.error("reading the payload size", e))?;
        let stream = camera
            .create_stream()
            .map_err(|e| self.error("opening the stream", e))?;
        for _ in 0..self.settings.buffer_count.max(1) {
            stream.push_buffer(Buffer::new_allocate(payload as usize));
        }
        camera
            .start_acquisition()
            .map_err(|e| self.error("starting acquisition", e))?;
        self.connections += 1;
        if self.connections > 1 {
            self.metrics
                .reconnects_total
                .with_label_values(&[&self.name])
                .inc();
            tracing::warn!(camera = %self.name, "Camera reconnected.");
        } else {
            tracing::info!(camera = %self.name, device = %self.settings.device_id, width, height, "Camera opened.");
        }
        self.connection = Some(Connection {
            camera,
            stream,
            width,
            height,
            reported: (0, 0, 0),
        });
        Ok(())
    }

    /// Triggers (in software mode), waits for one frame and hands it to `use_frame` straight
    /// from the stream buffer, which goes back to the stream afterwards; reconnects first if
    /// needed.
    pub fn expose_with<R>(
        &mut self,
        use_frame: impl FnOnce(&Exposure<'_>) -> R,
    ) -> Result<R, CameraError> {
        if self.connection.is_none() {
            self.connect()?;
        }
        let result = self.expose_connected(use_frame);
        self.report_statistics();
        if let Err(CameraError::Device { .. }) = &result {
            // The camera may be gone; drop it so the next exposure reconnects.
            if let Some(connection) = self.connection.take() {
                let _ = connection.camera.stop_acquisition();
            }
        }
        result
    }

    fn expose_connected<R>(
        &mut self,
        use_frame: impl FnOnce(&Exposure<'_>) -> R,
    ) -> Result<R, CameraError> {
        let Some(connection) = &self.connection else {
            return Err(self.error("exposing", "not connected"));
        };
        if self.settings.trigger == TriggerMode::Software {
            connection
                .camera
                .software_trigger()
                .map_err(|e| self.error("sending the software trigger", e))?;
        }
        let timeout_micros = u64::from(self.settings.frame_timeout_ms) * 1000;
        let buffer = connection
            .stream
            .timeout_pop_buffer(timeout_micros)
            .ok_or_else(|| self.error("waiting for a frame", "timed out"))?;
        let host_utc = Utc::now();
        let status = buffer.status();
        let result = if status == BufferStatus::Success {
            let raw = ffi::image_data(&buffer);
            let wanted = connection.width as usize
                * connection.height as usize
                * self.settings.pixel_format.bytes_per_pixel();
            if raw.len() == wanted {
                Ok(use_frame(&Exposure {
                    raw,
                    width: connection.width,
                    height: connection.height,
                    format: self.settings.pixel_format,
                    frame_id: buffer.frame_id(),
                    device_timestamp_ns: buffer.timestamp(),
                    host_utc,
                }))
            } else {
                Err(CameraError::BadBuffer {
                    camera: self.name.to_string(),
                    detail: format!("{} bytes, expected {wanted}", raw.len()),
                })
            }
        } else {
            Err(CameraError::BadBuffer {
                camera: self.name.to_string(),
                detail: format!("buffer status {status:?}"),
            })
        };
        connection.stream.push_buffer(buffer);
        result
    }

    /// Adds what the stream counted since the last report to the counters.
    fn report_statistics(&mut self) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let now = connection.stream.statistics();
        let before = std::mem::replace(&mut connection.reported, now);
        let label = [&*self.name];
        let m = &self.metrics;
        m.stream_completed_total
            .with_label_values(&label)
            .inc_by(now.0.saturating_sub(before.0));
        m.stream_failures_total
            .with_label_values(&label)
            .inc_by(now.1.saturating_sub(before.1));
        m.stream_underruns_total
            .with_label_values(&label)
            .inc_by(now.2.saturating_sub(before.2));
    }
}

impl Drop for GigeCamera {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            let _ = connection.camera.stop_acquisition();
        }
    }
}

impl GigeCamera {
    /// Sets exposure and gain, on the camera now if it is connected, and for every
    /// reconnection.
    pub fn set_exposure_and_gain(
        &mut self,
        exposure_micros: f64,
        gain_db: f64,
    ) -> Result<(), CameraError> {
        if let Some(connection) = &self.connection {
            connection
                .camera
                .set_exposure_time(exposure_micros)
                .map_err(|e| self.error("setting the exposure", e))?;
            if connection
                .camera
                .is_gain_available()
                .map_err(|e| self.error("reading the gain", e))?
            {
                connection
                    .camera
                    .set_gain(gain_db)
                    .map_err(|e| self.error("setting the gain", e))?;
            }
        }
        self.settings.exposure_micros = exposure_micros;
        self.settings.gain_db = gain_db;
        tracing::info!(camera = %self.name, exposure_micros, gain_db, "Camera settings applied.");
        Ok(())
    }

    /// The exposure time the camera reports, in microseconds.
    pub fn exposure_micros(&self) -> Result<f64, CameraError> {
        let connection = self
            .connection
            .as_ref()
            .ok_or_else(|| self.error("reading the exposure", "not connected"))?;
        connection
            .camera
            .exposure_time()
            .map_err(|e| self.error("reading the exposure", e))
    }
}

impl Camera for GigeCamera {
    fn apply_settings(&mut self, config: &CameraConfig) -> Result<(), CameraError> {
        let CameraSource::Gige(gige) = &config.source else {
            return Ok(());
        };
        if (gige.exposure_micros, gige.gain_db)
            == (self.settings.exposure_micros, self.settings.gain_db)
        {
            return Ok(());
        }
        self.set_exposure_and_gain(gige.exposure_micros, gige.gain_db)
    }

    fn grab(&mut self, trigger: &TriggerCommand, burst_index: u32) -> Result<Frame, CameraError> {
        let processing = self.settings.processing;
        let name = self.name.clone();
        self.expose_with(|exposure| {
            let image = processing.run(
                exposure.raw,
                exposure.width,
                exposure.height,
                exposure.format,
            )?;
            let times = FrameTimes {
                captured_utc: exposure.host_utc,
                device_timestamp_ns: Some(exposure.device_timestamp_ns),
            };
            frame_of(&name, trigger, burst_index, &image, times)
        })?
        .map_err(|source| CameraError::Image {
            camera: name.to_string(),
            source,
        })
    }
}

/// What to open a camera by: a GigE Vision camera named by the id `vod camera list` prints is
/// opened by its address. By id, Aravis streams through the interface the discovery answer
/// came in on, which need not be the one the camera sends its stream to (a camera on loopback
/// answered on another interface and no frame ever arrived); by address it takes the route
/// to it. Anything else (an address, a USB3 Vision or Fake id) is opened as given.
fn open_by(device_id: &str, listing: &[DeviceListing]) -> String {
    if device_id.parse::<std::net::IpAddr>().is_ok() {
        return device_id.to_owned();
    }
    listing
        .iter()
        .find(|d| d.id == device_id && d.protocol == "GigEVision" && !d.address.is_empty())
        .map_or_else(|| device_id.to_owned(), |d| d.address.clone())
}

/// The Aravis calls the safe binding lacks: enabling an interface, the device list with
/// serial numbers, and a buffer's image without a copy.
#[allow(unsafe_code)]
mod ffi {
    use std::ffi::{CStr, c_char};

    use aravis::Buffer;
    use aravis::glib::translate::ToGlibPtr;

    use super::DeviceListing;

    /// The image bytes of a buffer popped from a stream, borrowed for as long as the buffer.
    pub(super) fn image_data(buffer: &Buffer) -> &[u8] {
        let mut size = 0usize;
        // SAFETY: the buffer is out of the stream and owned by the caller, so Aravis does not
        // write to its memory while the borrow of `buffer` lasts.
        unsafe {
            let data = aravis_sys::arv_buffer_get_image_data(buffer.to_glib_none().0, &mut size);
            if data.is_null() || size == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(data.cast::<u8>(), size)
            }
        }
    }

    pub(super) fn enable_interface(name: &CStr) {
        // SAFETY: `name` is NUL-terminated; callers hold the ARAVIS lock.
        unsafe { aravis_sys::arv_enable_interface(name.as_ptr()) };
    }

    pub(super) fn device_list() -> Vec<DeviceListing> {
        let text = |ptr: *const c_char| {
            if ptr.is_null() {
                String::new()
            } else {
                // SAFETY: Aravis returns NUL-terminated strings it owns until the next
                // update of the list, which cannot happen while callers hold the ARAVIS lock.
                unsafe { CStr::from_ptr(ptr) }
                    .to_string_lossy()
                    .into_owned()
            }
        };
        // SAFETY: index-based reads of the list just updated, under the ARAVIS lock.
        unsafe {
            aravis_sys::arv_update_device_list();
            (0..aravis_sys::arv_get_n_devices())
                .map(|i| DeviceListing {
                    id: text(aravis_sys::arv_get_device_id(i)),
                    vendor: text(aravis_sys::arv_get_device_vendor(i)),
                    model: text(aravis_sys::arv_get_device_model(i)),
                    serial: text(aravis_sys::arv_get_device_serial_nbr(i)),
                    protocol: text(aravis_sys::arv_get_device_protocol(i)),
                    address: text(aravis_sys::arv_get_device_address(i)),
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests;
