//! `vod camera ...`: field tools to find the cameras on the network and take test frames.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use vod_camera::CameraMetrics;
use vod_camera::gige::{self, GigeCamera, GigeSettings, TriggerMode};
use vod_camera::imageops::{self, Processing, SensorFormat};

use crate::{EX_SOFTWARE, EX_USAGE};

#[derive(Debug, Subcommand)]
pub enum CameraCommand {
    /// Prints every camera found, one per line: V4L2 (USB/UVC) devices with their index and
    /// name, then what Aravis finds (GigE Vision, USB3 Vision) with id, vendor, model, serial
    /// and address.
    List(ListArgs),
    /// Takes frames from one camera by software trigger and writes them as PNG files.
    Grab(GrabArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Also list Aravis's built-in simulated camera (`Fake_1`).
    #[arg(long)]
    fake: bool,
}

#[derive(Debug, Args)]
pub struct GrabArgs {
    /// A device id as `vod camera list` prints it, or the camera's IP address.
    #[arg(long)]
    device: String,
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// The directory for the files (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Mono8, Mono16, BayerRG8, BayerGR8, BayerGB8, BayerBG8 or RGB8.
    #[arg(long, default_value = "Mono8")]
    pixel_format: String,
    #[arg(long, default_value_t = 1000.0)]
    exposure_micros: f64,
    #[arg(long, default_value_t = 0.0)]
    gain_db: f64,
    /// Enables Aravis's built-in simulated camera, so `--device Fake_1` works.
    #[arg(long)]
    fake: bool,
}

pub fn main(command: CameraCommand) -> ExitCode {
    match command {
        CameraCommand::List(args) => list(&args),
        CameraCommand::Grab(args) => grab(&args),
    }
}

fn list(args: &ListArgs) -> ExitCode {
    if args.fake {
        gige::enable_fake_interface();
    }
    let devices = gige::discover();
    let usb_devices = vod_camera::usb::discover().unwrap_or_else(|error| {
        eprintln!("{error}");
        Vec::new()
    });
    if devices.is_empty() && usb_devices.is_empty() {
        eprintln!("No camera found.");
    }
    for device in usb_devices {
        println!(
            "{}\tname={}\tdescription={}\tprotocol=UVC",
            device.index, device.name, device.description
        );
    }
    for device in devices {
        println!(
            "{}\tvendor={}\tmodel={}\tserial={}\tprotocol={}\taddress={}",
            device.id, device.vendor, device.model, device.serial, device.protocol, device.address
        );
    }
    ExitCode::SUCCESS
}

fn grab(args: &GrabArgs) -> ExitCode {
    let pixel_format: SensorFormat = match args.pixel_format.parse() {
        Ok(format) => format,
        Err(error) => {
            eprintln!("--pixel-format: {error}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if args.fake {
        gige::enable_fake_interface();
    }
    let settings = GigeSettings {
        device_id: args.device.clone(),
        pixel_format,
        exposure_micros: args.exposure_micros,
        gain_db: args.gain_db,
        frame_rate_hz: None,
        roi: None,
        trigger: TriggerMode::Software,
        buffer_count: 4,
        frame_timeout_ms: 2000,
        processing: Processing::default(),
    };
    let written = std::fs::create_dir_all(&args.out)
        .map_err(|error| format!("{}: {error}", args.out.display()))
        .and_then(|()| {
            let metrics = CameraMetrics::register(&prometheus::Registry::new())
                .map_err(|error| error.to_string())?;
            let mut camera = GigeCamera::open(Arc::from(args.device.as_str()), settings, metrics)
                .map_err(|error| error.to_string())?;
            let file_stem: String = args
                .device
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            for index in 0..args.count {
                let exposure = camera.expose().map_err(|error| error.to_string())?;
                let png = imageops::decode(
                    &exposure.raw,
                    exposure.width,
                    exposure.height,
                    exposure.format,
                )
                .and_then(|image| imageops::encode_png(&image))
                .map_err(|error| error.to_string())?;
                let path = args.out.join(format!("{file_stem}-{index:04}.png"));
                std::fs::write(&path, png)
                    .map_err(|error| format!("{}: {error}", path.display()))?;
                println!(
                    "{}\t{}x{}\tframe_id={}\tdevice_timestamp_ns={}\thost_utc={}",
                    path.display(),
                    exposure.width,
                    exposure.height,
                    exposure.frame_id,
                    exposure.device_timestamp_ns,
                    exposure.host_utc.to_rfc3339()
                );
            }
            Ok(())
        });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vod camera grab: {error}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}
