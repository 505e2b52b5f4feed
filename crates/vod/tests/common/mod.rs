//! What the appliance's tests share: the bench config, pointed at a test's own scanner, data
//! directory and ports, with the repository's models.
#![allow(dead_code)] // each test binary uses its own part of it

pub mod bus;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BENCH_CONFIG: &str = include_str!("../../../../deploy/bench/vod.toml");

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// The bench config with the scanner at `scanner`, the data under `dir/data`, the models of
/// the repository, the web and metrics ports `web` and `metrics`, and the bus at `nats_url`
/// (no `[bus]` section for `None`).
pub fn bench_config(
    dir: &Path,
    scanner: SocketAddr,
    web: u16,
    metrics: u16,
    nats_url: Option<&str>,
) -> String {
    let text = BENCH_CONFIG
        .replace("127.0.0.1:2112", &scanner.to_string())
        .replace("127.0.0.1:8080", &loopback(web).to_string())
        .replace("127.0.0.1:9100", &loopback(metrics).to_string())
        .replace("\"./data\"", &format!("{:?}", dir.join("data")))
        .replace(
            "\"file://./data/uplink\"",
            &format!("\"file://{}\"", dir.join("data/uplink").display()),
        )
        .replace(
            "models_dir = \"models\"",
            &format!("models_dir = {:?}", models_dir()),
        );
    match nats_url {
        Some(url) => text.replace("nats://127.0.0.1:4222", url),
        None => {
            let bus = "[bus]                        # optional: without it the box runs without NATS\n\
                       nats_url = \"nats://127.0.0.1:4222\"\nsubject_prefix = \"vod\"\n";
            assert!(text.contains(bus), "the bench config's [bus] section moved");
            text.replace(bus, "")
        }
    }
}

/// The bench config `text` with lane-1 in hard scenes and seen from both sides: `cam-1` and a
/// second camera `cam-1r` on the vehicle's right, with mirrored seat rows.
pub fn lane_1_from_both_sides(text: &str) -> String {
    let other_side = "[[cameras]]\nname = \"cam-1r\"\nlane = \"lane-1\"\nsource = \"sim\"\n\
                      width = 1280\nheight = 1024\nscenes = \"hard\"\nside = \"right\"\n\
                      trigger_delay_ms = 20\nburst_frames = 2\nburst_interval_ms = 40\n\n\
                      [vision]\n";
    let cam_2_rows = "[[vision.seat_rows]]\ncamera = \"cam-2\"";
    let rows = format!(
        "[[vision.seat_rows]]\ncamera = \"cam-1r\"\nfront = [0.15, 0.54]\n\
         rear = [0.54, 0.9]\n\n{cam_2_rows}"
    );
    assert!(
        text.contains("\n[vision]\n") && text.contains(cam_2_rows),
        "the bench config's cameras or seat rows moved"
    );
    text.replacen(
        "width = 1280\nheight = 1024\n",
        "width = 1280\nheight = 1024\nscenes = \"hard\"\n",
        1,
    )
    .replacen("\n[vision]\n", &format!("\n{other_side}"), 1)
    .replacen(cam_2_rows, &rows, 1)
}

/// Writes `text` as `dir/vod.toml` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("vod.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

/// The appliance running in-process on port 0 from the config file at `path`.
pub struct InProcess {
    pub config: vod_core::config::live::ConfigHandle,
    pub store: vod_store::Store,
    pub hub: vod_core::Hub,
    pub metrics_address: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<vod::appliance::Outcome>,
}

impl InProcess {
    pub async fn start(path: &Path) -> InProcess {
        let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let appliance = vod::appliance::Appliance::start(vod::appliance::Setup {
            path: path.to_owned(),
            loaded: vod_core::config::Config::load(path).expect("a valid config"),
            listeners: vod::appliance::Listeners {
                web: bind(),
                metrics: bind(),
            },
            log_filter: None,
            logs: vod_core::log_ring::LogRing::new(100),
        })
        .await
        .expect("the appliance starts");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        InProcess {
            config: appliance.config.clone(),
            store: appliance.store.clone(),
            hub: appliance.hub.clone(),
            metrics_address: appliance.metrics_address,
            stop,
            running: tokio::spawn(appliance.run(async {
                let _either_way = stopped.await;
            })),
        }
    }

