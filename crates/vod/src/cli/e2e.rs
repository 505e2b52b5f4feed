//! `vod bench e2e`: the real appliance (this binary's `vod run`, in a process of its own)
//! against the scanner emulator (in this process) at a given traffic, with a simulated
//! camera per lane. Every vehicle's story comes from the appliance's own `vod::vehicle` log
//! lines (JSON): detection, trigger latency, burst, commit; ground truth from the emulator's
//! schedule; memory and open files from `/proc` every 2 s. Soak: over a long run, a steady
//! growth of memory or open files fails the bench.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use vod_core::config::{
    CameraConfig, CameraSource, CameraTrigger, Config, LogFormat, SeatRowsConfig, SimSource,
};
use vod_sim::emulator::{EmulatedLane, EmulatorConfig, ground_truth, serve_from};

use crate::EX_SOFTWARE;
use crate::process::sample_of;

#[derive(Debug, Args)]
pub struct E2eArgs {
    #[arg(long, default_value_t = 2)]
    lanes: u32,
    /// Per lane.
    #[arg(long, default_value_t = 600)]
    vehicles_per_hour: u32,
    /// Frames per burst.
    #[arg(long, default_value_t = 2)]
    frames: u32,
    /// How long the traffic runs.
    #[arg(long, default_value_t = 2.0)]
    minutes: f64,
    /// A second camera per lane, on the vehicle's other side: each vehicle counted from both.
    #[arg(long)]
    both_sides: bool,
    /// The bench rig's config, the lanes, cameras and seat rows replaced.
    #[arg(long, default_value = "deploy/bench/vod.toml")]
    config: PathBuf,
    /// Where the run's config, data and log go (made anew).
    #[arg(long, default_value = "target/bench-e2e")]
    work_dir: PathBuf,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

/// Time for the appliance to load its models and connect before the first vehicle.
const WARMUP_MS: u64 = 10_000;
/// After the traffic: time for the last vehicles to leave and their captures to commit.
const DRAIN_MS: u64 = 10_000;

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spread {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub count: usize,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Spread {
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            max: values[values.len() - 1],
            count: values.len(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct E2eReport {
    pub lanes: u32,
    pub vehicles_per_hour_per_lane: u32,
    pub frames_per_burst: u32,
    pub traffic_s: f64,
    pub vehicles_truth: usize,
    pub vehicles_detected: usize,
    pub truth_per_lane: BTreeMap<String, usize>,
    pub detected_per_lane: BTreeMap<String, usize>,
    /// Cameras counting each lane (2 with `--both-sides`): captures per vehicle.
    pub cameras_per_lane: usize,
    pub captures_stored: usize,
    /// Captures of detected vehicles never committed (`cameras_per_lane` expected of each).
    pub captures_lost: usize,
    /// Committed without an image.
    pub captures_no_image: usize,
    /// Detection (the socket read that completed it) to the trigger command handed over.
    pub trigger_latency_ms: Spread,
    /// Vehicle detected to (the last of its) captures committed.
    pub capture_latency_ms: Spread,
    /// Vehicle left the scan plane to its last capture committed (negative: committed before it
    /// left).
    pub capture_latency_from_left_ms: Spread,
    pub vision_frames_per_s: f64,
    /// CPU seconds per second of the threads alive at the end, by name (threads that ended
    /// during the run, as a burst's face-model thread does, count only in `cpu_cores`).
    pub cpu_cores_by_thread: BTreeMap<String, f64>,
    /// CPU seconds per second of the whole process.
    pub cpu_cores: f64,
    pub peak_rss_mb: f64,
    pub final_rss_mb: f64,
    pub peak_open_files: usize,
    pub final_open_files: usize,
    /// Least-squares slopes after the warm-up and the first fifth of the traffic.
    pub rss_growth_mb_per_hour: f64,
    pub open_files_growth_per_hour: f64,
    /// Why the soak failed, if it did.
    pub growth: Vec<String>,
}

pub fn main(args: E2eArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("vod bench e2e: {error}");
            return ExitCode::from(EX_SOFTWARE);
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(error) => eprintln!("vod bench e2e: {error}"),
                }
            } else {
                print(&report);
            }
            if report.growth.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!("vod bench e2e: {}", report.growth.join("; "));
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("vod bench e2e: {error:#}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}

/// Lanes 3.7 m wide side by side, centred under the scanner.
fn lanes(count: u32) -> Vec<EmulatedLane> {
    let width = 3700;
    let left = -(count as i32) * width / 2;
    (0..count as i32)
        .map(|i| EmulatedLane {
            lateral_from_mm: left + i * width,
            lateral_to_mm: left + (i + 1) * width,
        })
        .collect()
}

/// The bench config with the emulated site's lanes, a simulated camera per lane and its
/// seat rows; data in `work_dir/data`, no bus.
fn site_config(
    base: &Config,
    traffic: &EmulatorConfig,
    address: String,
    args: &E2eArgs,
    work_dir: &Path,
) -> Config {
    let mut config = base.clone();
    let (scanner, lanes) = traffic.site(&base.scanners[0].name, address);
    let template = base.cameras[0].clone();
    let rows = base.vision.seat_rows[0].clone();
    config.cameras = lanes
        .iter()
        .enumerate()
        .map(|(i, lane)| CameraConfig {
            name: format!("cam-{}", i + 1),
            lane: lane.name.clone(),
            source: CameraSource::Sim(SimSource::sized(1280, 1024)),
            trigger: CameraTrigger::DelayMs(20),
            burst_frames: args.frames,
            ..template.clone()
        })
        .collect();
    config.vision.seat_rows = config
        .cameras
        .iter()
        .map(|camera| SeatRowsConfig {
            camera: camera.name.clone(),
            ..rows.clone()
        })
        .collect();
    config.scanners = vec![scanner];
    config.lanes = lanes;
    config.speed_planes.clear();
    config.bus = None;
    config.record = None;
    config.storage.data_dir = work_dir.join("data");
    // The stories are read from the JSON lines.
    config.log.format = LogFormat::Json;
    // Free ports: a bench rig may run beside it.
    config.web.listen = free_port();
    config.metrics.listen = free_port();
    config
}

/// A loopback address with a port free right now.
pub(super) fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|_| ([127, 0, 0, 1], 0).into())
}

/// One `/proc` sample of the appliance.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_s: f64,
    rss_mb: f64,
    open_files: usize,
}

fn sample(pid: u32, started: Instant) -> Sample {
    let process = sample_of(Path::new(&format!("/proc/{pid}")));
    Sample {
        at_s: started.elapsed().as_secs_f64(),
        rss_mb: process.rss_bytes as f64 / (1024.0 * 1024.0),
        open_files: process.open_files as usize,
    }
}

/// The slope of `y` over `x` by least squares, per hour of `x` seconds.
fn per_hour(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx * 3600.0 }
}

