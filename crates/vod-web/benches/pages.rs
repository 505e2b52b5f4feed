//! How long the dashboard, the capture list and the review queue take to render with 100
//! captures in the database and with 100,000 (`VOD_BENCH_CAPTURES`), through the router as a
//! request with an API token: the pages must not grow with the data. The databases are filled
//! by SQL (as the store's own benchmark fills its), every second capture flagged for review,
//! so that each list is a full page (50) with 100 captures too.
//!
//! `cargo bench -p vod-web --bench pages`

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use prometheus::Registry;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use vod_core::Hub;
use vod_core::config::live::{ConfigHandle, HandleSetup};
use vod_core::config::{Config, LoadedConfig};
use vod_store::{Role, Store, StoreMetrics};
use vod_web::{Access, AccessMetrics, AppState, app};

const BENCH_CONFIG: &str = include_str!("../../../deploy/bench/vod.toml");
const PAGES: [&str; 3] = ["/", "/captures", "/review"];
const ROUNDS: usize = 60;
const DAY_MS: i64 = 86_400_000;

fn main() {
    let large = std::env::var("VOD_BENCH_CAPTURES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let small = runtime.block_on(measure(100));
    let big = runtime.block_on(measure(large));
    println!("| page | 100 captures | {large} captures | ratio |");
    println!("|---|---|---|---|");
    for ((page, small), (_, big)) in small.iter().zip(&big) {
        println!(
            "| `{page}` | {:.2} ms | {:.2} ms | {:.2} |",
            ms(*small),
            ms(*big),
            big.as_secs_f64() / small.as_secs_f64()
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The median time of each page over [`ROUNDS`] requests, with `captures` in the database.
async fn measure(captures: u64) -> Vec<(&'static str, Duration)> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let registry = Registry::new();
    let store = Store::open(
        &vod_core::config::StorageConfig {
            data_dir: dir.path().to_owned(),
        },
        StoreMetrics::register(&registry).expect("metrics"),
    )
    .await
    .expect("a store");
    fill(dir.path(), captures).await;
    let path = dir.path().join("vod.toml");
    std::fs::write(&path, BENCH_CONFIG).expect("the config");
    let hub = Hub::new(64);
    let config = ConfigHandle::new(
        HandleSetup {
            path,
            loaded: LoadedConfig {
                config: Config::parse(BENCH_CONFIG).expect("the bench config"),
                text: BENCH_CONFIG.to_owned(),
            },
            parts: Vec::new(),
            history: Arc::new(store.clone()),
            hub: hub.clone(),
        },
        &registry,
    )
    .expect("a config handle");
    let access = Arc::new(Access::new(
        AccessMetrics::register(&registry).expect("metrics"),
    ));
    let router = app(AppState::new(
        store.clone(),
        hub,
        config,
        registry,
        access,
        CancellationToken::new(),
    ));
    let (_, token) = store
        .create_api_token("bench", Role::Viewer, "bench")
        .await
        .expect("a token")
        .expect("a new token");
    let mut medians = Vec::new();
    for page in PAGES {
        let mut times = Vec::with_capacity(ROUNDS);
        for round in 0..ROUNDS + 5 {
            let request = Request::get(page)
                .header(header::HOST, "127.0.0.1:8080")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .expect("a request");
            let started = Instant::now();
            let response = router.clone().oneshot(request).await.expect("an answer");
            assert_eq!(response.status(), StatusCode::OK, "{page}");
            let body = response.into_body().collect().await.expect("a body");
            let elapsed = started.elapsed();
            assert!(!body.to_bytes().is_empty());
            // The first rounds warm the caches.
            if round >= 5 {
                times.push(elapsed);
            }
        }
        times.sort();
        medians.push((page, times[times.len() / 2]));
    }
    medians
}

/// `count` captures over the last 60 days, one image row each, counted people in two seat
/// rows, every second flagged for review; a vehicle row each.
async fn fill(dir: &std::path::Path, count: u64) {
    let db = SqlitePool::connect_with(SqliteConnectOptions::new().filename(dir.join("vod.db")))
        .await
        .expect("the database");
    let now_ms = chrono::Utc::now().timestamp_millis();
    let step_ms = 60 * DAY_MS / count as i64;
    let statements = [
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) \
         INSERT INTO captures (id, uuid, vehicle_id, lane, camera, detected_at_ms, stored_at_ms, \
                               status, image_count) \
         SELECT i + 1, printf('u%d', i), printf('01900000-0000-7000-8000-%012d', i), \
                CASE i % 2 WHEN 0 THEN 'lane-1' ELSE 'lane-2' END, 'cam-1', ?2 - i * ?3, \
                ?2 - i * ?3, 'ok', 1 FROM n",
        "INSERT INTO capture_images (capture_id, burst_index, captured_at_ms, width, height, \
                                     byte_len, sha256, relative_path) \
         SELECT id, 0, detected_at_ms, 1280, 1024, 40000, \
                '0000000000000000000000000000000000000000000000000000000000000000', \
                printf('2026/01/01/%s_0.jpg', uuid) FROM captures",
        "INSERT INTO capture_occupancy (capture_id, people, countability, needs_review, \
                                        faces_blurred, evidence_raw) \
         SELECT id, 2, CASE WHEN id % 2 = 0 THEN 0.1 ELSE 0.9 END, id % 2 = 0, 2, 0 \
         FROM captures",
        "INSERT INTO occupancy_rows (capture_id, seat_row, people, confidence) \
         SELECT id, 'front', 1, 0.9 FROM captures UNION ALL \
         SELECT id, 'rear', 1, 0.9 FROM captures",
        "INSERT INTO vehicles (id, lane, entered_at_ms, left_at_ms) \
         SELECT vehicle_id, lane, detected_at_ms, detected_at_ms + 400 FROM captures",
    ];
    for statement in statements {
        sqlx::query(statement)
            .bind(count as i64)
            .bind(now_ms)
            .bind(step_ms)
            .execute(&db)
            .await
            .expect("filling the database");
    }
    db.close().await;
}
