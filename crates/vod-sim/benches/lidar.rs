//! The LIDAR benchmarks behind docs/PERFORMANCE.md (`cargo bench -p vod-sim --bench lidar`):
//! detection accuracy against the emulator's ground truth, decode + detection CPU time per
//! LMS511 scan against a plain copy of the telegram's bytes, and trigger latency from the
//! socket read to the trigger command while two busy loops keep both cores busy.
//! `VOD_BENCH_MINUTES` sets the minutes of traffic per accuracy run (default 10),
//! `VOD_BENCH_HZ` the scan rates (default `25,50,100`); `VOD_BENCH_MISSES` lists every missed
//! vehicle and why; `VOD_BENCH_ACCURACY_ONLY` skips the trigger latency runs,
//! `VOD_BENCH_LATENCY_ONLY` runs only them, `VOD_BENCH_LATENCY_S` seconds each (default 60).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use prometheus::Registry;
use prometheus::core::Collector;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vod_core::config::{CameraConfig, CameraSource, CameraTrigger, DetectorConfig, SimSource};
use vod_core::{Hub, TriggerCommand};
use vod_lidar::cola::encode_cola_b;
use vod_lidar::recording::Recording;
use vod_lidar::{LidarMetrics, run_scanner, run_scanner_on_thread};
use vod_sim::emulator::{self, EmulatedLane, EmulatorConfig};
use vod_sim::lidar_accuracy::{AccuracyReport, MissCause, measure};
use vod_sim::site::Site;

const LANES: usize = 4;
const LANE_WIDTH_MM: i32 = 3700;

/// Four 3.7 m lanes under a scanner 6 m up over the middle, 2,000 vehicles/h/lane, a fifth
/// of them tailgating, a tenth changing lanes, lost echoes, rain and a wet road.
fn heavy_traffic(scan_frequency_hz: f64) -> EmulatorConfig {
    EmulatorConfig {
        mount_height_mm: 6000,
        lanes: (0..LANES as i32)
            .map(|i| EmulatedLane {
                lateral_from_mm: (i - 2) * LANE_WIDTH_MM,
                lateral_to_mm: (i - 1) * LANE_WIDTH_MM,
            })
            .collect(),
        scan_frequency_hz,
        flow_per_hour: 2000.0,
        speed_min_kmh: 60.0,
        speed_max_kmh: 130.0,
        min_gap_ms: 300,
        warmup_ms: 2000,
        traffic_duration_ms: None,
        range_noise_mm: 10,
        tailgating_share: 0.2,
        lane_change_share: 0.1,
        plane_offset_mm: 0,
        dropout_probability: 0.01,
        rain_probability: 0.002,
        wet_road: true,
        seed: 2026,
    }
}

fn print_accuracy(title: &str, report: &AccuracyReport) {
    println!("{title}");
    println!(
        "  lane    vehicles tailgaters matched (tailgaters) missed false  accuracy false-rate"
    );
    for lane in &report.lanes {
        println!(
            "  {:<7} {:>8} {:>10} {:>7} {:>12} {:>6} {:>5} {:>8.2}% {:>9.3}%",
            lane.lane,
            lane.vehicles,
            lane.tailgaters,
            lane.matched,
            lane.matched_tailgaters,
            lane.missed,
            lane.false_detections,
            100.0 * lane.count_accuracy(),
            100.0 * lane.false_trigger_rate()
        );
    }
    print_misses(report);
}

/// Why vehicles were missed and detections were extra, over all lanes; each miss too when
/// `VOD_BENCH_MISSES` is set.
fn print_misses(report: &AccuracyReport) {
    let (mut merged, mut unseen, mut hidden, mut taken) = (0, 0, 0, 0);
    let mut merged_gaps_mm = Vec::new();
    for miss in report.lanes.iter().flat_map(|lane| &lane.misses) {
        match miss.cause {
            MissCause::MergedWithAhead { gap_mm, .. } => {
                merged += 1;
                merged_gaps_mm.push(gap_mm);
            }
            MissCause::Unseen { behind_taller } => {
                unseen += 1;
                hidden += usize::from(behind_taller);
            }
            MissCause::Taken => taken += 1,
        }
    }
    merged_gaps_mm.sort_unstable();
    let extras = report.lanes.iter().flat_map(|lane| &lane.extras);
    let splits = extras.clone().filter(|extra| extra.split).count();
    let phantoms = extras.filter(|extra| !extra.split).count();
    println!(
        "  misses: {merged} merged with the vehicle ahead (gaps {:?} mm), {unseen} unseen ({hidden} behind a taller vehicle in a nearer lane), {taken} taken by another; extra detections: {splits} splits, {phantoms} over no vehicle",
        merged_gaps_mm
    );
    if std::env::var_os("VOD_BENCH_MISSES").is_some() {
        for lane in &report.lanes {
            for miss in &lane.misses {
                println!(
                    "    {} at {} ms: {:?} {} mm at {} km/h: {:?}",
                    lane.lane,
                    miss.arrival_ms,
                    miss.class,
                    miss.length_mm,
                    miss.speed_kmh,
                    miss.cause
                );
            }
            for extra in &lane.extras {
                println!(
                    "    {} extra detection {}-{} ms (split: {})",
                    lane.lane, extra.from_ms, extra.to_ms, extra.split
                );
            }
        }
    }
}

