//! `vod bench ...`: measurements whose method and numbers go in docs/PERFORMANCE.md.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use vod_core::config::{Config, SimScenes};
use vod_sim::occupancy_accuracy as accuracy;
use vod_sim::vision_bench::{self as bench, BenchOptions};

use crate::{EX_SOFTWARE, EX_USAGE};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The whole vision stage on 1280x1024 frames against Python onnxruntime running the
    /// same two models on the same input tensors.
    Vision(VisionArgs),
    /// Counting accuracy on the simulated camera's vehicles against the occupants it drew
    /// (or on a labelled set), with the models, thresholds and seat rows of a config file.
    Occupancy(OccupancyArgs),
    /// The whole box (this binary's `vod run`) against the scanner emulator at a traffic:
    /// vehicles against ground truth, captures, trigger and capture latency, CPU, memory and
    /// open files; a run of 30 minutes or more fails on steady growth (a soak).
    E2e(super::e2e::E2eArgs),
    /// Time from `vod run` after a kill -9 to `/readyz` ready, with a database of many
    /// captures (filled once, kept in the work directory).
    Restart(super::restart::RestartArgs),
}

#[derive(Debug, Args)]
pub struct OccupancyArgs {
    #[arg(long, default_value = "deploy/bench/vod.toml")]
    config: PathBuf,
    #[arg(long, default_value_t = 50)]
    vehicles: u32,
    /// Which simulated vehicles: 0 is the set the countability was tuned on, others are held
    /// out.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How hard the scenes are (the camera's `scenes` setting is overridden).
    #[arg(long, value_enum, default_value = "hard")]
    scenes: Scenes,
    /// Occupants drawn from this folder of photos (one person each, waist up) instead of the
    /// built-in ones.
    #[arg(long, value_name = "DIR")]
    occupants: Option<PathBuf>,
    /// Add a camera on the other side of the first simulated camera's lane (mirrored, with
    /// mirrored seat rows): each vehicle counted from both sides, as the box fuses them.
    #[arg(long)]
    both_sides: bool,
    /// Measure a labelled set exported by the web page's review queue (unpacked: DIR holds
    /// labels.json) instead of simulated vehicles: the box's counts against the people's, with
    /// the config's `vision.review_below`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["occupants", "vehicles", "seed", "scenes", "both_sides"])]
    labels: Option<PathBuf>,
    /// The report as JSON.
    #[arg(long)]
    json: bool,
    /// Also write every vehicle compared to FILE, one JSON object per line (its truth, counts,
    /// countability, flag, doubts and scene conditions).
    #[arg(long, value_name = "FILE")]
    samples: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Scenes {
    Clear,
    Hard,
}

#[derive(Debug, Args)]
pub struct VisionArgs {
    #[arg(long, default_value = "models/nanodet_g_416_coco.toml")]
    person: PathBuf,
    #[arg(long, default_value = "models/centerface.toml")]
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
        BenchCommand::E2e(args) => super::e2e::main(args),
        BenchCommand::Restart(args) => super::restart::main(args),
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
    let samples = match &args.labels {
        Some(dir) => accuracy::labelled(dir, config.vision.review_below).map_err(|e| e.to_string()),
        None => simulated(&config, &args),
    };
    let samples = match samples {
        Ok(samples) => samples,
        Err(error) => {
            eprintln!("vod bench occupancy: {error}");
            return ExitCode::from(EX_SOFTWARE);
        }
    };
    if let Some(path) = &args.samples
        && let Err(error) = write_samples(path, &samples)
    {
        eprintln!("vod bench occupancy: {}: {error}", path.display());
        return ExitCode::from(EX_SOFTWARE);
    }
    let report = accuracy::AccuracyReport::of(&samples);
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("vod bench occupancy: {error}");
                return ExitCode::from(EX_SOFTWARE);
            }
        }
    } else {
        print_occupancy(&report);
    }
    ExitCode::SUCCESS
}

/// One JSON object per line for each sample.
fn write_samples(path: &std::path::Path, samples: &[accuracy::Sample]) -> std::io::Result<()> {
    let mut text = String::new();
    for sample in samples {
        text.push_str(&serde_json::to_string(sample).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    std::fs::write(path, text)
}

/// The first simulated camera of `config`, with the scenes and occupants `args` ask for.
fn simulated(config: &Config, args: &OccupancyArgs) -> Result<Vec<accuracy::Sample>, String> {
    let scenes = match args.scenes {
        Scenes::Clear => SimScenes::Clear,
        Scenes::Hard => SimScenes::Hard,
    };
    let both;
    let config = if args.both_sides {
        both = accuracy::seen_from_both_sides(config).map_err(|e| e.to_string())?;
        &both
    } else {
        config
    };
    accuracy::measure_config(
        config,
        scenes,
        args.occupants.as_deref(),
        args.vehicles,
        args.seed,
    )
    .map_err(|e| e.to_string())
}

fn print_occupancy(r: &accuracy::AccuracyReport) {
    let pct = |n: u32, of: u32| 100.0 * f64::from(n) / f64::from(of.max(1));
    println!("vehicles                 {}", r.vehicles);
    println!(
        "flagged for review       {} ({:.1}%)",
        r.flagged,
        pct(r.flagged, r.vehicles)
    );
    println!(
        "exact among not flagged  {} of {} ({:.2}%)",
        r.unflagged_exact,
        r.unflagged,
        pct(r.unflagged_exact, r.unflagged)
    );
    println!("                         exact   over  under  misplaced");
    let v = &r.vehicle;
    println!(
        "vehicle                  {:>5}  {:>5}  {:>5}  {:>9}",
        v.exact, v.over, v.under, v.misplaced
    );
    for (row, t) in &r.rows {
        println!(
            "row {:<20} {:>5}  {:>5}  {:>5}",
            row.as_str(),
            t.exact,
            t.over,
            t.under
        );
    }
    let d = &r.driver_only;
    println!(
        "driver only: {} truly held one, {} of them counted 1 ({:.1}%), {} miscounted and not flagged",
        d.truly_one,
        d.truly_one_counted_one,
        pct(d.truly_one_counted_one, d.truly_one),
        d.truly_one_miscounted_unflagged
    );
    println!(
        "counted 1:   {} vehicles, {} truly held more, {} of those not flagged",
        d.counted_one, d.counted_one_truly_more, d.counted_one_truly_more_unflagged
    );
    let width = 1.0 / accuracy::COUNTABILITY_BINS as f64;
    println!("countability  vehicles  exact       unflagged  exact");
    for (i, bin) in r.by_countability.iter().enumerate() {
        if bin.vehicles > 0 {
            println!(
                "{:.1}-{:.1}       {:>8}  {:>5} ({:>3.0}%)  {:>9}  {:>5}",
                i as f64 * width,
                (i + 1) as f64 * width,
                bin.vehicles,
                bin.exact,
                pct(bin.exact, bin.vehicles),
                bin.unflagged,
                bin.unflagged_exact
            );
        }
    }
    for (title, bins) in [("doubt", &r.by_doubt), ("condition", &r.by_condition)] {
        println!("{title:<28} vehicles  exact       unflagged  exact");
        for (name, bin) in bins {
            println!(
                "{name:<28} {:>8}  {:>5} ({:>3.0}%)  {:>9}  {:>5}",
                bin.vehicles,
                bin.exact,
                pct(bin.exact, bin.vehicles),
                bin.unflagged,
                bin.unflagged_exact
            );
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