/// What the appliance's `vod::vehicle` lines say of each vehicle.
#[derive(Debug, Default)]
struct Story {
    lane: Option<String>,
    entered: Option<DateTime<Utc>>,
    left: Option<DateTime<Utc>>,
    /// The last of its captures committed, and how many were.
    committed: Option<DateTime<Utc>>,
    commits: usize,
    trigger_latency_ms: Vec<f64>,
    frames: usize,
}

fn stories(log: &str) -> HashMap<String, Story> {
    let mut stories: HashMap<String, Story> = HashMap::new();
    for line in log.lines() {
        let Ok(line) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(id), Some(message)) = (line["vehicle_id"].as_str(), line["message"].as_str())
        else {
            continue;
        };
        let at = line["timestamp"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let story = stories.entry(id.to_owned()).or_default();
        match message {
            "Vehicle event." if line["kind"] == "Entered" => {
                story.entered = at;
                story.lane = line["lane"].as_str().map(str::to_owned);
            }
            "Vehicle event." => story.left = at,
            "Trigger sent." => story
                .trigger_latency_ms
                .extend(line["latency_us"].as_f64().map(|us| us / 1000.0)),
            "Burst taken." => story.frames += line["frames"].as_u64().unwrap_or(0) as usize,
            "Capture committed." => {
                story.committed = at;
                story.commits += 1;
            }
            _ => {}
        }
    }
    stories
}

