//! `vod bench ...`: measurements whose method and numbers go in docs/PERFORMANCE.md.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use vod_core::config::{CameraSource, Config};
use vod_sim::occupancy_accuracy as accuracy;
use vod_sim::vision_bench::{self as bench, BenchOptions};
use vod_vision::VisionSet;

use crate::{EX_SOFTWARE, EX_USAGE};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The whole vision stage on 1280x1024 frames against Python onnxruntime running the
    /// same two models on the same input tensors.
    Vision(VisionArgs),
    /// Counting accuracy on the simulated camera's vehicles against the occupants it drew,
    /// with the models, thresholds and seat rows of a config file.
    Occupancy(OccupancyArgs),
}

#[derive(Debug, Args)]
pub struct OccupancyArgs {
    #[arg(long, default_value = "deploy/bench/vod.toml")]
    config: PathBuf,
    #[arg(long, default_value_t = 50)]
    vehicles: u32,
}

#[derive(Debug, Args)]
pub struct VisionArgs {
    #[arg(long, default_value = "models/nanodet_g_416_coco.toml")]
    person: PathBuf,
    #[arg(long, default_value = "models/retinaface_mnet025.toml")]
    face: PathBuf,
    /// Photos, each placed on a 1280x1024 frame.
    #[arg(
        long = "image",
        default_values = ["tests/data/images/astronaut.png", "tests/data/images/camera.png"]
    )]
    images: Vec<PathBuf>,
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Frames per inference call for models whose input takes batches (vision.batch_size).
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// A Python with onnxruntime==1.31.1 and numpy (scripts/setup.sh bench makes it).
    #[arg(long, default_value = ".tools/bench-venv/bin/python")]
    python: PathBuf,
    #[arg(long, default_value = "target/vision-bench")]
    work_dir: PathBuf,
}

pub fn main(command: BenchCommand) -> ExitCode {
    match command {
        BenchCommand::Vision(args) => vision(args),
        BenchCommand::Occupancy(args) => occupancy(args),
    }
}

fn occupancy(args: OccupancyArgs) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(loaded) => loaded.config,
        Err(error) => {
            eprintln!("vod bench occupancy: {error}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let Some((camera, size)) = config
        .cameras
        .iter()
        .find_map(|camera| match camera.source {
            CameraSource::Sim(size) => Some((camera, size)),
            _ => None,
        })
    else {
        eprintln!("vod bench occupancy: the config has no simulated camera");
        return ExitCode::from(EX_USAGE);
    };
    let result = VisionSet::load(&config.vision)
        .map_err(|e| e.to_string())
        .and_then(|set| {
            accuracy::measure(
                &set,
                &camera.name,
                size.width,
                size.height,
                camera.burst_frames,
                args.vehicles,
            )
            .map_err(|e| e.to_string())
        });
    match result {
        Ok(r) => {
            let pct = |n: u32, of: u32| 100.0 * f64::from(n) / f64::from(of.max(1));
            println!("vehicles                 {}", r.vehicles);
            for (label, n) in [
                ("exact front row", r.exact_front),
                ("exact rear row", r.exact_rear),
                ("exact vehicle", r.exact_vehicle),
                ("flagged for review", r.flagged),
            ] {
                println!("{label:<24} {n} ({:.0}%)", pct(n, r.vehicles));
            }
            println!(
                "exact among not flagged  {} of {} ({:.0}%)",
                r.unflagged_exact,
                r.unflagged,
                pct(r.unflagged_exact, r.unflagged)
            );
            println!("countability  vehicles  exact");
            let width = 1.0 / accuracy::COUNTABILITY_BINS as f64;
            for (i, bin) in r.by_countability.iter().enumerate() {
                println!(
                    "{:.1}-{:.1}       {:>8}  {:>5} ({:.0}%)",
                    i as f64 * width,
                    (i + 1) as f64 * width,
                    bin.vehicles,
                    bin.exact,
                    pct(bin.exact, bin.vehicles)
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vod bench occupancy: {error}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}

fn vision(args: VisionArgs) -> ExitCode {
    let options = BenchOptions {
        person_manifest: args.person,
        face_manifest: args.face,
        images: args.images,
        rounds: args.rounds,
        threads: args.threads,
        batch_size: args.batch_size.max(1),
        python: args.python,
        work_dir: args.work_dir,
    };
    match bench::run(&options) {
        Ok(report) => {
            println!("frames measured          {}", report.frames);
            println!(
                "vision stage (Rust)      median {:.1} ms, p95 {:.1} ms, {:.2} frames/s",
                report.stage_median_ms, report.stage_p95_ms, report.stage_fps
            );
            println!(
                "two models (Python ORT)  median {:.1} ms, {:.2} frames/s",
                report.reference_median_ms, report.reference_fps
            );
            println!(
                "inside the stage (mean)  person model {:.1} ms, face model {:.1} ms, JPEG {:.1} ms",
                report.person_mean_ms, report.face_mean_ms, report.encode_mean_ms
            );
            println!("ratio stage / reference  {:.3}", report.ratio());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vod bench vision: {error}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}
