//! The live configuration handle over a real config file and a real SQLite history: a change
//! is checked, written back with its comments, applied and audited; a refused one changes
//! nothing, the file included; a rollback restores the file byte for byte; secrets never show.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prometheus::Registry;
use serde_json::{Value, json};
use vod_core::Hub;
use vod_core::config::live::{
    ApplyError, ChangeSource, ConfigHandle, HandleSetup, LivePart, Origin, Outcome, Prepared,
};
use vod_core::config::secrets::MASK;
use vod_core::config::{CameraTrigger, Config, LoadedConfig};
use vod_store::{Store, StoreMetrics};

struct Rig {
    _dir: tempfile::TempDir,
    path: PathBuf,
    text: String,
    handle: ConfigHandle,
    store: Store,
}

/// A handle over the config `text` makes for a directory of its own (its data goes there
/// too); `parts` get the file's path.
async fn rig_with(
    text: impl FnOnce(&Path) -> String,
    parts: impl FnOnce(&Path) -> Vec<Arc<dyn LivePart>>,
) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let text = text(dir.path());
    let path = common::write_config(dir.path(), &text);
    let parts = parts(&path);
    let config = Config::parse(&text).unwrap();
    let store = Store::open(
        &config.storage,
        StoreMetrics::register(&Registry::new()).unwrap(),
    )
    .await
    .unwrap();
    let handle = ConfigHandle::new(
        HandleSetup {
            path: path.clone(),
            loaded: LoadedConfig {
                config,
                text: text.clone(),
            },
            parts,
            history: Arc::new(store.clone()),
            hub: Hub::new(64),
        },
        &Registry::new(),
    )
    .unwrap();
    handle.record_start().await;
    Rig {
        _dir: dir,
        path,
        text,
        handle,
        store,
    }
}

fn bench_text(dir: &Path) -> String {
    common::bench_config(dir, common::loopback(2112), 8080, 9100, None)
}

async fn rig() -> Rig {
    rig_with(bench_text, |_| Vec::new()).await
}

fn web(actor: &str) -> Origin {
    Origin::new(ChangeSource::Web, actor)
}

fn set(changes: &[(&str, Value)]) -> Vec<(String, Value)> {
    changes
        .iter()
        .map(|(path, value)| ((*path).to_owned(), value.clone()))
        .collect()
}

fn on_disk(rig: &Rig) -> String {
    std::fs::read_to_string(&rig.path).unwrap()
}

