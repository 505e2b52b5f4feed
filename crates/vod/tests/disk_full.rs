//! The whole box on a full disk during traffic: the binary runs in a mount namespace of its
//! own (`unshare --mount`, with `--map-root-user` when not root) whose images directory is a
//! small tmpfs; a ballast file fills it for a while and is removed. Meanwhile every vehicle is
//! still stored (its capture without images), `/readyz` says ready but degraded, and once space
//! returns the next captures have their images again. The recovery time is printed.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Process, committed_captures, loopback, metric, sqlite, start_emulator, stored_captures,
    wait_until,
};
use vod_testkit::{free_port, http_get};

const VOD: &str = env!("CARGO_BIN_EXE_vod");
const PATIENCE: Duration = Duration::from_secs(90);
/// Room for a few dozen captures of two 20-60 kB images.
const TMPFS_SIZE: &str = "size=4m";

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .is_some_and(|uids| uids.split_whitespace().nth(1) == Some("0"))
}

/// `vod run` in its own mount namespace with `images` a tmpfs; a helper beside it fills the
/// tmpfs with a ballast file while `dir/fill` exists and removes it when `dir/free` does.
fn start_box(dir: &Path, config: &Path, log: &Path) -> Process {
    let images = dir.join("data/images");
    std::fs::create_dir_all(&images).unwrap();
    let script = format!(
        "set -e\n\
         mount -t tmpfs -o {TMPFS_SIZE} tmpfs '{images}'\n\
         ( while [ ! -e '{dir}/free' ]; do\n\
             if [ -e '{dir}/fill' ] && [ ! -e '{images}/ballast' ]; then\n\
               dd if=/dev/zero of='{images}/ballast' bs=64k 2>/dev/null || true\n\
             fi\n\
             sleep 0.05\n\
           done\n\
           rm -f '{images}/ballast' ) &\n\
         exec '{VOD}' run --config '{config}'\n",
        images = images.display(),
        dir = dir.display(),
        config = config.display(),
    );
    let mut unshare = Command::new("unshare");
    if !is_root() {
        unshare.arg("--map-root-user");
    }
    let log = std::fs::File::create(log).unwrap();
    Process(
        unshare
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .env("RUST_LOG", "info,vod::vehicle=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("unshare runs (util-linux)"),
    )
}

#[test]
fn a_full_disk_during_traffic_costs_images_never_captures() {
    let dir = tempfile::tempdir().unwrap();
    let scanner = free_port();
    let _emulator = start_emulator(scanner, 31);
    let (web, metrics) = (free_port(), free_port());
    let text = common::bench_config(dir.path(), loopback(scanner), web, metrics, None)
        .replace("format = \"text\"", "format = \"json\"");
    let config = common::write_config(dir.path(), &text);
    let log = dir.path().join("vod.log");
    let appliance = start_box(dir.path(), &config, &log);
    let ready = |body: &str| {
        http_get(loopback(web), "/readyz")
            .is_ok_and(|(status, text)| status == 200 && text.contains(body))
    };
    wait_until("the box ready", PATIENCE, || ready("ready"));
    let captures = || metric(metrics, "vod_store_captures_total");
    wait_until("captures with images", PATIENCE, || {
        captures() >= 3.0 && metric(metrics, "vod_store_images_writable") == 1.0
    });

    // The disk fills: captures go on without their images.
    std::fs::write(dir.path().join("fill"), "").unwrap();
    let filled = wait_until("images no longer written", PATIENCE, || {
        metric(metrics, "vod_store_images_writable") == 0.0
    });
    let (stored, dropped) = (
        captures(),
        metric(metrics, "vod_store_images_dropped_total"),
    );
    wait_until("captures stored on the full disk", PATIENCE, || {
        captures() >= stored + 3.0
    });
    assert!(metric(metrics, "vod_store_images_dropped_total") > dropped);
    assert!(ready("degraded"), "readyz does not say the box is degraded");

    // Space returns: the next capture has its images.
    std::fs::write(dir.path().join("free"), "").unwrap();
    let freed = Instant::now();
    wait_until("images written again", PATIENCE, || {
        metric(metrics, "vod_store_images_writable") == 1.0
    });
    let recovered = freed.elapsed();
    let stored = captures();
    wait_until("captures with images after", PATIENCE, || {
        captures() >= stored + 2.0
    });
    assert_eq!(metric(metrics, "vod_store_images_writable"), 1.0);
    assert!(ready("ready\n"), "readyz still degraded");
    let pid = appliance.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    drop(appliance);

    // No capture lost: each the log committed is in the store, each vehicle has its capture.
    let db = dir.path().join("data/vod.db");
    assert_eq!(committed_captures(&log), stored_captures(&db));
    assert_eq!(
        sqlite(&db, "select count(*) from vehicles v where not exists (select 1 from captures c where c.vehicle_id = v.id)").trim(),
        "0",
        "vehicles without a capture"
    );
    eprintln!(
        "disk full: images stopped {:.2} s after the disk filled; written again {:.2} s after space returned",
        filled.as_secs_f64(),
        recovered.as_secs_f64()
    );
}
