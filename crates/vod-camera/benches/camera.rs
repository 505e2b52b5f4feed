//! Camera benchmarks: acquisition rate on Aravis's in-process Fake camera against Aravis's own
//! `arv-camera-test-0.8` in the same run, software-trigger-to-frame latency on the GigE
//! Vision simulator, and per-frame processing time. Method and results: docs/PERFORMANCE.md.
//! Run with `cargo bench -p vod-camera --features gige`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::Registry;
use vod_camera::CameraMetrics;
use vod_camera::gige::{GigeCamera, GigeSettings, TriggerMode, enable_fake_interface};
use vod_camera::imageops::{Processing, Roi, SensorFormat};

const ACQUISITION_SECONDS: u64 = 6;
/// Reference and vod alternate, so that a change in the machine's load hits both alike.
const ACQUISITION_ROUNDS: u32 = 5;
const FAKE_RATE_HZ: f64 = 1000.0;

fn settings(device_id: &str, trigger: TriggerMode) -> GigeSettings {
    GigeSettings {
        device_id: device_id.into(),
        pixel_format: SensorFormat::Mono8,
        exposure_micros: 10_000.0,
        gain_db: 0.0,
        frame_rate_hz: Some(FAKE_RATE_HZ),
        roi: None,
        trigger,
        buffer_count: 16,
        frame_timeout_ms: 2000,
        processing: Processing::default(),
    }
}

/// Aravis's own tool on Fake_1 at the same requested rate: the mean of its per-second
/// frames/s lines, the first (start-up) second left out.
fn reference_fps() -> f64 {
    let output = Command::new("timeout")
        .args(["-s", "INT", &ACQUISITION_SECONDS.to_string()])
        .args(["stdbuf", "-oL", "arv-camera-test-0.8", "-n", "Fake_1", "-f"])
        .arg(FAKE_RATE_HZ.to_string())
        .output()
        .expect("arv-camera-test-0.8 (Debian aravis-tools) must be installed");
    let text = String::from_utf8_lossy(&output.stdout);
    let rates: Vec<f64> = text
        .lines()
        .filter_map(|line| {
            line.split(" frames/s")
                .next()
                .filter(|_| line.contains("frames/s"))
        })
        .filter_map(|n| n.trim().parse().ok())
        .skip(1)
        .collect();
    assert!(
        !rates.is_empty(),
        "no frames/s lines from arv-camera-test-0.8:\n{text}"
    );
    rates.iter().sum::<f64>() / rates.len() as f64
}

/// Our acquisition on Fake_1, free running: frames/s and failed or missed frames.
fn our_fps() -> (f64, u64) {
    let metrics = CameraMetrics::register(&Registry::new()).expect("metrics");
    let mut camera = GigeCamera::open(
        "fake".into(),
        settings("Fake_1", TriggerMode::FreeRun),
        metrics.clone(),
    )
    .expect("Fake_1 opens");
    // Warm up for a second, as the reference's first second is left out.
    let warm_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < warm_until {
        camera.expose_with(|_| ()).expect("frame");
    }
    let (mut frames, mut errors) = (0u64, 0u64);
    let start = Instant::now();
    let window = Duration::from_secs(ACQUISITION_SECONDS - 1);
    while start.elapsed() < window {
        match camera.expose_with(|_| ()) {
            Ok(_) => frames += 1,
            Err(_) => errors += 1,
        }
    }
    let fps = frames as f64 / start.elapsed().as_secs_f64();
    let failures = metrics
        .stream_failures_total
        .with_label_values(&["fake"])
        .get()
        + metrics
            .stream_underruns_total
            .with_label_values(&["fake"])
            .get()
        + errors;
    (fps, failures)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The wall clock in nanoseconds since 1970, which the fake cameras stamp their frames with.
fn wall_clock_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    (now.tv_sec as u64) * 1_000_000_000 + now.tv_nsec as u64
}

/// Latencies of `count` software-triggered exposures, each sorted: trigger to frame in hand,
/// and frame stamped by the camera to frame in hand.
struct Latencies {
    trigger_to_frame: Vec<Duration>,
    stamp_to_frame: Vec<Duration>,
}

