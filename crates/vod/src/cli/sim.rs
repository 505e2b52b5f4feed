//! `vod sim ...`: simulators for the bench rig.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;
use vod_core::config::{LogConfig, LogFormat};
use vod_lidar::recording::Recording;
use vod_sim::emulator::{EmulatedLane, EmulatorConfig};

use crate::{EX_USAGE, signals, telemetry};

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A SICK LMS511 emulator: answers a client's CoLa-B commands and streams LMDscandata
    /// telegrams of synthetic traffic, or of a recording with --replay.
    Lidar(LidarArgs),
}

#[derive(Debug, Args)]
pub struct LidarArgs {
    /// Address to accept scanner clients on (SICK devices use port 2112).
    #[arg(long, default_value = "127.0.0.1:2112")]
    listen: SocketAddr,
    /// Streams the scans of this sick_scan_xd pcapng.json export instead of synthetic
    /// traffic, byte for byte at their recorded pace, over and over; the traffic options are
    /// then ignored.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Height of the scanner above the road.
    #[arg(long, default_value_t = 6000)]
    mount_height_mm: u32,
    /// A lane as FROM_MM:TO_MM across the road from the point below the scanner; repeat
    /// for each lane.
    #[arg(long = "lane", value_parser = parse_lane, default_values = ["-3700:0", "0:3700"])]
    lanes: Vec<EmulatedLane>,
    #[arg(long, default_value_t = 25.0)]
    scan_frequency_hz: f64,
    /// Mean vehicle arrivals per hour in each lane.
    #[arg(long, default_value_t = 900.0)]
    flow_per_hour: f64,
    #[arg(long, default_value_t = 60.0)]
    speed_min_kmh: f64,
    #[arg(long, default_value_t = 110.0)]
    speed_max_kmh: f64,
    /// Shortest time between one vehicle leaving and the next arriving in a lane.
    #[arg(long, default_value_t = 500)]
    min_gap_ms: u32,
    /// Empty road at the start of each client's stream, for the detector to learn it.
    #[arg(long, default_value_t = 2000)]
    warmup_ms: u32,
    #[arg(long, default_value_t = 10)]
    range_noise_mm: u32,
    /// Share of vehicles (0 to 1) that follow the one ahead 1 to 5 m behind.
    #[arg(long, default_value_t = 0.0)]
    tailgating_share: f64,
    /// Share of vehicles (0 to 1) that change lanes in the scan plane.
    #[arg(long, default_value_t = 0.0)]
    lane_change_share: f64,
    /// Distance of this scan plane downstream of the reference plane: run a second emulator
    /// with another offset (and the same seed) to emulate a second scanner for speed.
    #[arg(long, default_value_t = 0)]
    plane_offset_mm: u32,
    /// Chance (0 to 1) that a beam's echo is lost.
    #[arg(long, default_value_t = 0.0)]
    dropout_probability: f64,
    /// Chance (0 to 1) that a beam echoes off a raindrop.
    #[arg(long, default_value_t = 0.0)]
    rain_probability: f64,
    /// The road is wet: mirror images of vehicles appear below it.
    #[arg(long)]
    wet_road: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_lane(text: &str) -> Result<EmulatedLane, String> {
    let (from, to) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not FROM_MM:TO_MM"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<i32>()
            .map_err(|e| format!("{s:?} in {text:?}: {e}"))
    };
    Ok(EmulatedLane {
        lateral_from_mm: parse(from)?,
        lateral_to_mm: parse(to)?,
    })
}

pub fn main(command: SimCommand) -> ExitCode {
    let SimCommand::Lidar(args) = command;
    let log = LogConfig {
        filter: "info".to_owned(),
        format: LogFormat::Text,
    };
    if let Err(error) = telemetry::init(&log) {
        eprintln!("{error:#}");
        return ExitCode::from(EX_USAGE);
    }
    let source = match &args.replay {
        Some(path) => match Recording::load(path) {
            Ok(recording) => Source::Replay(recording),
            Err(error) => {
                eprintln!("{}: {error}", path.display());
                return ExitCode::from(EX_USAGE);
            }
        },
        None => {
            let config = emulator_config(&args);
            if let Err(error) = config.validate() {
                eprintln!("{error}");
                return ExitCode::from(EX_USAGE);
            }
            Source::Emulated(config)
        }
    };
    let result = tokio::runtime::Runtime::new().and_then(|runtime| {
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(args.listen).await?;
            let shutdown = CancellationToken::new();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                if let Err(error) = signals::stop_signal().await {
                    tracing::error!(%error, "Cannot listen for stop signals; stopping.");
                }
                stop.cancel();
            });
            match source {
                Source::Emulated(config) => {
                    vod_sim::emulator::serve(listener, config, shutdown).await
                }
                Source::Replay(recording) => {
                    vod_sim::emulator::serve_replay(listener, &recording, shutdown).await
                }
            }
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, listen = %args.listen, "Scanner emulator failed.");
            ExitCode::FAILURE
        }
    }
}

/// What the scanner streams.
enum Source {
    Emulated(EmulatorConfig),
    Replay(Recording),
}

fn emulator_config(args: &LidarArgs) -> EmulatorConfig {
    EmulatorConfig {
        mount_height_mm: args.mount_height_mm,
        lanes: args.lanes.clone(),
        scan_frequency_hz: args.scan_frequency_hz,
        flow_per_hour: args.flow_per_hour,
        speed_min_kmh: args.speed_min_kmh,
        speed_max_kmh: args.speed_max_kmh,
        min_gap_ms: args.min_gap_ms,
        warmup_ms: args.warmup_ms,
        traffic_duration_ms: None,
        range_noise_mm: args.range_noise_mm,
        tailgating_share: args.tailgating_share,
        lane_change_share: args.lane_change_share,
        plane_offset_mm: args.plane_offset_mm,
        dropout_probability: args.dropout_probability,
        rain_probability: args.rain_probability,
        wet_road: args.wet_road,
        seed: args.seed,
    }
}
