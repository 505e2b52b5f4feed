//! The LIDAR page: each scanner's latest scan drawn server-side as SVG (its echoes, the
//! learned road, the lane zones, lit while a vehicle is in them, and the objects the
//! detector found), refreshed live by the page; and the "learn the road again" action.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use vod_core::{ScanSnapshot, ScannerView};

use crate::access::Identity;
use crate::layout::Layout;
use crate::{AppError, AppState};

/// Room around the lanes and the scanner in the drawing.
const MARGIN_MM: f32 = 800.0;

/// The drawing of a scanner that has sent no scan since the box started.
const NO_SCAN_YET: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 400 60\">\
    <text x=\"10\" y=\"35\" font-family=\"sans-serif\" font-size=\"20\">No scan yet.</text></svg>";

/// Looking: every viewer.
pub(crate) fn view_router() -> Router<AppState> {
    Router::new()
        .route("/lidar", get(page))
        .route("/lidar/{scanner}/scan.svg", get(scan_svg))
}

/// Relearning the road: technicians.
pub(crate) fn act_router() -> Router<AppState> {
    Router::new().route("/lidar/{scanner}/relearn", post(relearn))
}

#[derive(Template)]
#[template(path = "lidar.html")]
struct LidarPage {
    layout: Layout,
    scanners: Vec<ScannerRow>,
}

struct ScannerRow {
    name: String,
    state: String,
    lanes: Vec<(String, bool)>,
    objects: usize,
}

#[derive(Template)]
#[template(path = "lidar_scan.svg")]
struct ScanDrawing {
    /// The viewBox: x, y, width, height in millimetres (y upwards is negative).
    view: (f32, f32, f32, f32),
    snapshot: ScanSnapshot,
    /// The road as an SVG polyline's points, and the echoes as (x, y) pairs.
    road: String,
    echoes: Vec<(f32, f32)>,
    label_mm: f32,
}

async fn page(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> Result<Html<String>, AppError> {
    let scanners = state
        .scanners
        .iter()
        .map(|view| match view.latest() {
            None => ScannerRow {
                name: view.scanner.to_string(),
                state: "no scan yet".to_owned(),
                lanes: Vec::new(),
                objects: 0,
            },
            Some(snapshot) => ScannerRow {
                name: view.scanner.to_string(),
                state: match snapshot.learning {
                    Some((seen, needed)) => format!("learning the road: {seen} of {needed} scans"),
                    None => format!(
                        "road learned; last scan {} UTC",
                        snapshot.received_utc.format("%H:%M:%S%.3f")
                    ),
                },
                lanes: snapshot
                    .lanes
                    .iter()
                    .map(|lane| (lane.name.clone(), lane.occupied))
                    .collect(),
                objects: snapshot.objects.len(),
            },
        })
        .collect();
    let page = LidarPage {
        layout: Layout::new(&state, &identity, "LIDAR"),
        scanners,
    };
    Ok(Html(page.render()?))
}

fn view_of<'a>(state: &'a AppState, scanner: &str) -> Result<&'a ScannerView, AppError> {
    state
        .scanners
        .iter()
        .find(|view| &*view.scanner == scanner)
        .ok_or(AppError::NotFound)
}

async fn scan_svg(
    State(state): State<AppState>,
    Path(scanner): Path<String>,
) -> Result<Response, AppError> {
    let view = view_of(&state, &scanner)?;
    let svg = match view.latest() {
        Some(snapshot) => drawing((*snapshot).clone()).render()?,
        None => NO_SCAN_YET.to_owned(),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

/// The drawing of a snapshot: the lanes and the scanner framed with a margin; echoes beyond
/// the frame (walls, the far verge) are left out.
fn drawing(snapshot: ScanSnapshot) -> ScanDrawing {
    let lanes = snapshot.lanes.iter();
    let from = lanes
        .clone()
        .map(|lane| lane.lateral_from_mm)
        .fold(0.0_f32, f32::min)
        - MARGIN_MM;
    let to = lanes.map(|lane| lane.lateral_to_mm).fold(0.0_f32, f32::max) + MARGIN_MM;
    let top = snapshot.mount_height_mm + MARGIN_MM;
    let bottom = MARGIN_MM / 2.0;
    let inside = |x: f32, y: f32| (from..=to).contains(&x) && (-bottom..=top).contains(&y);
    let road = snapshot
        .road
        .iter()
        .filter(|point| inside(point.lateral_mm, point.height_mm))
        .map(|point| format!("{:.0},{:.0}", point.lateral_mm, 0.0 - point.height_mm))
        .collect::<Vec<_>>()
        .join(" ");
    let echoes = snapshot
        .points
        .iter()
        .filter(|point| inside(point.lateral_mm, point.height_mm))
        .map(|point| (point.lateral_mm, 0.0 - point.height_mm))
        .collect();
    ScanDrawing {
        view: (from, -top, to - from, top + bottom),
        label_mm: (to - from) / 40.0,
        snapshot,
        road,
        echoes,
    }
}

async fn relearn(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(scanner): Path<String>,
) -> Result<Response, AppError> {
    view_of(&state, &scanner)?.request_relearn();
    tracing::info!(%scanner, by = %identity.name, "Relearning the road was asked for.");
    Ok(Redirect::to("/lidar").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vod_core::scanner_view::{PlanePoint, SnapshotLane};

    #[test]
    fn the_drawing_frames_the_lanes_and_leaves_far_echoes_out() {
        let point = |lateral_mm, height_mm| PlanePoint {
            lateral_mm,
            height_mm,
        };
        let drawing = drawing(ScanSnapshot {
            scanner: "gantry".into(),
            received_utc: chrono::Utc::now(),
            mount_height_mm: 6000.0,
            points: vec![point(-1000.0, 1500.0), point(-30_000.0, 0.0)],
            road: vec![point(-3000.0, 0.0), point(3000.0, 0.0)],
            learning: None,
            objects: Vec::new(),
            lanes: vec![SnapshotLane {
                name: "lane-1".into(),
                lateral_from_mm: -3700.0,
                lateral_to_mm: 0.0,
                occupied: true,
            }],
        });
        assert_eq!(drawing.view, (-4500.0, -6800.0, 5300.0, 7200.0));
        assert_eq!(drawing.echoes, vec![(-1000.0, -1500.0)]);
        assert_eq!(
            drawing.road, "-3000,0",
            "the road beyond the frame is left out"
        );
        let svg = drawing.render().unwrap();
        assert!(svg.contains("class=\"lane occupied\""), "{svg}");
    }
}
