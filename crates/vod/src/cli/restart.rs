//! `vod bench restart`: how long the box takes from being started again after kill -9 to
//! `/readyz` answering ready, with a database of many captures. The database is filled once
//! (kept in the work directory for later runs): the first start makes the schema, then
//! `sqlite3` adds the captures with their vehicle, occupancy, detections, model references,
//! two image rows each and the image files (hard links to one file, so that a million
//! captures take little disk but every row has its file, as on a box that kept them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use vod_core::config::Config;

use super::e2e::free_port;
use crate::EX_SOFTWARE;

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Captures in the database before the first kill.
    #[arg(long, default_value_t = 1_000_000)]
    captures: u64,
    /// Starts after a kill -9.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    #[arg(long, default_value = "deploy/bench/vod.toml")]
    config: PathBuf,
    /// Kept between runs: a database already holding the captures is reused.
    #[arg(long, default_value = "target/bench-restart")]
    work_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct RestartReport {
    pub captures: u64,
    pub image_files: u64,
    /// Filling the database (0 when it was reused).
    pub fill_s: f64,
    /// From `vod run` started after a clean stop to `/readyz` 200.
    pub first_start_ms: f64,
    /// The same, each after a kill -9 at a random moment of the previous run.
    pub after_kill_ms: Vec<f64>,
    pub after_kill_max_ms: f64,
    /// How long the file check took beside the last run (it ran before `/readyz` once).
    pub file_check_ms: f64,
    pub file_check_files: u64,
}

