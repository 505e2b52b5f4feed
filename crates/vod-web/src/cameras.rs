//! The cameras page: for each camera its newest stored frame (anonymized, as every stored
//! image is), its settings as running, and its stream's counters; a technician's test
//! capture, which is stored and shown like any other but never uploaded or pushed.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use vod_core::TestTriggerError;
use vod_core::config::{CameraConfig, CameraSource, CameraTrigger};
use vod_store::CaptureSummary;

use crate::access::Identity;
use crate::dashboard::by_label;
use crate::layout::Layout;
use crate::{AppError, AppState};

/// Looking: every viewer.
pub(crate) fn view_router() -> Router<AppState> {
    Router::new().route("/cameras", get(page))
}

/// Test captures: technicians.
pub(crate) fn act_router() -> Router<AppState> {
    Router::new().route("/cameras/{camera}/test", post(test_capture))
}

/// Fires camera `camera` now, with its configured burst, as if a vehicle had entered its lane.
async fn test_capture(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(camera): Path<String>,
) -> Result<Response, AppError> {
    let config = state.config.current();
    let Some(settings) = config
        .cameras
        .iter()
        .find(|settings| settings.name == camera)
    else {
        return Err(AppError::NotFound);
    };
    match state.test_triggers.fire(settings) {
        Ok(_) => {
            tracing::info!(%camera, by = %identity.name, "A test capture was asked for.");
            Ok(Redirect::to("/cameras").into_response())
        }
        Err(TestTriggerError::NoSuchCamera(_)) => Err(AppError::NotFound),
        Err(error) => Ok((StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response()),
    }
}

#[derive(Template)]
#[template(path = "cameras.html")]
struct CamerasPage {
    layout: Layout,
    cameras: Vec<CameraRow>,
}

struct CameraRow {
    name: String,
    lane: String,
    settings: Vec<(&'static str, String)>,
    counters: Vec<(&'static str, u64)>,
    latest: Option<CaptureSummary>,
}

async fn page(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> Result<Html<String>, AppError> {
    let config = state.config.current();
    let families = state.registry.gather();
    let counter = |name: &str| by_label(&families, name, "camera");
    let counters = [
        ("frames", counter("vod_camera_frames_total")),
        ("grab errors", counter("vod_camera_grab_errors_total")),
        (
            "triggers without image",
            counter("vod_camera_no_image_total"),
        ),
        ("bursts dropped", counter("vod_camera_bursts_dropped_total")),
        ("reconnects", counter("vod_camera_reconnects_total")),
        (
            "stream buffers completed",
            counter("vod_camera_stream_completed_total"),
        ),
        (
            "stream failures",
            counter("vod_camera_stream_failures_total"),
        ),
        (
            "stream underruns",
            counter("vod_camera_stream_underruns_total"),
        ),
    ];
    let mut cameras = Vec::new();
    for camera in &config.cameras {
        cameras.push(CameraRow {
            name: camera.name.clone(),
            lane: camera.lane.clone(),
            settings: settings(camera),
            counters: counters
                .iter()
                .map(|(label, values)| (*label, values.get(&camera.name).copied().unwrap_or(0)))
                .collect(),
            latest: state.store.latest_capture_of(&camera.name).await?,
        });
    }
    let page = CamerasPage {
        layout: Layout::new(&state, &identity, "Cameras"),
        cameras,
    };
    Ok(Html(page.render()?))
}

/// The camera's settings as the running config has them.
fn settings(camera: &CameraConfig) -> Vec<(&'static str, String)> {
    let mut settings = vec![(
        "trigger",
        match camera.trigger {
            CameraTrigger::DelayMs(ms) => format!("{ms} ms after the vehicle enters"),
            CameraTrigger::DistanceMm(mm) => format!("{mm} mm past the scan plane"),
        },
    )];
    settings.push((
        "burst",
        format!(
            "{} frames, {} ms apart",
            camera.burst_frames, camera.burst_interval_ms
        ),
    ));
    match &camera.source {
        CameraSource::Sim(size) => {
            settings.push((
                "source",
                format!("simulated, {}x{}", size.width, size.height),
            ));
        }
        CameraSource::Gige(gige) => {
            settings.push(("source", format!("GigE Vision {}", gige.device_id)));
            settings.push(("exposure", format!("{} µs", gige.exposure_micros)));
            settings.push(("gain", format!("{} dB", gige.gain_db)));
            settings.push((
                "frame rate",
                gige.frame_rate_hz.map_or_else(
                    || "the camera's own".to_owned(),
                    |hz| format!("at most {hz} Hz"),
                ),
            ));
            settings.push(("trigger source", gige.trigger_source.clone()));
        }
        CameraSource::Usb(usb) => {
            settings.push(("source", format!("USB {}", usb.device)));
            settings.push(("frame tolerance", format!("{} ms", usb.tolerance_ms)));
        }
    }
    settings
}
