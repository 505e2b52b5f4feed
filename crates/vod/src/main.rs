//! The `vod` command: parses the command line and hands over to the subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vod::cli::{bench, camera, ctl, lidar, push, replay, sim, user};

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
    /// The people who may sign in to the web page.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Field tools for cameras: list them, take test frames.
    #[command(subcommand)]
    Camera(camera::CameraCommand),
    /// Tools for SICK scanner data.
    #[command(subcommand)]
    Lidar(lidar::LidarCommand),
    /// The endpoints clients registered for pushes.
    #[command(subcommand)]
    Push(push::PushCommand),
    /// Simulators for the bench rig.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// A recording ([record]) through detection, trigger planning, vision and storage into a
    /// fresh data directory; the same recording always gives the same vehicles and counts.
    Replay(replay::ReplayArgs),
    /// A running box, over its NATS bus: state, top, config, events, commands.
    Ctl(ctl::CtlArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Checks a config file completely and lists every problem; exits 64 if there is one.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { config } => vod::cli::run::main(&config),
        Command::Config(ConfigCommand::Check { file }) => vod::cli::config::check(&file),
        Command::User(command) => user::main(command),
        Command::Camera(command) => camera::main(command),
        Command::Lidar(command) => lidar::main(command),
        Command::Push(command) => push::main(command),
        Command::Sim(command) => sim::main(command),
        Command::Bench(command) => bench::main(command),
        Command::Replay(args) => replay::main(args),
        Command::Ctl(args) => ctl::main(args),
    }
}