    /// Stops it; it must stop cleanly.
    pub async fn stop(self) {
        self.stop.send(()).expect("the appliance still runs");
        let outcome = self.running.await.expect("the appliance's task");
        assert!(
            matches!(outcome, vod::appliance::Outcome::Stopped),
            "{outcome:?}"
        );
    }
}

/// The scanner emulator in-process on a free loopback port, until the token is cancelled.
pub async fn emulator(
    traffic: vod_sim::emulator::EmulatorConfig,
) -> (SocketAddr, tokio_util::sync::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let address = listener.local_addr().expect("its address");
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(vod_sim::emulator::serve(listener, traffic, stop.clone()));
    (address, stop)
}

/// A child process of the test, killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _already_gone = self.0.kill();
        let _reaped = self.0.wait();
    }
}

/// The scanner emulator (`vod sim lidar`) on `port` at 3,000 vehicles an hour, from `seed`.
pub fn start_emulator(port: u16, seed: u64) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_vod"))
        .args(["sim", "lidar", "--listen", &loopback(port).to_string()])
        .args(["--flow-per-hour", "3000", "--seed", &seed.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .expect("start the emulator");
    vod_testkit::wait_for_port(loopback(port), Duration::from_secs(10));
    Process(child)
}

/// Waits until `done`, polling every 20 ms; how long it took. Panics after `patience`.
pub fn wait_until(what: &str, patience: Duration, done: impl Fn() -> bool) -> Duration {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < patience,
            "{what} not seen within {patience:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// The sum of a metric's series on the box's metrics port; NaN while it does not answer.
pub fn metric(port: u16, name: &str) -> f64 {
    vod_testkit::http_get(loopback(port), "/metrics")
        .map(|(_, body)| vod_testkit::metric_sum(&body, name))
        .unwrap_or(f64::NAN)
}

/// A webhook receiver on a free loopback port that answers 204 and keeps every request's
/// `webhook-id`.
pub fn webhook_receiver() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("its address");
    let ids = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ids.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buffer = [0u8; 65536];
            // Headers and body: the box sends a Content-Length, read until it is there.
            loop {
                let n = stream.read(&mut buffer).unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                let Some((head, body)) = text.split_once("\r\n\r\n") else {
                    continue;
                };
                let header = |name: &str| {
                    head.lines().find_map(|line| {
                        let (key, value) = line.split_once(':')?;
                        key.eq_ignore_ascii_case(name)
                            .then(|| value.trim().to_owned())
                    })
                };
                let length: usize = header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    if let Some(id) = header("webhook-id") {
                        seen.lock().expect("the receiver's list").push(id);
                    }
                    break;
                }
            }
            let _gone = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    (address, ids)
}

/// `sqlite3 DB QUERY`'s output, trimmed.
pub fn sqlite(db: &Path, query: &str) -> String {
    let output = Command::new("sqlite3")
        .arg(db)
        .arg(query)
        .output()
        .expect("sqlite3 runs");
    String::from_utf8(output.stdout)
        .expect("sqlite3 writes text")
        .trim()
        .to_owned()
}

/// A `count(*)` query's number (0 when the database cannot answer yet).
pub fn count(db: &Path, query: &str) -> u64 {
    sqlite(db, query).parse().unwrap_or(0)
}

/// The ids of the captures in the store.
pub fn stored_captures(db: &Path) -> std::collections::HashSet<i64> {
    sqlite(db, "select id from captures")
        .lines()
        .map(|id| id.parse().expect("a capture id"))
        .collect()
}

/// The ids of the captures a JSON log says were committed (`Capture committed.`).
pub fn committed_captures(log: &Path) -> std::collections::HashSet<i64> {
    std::fs::read_to_string(log)
        .expect("the box's log")
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "Capture committed.")
        .filter_map(|line| line["capture_id"].as_i64())
        .collect()
}

/// Runs `command`, which must succeed, and reads its standard output as JSON.
pub fn json_output(command: &mut Command) -> serde_json::Value {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on standard output")
}
