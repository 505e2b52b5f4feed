//! The `vod` command: parses arguments and hands over to the subcommand.

mod appliance;
mod bench;
mod camera;
mod lidar;
mod reload;
mod signals;
mod sim;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vod_core::config::{Config, ConfigError, LoadedConfig};

/// Exit code for a bad command line or config file (sysexits EX_USAGE).
const EX_USAGE: u8 = 64;
/// Exit code when the appliance gives up on a failing component (sysexits EX_SOFTWARE).
const EX_SOFTWARE: u8 = 70;

#[derive(Debug, Parser)]
#[command(name = "vod", version, about = "Vehicle occupancy detection appliance")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the appliance.
    Run {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Field tools for cameras: list them, take test frames.
    #[command(subcommand)]
    Camera(camera::CameraCommand),
    /// Tools for SICK scanner data.
    #[command(subcommand)]
    Lidar(lidar::LidarCommand),
    /// Simulators for the bench rig.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Checks a config file completely and lists every problem; exits 64 if there is one.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => {
            let path = config;
            let loaded = match load(&path) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            appliance::main(loaded, path)
        }
        Command::Config(ConfigCommand::Check { file }) => match load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Camera(command) => camera::main(command),
        Command::Lidar(command) => lidar::main(command),
        Command::Sim(command) => sim::main(command),
        Command::Bench(command) => bench::main(command),
    }
}

/// Loads and validates a config, printing every problem to stderr on failure.
fn load(path: &std::path::Path) -> Result<LoadedConfig, ExitCode> {
    Config::load(path).map_err(|error: ConfigError| {
        eprintln!("{}: {error}", path.display());
        ExitCode::from(EX_USAGE)
    })
}
