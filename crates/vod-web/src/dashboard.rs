//! The dashboard: vehicles per lane in the last hour (live), the last captures with their
//! anonymized image and people per seat row, the health of every component as its own
//! counters tell it, restarts, and the system (version, uptime, memory).

use std::collections::BTreeMap;
use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::{Extension, Router};
use prometheus::proto::{MetricFamily, MetricType};
use vod_core::config::Config;
use vod_store::{CaptureListing, CaptureQuery};

use crate::access::Identity;
use crate::layout::Layout;
use crate::{AppError, AppState};

/// The captures the dashboard shows.
const LAST_CAPTURES: u32 = 8;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/", get(page))
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    lanes: Vec<(String, u64)>,
    captures: Vec<CaptureListing>,
    health: Vec<HealthRow>,
    restarts: Vec<(String, u64)>,
    version: &'static str,
    uptime: String,
    rss_mb: String,
    disk: String,
}

/// One component's line: its name, whether it is well, what its counters say.
pub(crate) struct HealthRow {
    pub component: String,
    pub ok: bool,
    pub state: String,
    pub details: String,
}

async fn page(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> Result<Html<String>, AppError> {
    let since_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let counted = state.store.vehicles_per_lane_since(since_ms).await?;
    let lanes = state
        .config
        .current()
        .lanes
        .iter()
        .map(|lane| {
            let seen = counted
                .iter()
                .find(|(name, _)| *name == lane.name)
                .map_or(0, |(_, count)| *count);
            (lane.name.clone(), seen)
        })
        .collect();
    let captures = state
        .store
        .search_captures(&CaptureQuery {
            limit: LAST_CAPTURES,
            ..CaptureQuery::default()
        })
        .await?;
    let families = state.registry.gather();
    let config = state.config.current();
    let page = DashboardPage {
        layout: Layout::new(&state, &identity, "Dashboard"),
        lanes,
        captures,
        health: health(&config, &families),
        restarts: by_label(&families, "vod_supervisor_restarts_total", "component")
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .collect(),
        version: env!("CARGO_PKG_VERSION"),
        uptime: duration_text(state.started.elapsed()),
        rss_mb: resident_mb().map_or_else(|| "unknown".to_owned(), |mb| format!("{mb:.0} MB")),
        disk: disk_text(&config.storage.data_dir),
    };
    Ok(Html(page.render()?))
}

/// The health of every component of `config` from its metrics.
pub(crate) fn health(config: &Config, families: &[MetricFamily]) -> Vec<HealthRow> {
    let value = |name: &str, label: &str| by_label(families, name, label);
    let total = |name: &str| value(name, "").values().sum::<u64>();
    let mut rows = Vec::new();
    let connected = value("vod_lidar_connected", "scanner");
    let scans = value("vod_lidar_scans_total", "scanner");
    let decode_errors = value("vod_lidar_decode_errors_total", "scanner");
    let reconnects = value("vod_lidar_reconnects_total", "scanner");
    for scanner in &config.scanners {
        let count = |map: &BTreeMap<String, u64>| map.get(&scanner.name).copied().unwrap_or(0);
        let up = count(&connected) > 0;
        rows.push(HealthRow {
            component: format!("scanner {}", scanner.name),
            ok: up,
            state: if up { "connected" } else { "disconnected" }.to_owned(),
            details: format!(
                "{} scans, {} decode errors, {} reconnects",
                count(&scans),
                count(&decode_errors),
                count(&reconnects)
            ),
        });
    }
    let frames = value("vod_camera_frames_total", "camera");
    let grab_errors = value("vod_camera_grab_errors_total", "camera");
    let no_image = value("vod_camera_no_image_total", "camera");
    let camera_reconnects = value("vod_camera_reconnects_total", "camera");
    for camera in &config.cameras {
        let count = |map: &BTreeMap<String, u64>| map.get(&camera.name).copied().unwrap_or(0);
        let delivered = count(&frames);
        rows.push(HealthRow {
            component: format!("camera {}", camera.name),
            ok: count(&no_image) == 0 || delivered > 0,
            state: if delivered > 0 {
                "delivering"
            } else {
                "no frame yet"
            }
            .to_owned(),
            details: format!(
                "{delivered} frames, {} grab errors, {} triggers without image, {} reconnects",
                count(&grab_errors),
                count(&no_image),
                count(&camera_reconnects)
            ),
        });
    }
    let inference_errors = total("vod_vision_inference_errors_total");
    rows.push(HealthRow {
        component: "vision".to_owned(),
        ok: inference_errors == 0,
        state: if inference_errors == 0 {
            "ok"
        } else {
            "errors"
        }
        .to_owned(),
        details: format!(
            "{} frames, {inference_errors} inference errors",
            total("vod_vision_frames_total")
        ),
    });
    let writable = total("vod_store_images_writable") > 0;
    rows.push(HealthRow {
        component: "store".to_owned(),
        ok: writable,
        state: if writable { "ok" } else { "images not stored" }.to_owned(),
        details: format!(
            "{} captures, {} write errors, {} jobs waiting",
            total("vod_store_captures_total"),
            total("vod_store_write_errors_total"),
            total("vod_store_jobs_available")
        ),
    });
    let uplink = &config.uplink;
    if uplink.cloud.is_some() || uplink.jetstream.is_some() {
        rows.push(HealthRow {
            component: "uplink".to_owned(),
            ok: total("vod_uplink_backlog_oldest_seconds") < 3600,
            state: format!("{} captures waiting", total("vod_uplink_backlog_captures")),
            details: format!(
                "{} objects uploaded, {} upload failures, {} push deliveries",
                total("vod_uplink_uploaded_objects_total"),
                total("vod_uplink_upload_failures_total"),
                total("vod_uplink_push_deliveries_total")
            ),
        });
    }
    if config.bus.is_some() {
        let errors = total("vod_bus_publish_errors_total");
        rows.push(HealthRow {
            component: "bus".to_owned(),
            ok: errors == 0,
            state: if errors == 0 { "ok" } else { "publish errors" }.to_owned(),
            details: format!(
                "{} events published, {errors} publish errors",
                total("vod_bus_published_total")
            ),
        });
    }
    rows
}

/// The samples of metric `name` (counters and gauges, whole numbers) summed by the value of
/// `label` (all under "" when `label` is empty).
pub(crate) fn by_label(
    families: &[MetricFamily],
    name: &str,
    label: &str,
) -> BTreeMap<String, u64> {
    let mut values = BTreeMap::new();
    for family in families.iter().filter(|family| family.name() == name) {
        for metric in family.get_metric() {
            let key = metric
                .get_label()
                .iter()
                .find(|pair| pair.name() == label)
                .map(|pair| pair.value().to_owned())
                .unwrap_or_default();
            let value = match family.get_field_type() {
                MetricType::COUNTER => metric.get_counter().get_value(),
                MetricType::GAUGE => metric.get_gauge().get_value(),
                _ => continue,
            };
            *values.entry(key).or_insert(0) += value.max(0.0).round() as u64;
        }
    }
    values
}

fn duration_text(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    format!(
        "{}d {:02}h {:02}m",
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60
    )
}

/// Free and total space of the file system that holds the data directory.
fn disk_text(data_dir: &std::path::Path) -> String {
    match vod_store::disk_space(data_dir) {
        Ok(space) => {
            let gb = |bytes: u64| bytes as f64 / 1e9;
            format!(
                "{:.1} GB free of {:.1} GB",
                gb(space.free_bytes),
                gb(space.total_bytes)
            )
        }
        Err(error) => format!("unknown ({error})"),
    }
}

/// The process's resident memory, from Linux's /proc.
fn resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}
