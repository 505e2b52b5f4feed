//! A process killed with SIGKILL while it writes the config file back leaves the old text or
//! the new one, whole, never a mix.
//!
//! The test re-runs its own binary as the writer (the `crash_writer` test with an environment
//! variable set), which replaces the file with one of two large texts in turn, for ever; the
//! test kills it at different moments and reads the file each time.

use std::process::{Command, Stdio};
use std::time::Duration;

use vod_core::config::file::{remove_stale_temporaries, write_atomically};

/// Set to the config file's path when this binary runs as the writer.
const WRITER_FILE_ENV: &str = "VOD_CORE_CRASH_WRITER_FILE";

/// Two texts of a few megabytes, so that a write takes long enough to be cut.
fn texts() -> [String; 2] {
    ["a", "b"].map(|value| {
        (0..200_000)
            .map(|line| format!("key_{line} = \"{value}\"\n"))
            .collect()
    })
}

#[test]
fn crash_writer() {
    // Does nothing unless the crash test below started this binary as its writer.
    let Ok(file) = std::env::var(WRITER_FILE_ENV) else {
        return;
    };
    let texts = texts();
    for round in 0.. {
        write_atomically(file.as_ref(), &texts[round % 2]).expect("write");
    }
}

#[test]
fn sigkill_during_a_write_leaves_the_old_file_or_the_new() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("vod.toml");
    let texts = texts();
    std::fs::write(&file, &texts[1]).expect("first file");
    for pause_ms in [0, 3, 7, 15, 30, 60, 120, 250] {
        let mut writer = Command::new(std::env::current_exe().expect("this binary"))
            .args(["--exact", "crash_writer", "--nocapture"])
            .env(WRITER_FILE_ENV, &file)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the writer");
        std::thread::sleep(Duration::from_millis(pause_ms));
        writer.kill().expect("SIGKILL");
        writer.wait().expect("reap");
        let text = std::fs::read_to_string(&file).expect("read back");
        assert!(
            texts.contains(&text),
            "after {pause_ms} ms: a file of {} bytes that is neither text",
            text.len()
        );
    }
    // What the cut writes left beside the file goes at the next start, and only that.
    let left = std::fs::read_dir(dir.path()).expect("list").count() - 1;
    assert_eq!(remove_stale_temporaries(&file).expect("clean up"), left);
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    assert!(texts.contains(&std::fs::read_to_string(&file).expect("read back")));
}
