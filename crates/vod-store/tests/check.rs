//! The start-up file check against real files: stray temporary and unreferenced files are
//! removed once old enough, young ones are left alone, and rows whose file vanished are marked.

mod common;

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

const MIN_AGE: Duration = Duration::from_secs(300);

fn write_aged(path: &Path, age: Duration) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(path, b"stray bytes").expect("write");
    File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(SystemTime::now() - age)
        .expect("set mtime");
}

#[tokio::test]
async fn stray_files_go_young_ones_stay_and_missing_files_are_marked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, registry) = common::open(dir.path()).await;
    for sequence in 0..3 {
        store
            .insert_capture(&common::capture(sequence, 2))
            .await
            .expect("insert");
    }
    let images = dir.path().join("images");
    let referenced = common::files_under(&images);
    assert_eq!(referenced.len(), 6);

    let old = MIN_AGE * 2;
    let day = Path::new(&referenced[0]).parent().expect("day dir");
    write_aged(&images.join(day).join(".crashed_0.jpg.tmp"), old);
    write_aged(&images.join("2020/01/01/uncommitted_0.jpg"), old);
    write_aged(
        &images.join(day).join("being-written_1.jpg"),
        Duration::ZERO,
    );
    write_aged(
        &images.join(day).join(".being-written_2.jpg.tmp"),
        Duration::ZERO,
    );
    std::fs::remove_file(images.join(&referenced[3])).expect("remove");

    let report = store.check_files(MIN_AGE).await.expect("check");
    assert_eq!(report.rows_seen, 6);
    assert_eq!(report.files_seen, 9);
    assert_eq!(report.temporary_files_removed, 1);
    assert_eq!(report.unreferenced_files_removed, 1);
    assert_eq!(report.young_files_kept, 2);
    assert_eq!(report.rows_missing_file, 1);

    let mut expected: Vec<String> = referenced.clone();
    expected.remove(3);
    expected.push(format!("{}/being-written_1.jpg", day.display()));
    expected.push(format!("{}/.being-written_2.jpg.tmp", day.display()));
    expected.sort();
    assert_eq!(common::files_under(&images), expected);

    let db = common::raw_db(dir.path()).await;
    let marked: Vec<String> = sqlx::query_scalar(
        "SELECT relative_path FROM capture_images WHERE missing_since_ms IS NOT NULL",
    )
    .fetch_all(&db)
    .await
    .expect("marked rows");
    assert_eq!(marked, [referenced[3].clone()]);
    assert_eq!(
        common::sample(
            &registry,
            "vod_store_check_files_removed_total{kind=\"temporary\"}"
        ),
        1.0
    );
    assert_eq!(
        common::sample(&registry, "vod_store_check_images_missing"),
        1.0
    );

    // A second check finds the same missing row and nothing else to do.
    let again = store.check_files(MIN_AGE).await.expect("check");
    assert_eq!(again.rows_missing_file, 1);
    assert_eq!(
        again.temporary_files_removed + again.unreferenced_files_removed,
        0
    );
}
