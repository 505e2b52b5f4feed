//! `vod camera ...`: field tools to find the cameras on the network and take test frames.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::{Args, Subcommand};
use vod_camera::gige::{self, GigeCamera, GigeSettings, TriggerMode};
use vod_camera::imageops::{self, Processing, SensorFormat};
use vod_camera::usb::UsbCamera;
use vod_camera::{Camera, CameraError, CameraMetrics};
use vod_core::{TriggerCommand, VehicleId};

use crate::EX_USAGE;

/// Exit code when the camera cannot be found or opened (sysexits EX_UNAVAILABLE).
const EX_UNAVAILABLE: u8 = 69;
/// Exit code when frames cannot be taken or written (sysexits EX_IOERR).
const EX_IOERR: u8 = 74;
/// Devices named like this are USB (V4L2) cameras; any other id goes to Aravis.
const USB_DEVICE_PREFIX: &str = "/dev/video";
/// A USB camera runs free; a grab takes the frame nearest its moment from this many.
const USB_RING_FRAMES: usize = 8;
/// How long a USB grab waits for the camera's next frame.
const USB_TOLERANCE: Duration = Duration::from_millis(500);

#[derive(Debug, Subcommand)]
pub enum CameraCommand {
    /// Prints every camera found, one per line: V4L2 (USB/UVC) devices with their index and
    /// name, then what Aravis finds (GigE Vision, USB3 Vision) with id, vendor, model, serial
    /// and address.
    List(ListArgs),
    /// Takes frames from one camera and writes them as PNG files: by software trigger from a
    /// GigE Vision camera, the newest frame of its stream from a USB camera (`/dev/videoN`).
    /// Exits 69 when the camera cannot be opened, 74 when a frame cannot be taken or written.
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
    /// A device id as `vod camera list` prints it (`/dev/videoN` for USB), or a GigE
    /// camera's IP address.
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
            "{USB_DEVICE_PREFIX}{}\tname={}\tdescription={}\tprotocol=UVC",
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
    let mut camera = match open(args, pixel_format) {
        Ok(camera) => camera,
        Err(error) => {
            eprintln!("vod camera grab: {error}");
            return ExitCode::from(EX_UNAVAILABLE);
        }
    };
    match write_frames(camera.as_mut(), args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vod camera grab: {error}");
            ExitCode::from(EX_IOERR)
        }
    }
}

/// Opens a USB camera for a `/dev/video*` device, a GigE Vision (Aravis) camera otherwise.
fn open(args: &GrabArgs, pixel_format: SensorFormat) -> Result<Box<dyn Camera>, CameraError> {
    let name: Arc<str> = Arc::from(args.device.as_str());
    if args.device.starts_with(USB_DEVICE_PREFIX) {
        return Ok(Box::new(UsbCamera::open(
            name,
            &args.device,
            USB_RING_FRAMES,
            USB_TOLERANCE,
        )?));
    }
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
    let metrics = CameraMetrics::register(&prometheus::Registry::new()).map_err(|error| {
        CameraError::Device {
            camera: args.device.clone(),
            what: "registering metrics",
            detail: error.to_string(),
        }
    })?;
    Ok(Box::new(GigeCamera::open(name, settings, metrics)?))
}

/// Takes `args.count` frames, each by its own trigger, and writes them as PNG files.
fn write_frames(camera: &mut dyn Camera, args: &GrabArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.out)
        .map_err(|error| format!("{}: {error}", args.out.display()))?;
    let file_stem: String = args
        .device
        .trim_start_matches("/dev/")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let lane: Arc<str> = Arc::from("grab");
    for index in 0..args.count {
        let now = Instant::now();
        let trigger = TriggerCommand {
            camera: Arc::from(args.device.as_str()),
            vehicle_id: VehicleId::new(Utc::now(), index, 0),
            lane: lane.clone(),
            fire_at: now,
            frames: 1,
            interval_ms: 0,
            detected_at: now,
            detected_utc: Utc::now(),
            test: false,
        };
        let frame = camera
            .grab(&trigger, 0)
            .map_err(|error| error.to_string())?;
        let png = imageops::encode_frame_png(&frame).map_err(|error| error.to_string())?;
        let path = args.out.join(format!("{file_stem}-{index:04}.png"));
        std::fs::write(&path, png).map_err(|error| format!("{}: {error}", path.display()))?;
        let device_timestamp = frame
            .device_timestamp_ns
            .map_or_else(|| "-".to_owned(), |ns| ns.to_string());
        println!(
            "{}\t{}x{}\tdevice_timestamp_ns={device_timestamp}\thost_utc={}",
            path.display(),
            frame.width,
            frame.height,
            frame.captured_utc.to_rfc3339()
        );
    }
    Ok(())
}
