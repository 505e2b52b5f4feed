//! End to end: the real `vod` binary against the real scanner emulator (another `vod`
//! process), a real nats-server and a real SQLite file.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use vod_testkit::{
    NatsServer, free_port, http_exchange, http_get, metric_sum, nats_request, wait_for_port,
    web_sign_in,
};

mod common;

use common::{BENCH_CONFIG, Process, loopback, start_emulator};

const VOD: &str = env!("CARGO_BIN_EXE_vod");

/// The bench config, pointed at this test's ports and data directory.
fn write_config(dir: &Path, scanner: u16, web: u16, metrics: u16, nats_url: &str) -> String {
    let text = common::bench_config(dir, loopback(scanner), web, metrics, Some(nats_url));
    common::write_config(dir, &text)
        .to_string_lossy()
        .into_owned()
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

/// The series of `vod_config_changes_total` for one source and result.
fn changes(source: &str, result: &str) -> String {
    format!("vod_config_changes_total{{result=\"{result}\",source=\"{source}\"}}")
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
    let emulator = start_emulator(scanner, 7);
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
    // The process's own numbers, and which build this is.
    let body = scrape(metrics);
    for process_metric in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_threads",
    ] {
        assert!(metric_sum(&body, process_metric) > 0.0, "{process_metric}");
    }
    // Whole seconds: there may be none yet.
    assert!(
        body.lines()
            .any(|line| line.starts_with("process_cpu_seconds_total "))
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map_or("unknown".to_owned(), |output| {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        });
    let build_info = format!(
        "vod_build_info{{commit=\"{head}\",version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(body.contains(&build_info), "{build_info} not in\n{body}");

    // A technician added on the command line, the password on stdin, signs in to the page.
    let mut add = Command::new(VOD)
        .args([
            "user",
            "add",
            "tec",
            "--role",
            "technician",
            "--config",
            &config,
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
    assert_eq!(
        http_get(loopback(web), "/").unwrap().0,
        303,
        "the page needs a session"
    );
    let session = web_sign_in(loopback(web), "tec", "correct horse battery").unwrap();
    let (status, _, page) = http_exchange(loopback(web), "GET", "/", &[session], b"").unwrap();
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
    let _emulator = start_emulator(scanner, 7);
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

    // SIGTERM stops it cleanly. (How quickly is the grace period's promise, tested with a
    // component that hangs in faults.rs; 30 s here is a hang, not a speed.)
    let pid = appliance.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = wait_exit(&mut appliance.0, Duration::from_secs(30)).expect("stopped within 30 s");
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

#[test]
fn sighup_refuses_a_bad_model_keeps_running_and_applies_a_good_change() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let (scanner, web, metrics) = (free_port(), free_port(), free_port());
    let _emulator = start_emulator(scanner, 7);
    let config = write_config(dir.path(), scanner, web, metrics, &nats.url());
    // A models folder of this test's own: the shipped files, and a person manifest whose
    // sha256 does not match its model file.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::os::unix::fs::symlink(&path, models.join(path.file_name().unwrap())).unwrap();
        }
    }
    let person = std::fs::read_to_string(shipped.join("nanodet_g_416_coco.toml")).unwrap();
    let wrong = person.replace("sha256 = \"dfb4c85a", "sha256 = \"00000000");
    assert_ne!(person, wrong);
    std::fs::write(models.join("person_wrong_sha.toml"), wrong).unwrap();
    let base = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            &format!("models_dir = {shipped:?}"),
            &format!("models_dir = {models:?}"),
        )
        .replace("review_below = 0.2", "review_below = 0.0");
    assert!(base.contains(&format!("models_dir = {models:?}")));
    std::fs::write(&config, &base).unwrap();

    let log = dir.path().join("vod.log");
    let mut appliance = Process(
        Command::new(VOD)
            .args(["run", "--config", &config])
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let pid = appliance.0.id().to_string();
    let hangup = || {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        )
    };
    wait_for_port(loopback(metrics), Duration::from_secs(30));
    wait_for_metrics(metrics, Duration::from_secs(60), "a capture", |m| {
        metric_sum(m, "vod_store_captures_total") > 0.0
    });
    assert_eq!(
        metric_sum(&scrape(metrics), "vod_vision_captures_review_total"),
        0.0
    );

    // A person manifest whose sha256 is wrong: refused, named, and the box goes on.
    std::fs::write(
        &config,
        base.replace(
            "person_model = \"nanodet_g_416_coco.toml\"",
            "person_model = \"person_wrong_sha.toml\"",
        ),
    )
    .unwrap();
    hangup();
    wait_for_metrics(metrics, Duration::from_secs(30), "the refusal", |m| {
        metric_sum(m, &changes("sighup", "refused")) == 1.0
    });
    let captures = metric_sum(&scrape(metrics), "vod_store_captures_total");
    wait_for_metrics(
        metrics,
        Duration::from_secs(60),
        "captures after the refusal",
        |m| metric_sum(m, "vod_store_captures_total") > captures,
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("person_wrong_sha.toml") && logged.contains("the manifest says 00000000"),
        "{logged}"
    );
    assert_eq!(
        metric_sum(&scrape(metrics), "vod_vision_captures_review_total"),
        0.0
    );

    // A valid change: every capture from now on is flagged for review. The web port changes
    // too, which needs a restart: named, not applied.
    let other_web = loopback(free_port()).to_string();
    std::fs::write(
        &config,
        base.replace("review_below = 0.0", "review_below = 1.0")
            .replace(&loopback(web).to_string(), &other_web),
    )
    .unwrap();
    hangup();
    wait_for_metrics(metrics, Duration::from_secs(30), "the reload", |m| {
        metric_sum(m, &changes("sighup", "applied")) == 1.0
    });
    wait_for_metrics(
        metrics,
        Duration::from_secs(60),
        "a capture flagged for review",
        |m| metric_sum(m, "vod_vision_captures_review_total") > 0.0,
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("vision.review_below"), "{logged}");
    assert!(
        logged.contains("Config changes that need a restart were not applied.")
            && logged.contains("[\"web.listen\"]"),
        "{logged}"
    );
    assert_eq!(http_get(loopback(web), "/readyz").unwrap().0, 200);

    // The same reload asked for over the bus, as an engineer does from afar: the reply says
    // what was applied.
    std::fs::write(
        &config,
        base.replace("review_below = 0.0", "review_below = 0.5"),
    )
    .unwrap();
    let reply = nats_request(
        &nats.url(),
        "vod.bench-rig.cmd.config.reload",
        "",
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(
        reply.contains("\"ok\":true") && reply.contains("vision.review_below"),
        "{reply}"
    );
    assert_eq!(
        metric_sum(&scrape(metrics), &changes("bus", "applied")),
        1.0
    );
    // The config history holds the start-up file, the refusal and each applied change.
    let sources = Command::new("sqlite3")
        .arg(dir.path().join("data/vod.db"))
        .arg("select source, actor, outcome from config_history order by id")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(sources.stdout).unwrap(),
        "file|vod run|applied\nsighup|signal|refused\nsighup|signal|applied\nbus|bus|applied\n"
    );

    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let status = wait_exit(&mut appliance.0, Duration::from_secs(30)).expect("stopped within 30 s");
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_thousand_idle_connections_stop_neither_captures_nor_the_page_nor_the_metrics() {
    // The test holds the connections itself: it needs the descriptors for them.
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(
        limit >= 1200,
        "the open-files limit of this machine is {limit}"
    );
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let (scanner, web, metrics) = (free_port(), free_port(), free_port());
    let _emulator = start_emulator(scanner, 7);
    let config = write_config(dir.path(), scanner, web, metrics, &nats.url());
    // Idle connections are held for two minutes here, so that they are still open while the
    // captures are counted.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("header_timeout_s = 10 ", "header_timeout_s = 120");
    assert!(text.contains("header_timeout_s = 120"));
    std::fs::write(&config, text).unwrap();
    let _appliance = Process(
        Command::new(VOD)
            .args(["run", "--config", &config])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(loopback(web), Duration::from_secs(30));
    wait_for_metrics(metrics, Duration::from_secs(60), "a first capture", |m| {
        metric_sum(m, "vod_store_captures_total") > 0.0
    });
    let idle: Vec<std::net::TcpStream> = (0..1000)
        .map(|_| std::net::TcpStream::connect(loopback(web)).unwrap())
        .collect();
    let captures_before = metric_sum(&scrape(metrics), "vod_store_captures_total");
    wait_for_metrics(metrics, Duration::from_secs(60), "captures go on", |m| {
        metric_sum(m, "vod_store_captures_total") >= captures_before + 3.0
    });
    assert!(
        metric_sum(&scrape(metrics), "vod_web_connections_refused_total") == 0.0,
        "no connection was refused"
    );
    let (status, body) = http_get(loopback(web), "/healthz").unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = http_get(loopback(web), "/login").unwrap();
    assert_eq!(
        status, 303,
        "the page answers (no user yet: to the first-run page)"
    );
    let scraped = scrape(metrics);
    assert!(
        metric_sum(&scraped, "vod_web_connections_open") >= 1000.0,
        "the idle connections are held, not refused: {}",
        metric_sum(&scraped, "vod_web_connections_open")
    );
    drop(idle);
}