pub fn main(args: RestartArgs) -> ExitCode {
    match run(&args) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(error) => eprintln!("vod bench restart: {error}"),
                }
            } else {
                println!(
                    "database    {} captures, {} image files (filled in {:.0} s)",
                    report.captures, report.image_files, report.fill_s
                );
                println!("first start {:.0} ms to ready", report.first_start_ms);
                println!(
                    "file check  {:.0} ms for {} files, beside the running box",
                    report.file_check_ms, report.file_check_files
                );
                println!(
                    "after kill  {} ms to ready (max {:.0} ms)",
                    report
                        .after_kill_ms
                        .iter()
                        .map(|ms| format!("{ms:.0}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    report.after_kill_max_ms
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vod bench restart: {error:#}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}

/// A `vod run` of this binary, killed (SIGKILL) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _already_gone = self.0.kill();
        let _reaped = self.0.wait();
    }
}

fn start(config: &Path, log: &Path) -> anyhow::Result<Running> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Ok(Running(
        Command::new(std::env::current_exe()?)
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting vod run")?,
    ))
}

/// Milliseconds from now until `/readyz` on `web` answers 200.
fn until_ready(web: std::net::SocketAddr, running: &mut Running) -> anyhow::Result<f64> {
    let started = Instant::now();
    loop {
        if let Some(status) = running.0.try_wait()? {
            bail!("vod run ended before it was ready ({status})");
        }
        if readyz(web) {
            return Ok(started.elapsed().as_secs_f64() * 1000.0);
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("not ready within 120 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn readyz(web: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&web, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200") || answer.starts_with(b"HTTP/1.0 200")
}

fn sqlite(db: &Path, sql: &str) -> anyhow::Result<String> {
    let output = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .context("running sqlite3 (apt install sqlite3)")?;
    if !output.status.success() {
        bail!("sqlite3: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A capture every 0.5 s of the days before now, each with its vehicle, occupancy (two rows,
/// two detections), the two models and two image rows, those of the last week with their
/// upload job done (older jobs are purged); prints the image paths.
fn fill_sql(from_id: u64, to_id: u64, now_ms: i64) -> String {
    format!(
        "PRAGMA synchronous = OFF;
BEGIN;
CREATE TEMP TABLE n AS WITH RECURSIVE n(i) AS (SELECT {from_id} UNION ALL SELECT i + 1 FROM n WHERE i < {to_id}) SELECT i, {now_ms} - ({to_id} - i) * 500 AS at_ms FROM n;
INSERT INTO vehicles (id, lane, entered_at_ms, left_at_ms, occupancy_ms, class, max_height_mm, max_width_mm, speed_kmh, length_mm)
  SELECT printf('bench-%d', i), printf('lane-%d', 1 + i % 2), at_ms, at_ms + 400, 400, 'car', 1500, 1800, 90.0, 4500 FROM n;
INSERT INTO captures (id, uuid, vehicle_id, lane, camera, detected_at_ms, stored_at_ms, status, image_count)
  SELECT i, printf('00000000-0000-7000-8000-%012d', i), printf('bench-%d', i), printf('lane-%d', 1 + i % 2), printf('cam-%d', 1 + i % 2), at_ms, at_ms + 150, 'ok', 2 FROM n;
INSERT INTO capture_images (capture_id, burst_index, captured_at_ms, width, height, byte_len, sha256, relative_path)
  SELECT i, b, at_ms + 20 + 40 * b, 1280, 1024, 40000, printf('%064d', 0), printf('%s/00000000-0000-7000-8000-%012d_%d.jpg', strftime('%Y-%m-%d', at_ms / 1000, 'unixepoch'), i, b)
  FROM n, (SELECT 0 AS b UNION ALL SELECT 1);
INSERT INTO capture_occupancy (capture_id, people, countability, needs_review, faces_blurred, evidence_raw)
  SELECT i, 2, 0.9, 0, 2, 0 FROM n;
INSERT INTO occupancy_rows (capture_id, seat_row, people, confidence)
  SELECT i, r, 1, 0.9 FROM n, (SELECT 'front' AS r UNION ALL SELECT 'rear');
INSERT INTO person_detections (capture_id, burst_index, seat_row, x1_px, y1_px, x2_px, y2_px, score)
  SELECT i, 0, r, 100, 200, 300, 600, 0.8 FROM n, (SELECT 'front' AS r UNION ALL SELECT 'rear');
INSERT INTO capture_models (capture_id, name, sha256)
  SELECT i, m, printf('%064d', 0) FROM n, (SELECT 'person' AS m UNION ALL SELECT 'face');
INSERT INTO jobs (queue, kind, args, state, attempt, max_attempts, idempotency_key, capture_id, inserted_at_ms, run_at_ms, attempted_at_ms, finished_at_ms)
  SELECT 'upload', 'upload', printf('{{\"capture_uuid\":\"00000000-0000-7000-8000-%012d\"}}', i), 'completed', 1, 1, printf('upload:%d', i), i, at_ms + 150, at_ms + 150, at_ms + 200, at_ms + 400
  FROM n WHERE at_ms > {now_ms} - 7 * 86400000;
COMMIT;
SELECT relative_path FROM capture_images WHERE capture_id BETWEEN {from_id} AND {to_id};"
    )
}

fn run(args: &RestartArgs) -> anyhow::Result<RestartReport> {
    let mut config = Config::load(&args.config)?.config;
    std::fs::create_dir_all(&args.work_dir)?;
    let work_dir = args.work_dir.canonicalize()?;
    let data_dir = work_dir.join("data");
    config.storage.data_dir = data_dir.clone();
    config.bus = None;
    config.record = None;
    config.log.format = vod_core::config::LogFormat::Json;
    // Room for every capture's images (two of 40 kB), so that retention keeps them all.
    config.retention.image_quota_bytes = args.captures * 2 * 40_000 * 2;
    let web = free_port();
    config.web.listen = web;
    config.metrics.listen = free_port();
    config.check()?;
    let config_path = work_dir.join("vod.toml");
    std::fs::write(&config_path, toml::to_string(&config)?)?;
    let log = work_dir.join("vod.log");
    let db = data_dir.join("vod.db");
    let mut report = RestartReport::default();

    let filled = work_dir.join(format!("filled-{}", args.captures));
    if !filled.exists() {
        let filling = Instant::now();
        let _fresh = std::fs::remove_dir_all(&data_dir);
        // The schema, by the box itself.
        let mut running = start(&config_path, &log)?;
        until_ready(web, &mut running)?;
        stop(&mut running)?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let paths = sqlite(&db, &fill_sql(1, args.captures, now_ms))?;
        let images = data_dir.join("images");
        for (index, path) in paths.lines().enumerate() {
            // One file per 60,000 links: ext4 allows 65,000 to an inode.
            let original = work_dir.join(format!("image-{}.jpg", index / 60_000));
            if index % 60_000 == 0 {
                std::fs::write(&original, [0xff, 0xd8, 0xff, 0xd9])?;
            }
            let file = images.join(path);
            if let Some(day) = file.parent() {
                std::fs::create_dir_all(day)?;
            }
            std::fs::hard_link(&original, &file)
                .with_context(|| format!("linking {}", file.display()))?;
        }
        std::fs::write(&filled, "")?;
        report.fill_s = filling.elapsed().as_secs_f64();
    }
    report.captures = sqlite(&db, "SELECT count(*) FROM captures")?.parse()?;
    report.image_files = sqlite(&db, "SELECT count(*) FROM capture_images")?.parse()?;

    let mut running = start(&config_path, &log)?;
    report.first_start_ms = until_ready(web, &mut running)?;
    let mut moment = chrono::Utc::now().timestamp_subsec_nanos() as u64 | 1;
    for _ in 0..args.rounds {
        // A random moment of the run: 0.2 to 3 s after it was ready.
        moment = moment
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(200 + (moment >> 33) % 2800));
        drop(running);
        running = start(&config_path, &log)?;
        report.after_kill_ms.push(until_ready(web, &mut running)?);
    }
    report.after_kill_max_ms = report.after_kill_ms.iter().copied().fold(0.0, f64::max);
    let checks_before = file_checks(&log)?.len();
    let waiting = Instant::now();
    let check = loop {
        if let Some(check) = file_checks(&log)?.get(checks_before) {
            break *check;
        }
        if waiting.elapsed() > Duration::from_secs(300) {
            bail!("no file check within 300 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (report.file_check_ms, report.file_check_files) = check;
    stop(&mut running)?;
    Ok(report)
}

/// The file checks the log tells of: milliseconds and files.
fn file_checks(log: &Path) -> anyhow::Result<Vec<(f64, u64)>> {
    Ok(std::fs::read_to_string(log)?
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "Checked the image files.")
        .map(|line| {
            (
                line["elapsed_ms"].as_f64().unwrap_or(0.0),
                line["files"].as_u64().unwrap_or(0),
            )
        })
        .collect())
}

/// SIGTERM, and the exit.
fn stop(running: &mut Running) -> anyhow::Result<()> {
    Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status()?;
    running.0.wait()?;
    Ok(())
}
