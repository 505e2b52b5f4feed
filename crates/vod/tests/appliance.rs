//! End to end: the real `vod` binary against the real scanner emulator (another `vod`
//! process), a real nats-server and a real SQLite file.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use vod_testkit::{NatsServer, free_port, http_get, metric_sum, wait_for_port};

const VOD: &str = env!("CARGO_BIN_EXE_vod");
const BENCH_CONFIG: &str = include_str!("../../../deploy/bench/vod.toml");

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _already_gone = self.0.kill();
        let _reaped = self.0.wait();
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn start_emulator(port: u16) -> Process {
    let child = Command::new(VOD)
        .args(["sim", "lidar", "--listen", &loopback(port).to_string()])
        .args(["--flow-per-hour", "3000", "--seed", "7"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the emulator");
    wait_for_port(loopback(port), Duration::from_secs(10));
    Process(child)
}

/// The bench config, pointed at this test's ports and data directory.
fn write_config(dir: &Path, scanner: u16, web: u16, metrics: u16, nats_url: &str) -> String {
    let text = BENCH_CONFIG
        .replace("127.0.0.1:2112", &loopback(scanner).to_string())
        .replace("127.0.0.1:8080", &loopback(web).to_string())
        .replace("127.0.0.1:9100", &loopback(metrics).to_string())
        .replace("nats://127.0.0.1:4222", nats_url)
        .replace("\"./data\"", &format!("{:?}", dir.join("data")))
        .replace(
            "models_dir = \"models\"",
            &format!(
                "models_dir = {:?}",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
            ),
        );
    let path = dir.join("vod.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn scrape(metrics: u16) -> String {
    http_get(loopback(metrics), "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default()
}

/// Polls the metrics until `condition` holds, or panics after `timeout` with the last scrape.
fn wait_for_metrics(metrics: u16, timeout: Duration, what: &str, condition: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let body = scrape(metrics);
        if condition(&body) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within {timeout:?}; last scrape:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn one_vehicle_after_another_from_scanner_to_stored_capture() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let (scanner, web, metrics) = (free_port(), free_port(), free_port());
    let emulator = start_emulator(scanner);
    let config = write_config(dir.path(), scanner, web, metrics, &nats.url());
    let mut appliance = Process(
        Command::new(VOD)
            .args(["run", "--config", &config])
            .env("RUST_LOG", "info")
            .spawn()
            .unwrap(),
    );
    wait_for_port(loopback(metrics), Duration::from_secs(30));

    wait_for_metrics(
        metrics,
        Duration::from_secs(60),
        "vehicles and captures",
        |m| {
            metric_sum(m, "vod_lidar_vehicles_total") > 0.0
                && metric_sum(m, "vod_store_captures_total") > 0.0
        },
    );
    let (status, page) = http_get(loopback(web), "/").unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("<img src=\"/images/"), "{page}");
    assert_eq!(http_get(loopback(web), "/readyz").unwrap().0, 200);
    let db = dir.path().join("data/vod.db");
    let rows = Command::new("sqlite3")
        .arg(&db)
        .arg("select count(*) from captures")
        .output()
        .unwrap();
    let rows: u64 = String::from_utf8_lossy(&rows.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(rows > 0);

    // The scanner goes away and comes back on the same port: the box reconnects by itself.
    drop(emulator);
    wait_for_metrics(metrics, Duration::from_secs(20), "the disconnection", |m| {
        metric_sum(m, "vod_lidar_connected") == 0.0
    });
    let vehicles_before = metric_sum(&scrape(metrics), "vod_lidar_vehicles_total");
    let _emulator = start_emulator(scanner);
    wait_for_metrics(
        metrics,
        Duration::from_secs(60),
        "reconnection and new vehicles",
        |m| {
            metric_sum(m, "vod_lidar_reconnects_total") >= 1.0
                && metric_sum(m, "vod_lidar_connected") == 1.0
                && metric_sum(m, "vod_lidar_vehicles_total") > vehicles_before
        },
    );

    // SIGTERM stops it cleanly, quickly.
    let pid = appliance.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = wait_exit(&mut appliance.0, Duration::from_secs(5)).expect("stopped within 5 s");
    assert!(status.success(), "{status:?}");
}

#[test]
fn config_check_names_every_problem_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = BENCH_CONFIG
        .replace("window_s = 60", "window_s = \"a minute\"")
        .replace("[metrics]", "[metrics]\nport = 9100")
        .replace("id = \"bench-rig\"\n", "");
    std::fs::write(&path, text).unwrap();
    for args in [vec!["config", "check"], vec!["run", "--config"]] {
        let output = Command::new(VOD).args(&args).arg(&path).output().unwrap();
        assert_eq!(output.status.code(), Some(64), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("site.id: missing required key"), "{stderr}");
        assert!(stderr.contains("metrics.port: unknown key"), "{stderr}");
        assert!(
            stderr.contains("supervisor.window_s: invalid type"),
            "{stderr}"
        );
    }
    let good = Command::new(VOD)
        .args(["config", "check", "../../deploy/bench/vod.toml"])
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
}