/// Decode + detection per scan against copying the scan's telegram, in the same run.
fn cpu_per_scan(report: &AccuracyReport) {
    // A real LMS511 scan telegram as it came off the wire (same layout as the emulator's).
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/lidar/20210301_lms511.pcapng.json");
    let recording = Recording::load(&path).expect("the LMS511 recording");
    let payload = &recording.scan_payloads()[0].payload;
    let telegram = encode_cola_b(payload).expect("a scan fits a telegram");
    let rounds = 200_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        let copy = black_box(&telegram).to_vec();
        black_box(copy);
    }
    let copy = started.elapsed() / rounds;
    let decode_detect = report.decode_and_detect_per_scan;
    println!(
        "CPU per LMS511 scan ({} bytes): decode + detection {:.1} us, copy of the telegram {:.3} us, ratio {:.0}",
        telegram.len(),
        decode_detect.as_secs_f64() * 1e6,
        copy.as_secs_f64() * 1e6,
        decode_detect.as_secs_f64() / copy.as_secs_f64()
    );
}

/// Where the scanner task runs in a trigger latency run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Placement {
    /// `run_scanner` spawned on the shared multi-thread runtime, as before the scanners got
    /// their own threads.
    SharedRuntime,
    /// `run_scanner_on_thread`: its own OS thread and current-thread runtime (the appliance).
    OwnThread,
}

/// Stand-ins for work on the shared runtime, such as vision or store work: each task computes
/// for 2 ms between yields.
const RUNTIME_HOG_SLICE: Duration = Duration::from_millis(2);

/// Trigger latency: the emulator and the scanner task on loopback while two busy-loop
/// processes (at `nice`, 0 or 19) keep both cores busy and, with `runtime_hogs`, two tasks
/// keep the shared runtime's workers busy.
fn trigger_latency(duration: Duration, nice: u8, runtime_hogs: bool, placement: Placement) {
    let load: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new("nice")
                .args(["-n", &nice.to_string(), "sh", "-c", "while :; do :; done"])
                .spawn()
                .expect("start a busy loop")
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let hogs_stop = CancellationToken::new();
    if runtime_hogs {
        for _ in 0..2 {
            let stop = hogs_stop.clone();
            runtime.spawn(async move {
                while !stop.is_cancelled() {
                    let started = Instant::now();
                    while started.elapsed() < RUNTIME_HOG_SLICE {
                        black_box(started);
                    }
                    tokio::task::yield_now().await;
                }
            });
        }
    }
    let (latencies, histogram_p99) = runtime.block_on(run_rig(duration, placement));
    hogs_stop.cancel();
    for mut process in load {
        let _already_gone = process.kill();
        let _reaped = process.wait();
    }
    let mut sorted = latencies;
    sorted.sort();
    if sorted.is_empty() {
        println!("Trigger latency, {placement:?}: no triggers within {duration:?}");
        return;
    }
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let hogs = if runtime_hogs {
        " + two runtime tasks busy"
    } else {
        ""
    };
    println!(
        "Trigger latency, {placement:?}, two busy loops at nice {nice}{hogs} (socket read -> trigger command received by a task on the shared runtime), {} triggers: p50 {:.0} us, p99 {:.0} us, max {:.0} us; vod_lidar_trigger_latency_seconds (to the hand-over) p99 bucket <= {} ms",
        sorted.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        sorted.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
        histogram_p99 * 1e3,
    );
}

