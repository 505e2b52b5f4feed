//! GigE acquisition against Aravis's in-process Fake camera and against the
//! `arv-fake-gv-camera-0.8` GigE Vision simulator on loopback, which these tests start.

use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use opencv::prelude::*;
use prometheus::Registry;

use super::*;
use crate::imageops::{ALL_SENSOR_FORMATS, decode};

/// The tests share Aravis's fake devices and the GigE Vision port, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn settings(device_id: &str, pixel_format: SensorFormat) -> GigeSettings {
    GigeSettings {
        device_id: device_id.to_owned(),
        pixel_format,
        exposure_micros: 2000.0,
        gain_db: 1.0,
        frame_rate_hz: None,
        roi: None,
        trigger: TriggerMode::Software,
        buffer_count: 4,
        frame_timeout_ms: 2000,
        processing: Processing::default(),
    }
}

fn metrics() -> CameraMetrics {
    CameraMetrics::register(&Registry::new()).unwrap()
}

fn count(counter: &prometheus::IntCounterVec, camera: &str) -> u64 {
    counter.with_label_values(&[camera]).get()
}

/// An exposure copied out of the stream buffer, for assertions.
struct Taken {
    raw: Vec<u8>,
    width: u32,
    height: u32,
    frame_id: u64,
    device_timestamp_ns: u64,
}

fn expose(camera: &mut GigeCamera) -> Result<Taken, CameraError> {
    camera.expose_with(|exposure| Taken {
        raw: exposure.raw.to_vec(),
        width: exposure.width,
        height: exposure.height,
        frame_id: exposure.frame_id,
        device_timestamp_ns: exposure.device_timestamp_ns,
    })
}

#[test]
fn the_fake_camera_is_discovered() {
    let _serial = serial();
    enable_fake_interface();
    let devices = discover();
    let fake = devices
        .iter()
        .find(|d| d.id.contains("Fake"))
        .unwrap_or_else(|| panic!("no fake camera in {devices:?}"));
    assert!(
        !fake.model.is_empty() && !fake.serial.is_empty(),
        "{fake:?}"
    );
}

#[test]
fn software_triggers_each_yield_one_frame_and_the_stream_counts_them() {
    let _serial = serial();
    enable_fake_interface();
    let metrics = metrics();
    let mut camera = GigeCamera::open(
        "fake".into(),
        settings("Fake_1", SensorFormat::Mono8),
        metrics.clone(),
    )
    .unwrap();
    assert_eq!(camera.trigger_source().unwrap(), "Software");
    let mut last_frame_id = None;
    for _ in 0..5 {
        let exposure = expose(&mut camera).unwrap();
        assert_eq!(
            exposure.raw.len(),
            (exposure.width * exposure.height) as usize
        );
        assert!(
            exposure.raw.iter().any(|&b| b != 0),
            "the fake camera draws a pattern"
        );
        if let Some(last) = last_frame_id {
            assert!(
                exposure.frame_id > last,
                "{} after {last}",
                exposure.frame_id
            );
        }
        last_frame_id = Some(exposure.frame_id);
    }
    assert_eq!(count(&metrics.stream_completed_total, "fake"), 5);
    assert_eq!(count(&metrics.stream_failures_total, "fake"), 0);
    assert_eq!(count(&metrics.reconnects_total, "fake"), 0);
}

#[test]
fn every_pixel_format_the_fake_camera_offers_decodes() {
    let _serial = serial();
    enable_fake_interface();
    let offered: Vec<String> = aravis::Camera::new(Some("Fake_1"))
        .unwrap()
        .dup_available_pixel_formats_as_strings()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let ours: Vec<SensorFormat> = ALL_SENSOR_FORMATS
        .into_iter()
        .filter(|f| offered.iter().any(|o| o == f.genicam_name()))
        .collect();
    assert!(ours.contains(&SensorFormat::Mono8), "{offered:?}");
    assert!(ours.len() >= 2, "only {ours:?} of {offered:?}");
    for format in ours {
        let mut camera =
            GigeCamera::open("fake".into(), settings("Fake_1", format), metrics()).unwrap();
        let exposure = expose(&mut camera).unwrap();
        assert_eq!(
            exposure.raw.len(),
            (exposure.width * exposure.height) as usize * format.bytes_per_pixel(),
            "{format:?}"
        );
        let image = decode(&exposure.raw, exposure.width, exposure.height, format).unwrap();
        assert_eq!(image.cols() as u32, exposure.width, "{format:?}");
    }
}

