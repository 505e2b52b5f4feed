//! The labelled set: the captures people reviewed, as one tar archive of their images and a
//! `labels.json` (the box's count and the people's, per seat row, with the detections), for
//! training or measuring a site's own model. At most [`EXPORT_CAPTURES`] captures per archive,
//! newest first; a `Link: <…?before=ID>; rel="next"` header names the next part. The archive
//! is written on a blocking thread while it is sent, so it is never whole in memory.

use std::collections::BTreeMap;
use std::io::Write;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use tokio_util::io::{ReaderStream, SyncIoBridge};
use vod_store::{CaptureId, CaptureQuery, ReviewFilter};

use crate::access::Identity;
use crate::{AppError, AppState};

/// Captures in one archive.
pub const EXPORT_CAPTURES: u32 = 200;

/// Technicians: the archive holds every reviewed image.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/review/export.tar", get(export))
}

#[derive(Debug, Deserialize)]
struct ExportQuery {
    before: Option<i64>,
}

/// `labels.json`.
#[derive(Debug, Serialize)]
struct Labels {
    site: String,
    exported_utc: String,
    captures: Vec<LabelledCapture>,
}

#[derive(Debug, Serialize)]
struct LabelledCapture {
    uuid: String,
    /// The vehicle: its captures by a lane's several cameras share one count and one review.
    vehicle_id: String,
    camera: String,
    lane: String,
    detected_utc: String,
    /// File names in the archive, by burst index.
    images: Vec<LabelledImage>,
    /// What the box counted per seat row.
    counted: BTreeMap<String, u32>,
    /// What the people counted per seat row.
    reviewed: BTreeMap<String, u32>,
    reviewers: Vec<String>,
    countability: Option<f32>,
    /// Why the box's count was not certain (`kind` or `kind:row`).
    doubts: Vec<String>,
    detections: Vec<vod_core::PersonDetection>,
}

#[derive(Debug, Serialize)]
struct LabelledImage {
    file: String,
    burst_index: u32,
    width: u32,
    height: u32,
    sha256: String,
}

async fn export(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Query(query): Query<ExportQuery>,
) -> Result<Response, AppError> {
    let listed = state
        .store
        .search_captures(&CaptureQuery {
            before: query.before.map(CaptureId),
            review: ReviewFilter::Reviewed,
            limit: EXPORT_CAPTURES,
            ..CaptureQuery::default()
        })
        .await?;
    let next = (listed.len() == EXPORT_CAPTURES as usize)
        .then(|| listed.last().map(|last| last.summary.id.0))
        .flatten();
    let mut captures = Vec::new();
    let mut files = Vec::new();
    for listing in listed {
        let Some(export) = state.store.capture_export(&listing.summary.uuid).await? else {
            continue;
        };
        let reviews = state.store.reviews(export.capture.id).await?;
        let mut images = Vec::new();
        for image in &export.images {
            let file = format!("images/{}_{}.jpg", export.capture.uuid, image.burst_index);
            files.push((file.clone(), image.path.clone()));
            images.push(LabelledImage {
                file,
                burst_index: image.burst_index,
                width: image.width,
                height: image.height,
                sha256: image.sha256.clone(),
            });
        }
        let occupancy = export.occupancy.as_ref();
        let mut reviewers: Vec<String> = reviews
            .iter()
            .map(|review| review.reviewer.clone())
            .collect();
        reviewers.sort();
        reviewers.dedup();
        captures.push(LabelledCapture {
            uuid: export.capture.uuid.clone(),
            vehicle_id: export.capture.vehicle_id.to_string(),
            camera: export.capture.camera.clone(),
            lane: export.capture.lane.clone(),
            detected_utc: export.capture.detected_utc.to_rfc3339(),
            images,
            counted: occupancy
                .map(|occupancy| {
                    occupancy
                        .rows
                        .iter()
                        .map(|count| (count.row.as_str().to_owned(), count.people))
                        .collect()
                })
                .unwrap_or_default(),
            reviewed: reviews
                .iter()
                .map(|review| (review.row.as_str().to_owned(), review.people))
                .collect(),
            reviewers,
            countability: occupancy.map(|occupancy| occupancy.countability),
            doubts: occupancy
                .map(|occupancy| occupancy.doubts.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            detections: occupancy
                .map(|occupancy| occupancy.detections.clone())
                .unwrap_or_default(),
        });
    }
    let labels = serde_json::to_vec_pretty(&Labels {
        site: state.site_id.to_string(),
        exported_utc: chrono::Utc::now().to_rfc3339(),
        captures,
    })
    .map_err(|error| AppError::Internal(error.to_string()))?;
    tracing::info!(by = %identity.name, files = files.len(), "A labelled set was exported.");
    let (writer, reader) = tokio::io::duplex(256 * 1024);
    let writer = SyncIoBridge::new(writer);
    tokio::task::spawn_blocking(move || {
        if let Err(error) = write_archive(writer, &labels, &files) {
            // The client sees a cut archive; a file retention removed meanwhile is skipped.
            tracing::warn!(%error, "Writing a labelled set stopped.");
        }
    });
    let name = format!(
        "vod-labels-{}-{}.tar",
        state.site_id,
        chrono::Utc::now().format("%Y%m%dT%H%M%S")
    );
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(ReaderStream::new(reader)),
    )
        .into_response();
    if let Some(before) = next
        && let Ok(link) = format!("</review/export.tar?before={before}>; rel=\"next\"").parse()
    {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// `labels.json`, then each image file that still exists.
fn write_archive(
    writer: impl Write,
    labels: &[u8],
    files: &[(String, std::path::PathBuf)],
) -> std::io::Result<()> {
    let mut archive = tar::Builder::new(writer);
    let mut head = tar::Header::new_gnu();
    head.set_size(labels.len() as u64);
    head.set_mode(0o644);
    head.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    archive.append_data(&mut head, "labels.json", labels)?;
    for (name, path) in files {
        match std::fs::File::open(path) {
            Ok(mut file) => archive.append_file(name, &mut file)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        }
    }
    archive.into_inner()?.flush()
}