async fn run_rig(duration: Duration, placement: Placement) -> (Vec<Duration>, f64) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let shutdown = CancellationToken::new();
    let mut config = heavy_traffic(100.0);
    config.warmup_ms = 1000;
    // Denser traffic for more triggers per second of run: 3,600 vehicles/h/lane.
    config.flow_per_hour = 3600.0;
    tokio::spawn(emulator::serve(listener, config.clone(), shutdown.clone()));
    let (scanner, lanes) = config.site("gantry", address.to_string());
    let cameras: Vec<CameraConfig> = lanes
        .iter()
        .enumerate()
        .map(|(i, lane)| CameraConfig {
            name: format!("cam-{}", i + 1),
            lane: lane.name.clone(),
            source: CameraSource::Sim(SimSource::sized(640, 480)),
            trigger: CameraTrigger::DelayMs(20),
            burst_frames: 2,
            burst_interval_ms: 40,
        })
        .collect();
    let (sender, mut receiver) = mpsc::channel::<TriggerCommand>(1024);
    let senders: HashMap<String, _> = cameras
        .iter()
        .map(|camera| (camera.name.clone(), sender.clone()))
        .collect();
    drop(sender);
    let metrics = LidarMetrics::register(&Registry::new()).expect("fresh registry");
    let (vehicles, _records) = mpsc::channel(4096);
    let setup = Site {
        scanners: vec![scanner],
        lanes,
        cameras,
        ..Site::default()
    }
    .scanner_setup("gantry", senders, vehicles, metrics.clone(), Hub::new(4096))
    .expect("the bench rig with the emulated site is a valid config");
    let pipeline = match placement {
        Placement::SharedRuntime => tokio::spawn(run_scanner(setup, shutdown.clone())),
        Placement::OwnThread => tokio::spawn(run_scanner_on_thread(setup, shutdown.clone())),
    };
    // Measured where the camera task would get the command, on the shared runtime; the
    // pipeline's own histogram stops at the hand-over.
    let mut latencies = Vec::new();
    let deadline = tokio::time::Instant::now() + duration;
    while let Ok(Some(command)) = tokio::time::timeout_at(deadline, receiver.recv()).await {
        latencies.push(command.detected_at.elapsed());
    }
    shutdown.cancel();
    let _finished = pipeline.await;
    // The histogram's p99 as the upper edge of the bucket that holds it.
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for family in metrics.trigger_latency_seconds.collect() {
        for metric in family.get_metric() {
            for (i, bucket) in metric.get_histogram().get_bucket().iter().enumerate() {
                match buckets.get_mut(i) {
                    Some(b) => b.1 += bucket.cumulative_count(),
                    None => buckets.push((bucket.upper_bound(), bucket.cumulative_count())),
                }
            }
        }
    }
    let total = latencies.len() as f64;
    let p99 = buckets
        .iter()
        .find(|(_, count)| *count as f64 >= 0.99 * total)
        .map_or(f64::INFINITY, |(bound, _)| *bound);
    (latencies, p99)
}

fn main() {
    let minutes = std::env::var("VOD_BENCH_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10u64);
    let duration = Duration::from_secs(minutes * 60);
    if std::env::var_os("VOD_BENCH_LATENCY_ONLY").is_some() {
        latency_runs();
        return;
    }
    println!(
        "Detection accuracy, 4 lanes at 2,000 vehicles/h/lane, {minutes} min of traffic, 20 % tailgating (1-5 m), 10 % changing lanes, 1 % lost echoes, 0.2 % rain, wet road:"
    );
    let rates: Vec<f64> = std::env::var("VOD_BENCH_HZ")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|hz| hz.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![25.0, 50.0, 100.0]);
    let mut at_25_hz = None;
    for hz in rates {
        let report = measure(&heavy_traffic(hz), &DetectorConfig::BENCH_RIG, duration)
            .expect("the run works");
        print_accuracy(
            &format!("LMS511 at {hz} Hz ({} scans):", report.scans),
            &report,
        );
        if hz == 25.0 {
            at_25_hz = Some(report);
        }
    }
    if let Some(report) = &at_25_hz {
        cpu_per_scan(report);
    }
    if std::env::var_os("VOD_BENCH_ACCURACY_ONLY").is_some() {
        return;
    }
    latency_runs();
}

/// Each load with the scanner task on the shared runtime and on its own thread, one after
/// the other; `VOD_BENCH_LATENCY_S` seconds each (default 60).
fn latency_runs() {
    let seconds = std::env::var("VOD_BENCH_LATENCY_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60u64);
    for (nice, runtime_hogs) in [(0, false), (0, true), (19, true)] {
        for placement in [Placement::SharedRuntime, Placement::OwnThread] {
            trigger_latency(Duration::from_secs(seconds), nice, runtime_hogs, placement);
        }
    }
}