#[test]
fn the_region_of_interest_sets_the_frame_size() {
    let _serial = serial();
    enable_fake_interface();
    let mut settings = settings("Fake_1", SensorFormat::Mono8);
    settings.roi = Some(Roi {
        x: 16,
        y: 8,
        width: 320,
        height: 240,
    });
    settings.frame_rate_hz = Some(50.0);
    let mut camera = GigeCamera::open("fake".into(), settings, metrics()).unwrap();
    let exposure = expose(&mut camera).unwrap();
    assert_eq!((exposure.width, exposure.height), (320, 240));
    assert_eq!(exposure.raw.len(), 320 * 240);
}

#[test]
fn a_line_trigger_mode_arms_the_camera_on_that_line() {
    let _serial = serial();
    enable_fake_interface();
    let sources = aravis::Camera::new(Some("Fake_1"))
        .unwrap()
        .dup_available_trigger_sources()
        .unwrap();
    let line = sources
        .iter()
        .find(|s| s.as_str() != "Software")
        .unwrap_or_else(|| panic!("no hardware trigger source in {sources:?}"))
        .to_string();
    let mut settings = settings("Fake_1", SensorFormat::Mono8);
    settings.trigger = TriggerMode::Line(line.clone());
    let camera = GigeCamera::open("fake".into(), settings.clone(), metrics()).unwrap();
    assert_eq!(camera.trigger_source().unwrap(), line);

    settings.trigger = TriggerMode::Line("NoSuchLine".into());
    let error = GigeCamera::open("fake".into(), settings, metrics())
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            CameraError::Device {
                what: "configuring",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn an_unknown_device_is_a_clear_error() {
    let _serial = serial();
    let error = GigeCamera::open(
        "x".into(),
        settings("No-Such-Camera", SensorFormat::Mono8),
        metrics(),
    )
    .err()
    .unwrap();
    assert!(
        matches!(
            error,
            CameraError::Device {
                what: "opening the camera",
                ..
            }
        ),
        "{error}"
    );
}

/// `arv-fake-gv-camera-0.8` serving GigE Vision on 127.0.0.1; killed when dropped.
struct FakeGvCamera(Child);

impl FakeGvCamera {
    fn start() -> Self {
        let child = Command::new("arv-fake-gv-camera-0.8")
            .args(["-i", "127.0.0.1"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("arv-fake-gv-camera-0.8 (Debian aravis-tools) must be installed");
        FakeGvCamera(child)
    }

    /// Opens the camera once the simulator answers.
    fn open(&self, settings: &GigeSettings, metrics: &CameraMetrics) -> GigeCamera {
        let mut last_error = None;
        for _ in 0..50 {
            match GigeCamera::open("gv".into(), settings.clone(), metrics.clone()) {
                Ok(camera) => return camera,
                Err(error) => last_error = Some(error),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the GigE Vision simulator never answered: {last_error:?}");
    }
}

impl Drop for FakeGvCamera {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn only_a_listed_gige_id_is_opened_by_its_address() {
    let listing = [DeviceListing {
        id: "Aravis-Fake-GV01".into(),
        vendor: "Aravis".into(),
        model: "Fake".into(),
        serial: "GV01".into(),
        protocol: "GigEVision".into(),
        address: "127.0.0.1".into(),
    }];
    assert_eq!(open_by("Aravis-Fake-GV01", &listing), "127.0.0.1");
    assert_eq!(open_by("10.0.0.7", &listing), "10.0.0.7");
    assert_eq!(open_by("Fake_1", &listing), "Fake_1");
}

#[test]
fn a_gige_camera_that_disappears_and_comes_back_is_reconnected() {
    let _serial = serial();
    let metrics = metrics();
    let mut settings = settings("127.0.0.1", SensorFormat::Mono8);
    settings.frame_timeout_ms = 1000;
    let simulator = FakeGvCamera::start();
    let mut camera = simulator.open(&settings, &metrics);
    let first = expose(&mut camera).unwrap();
    assert_eq!(first.raw.len(), (first.width * first.height) as usize);
    assert!(first.device_timestamp_ns > 0);

    drop(simulator);
    assert!(expose(&mut camera).is_err());
    assert!(!camera.is_connected());

    let simulator = FakeGvCamera::start();
    let mut recovered = None;
    for _ in 0..50 {
        if let Ok(exposure) = expose(&mut camera) {
            recovered = Some(exposure);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let exposure = recovered.expect("no frame after the camera came back");
    assert_eq!(
        (exposure.width, exposure.height),
        (first.width, first.height)
    );
    assert_eq!(count(&metrics.reconnects_total, "gv"), 1);
    assert!(count(&metrics.stream_completed_total, "gv") >= 2);
    drop(simulator);
}

#[test]
fn the_acquisition_task_gets_frames_from_a_gige_camera() {
    let _serial = serial();
    enable_fake_interface();
    let mut settings = settings("Fake_1", SensorFormat::BayerGr8);
    settings.processing.crop = Some(Roi {
        x: 0,
        y: 0,
        width: 64,
        height: 32,
    });
    let camera = GigeCamera::open("fake".into(), settings, metrics()).unwrap();
    let trigger = vod_core::TriggerCommand {
        camera: "fake".into(),
        vehicle_id: vod_core::VehicleId::new(Utc::now(), 1, 1),
        lane: "hov-1".into(),
        fire_at: std::time::Instant::now(),
        frames: 1,
        interval_ms: 0,
        detected_at: std::time::Instant::now(),
        detected_utc: Utc::now(),
        test: false,
    };
    let mut camera: Box<dyn Camera> = Box::new(camera);
    let frame = camera.grab(&trigger, 0).unwrap();
    assert_eq!((frame.width, frame.height), (64, 32));
    assert_eq!(frame.pixel_format, vod_core::PixelFormat::Bgr8);
    assert_eq!(frame.pixels.len(), frame.expected_len());
    assert_eq!(&*frame.camera, "fake");
    let later = camera.grab(&trigger, 1).unwrap();
    assert!(
        later.device_timestamp_ns > frame.device_timestamp_ns
            && frame.device_timestamp_ns > Some(0),
        "{:?} then {:?}",
        frame.device_timestamp_ns,
        later.device_timestamp_ns
    );
}

#[test]
fn new_exposure_and_gain_reach_the_camera_between_bursts() {
    let _serial = serial();
    enable_fake_interface();
    let mut camera = GigeCamera::open(
        "cam-1".into(),
        settings("Fake_1", SensorFormat::Mono8),
        metrics(),
    )
    .unwrap();
    assert_eq!(camera.exposure_micros().unwrap(), 2000.0);
    let gige = |exposure_micros: f64| vod_core::config::GigeSourceConfig {
        device_id: "Fake_1".into(),
        pixel_format: vod_core::config::GigePixelFormat::Mono8,
        exposure_micros,
        gain_db: 2.0,
        frame_rate_hz: None,
        trigger_source: "Software".into(),
        roi: None,
        buffer_count: 4,
        frame_timeout_ms: 2000,
        clahe_clip_limit: None,
    };
    let config = |exposure_micros| CameraConfig {
        name: "cam-1".into(),
        lane: "lane-1".into(),
        source: CameraSource::Gige(gige(exposure_micros)),
        trigger: vod_core::config::CameraTrigger::DelayMs(20),
        burst_frames: 1,
        burst_interval_ms: 0,
    };
    camera.apply_settings(&config(4500.0)).unwrap();
    assert_eq!(camera.exposure_micros().unwrap(), 4500.0);
    expose(&mut camera).unwrap();
    // A reconnection sets the new values too: they are the camera's settings now.
    assert_eq!(camera.settings.exposure_micros, 4500.0);
    assert_eq!(camera.settings.gain_db, 2.0);
}