/// Software trigger to frame in hand, `count` times.
fn trigger_latency(device_id: &str, count: usize) -> Latencies {
    let metrics = CameraMetrics::register(&Registry::new()).expect("metrics");
    let mut settings = settings(device_id, TriggerMode::Software);
    settings.exposure_micros = 500.0;
    let mut camera = None;
    for _ in 0..50 {
        match GigeCamera::open(Arc::from(device_id), settings.clone(), metrics.clone()) {
            Ok(opened) => {
                camera = Some(opened);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let mut camera = camera.expect("camera opens");
    camera.expose_with(|_| ()).expect("first frame");
    let (mut trigger_to_frame, mut stamp_to_frame): (Vec<Duration>, Vec<Duration>) = (0..count)
        .map(|_| {
            let start = Instant::now();
            let stamp_age_ns = camera
                .expose_with(|exposure| {
                    wall_clock_ns().saturating_sub(exposure.device_timestamp_ns)
                })
                .expect("frame");
            (start.elapsed(), Duration::from_nanos(stamp_age_ns))
        })
        .unzip();
    trigger_to_frame.sort();
    stamp_to_frame.sort();
    Latencies {
        trigger_to_frame,
        stamp_to_frame,
    }
}

fn print_latencies(camera: &str, latencies: &Latencies) {
    let (t, s) = (&latencies.trigger_to_frame, &latencies.stamp_to_frame);
    println!(
        "{camera}: trigger to frame p50 {:?}, p99 {:?}; camera stamp to frame p50 {:?}, p99 {:?}",
        percentile(t, 0.5),
        percentile(t, 0.99),
        percentile(s, 0.5),
        percentile(s, 0.99)
    );
}

struct Simulator(Child);

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Mean time per frame of `f` over `iterations`, after one warm-up call.
fn time_per_call(iterations: u32, mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

fn processing(width: u32, height: u32) -> (Duration, Duration, Duration) {
    let raw: Vec<u8> = (0..width * height)
        .map(|i| ((i % width) ^ (i / width)) as u8)
        .collect();
    let roi = Roi {
        x: width / 10,
        y: height / 10,
        width: width * 8 / 10,
        height: height * 8 / 10,
    };
    let full = Processing {
        clahe_clip_limit: Some(2.0),
        crop: Some(roi),
        resize: None,
    };
    let demosaic_only = Processing::default();
    let iterations = 20;
    let copy = time_per_call(iterations, || {
        std::hint::black_box(raw.clone());
    });
    let demosaic = time_per_call(iterations, || {
        std::hint::black_box(demosaic_only.run(&raw, width, height, SensorFormat::BayerRg8))
            .expect("demosaic");
    });
    let pipeline = time_per_call(iterations, || {
        std::hint::black_box(full.run(&raw, width, height, SensorFormat::BayerRg8))
            .expect("pipeline");
    });
    (copy, demosaic, pipeline)
}

fn main() {
    enable_fake_interface();
    println!("## Acquisition on Fake_1, {FAKE_RATE_HZ} Hz requested, 512x512 Mono8");
    let mut ratios: Vec<f64> = (1..=ACQUISITION_ROUNDS)
        .map(|round| {
            let reference = reference_fps();
            let (ours, failures) = our_fps();
            let ratio = ours / reference;
            println!(
                "round {round}: arv-camera-test {reference:.0} frames/s, vod {ours:.0} frames/s, \
                 failures {failures}, ratio {ratio:.2}"
            );
            ratio
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!("median ratio {:.2}", ratios[ratios.len() / 2]);

    println!("## Software trigger to frame in hand (500 triggers)");
    print_latencies("in-process Fake_1", &trigger_latency("Fake_1", 500));
    let simulator = Simulator(
        Command::new("arv-fake-gv-camera-0.8")
            .args(["-i", "127.0.0.1"])
            .stdout(Stdio::null())
            .spawn()
            .expect("arv-fake-gv-camera-0.8 (Debian aravis-tools) must be installed"),
    );
    print_latencies(
        "arv-fake-gv-camera on 127.0.0.1",
        &trigger_latency("127.0.0.1", 500),
    );
    drop(simulator);

    println!("## Processing a BayerRG8 frame (crop to the central 80%, then CLAHE)");
    for (width, height) in [(2048, 2048), (1280, 1024)] {
        let (copy, demosaic, pipeline) = processing(width, height);
        println!(
            "{width}x{height}: buffer copy {copy:?}, demosaic {demosaic:?}, \
             demosaic+crop+CLAHE {pipeline:?} ({:.1}x the copy)",
            pipeline.as_secs_f64() / copy.as_secs_f64()
        );
    }
}
