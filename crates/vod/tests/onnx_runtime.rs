//! The binary finds the ONNX Runtime library without `ORT_DYLIB_PATH` where
//! `scripts/setup.sh` puts it for a build in `target/` (`.tools/onnxruntime`).
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::process::Command;

#[test]
fn a_build_in_target_loads_the_models_without_ort_dylib_path() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let report = common::json_output(
        Command::new(env!("CARGO_BIN_EXE_vod"))
            .args(["bench", "occupancy", "--vehicles", "2", "--json"])
            .current_dir(root)
            .env_remove("ORT_DYLIB_PATH"),
    );
    assert_eq!(report["vehicles"], 2);

    // Named but absent: one clear error, exit 70.
    let output = Command::new(env!("CARGO_BIN_EXE_vod"))
        .args(["bench", "occupancy", "--vehicles", "1"])
        .current_dir(root)
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(70));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "ORT_DYLIB_PATH=/nonexistent/libonnxruntime.so.1.31.1: the file does not exist"
        ),
        "{stderr}"
    );
}
