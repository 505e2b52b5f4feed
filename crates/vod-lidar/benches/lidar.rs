//! The LIDAR benchmarks behind docs/PERFORMANCE.md (`cargo bench -p vod-lidar --bench lidar`):
//! detection accuracy against the emulator's ground truth, decode + detection CPU time per
//! LMS511 scan against a plain copy of the telegram's bytes, and trigger latency from the
//! socket read to the trigger command while two busy loops keep both cores busy.
//! `VOD_BENCH_MINUTES` sets the minutes of traffic per accuracy run (default 10).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use prometheus::Registry;
use prometheus::core::Collector;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vod_core::config::{CameraConfig, CameraSource, DetectorConfig, LaneConfig, ScannerConfig};
use vod_core::{Hub, TriggerCommand};
use vod_lidar::accuracy::{AccuracyReport, measure};
use vod_lidar::cola::encode_cola_b;
use vod_lidar::emulator::{self, EmulatedLane, EmulatorConfig};
use vod_lidar::recording::Recording;
use vod_lidar::{LidarMetrics, ScannerSetup, TriggerPlanner, run_scanner};

const LANES: usize = 4;
const LANE_WIDTH_MM: i32 = 3700;

fn detector() -> DetectorConfig {
    DetectorConfig {
        background_scans: 25,
        foreground_threshold_mm: 300,
        min_object_beams: 4,
        enter_scans: 2,
        leave_scans: 3,
    }
}

/// Four 3.7 m lanes under a scanner 6 m up over the middle, 2,000 vehicles/h/lane, a fifth
/// of them tailgating, lost echoes, rain and a wet road.
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
        lane_change_share: 0.0,
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

/// Trigger latency: the emulator and `run_scanner` on loopback while two busy-loop processes
/// (at `nice`, 0 or 19) keep both cores busy.
fn trigger_latency(duration: Duration, nice: u8) {
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
    let (latencies, histogram_p99) = runtime.block_on(run_rig(duration));
    for mut process in load {
        let _already_gone = process.kill();
        let _reaped = process.wait();
    }
    let mut sorted = latencies;
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    println!(
        "Trigger latency, two busy loops at nice {nice} (socket read -> trigger command received by the camera task), {} triggers: p50 {:.0} us, p99 {:.0} us, max {:.0} us; histogram p99 bucket <= {} ms",
        sorted.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        sorted.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
        histogram_p99 * 1e3,
    );
}

async fn run_rig(duration: Duration) -> (Vec<Duration>, f64) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let shutdown = CancellationToken::new();
    let mut config = heavy_traffic(100.0);
    config.warmup_ms = 1000;
    tokio::spawn(emulator::serve(listener, config.clone(), shutdown.clone()));
    let scanner = ScannerConfig {
        name: "gantry".into(),
        address: address.to_string(),
        mount_height_mm: config.mount_height_mm,
        connect_timeout_ms: 2000,
    };
    let lanes: Vec<LaneConfig> = config
        .lanes
        .iter()
        .enumerate()
        .map(|(i, lane)| LaneConfig {
            name: format!("lane-{}", i + 1),
            scanner: "gantry".into(),
            lateral_from_mm: lane.lateral_from_mm,
            lateral_to_mm: lane.lateral_to_mm,
        })
        .collect();
    let cameras: Vec<CameraConfig> = lanes
        .iter()
        .enumerate()
        .map(|(i, lane)| CameraConfig {
            name: format!("cam-{}", i + 1),
            lane: lane.name.clone(),
            source: CameraSource::Sim,
            width: 640,
            height: 480,
            trigger_delay_ms: 20,
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
    let setup = ScannerSetup {
        scanner,
        lanes,
        detector: detector(),
        planner: TriggerPlanner::new(&cameras),
        cameras: senders,
        metrics: metrics.clone(),
        hub: Hub::new(4096),
    };
    let pipeline = tokio::spawn(run_scanner(setup, shutdown.clone()));
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
    println!(
        "Detection accuracy, 4 lanes at 2,000 vehicles/h/lane, {minutes} min of traffic, 20 % tailgating (1-5 m), 1 % lost echoes, 0.2 % rain, wet road:"
    );
    let mut at_25_hz = None;
    for hz in [25.0, 50.0, 100.0] {
        let report = measure(&heavy_traffic(hz), &detector(), duration).expect("the run works");
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
    for nice in [0, 19] {
        trigger_latency(Duration::from_secs(60), nice);
    }
}
