//! `vod camera list` and `vod camera grab` run as the real binary against Aravis's
//! in-process Fake camera.

use std::process::Command;

const VOD: &str = env!("CARGO_BIN_EXE_vod");

#[test]
fn list_shows_the_fake_camera_with_model_and_serial() {
    let output = Command::new(VOD)
        .args(["camera", "list", "--fake"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let fake = stdout
        .lines()
        .find(|l| l.starts_with("Fake_1\t"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        fake.contains("model=Fake") && fake.contains("serial=1"),
        "{fake}"
    );
}

#[test]
fn grab_writes_one_png_per_frame() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frames");
    let output = Command::new(VOD)
        .args([
            "camera", "grab", "--fake", "--device", "Fake_1", "--count", "3",
        ])
        .args(["--pixel-format", "BayerGR8", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    // The camera's own clock stamps each frame, later frames later.
    let stdout = String::from_utf8(output.stdout).unwrap();
    let device_times: Vec<u64> = stdout
        .lines()
        .map(|line| {
            let field = line
                .split('\t')
                .find_map(|f| f.strip_prefix("device_timestamp_ns="));
            field.unwrap_or_else(|| panic!("{line}")).parse().unwrap()
        })
        .collect();
    assert_eq!(device_times.len(), 3, "{stdout}");
    assert!(device_times.windows(2).all(|w| w[0] < w[1]), "{stdout}");
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", file.display());
    }
}

#[test]
fn grab_from_a_missing_camera_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(VOD)
        .args(["camera", "grab", "--device", "No-Such-Camera", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(69));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("No-Such-Camera"), "{stderr}");
}

#[test]
fn grab_from_a_missing_usb_camera_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(VOD)
        .args(["camera", "grab", "--device", "/dev/video99", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(69));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("/dev/video99") && stderr.contains("opening the USB camera"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_pixel_format_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(VOD)
        .args([
            "camera",
            "grab",
            "--fake",
            "--device",
            "Fake_1",
            "--pixel-format",
            "YUV9",
        ])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
}

/// `arv-fake-gv-camera-0.8` on loopback, killed when dropped.
struct FakeGvCamera(std::process::Child);

impl Drop for FakeGvCamera {
    fn drop(&mut self) {
        let _already_gone = self.0.kill();
        let _reaped = self.0.wait();
    }
}

#[test]
fn a_gige_camera_grabs_by_the_id_that_list_prints() {
    let _simulator = FakeGvCamera(
        Command::new("arv-fake-gv-camera-0.8")
            .args(["-i", "127.0.0.1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("arv-fake-gv-camera-0.8 (Debian aravis-tools)"),
    );
    // The listing once the simulator answers discovery.
    let id = (0..50)
        .find_map(|_| {
            let output = Command::new(VOD).args(["camera", "list"]).output().unwrap();
            let stdout = String::from_utf8(output.stdout).unwrap();
            let id = stdout
                .lines()
                .find(|l| l.contains("protocol=GigEVision") && l.contains("address=127.0.0.1"))
                .and_then(|l| l.split('\t').next())
                .map(str::to_owned);
            if id.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            id
        })
        .expect("the simulator listed");
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(VOD)
        .args(["camera", "grab", "--device", &id, "--count", "2", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{id}: {output:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}
