//! `vod replay DIR`: a recording through detection, trigger planning, vision and storage into
//! a fresh data directory (`crate::replay`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use vod_core::config::Config;

use crate::record::CONFIG_FILE;
use crate::replay::{Pace, ReplayOptions, ReplayReport, replay};
use crate::{EX_SOFTWARE, EX_USAGE};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recording: a folder `[record]` wrote (recording.json, vod.toml, one
    /// SCANNER.pcapng.json per scanner).
    dir: PathBuf,
    /// The config to replay with; the one the recording was made with when left out.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A new, empty folder for the replay's store (database and images).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// At the pace it was recorded instead of as fast as the models allow.
    #[arg(long)]
    recorded_pace: bool,
    /// Every vehicle and capture as JSON.
    #[arg(long)]
    json: bool,
}

pub fn main(args: ReplayArgs) -> ExitCode {
    let path = args.config.unwrap_or_else(|| args.dir.join(CONFIG_FILE));
    let config = match Config::load(&path) {
        Ok(loaded) => loaded.config,
        Err(error) => {
            eprintln!("vod replay: {}: {error}", path.display());
            return ExitCode::from(EX_USAGE);
        }
    };
    let options = ReplayOptions {
        dir: args.dir,
        config,
        data_dir: args.data,
        pace: if args.recorded_pace {
            Pace::Recorded
        } else {
            Pace::Fast
        },
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("vod replay: {error}");
            return ExitCode::from(EX_SOFTWARE);
        }
    };
    match runtime.block_on(replay(&options)) {
        Ok(report) if args.json => match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("vod replay: {error}");
                ExitCode::from(EX_SOFTWARE)
            }
        },
        Ok(report) => {
            print_summary(&report);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vod replay: {error:#}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}

fn print_summary(report: &ReplayReport) {
    println!(
        "scans       {} ({} rejected), {:.1} s recorded, replayed in {:.1} s",
        report.scans, report.scans_rejected, report.recorded_s, report.replayed_s
    );
    let mut lanes = std::collections::BTreeMap::<&str, u32>::new();
    for vehicle in &report.vehicles {
        *lanes.entry(&vehicle.lane).or_default() += 1;
    }
    for (lane, n) in lanes {
        println!("vehicles    {lane}: {n}");
    }
    let flagged = report.captures.iter().filter(|c| c.needs_review).count();
    let people: u32 = report.captures.iter().flat_map(|c| c.rows.values()).sum();
    println!(
        "captures    {} ({} flagged), {} people counted",
        report.captures.len(),
        flagged,
        people
    );
    println!(
        "bursts      {} as recorded, {} rendered by a simulated camera",
        report.recorded_bursts, report.simulated_bursts
    );
    if !report.simulated_cameras.is_empty() {
        println!(
            "simulated   {} (where the recording holds no burst)",
            report.simulated_cameras.join(", ")
        );
    }
}
