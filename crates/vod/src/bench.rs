//! `vod bench ...`: measurements whose method and numbers go in docs/PERFORMANCE.md.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use vod_vision::bench::{self, BenchOptions};

use crate::EX_SOFTWARE;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The whole vision stage on 1280x1024 frames against Python onnxruntime running the
    /// same two models on the same input tensors.
    Vision(VisionArgs),
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
    /// A Python with onnxruntime==1.31.1 and numpy (scripts/setup.sh bench makes it).
    #[arg(long, default_value = ".tools/bench-venv/bin/python")]
    python: PathBuf,
    #[arg(long, default_value = "target/vision-bench")]
    work_dir: PathBuf,
}

pub fn main(command: BenchCommand) -> ExitCode {
    let BenchCommand::Vision(args) = command;
    let options = BenchOptions {
        person_manifest: args.person,
        face_manifest: args.face,
        images: args.images,
        rounds: args.rounds,
        threads: args.threads,
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