#[tokio::test]
async fn a_change_is_written_back_with_its_comments_applied_and_audited() {
    let rig = rig().await;
    let mut detector = rig.handle.section(|config| config.detector.clone());
    let report = rig
        .handle
        .set(
            &set(&[
                ("detector.foreground_threshold_mm", json!(450)),
                ("cameras[1].trigger_delay_ms", json!(35)),
            ]),
            web("ana"),
        )
        .await
        .unwrap();
    assert_eq!(
        report.changed,
        [
            "cameras[1].trigger_delay_ms",
            "detector.foreground_threshold_mm"
        ]
    );
    assert_eq!(report.applied, report.changed);
    assert!(report.restart_needed.is_empty());

    // The file: those two values changed, every comment and blank line where it was.
    let second_camera = rig.text.rfind("trigger_delay_ms = 20").unwrap();
    let mut expected = rig.text.clone();
    expected.replace_range(
        second_camera..second_camera + "trigger_delay_ms = 20".len(),
        "trigger_delay_ms = 35",
    );
    let expected = expected.replace(
        "foreground_threshold_mm = 300",
        "foreground_threshold_mm = 450",
    );
    assert_eq!(on_disk(&rig), expected);

    // The running config, and those who watch a section of it.
    let running = rig.handle.current();
    assert_eq!(running.detector.foreground_threshold_mm, 450);
    assert_eq!(running.cameras[1].trigger, CameraTrigger::DelayMs(35));
    assert!(detector.has_changed().unwrap());
    assert_eq!(detector.borrow_and_update().foreground_threshold_mm, 450);
    assert_eq!(
        rig.handle.get("detector.foreground_threshold_mm").unwrap(),
        json!(450)
    );

    // The history: the start-up file, then this change with who made it.
    let history = rig.handle.history(10).await.unwrap();
    assert_eq!(history.len(), 2);
    let row = &history[0];
    assert_eq!(Some(row.id), report.history_id);
    assert_eq!(
        (
            row.change.source,
            row.change.actor.as_str(),
            row.change.outcome
        ),
        (ChangeSource::Web, "ana", Outcome::Applied)
    );
    assert_eq!(row.change.changed, report.changed);
    assert_eq!(row.change.toml, expected);
    assert_eq!(
        (history[1].change.source, history[1].change.actor.as_str()),
        (ChangeSource::File, "vod run")
    );

    // The same file at the next start adds no row; an edited one does, naming its changes.
    rig.handle.record_start().await;
    assert_eq!(rig.handle.history(10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_change_with_three_problems_names_each_and_changes_nothing() {
    let rig = rig().await;
    let before = rig.handle.current();
    let error = rig
        .handle
        .set(
            &set(&[
                ("detector.foreground_threshold_mm", json!(0)),
                ("lanes[0].scanner", json!("nowhere")),
                ("vision.review_below", json!(2.0)),
            ]),
            web("ana"),
        )
        .await
        .unwrap_err();
    let ApplyError::Invalid(invalid) = &error else {
        panic!("{error}");
    };
    let paths: Vec<&str> = invalid.problems().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "detector.foreground_threshold_mm",
            "lanes[0].scanner",
            "vision.review_below"
        ],
        "{error}"
    );
    assert_eq!(on_disk(&rig), rig.text);
    assert_eq!(rig.handle.current(), before);
    let refused = &rig.handle.history(1).await.unwrap()[0];
    assert_eq!(refused.change.outcome, Outcome::Refused);
    assert!(
        refused.change.toml.contains("scanner = \"nowhere\""),
        "{}",
        refused.change.toml
    );
    assert!(
        refused
            .change
            .error
            .as_deref()
            .unwrap()
            .contains("lanes[0].scanner: names no scanner"),
        "{refused:?}"
    );
    // A path that is not one is refused the same way.
    let error = rig
        .handle
        .set(&set(&[("lanes[0", json!(1))]), web("ana"))
        .await
        .unwrap_err();
    assert!(matches!(error, ApplyError::KeyPath(_)), "{error}");
    assert_eq!(on_disk(&rig), rig.text);
}

#[tokio::test]
async fn rolling_back_to_the_first_entry_restores_the_file_byte_for_byte() {
    let rig = rig().await;
    let first = rig.handle.history(1).await.unwrap()[0].id;
    rig.handle
        .set(&set(&[("detector.enter_scans", json!(3))]), web("ana"))
        .await
        .unwrap();
    rig.handle
        .apply_text(
            on_disk(&rig).replace("review_below = 0.2", "review_below = 0.35"),
            web("bo"),
        )
        .await
        .unwrap();
    assert_ne!(on_disk(&rig), rig.text);

    let report = rig.handle.rollback(first, "ana").await.unwrap();
    assert_eq!(on_disk(&rig), rig.text);
    assert_eq!(
        report.changed,
        ["detector.enter_scans", "vision.review_below"]
    );
    assert_eq!(*rig.handle.current(), Config::parse(&rig.text).unwrap());
    let row = &rig.handle.history(1).await.unwrap()[0];
    assert_eq!(
        (row.change.source, row.change.outcome),
        (ChangeSource::Rollback, Outcome::Applied)
    );

    // Only an applied entry can be restored.
    let refused = rig
        .handle
        .set(&set(&[("detector.enter_scans", json!(0))]), web("ana"))
        .await
        .unwrap_err();
    assert!(matches!(refused, ApplyError::Invalid(_)));
    let refused_id = rig.handle.history(1).await.unwrap()[0].id;
    assert!(matches!(
        rig.handle.rollback(refused_id, "ana").await,
        Err(ApplyError::NotApplied(id)) if id == refused_id
    ));
    assert!(matches!(
        rig.handle.rollback(9999, "ana").await,
        Err(ApplyError::NoSuchEntry(9999))
    ));
}

#[tokio::test]
async fn an_edit_on_disk_is_applied_before_any_other_change() {
    let rig = rig().await;
    let edited = rig.text.replace("enter_scans = 2", "enter_scans = 4");
    std::fs::write(&rig.path, &edited).unwrap();
    let error = rig
        .handle
        .set(&set(&[("detector.leave_scans", json!(5))]), web("ana"))
        .await
        .unwrap_err();
    assert!(matches!(error, ApplyError::ChangedOnDisk { .. }), "{error}");
    assert_eq!(on_disk(&rig), edited);

    let report = rig
        .handle
        .reload_file(Origin::new(ChangeSource::Sighup, "signal"))
        .await
        .unwrap();
    assert_eq!(report.applied, ["detector.enter_scans"]);
    rig.handle
        .set(&set(&[("detector.leave_scans", json!(5))]), web("ana"))
        .await
        .unwrap();
    let running = rig.handle.current();
    assert_eq!(
        (running.detector.enter_scans, running.detector.leave_scans),
        (4, 5)
    );
}

#[tokio::test]
async fn changes_that_need_a_restart_are_written_and_named_not_applied() {
    let rig = rig().await;
    let report = rig
        .handle
        .set(
            &set(&[
                ("web.listen", json!("127.0.0.1:8081")),
                ("vision.review_below", json!(0.5)),
            ]),
            web("ana"),
        )
        .await
        .unwrap();
    assert_eq!(report.applied, ["vision.review_below"]);
    assert_eq!(report.restart_needed, ["web.listen"]);
    assert!(on_disk(&rig).contains("listen = \"127.0.0.1:8081\""));
    let running = rig.handle.current();
    assert_eq!(running.web.listen.port(), 8080);
    assert_eq!(running.vision.review_below, 0.5);
    assert_eq!(rig.handle.restart_needed().await, ["web.listen"]);

    // Seat rows for a camera that only a restart brings: applied alone they would be
    // invalid, so the whole change waits.
    let text = on_disk(&rig)
        .replace("name = \"cam-2\"", "name = \"cam-3\"")
        .replace("camera = \"cam-2\"", "camera = \"cam-3\"");
    let report = rig.handle.apply_text(text, web("ana")).await.unwrap();
    assert!(report.applied.is_empty(), "{report:?}");
    assert!(report.held_back.is_some(), "{report:?}");
    assert_eq!(
        report.restart_needed,
        [
            "cameras[1].name",
            "vision.seat_rows[1].camera",
            "web.listen"
        ]
    );
    assert_eq!(rig.handle.current().cameras[1].name, "cam-2");
}

/// A part that refuses a review threshold of 0.9, and one that makes the next write of the
/// config file fail: it puts a directory where the file is, after the file was read.
#[derive(Debug)]
struct Faults {
    path: PathBuf,
}

impl LivePart for Faults {
    fn name(&self) -> &'static str {
        "the test part"
    }

    fn prepare(
        &self,
        _running: &Config,
        next: &Config,
        _reread: bool,
    ) -> Result<Option<Prepared>, String> {
        if next.vision.review_below == 0.9 {
            return Err("0.9 is not allowed here".to_owned());
        }
        if next.detector.enter_scans == 9 {
            std::fs::rename(&self.path, self.path.with_extension("away")).unwrap();
            std::fs::create_dir(&self.path).unwrap();
            std::fs::write(self.path.join("keep"), "").unwrap();
        }
        Ok(None)
    }
}