struct Appliance(Child);

impl Drop for Appliance {
    fn drop(&mut self) {
        let _already_gone = self.0.kill();
        let _reaped = self.0.wait();
    }
}

async fn run(args: &E2eArgs) -> anyhow::Result<E2eReport> {
    let base = Config::load(&args.config)?.config;
    if base.cameras.is_empty() || base.vision.seat_rows.is_empty() || base.scanners.is_empty() {
        bail!(
            "{}: needs a scanner, a camera and its seat rows",
            args.config.display()
        );
    }
    let work_dir = &args.work_dir;
    let _fresh = std::fs::remove_dir_all(work_dir);
    std::fs::create_dir_all(work_dir)?;
    let work_dir = work_dir.canonicalize()?;
    let traffic_ms = (args.minutes * 60_000.0) as u64;
    let traffic = EmulatorConfig {
        lanes: lanes(args.lanes),
        flow_per_hour: f64::from(args.vehicles_per_hour),
        warmup_ms: WARMUP_MS as u32,
        traffic_duration_ms: Some(WARMUP_MS + traffic_ms),
        seed: args.seed,
        ..EmulatorConfig::bench_rig()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let mut config = site_config(&base, &traffic, address, args, &work_dir);
    if args.both_sides {
        config = vod_sim::occupancy_accuracy::seen_from_both_sides(&config)?;
    }
    config.check()?;
    let config_path = work_dir.join("vod.toml");
    std::fs::write(&config_path, toml::to_string(&config)?)?;
    let log_path = work_dir.join("vod.log");
    let origin = tokio::time::Instant::now();
    let stop_emulator = CancellationToken::new();
    let emulator = tokio::spawn(serve_from(
        listener,
        traffic.clone(),
        origin,
        stop_emulator.clone(),
    ));
    let mut appliance = Appliance(
        Command::new(std::env::current_exe()?)
            .args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "warn,vod::vehicle=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log_path)?))
            .spawn()
            .context("starting vod run")?,
    );
    let pid = appliance.0.id();
    let run_for = Duration::from_millis(WARMUP_MS + traffic_ms + DRAIN_MS);
    let mut samples = Vec::new();
    let proc_dir = format!("/proc/{pid}");
    let cpu_start = sample_of(Path::new(&proc_dir));
    let started = Instant::now();
    while started.elapsed() < run_for {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(status) = appliance.0.try_wait()? {
            bail!(
                "vod run ended during the run ({status}); its log: {}",
                log_path.display()
            );
        }
        samples.push(sample(pid, started));
    }
    let cpu_end = sample_of(Path::new(&proc_dir));
    let wall_s = run_for.as_secs_f64();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    drop(appliance);
    stop_emulator.cancel();
    let _stopped = emulator.await;

    let truth = ground_truth(&traffic, Duration::from_millis(WARMUP_MS + traffic_ms));
    let mut report = E2eReport {
        lanes: args.lanes,
        vehicles_per_hour_per_lane: args.vehicles_per_hour,
        frames_per_burst: args.frames,
        traffic_s: traffic_ms as f64 / 1000.0,
        vehicles_truth: truth.len(),
        cameras_per_lane: if args.both_sides { 2 } else { 1 },
        ..E2eReport::default()
    };
    for pass in &truth {
        *report
            .truth_per_lane
            .entry(format!("lane-{}", pass.lane + 1))
            .or_default() += 1;
    }
    let log = std::fs::read_to_string(&log_path)?;
    let stories = stories(&log);
    let (mut trigger, mut capture, mut from_left, mut frames) =
        (Vec::new(), Vec::new(), Vec::new(), 0);
    for story in stories.values() {
        let Some(entered) = story.entered else {
            continue;
        };
        report.vehicles_detected += 1;
        *report
            .detected_per_lane
            .entry(story.lane.clone().unwrap_or_default())
            .or_default() += 1;
        trigger.extend(&story.trigger_latency_ms);
        frames += story.frames;
        report.captures_stored += story.commits;
        report.captures_lost += report.cameras_per_lane.saturating_sub(story.commits);
        if let Some(committed) = story.committed {
            capture.push((committed - entered).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            if let Some(left) = story.left {
                from_left.push((committed - left).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            }
        }
    }
    report.captures_no_image = stories
        .values()
        .filter(|s| s.committed.is_some() && s.frames == 0)
        .count();
    report.trigger_latency_ms = Spread::of(trigger);
    report.capture_latency_ms = Spread::of(capture);
    report.capture_latency_from_left_ms = Spread::of(from_left);
    report.vision_frames_per_s = frames as f64 / report.traffic_s.max(1.0);
    for (name, end_ms) in &cpu_end.thread_cpu_ms {
        let start_ms = cpu_start.thread_cpu_ms.get(name).copied().unwrap_or(0);
        let used = end_ms.saturating_sub(start_ms) as f64 / 1000.0;
        if used > 0.0 {
            report
                .cpu_cores_by_thread
                .insert(name.clone(), used / wall_s);
        }
    }
    report.cpu_cores = cpu_end.cpu_ms.saturating_sub(cpu_start.cpu_ms) as f64 / 1000.0 / wall_s;
    report.peak_rss_mb = samples.iter().map(|s| s.rss_mb).fold(0.0, f64::max);
    report.final_rss_mb = samples.last().map_or(0.0, |s| s.rss_mb);
    report.peak_open_files = samples.iter().map(|s| s.open_files).max().unwrap_or(0);
    report.final_open_files = samples.last().map_or(0, |s| s.open_files);
    // After the warm-up (models loaded) and the first fifth of the traffic.
    let settle_s = WARMUP_MS as f64 / 1000.0 + report.traffic_s / 5.0;
    let settled: Vec<&Sample> = samples.iter().filter(|s| s.at_s >= settle_s).collect();
    report.rss_growth_mb_per_hour = per_hour(
        &settled
            .iter()
            .map(|s| (s.at_s, s.rss_mb))
            .collect::<Vec<_>>(),
    );
    report.open_files_growth_per_hour = per_hour(
        &settled
            .iter()
            .map(|s| (s.at_s, s.open_files as f64))
            .collect::<Vec<_>>(),
    );
    // Growth only counts over a run long enough to tell it from warming up.
    if args.minutes >= 30.0 {
        if report.rss_growth_mb_per_hour > 20.0 {
            report.growth.push(format!(
                "memory grows {:.1} MB an hour",
                report.rss_growth_mb_per_hour
            ));
        }
        if report.open_files_growth_per_hour > 10.0 {
            report.growth.push(format!(
                "open files grow {:.1} an hour",
                report.open_files_growth_per_hour
            ));
        }
    }
    Ok(report)
}

fn print(r: &E2eReport) {
    println!(
        "traffic     {} lanes x {} vehicles/h, {} frames a burst, {:.0} s",
        r.lanes, r.vehicles_per_hour_per_lane, r.frames_per_burst, r.traffic_s
    );
    println!(
        "vehicles    {} detected of {} true ({:?} against {:?})",
        r.vehicles_detected, r.vehicles_truth, r.detected_per_lane, r.truth_per_lane
    );
    println!(
        "captures    {} stored, {} lost, {} without image",
        r.captures_stored, r.captures_lost, r.captures_no_image
    );
    for (name, s) in [
        ("trigger", &r.trigger_latency_ms),
        ("capture", &r.capture_latency_ms),
        ("from left", &r.capture_latency_from_left_ms),
    ] {
        println!(
            "{name:<11} p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} values)",
            s.p50, s.p95, s.p99, s.max, s.count
        );
    }
    println!("vision      {:.2} frames/s", r.vision_frames_per_s);
    println!("cpu         {:.2} cores", r.cpu_cores);
    for (thread, cores) in &r.cpu_cores_by_thread {
        if *cores >= 0.01 {
            println!("  {thread:<20} {cores:.2}");
        }
    }
    println!(
        "memory      peak {:.0} MB, final {:.0} MB, {:+.1} MB/h",
        r.peak_rss_mb, r.final_rss_mb, r.rss_growth_mb_per_hour
    );
    println!(
        "open files  peak {}, final {}, {:+.1}/h",
        r.peak_open_files, r.final_open_files, r.open_files_growth_per_hour
    );
}
