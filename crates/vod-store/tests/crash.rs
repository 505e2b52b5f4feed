//! A writer process killed with SIGKILL at arbitrary points loses no acknowledged capture.
//!
//! The test re-runs its own binary as the writer (the `crash_writer` test with an environment
//! variable set). The writer stores captures in a loop and prints `ACK <id> <sequence>` after
//! each commit; the test kills it mid-stream several times, reopening the store each time, then
//! checks every acknowledged capture, its rows and its files.

mod common;

use std::io::Write;

use std::time::Duration;

use common::{image_rows, jpeg_bytes, open, raw_db, sha256_hex};

/// Set to the data directory when this binary runs as the writer.
const WRITER_DIR_ENV: &str = "VOD_STORE_CRASH_WRITER_DIR";
/// The first vehicle sequence number the writer uses.
const WRITER_FIRST_SEQUENCE_ENV: &str = "VOD_STORE_CRASH_WRITER_FIRST_SEQUENCE";

/// Each writer run: how many acknowledgements it gets, and how long after the last one it is
/// killed. The pause lets the kill land at different points of the next capture: before its
/// files, among them, inside its transaction or after its commit.
const RUNS: [(u32, Duration); 6] = [
    (7, Duration::ZERO),
    (23, Duration::from_micros(300)),
    (15, Duration::from_millis(1)),
    (31, Duration::from_millis(2)),
    (11, Duration::from_millis(4)),
    (19, Duration::from_millis(8)),
];

fn image_count(sequence: u32) -> u32 {
    // Zero to three images: covers no_image captures and multi-file ones.
    sequence % 4
}

#[test]
fn crash_writer() {
    // Does nothing unless the crash test below started this binary as its writer.
    let Ok(data_dir) = std::env::var(WRITER_DIR_ENV) else {
        return;
    };
    let first_sequence: u32 = std::env::var(WRITER_FIRST_SEQUENCE_ENV)
        .expect("first sequence set")
        .parse()
        .expect("first sequence is a number");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (store, _registry) = open(data_dir.as_ref()).await;
        let mut stdout = std::io::stdout().lock();
        for sequence in first_sequence.. {
            let id = store
                .insert_capture(&common::capture(sequence, image_count(sequence)))
                .await
                .expect("insert");
            writeln!(stdout, "ACK {id} {sequence}").expect("stdout");
            stdout.flush().expect("stdout");
        }
    });
}

#[test]
fn sigkill_loses_no_acknowledged_capture() {
    let dir = tempfile::tempdir().expect("temp dir");
    let acknowledged = common::kill_runs(
        "crash_writer",
        (WRITER_DIR_ENV, dir.path()),
        WRITER_FIRST_SEQUENCE_ENV,
        &RUNS,
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (store, _registry) = open(dir.path()).await;
        let db = raw_db(dir.path()).await;
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&db)
            .await
            .expect("integrity check");
        assert_eq!(integrity, "ok");

        let stored = store.recent_captures(u32::MAX).await.expect("recent");
        let stored_ids: Vec<i64> = stored.iter().map(|summary| summary.id.0).collect();
        for (id, sequence) in &acknowledged {
            let Some(summary) = stored.iter().find(|summary| summary.id.0 == *id) else {
                panic!("acknowledged capture {id} is missing; stored: {stored_ids:?}");
            };
            assert_eq!(summary.vehicle_id, common::vehicle_id(*sequence));
            assert_eq!(summary.image_count, image_count(*sequence));
            let rows = image_rows(&db, *id).await;
            assert_eq!(rows.len(), image_count(*sequence) as usize, "capture {id}");
            for row in rows {
                let path = store.image_path(&row.relative_path).expect("inside images");
                let on_disk = std::fs::read(&path)
                    .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                assert_eq!(on_disk, jpeg_bytes(*sequence, row.burst_index));
                assert_eq!(row.sha256, sha256_hex(&on_disk));
            }
        }
        // A capture committed but killed before its acknowledgement is whole too, and rows
        // never reference temporary files.
        let mut referenced = Vec::new();
        for summary in &stored {
            let rows = image_rows(&db, summary.id.0).await;
            assert_eq!(rows.len(), summary.image_count as usize);
            for row in rows {
                assert!(
                    !row.relative_path.ends_with(".tmp"),
                    "{}",
                    row.relative_path
                );
                let path = store.image_path(&row.relative_path).expect("inside images");
                let on_disk = std::fs::read(&path).expect("image file");
                assert_eq!(row.sha256, sha256_hex(&on_disk));
                referenced.push(row.relative_path);
            }
        }
        assert!(
            stored.len() <= acknowledged.len() + RUNS.len(),
            "at most one unacknowledged commit per kill"
        );
        // Only files of the capture in flight at each kill may stay behind, unreferenced.
        let unreferenced: Vec<String> = common::files_under(&dir.path().join("images"))
            .into_iter()
            .filter(|file| !referenced.contains(file))
            .collect();
        assert!(unreferenced.len() <= RUNS.len() * 3, "{unreferenced:?}");
    });
}