#[tokio::test]
async fn a_refusing_part_or_a_failing_write_changes_nothing() {
    let rig = rig_with(bench_text, |path| {
        vec![Arc::new(Faults {
            path: path.to_owned(),
        })]
    })
    .await;
    let path = rig.path.clone();
    let before = rig.handle.current();

    let error = rig
        .handle
        .set(&set(&[("vision.review_below", json!(0.9))]), web("ana"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the test part refused the change: 0.9 is not allowed here"
    );
    assert_eq!(on_disk(&rig), rig.text);
    assert_eq!(rig.handle.current(), before);

    let error = rig
        .handle
        .set(&set(&[("detector.enter_scans", json!(9))]), web("ana"))
        .await
        .unwrap_err();
    assert!(matches!(error, ApplyError::Write { .. }), "{error}");
    assert_eq!(rig.handle.current(), before);
    // The old file is where the part moved it, whole.
    assert_eq!(
        std::fs::read_to_string(path.with_extension("away")).unwrap(),
        rig.text
    );
    let outcomes: Vec<Outcome> = rig
        .store
        .config_history(10)
        .await
        .unwrap()
        .iter()
        .map(|entry| entry.change.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [Outcome::Refused, Outcome::Refused, Outcome::Applied]
    );
}

#[tokio::test]
async fn secrets_never_show_but_stay_in_the_file() {
    let text = |dir: &Path| {
        common::bench_config(
            dir,
            common::loopback(2112),
            8080,
            9100,
            Some("nats://vod:hunter2@127.0.0.1:4222"),
        )
    };
    let rig = rig_with(text, |_| Vec::new()).await;
    let masked_url = format!("nats://{MASK}@127.0.0.1:4222");
    assert_eq!(rig.handle.get("bus.nats_url").unwrap(), json!(masked_url));
    let whole = rig.handle.get("").unwrap().to_string();
    assert!(
        !whole.contains("hunter2") && whole.contains(&masked_url),
        "{whole}"
    );
    let file = rig.handle.file_text().await;
    assert!(
        !file.contains("hunter2") && file.contains(&masked_url),
        "{file}"
    );

    // A broken line that quotes the secret: the error and the history row mask it.
    let broken = rig.text.replace(
        "nats_url = \"nats://vod:hunter2@127.0.0.1:4222\"",
        "nats_url = \"nats://vod:hunter2@127.0.0.1:4222",
    );
    let error = rig
        .handle
        .apply_text(broken, web("ana"))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not valid TOML"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
    let history = rig.handle.history(10).await.unwrap();
    for entry in &history {
        assert!(!entry.change.toml.contains("hunter2"), "{entry:?}");
        assert!(
            !entry
                .change
                .error
                .as_deref()
                .unwrap_or("")
                .contains("hunter2"),
            "{entry:?}"
        );
    }
    // The file and the stored history keep the real value, for the box and for a rollback.
    assert!(on_disk(&rig).contains("hunter2"));
    let stored = rig.store.config_history(1).await.unwrap();
    assert!(stored[0].change.toml.contains("hunter2"));
}
