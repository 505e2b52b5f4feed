//! The one typed configuration of the appliance, read from a TOML file and validated
//! completely (every problem reported, each with its key path) before any port is bound.

mod choices;
pub mod diff;
pub mod file;
pub mod live;
pub mod path;
mod problems;
pub mod secrets;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use problems::{ConfigError, Problem};

use crate::supervisor::RestartPolicy;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub site: SiteConfig,
    pub storage: StorageConfig,
    pub retention: RetentionConfig,
    /// Optional: each queue keeps its built-in limits unless overridden here.
    #[serde(default)]
    pub jobs: JobsConfig,
    pub web: WebConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub supervisor: SupervisorConfig,
    /// Without this section the box runs without a message bus.
    pub bus: Option<BusConfig>,
    pub detector: DetectorConfig,
    pub scanners: Vec<ScannerConfig>,
    pub lanes: Vec<LaneConfig>,
    /// Lanes watched by a second scan plane downstream, for speed and length.
    #[serde(default)]
    pub speed_planes: Vec<SpeedPlaneConfig>,
    pub cameras: Vec<CameraConfig>,
    pub vision: VisionConfig,
    /// Optional: where captures go off the box. Without it they stay on the box.
    #[serde(default)]
    pub uplink: UplinkConfig,
    /// Optional: record what the scanners send, for `vod replay`.
    pub record: Option<RecordConfig>,
}

/// `[record]`: each run of the box writes a folder under `dir`, named by its start (UTC),
/// with the config it ran with (`vod.toml`, secrets masked), its start (`recording.json`),
/// each scanner's scan telegrams (`<scanner>.pcapng.json`, the sick_scan_xd form `vod sim lidar --replay`
/// and `vod replay` read): about 1 GB an hour per scanner at 25 scans a second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    pub dir: PathBuf,
    /// Raw bursts too (`bursts/<vehicle id>/<camera>/`, PNG frames and `burst.json`), while
    /// evidence mode is on (`vision.evidence_raw`), so that a replay analyses the very frames.
    #[serde(default)]
    pub bursts: bool,
}

/// Where captures go off the box: the operator's cloud, the endpoints clients registered (in
/// the store, not here: these are their delivery settings), a JetStream stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    pub cloud: Option<CloudConfig>,
    #[serde(default)]
    pub push: PushConfig,
    pub jetstream: Option<JetStreamConfig>,
}

/// The cloud target every capture is uploaded to: its anonymized images and one metadata
/// JSON under `PREFIX/SITE/YYYY/MM/DD/CAPTURE_UUID/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudConfig {
    /// `s3://BUCKET/PREFIX`, or a directory: `file:///PATH`, or `file://./PATH` relative to
    /// where vod runs.
    pub url: String,
    /// An S3-compatible server instead of AWS, such as `http://10.0.0.5:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Without these the usual AWS environment variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`) are used.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Captures uploaded at the same time.
    pub concurrency: u32,
    /// Caps the upload rate; no cap when absent.
    pub max_bytes_per_s: Option<u64>,
    /// An upload that fails is retried without end, at most this long apart.
    pub retry_max_s: u64,
}

/// How captures are delivered to the push endpoints clients registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// A delivery that has no answer within this long failed.
    pub timeout_ms: u64,
    /// The wait before each retry of a failed delivery; after the last one it is given up.
    /// The default is the Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub retry_schedule_s: Vec<u64>,
    /// An endpoint whose deliveries have failed for this long is disabled.
    pub disable_after_s: u64,
    /// Deliveries to one endpoint at the same time.
    pub concurrency_per_endpoint: u32,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            timeout_ms: 10_000,
            retry_schedule_s: vec![5, 300, 1800, 7200, 18_000, 36_000, 36_000],
            disable_after_s: 5 * 86_400,
            concurrency_per_endpoint: 1,
        }
    }
}

/// Each capture's metadata published to a JetStream stream of the `[bus]` NATS system, with
/// the capture's id as `Nats-Msg-Id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JetStreamConfig {
    /// Created when missing, on `subject`.
    pub stream: String,
    /// Such as `vod.bench-rig.captures`.
    pub subject: String,
    /// The JetStream domain of the NATS server the box talks to (a leaf node's own).
    pub domain: Option<String>,
    /// How long JetStream remembers a message id to drop a second publish of it.
    pub duplicate_window_s: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Names this box in uploads, bus subjects and logs.
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Holds the SQLite database (`vod.db`) and the image files.
    pub data_dir: PathBuf,
}

/// How long stored data is kept, and how much disk the images may take. A retention sweep
/// runs as a job of the `retention` queue, every `sweep_every_s` or when `sweep_cron` says
/// (exactly one of the two).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "choices::RetentionFile", into = "choices::RetentionFile")]
pub struct RetentionConfig {
    /// Captures (rows and images) older than this are removed, unless a job (an upload) still
    /// waits for them.
    pub captures_max_age_days: u32,
    /// Vehicle records older than this are removed.
    pub vehicles_max_age_days: u32,
    /// Ended jobs (completed, discarded, cancelled) and the push delivery history are kept this
    /// long for inspection.
    pub job_history_days: u32,
    /// The image files may take this much; past it the oldest captures go first, those still
    /// waiting for an upload last.
    pub image_quota_bytes: u64,
    pub sweep: SweepSchedule,
}

/// When the retention sweep runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepSchedule {
    /// `sweep_every_s`.
    EverySeconds(u64),
    /// `sweep_cron`: a cron expression in UTC, seconds first and optional: `0 */10 * * * *`
    /// sweeps at every tenth minute.
    Cron(String),
}

/// The job queues the box runs; `[jobs.queues.<name>]` must name one of them. (Each push
/// endpoint has a queue of its own, with the endpoint's limits.)
pub const JOB_QUEUES: &[&str] = &["retention", "upload", "jetstream"];

/// Overrides of the job queues' built-in limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// By queue name, one of [`JOB_QUEUES`].
    #[serde(default)]
    pub queues: std::collections::BTreeMap<String, QueueConfig>,
}

impl JobsConfig {
    /// The overrides of `queue`; all `None` when it has none.
    pub fn queue(&self, queue: &str) -> QueueConfig {
        self.queues.get(queue).cloned().unwrap_or_default()
    }
}

/// One queue's limits; each key left out keeps the queue's built-in value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Jobs of the queue that run at the same time.
    pub concurrency: Option<u32>,
    /// Job starts per minute at most.
    pub rate_per_minute: Option<u32>,
    /// Attempts of each job before it is discarded.
    pub max_attempts: Option<u32>,
}

impl StorageConfig {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("vod.db")
    }
}

/// The technician's page. Everything on it but `/healthz` needs a signed-in user or an API
/// token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// Host names the page answers to, besides IP addresses (always accepted): a request for
    /// any other name is refused, so that a foreign web page cannot reach the box through a
    /// name it controls (DNS rebinding).
    #[serde(default = "default_allowed_hosts")]
    pub allowed_hosts: Vec<String>,
    /// A signed-in session ends after this long without a request.
    #[serde(default = "default_session_idle_minutes")]
    pub session_idle_minutes: u32,
    /// Connections open at once; one more is closed at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long a client may take to send a request's header; an idle connection is closed
    /// after this long.
    #[serde(default = "default_header_timeout_s")]
    pub header_timeout_s: u32,
    /// Live event streams (`/events`) open at once.
    #[serde(default = "default_max_event_streams")]
    pub max_event_streams: u32,
    /// Who may ask `/readyz`.
    #[serde(default)]
    pub readyz: Access,
    /// Serves HTTPS with this certificate chain (PEM, the server's certificate first) and
    /// `tls_key_file`; the session cookie is then marked Secure. Plain HTTP without them.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
}

/// Who may read an endpoint meant for machines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Anyone who reaches the port.
    #[default]
    Open,
    /// Only a request with an API token (`Authorization: Bearer`) or a signed-in session.
    Token,
}

fn default_allowed_hosts() -> Vec<String> {
    vec!["localhost".to_owned()]
}

fn default_session_idle_minutes() -> u32 {
    30
}

fn default_max_connections() -> u32 {
    1024
}

fn default_header_timeout_s() -> u32 {
    10
}

fn default_max_event_streams() -> u32 {
    32
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
    /// Who may scrape `/metrics`.
    #[serde(default)]
    pub access: Access,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing env-filter directive such as `info,vod_lidar=debug`; `RUST_LOG` overrides it.
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    /// Restarts of one component allowed within `window_s` before the process exits.
    pub max_restarts: u32,
    pub window_s: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

impl SupervisorConfig {
    pub fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy {
            max_restarts: self.max_restarts,
            window: Duration::from_secs(self.window_s),
            backoff_initial: Duration::from_millis(self.backoff_initial_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
        }
    }
}

/// The NATS connection: where, as whom (at most one of user and password, token, nkey seed
/// file, creds file), and over TLS when the URL is `tls://` or `require_tls` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    /// Such as `nats://127.0.0.1:4222` or `tls://nats.example.net:4222`.
    pub nats_url: String,
    /// First token of every subject this box publishes, such as `vod`.
    pub subject_prefix: String,
    pub user: Option<String>,
    /// With `user`.
    pub password: Option<String>,
    pub token: Option<String>,
    /// A file holding the user's nkey seed (`SU...`).
    pub nkey_seed_file: Option<PathBuf>,
    /// A `.creds` file (a user JWT and its nkey seed), as nsc writes it.
    pub creds_file: Option<PathBuf>,
    /// PEM certificates the server's certificate must chain to, besides the system's.
    pub tls_ca_file: Option<PathBuf>,
    /// A client certificate and its key (PEM), for servers that verify clients.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Refuse a connection that is not TLS.
    #[serde(default)]
    pub require_tls: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Scans used to learn the empty road before detecting.
    pub background_scans: u32,
    /// A beam counts as hitting an object when its range is this much shorter than the road's.
    pub foreground_threshold_mm: u32,
    /// Object beams needed within a lane's zone for the lane to count as occupied.
    pub min_object_beams: u32,
    /// Consecutive occupied scans that make a vehicle enter (at least one at body height; a
    /// wide enough object seen in fewer scans enters and leaves when the road shows behind it).
    pub enter_scans: u32,
    /// Consecutive scans of lost echoes (no vehicle and too little road seen to tell) that
    /// make a vehicle leave. One scan that shows the lane's road, or only bumper-high points,
    /// makes it leave at once.
    pub leave_scans: u32,
}

impl DetectorConfig {
    /// The bench rig's settings (deploy/bench/vod.toml, kept equal by a test), which the
    /// scanner emulator's traffic is detected with in tests and benchmarks.
    pub const BENCH_RIG: DetectorConfig = DetectorConfig {
        background_scans: 25,
        foreground_threshold_mm: 300,
        min_object_beams: 4,
        enter_scans: 2,
        leave_scans: 3,
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    pub name: String,
    /// `host:port` of the scanner's CoLa-B port (2112 on SICK devices).
    pub address: String,
    /// Height of the scanner's optical centre above the road.
    pub mount_height_mm: u32,
    pub connect_timeout_ms: u64,
    /// A scan stream silent this long means the scanner is gone, and the session reconnects.
    /// Without it: three scan periods, at least 300 ms.
    #[serde(default)]
    pub stall_timeout_ms: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneConfig {
    pub name: String,
    pub scanner: String,
    /// The lane's zone across the road, in millimetres from the point below the scanner,
    /// positive towards the scanner's 0 deg side.
    pub lateral_from_mm: i32,
    pub lateral_to_mm: i32,
}

/// A second scanner, `plane_distance_mm` downstream of a lane's own scanner and mounted the
/// same way across the road, watching the same lane zone: the time a vehicle takes between
/// the two planes gives its speed, and with its occupancy time its length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedPlaneConfig {
    pub lane: String,
    pub second_scanner: String,
    pub plane_distance_mm: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "choices::CameraFile", into = "choices::CameraFile")]
pub struct CameraConfig {
    pub name: String,
    pub lane: String,
    pub source: CameraSource,
    pub trigger: CameraTrigger,
    pub burst_frames: u32,
    pub burst_interval_ms: u32,
}

/// When a camera fires after a vehicle entered its lane's (first) scan plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraTrigger {
    /// `trigger_delay_ms`: from the vehicle entering the scan plane to the first exposure.
    DelayMs(u32),
    /// `trigger_distance_mm`: when the vehicle has driven this far past the lane's first scan
    /// plane, at its measured speed; the lane needs a `[[speed_planes]]` entry.
    DistanceMm(u32),
}

/// What a simulated camera renders: `width`, `height` and optionally `scenes`,
/// `occupants_dir` and `side` beside `source = "sim"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSource {
    pub width: u32,
    pub height: u32,
    pub scenes: SimScenes,
    /// A folder of photos, one person each (waist up), that occupants are drawn from instead
    /// of the built-in ones; every PNG or JPEG file in it is used.
    pub occupants_dir: Option<PathBuf>,
    pub side: SimSide,
}

impl SimSource {
    /// Clear scenes of the built-in occupants.
    pub fn sized(width: u32, height: u32) -> SimSource {
        SimSource {
            width,
            height,
            scenes: SimScenes::Clear,
            occupants_dir: None,
            side: SimSide::Left,
        }
    }
}

/// Which side of the vehicle a simulated camera looks at. Two cameras of one lane on either
/// side see each seat row's occupants from both ends: who sits beyond another from one side
/// sits nearest the other (`vision` fuses a vehicle's views, docs/PERFORMANCE.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimSide {
    /// The driver's side: the vehicle drives to the right of the frame, the driver nearest.
    #[default]
    Left,
    /// The passenger's side: the vehicle drives to the left of the frame, the front passenger
    /// (if any) nearest, the driver beyond them.
    Right,
}

/// How hard the simulated camera's scenes are to count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimScenes {
    /// One driver and at times one rear passenger, adults, behind clear glass.
    #[default]
    Clear,
    /// As well: children, a front passenger and a second rear passenger partly hidden by the
    /// occupant in front of them, headrests and pillars in the way, tinted glass, glare, a
    /// near-infrared monochrome view, and bags or child seats on empty seats.
    Hard,
}

/// Where the seat rows appear in one camera's side view, as `[from, to]` ranges of the image
/// width (0..1); a person belongs to the row whose zone holds the centre of their box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatRowsConfig {
    pub camera: String,
    pub front: Option<[f32; 2]>,
    pub rear: Option<[f32; 2]>,
    pub third: Option<[f32; 2]>,
}

/// The vision stage: the models, anonymization and counting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionConfig {
    /// The folder of model manifests (`*.toml`) and their ONNX files.
    pub models_dir: PathBuf,
    /// Manifest file names in `models_dir`.
    pub person_model: String,
    pub face_model: String,
    /// ONNX Runtime intra-op threads of each model.
    pub threads: u32,
    /// Frames of a burst given to one inference call, for models whose input takes any batch
    /// size; a model whose batch is fixed at 1 runs the frames one by one.
    pub batch_size: u32,
    pub anonymize: AnonymizeTarget,
    /// Evidence mode: frames are stored raw, faces NOT anonymized; every capture says so.
    pub evidence_raw: bool,
    /// Captures whose countability (0..1) is below this are flagged for human review.
    pub review_below: f32,
    /// Cameras without an entry have their people detected and anonymized, not counted.
    pub seat_rows: Vec<SeatRowsConfig>,
    /// An inference call still running after this is stopped and counts as failed: a frame
    /// whose face search failed is not stored.
    #[serde(default = "default_inference_timeout_ms")]
    pub inference_timeout_ms: u32,
}

fn default_inference_timeout_ms() -> u32 {
    5000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnonymizeTarget {
    Faces,
    /// Every detected person as a whole, as well as faces.
    FacesAndPeople,
}

/// `source = "sim"` with `width` and `height`, or a table `[cameras.source.gige]` or
/// `[cameras.source.usb]`.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraSource {
    /// Renders the passing vehicle; for the bench rig and tests.
    Sim(SimSource),
    /// A GigE Vision (GenICam) camera through Aravis.
    Gige(GigeSourceConfig),
    /// A free-running USB (UVC) camera; each trigger takes the frame nearest its moment.
    Usb(UsbSourceConfig),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbSourceConfig {
    /// A V4L2 device path (`/dev/video0`) or index.
    pub device: String,
    /// Frames kept in the ring the triggers pick from.
    pub ring_frames: u32,
    /// How far from the trigger's moment a frame may lie and still be taken.
    pub tolerance_ms: u32,
}

/// The V4L2 index of a USB camera named as `/dev/videoN` or `N`.
pub fn usb_device_index(device: &str) -> Option<u32> {
    device
        .strip_prefix("/dev/video")
        .unwrap_or(device)
        .parse()
        .ok()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GigeSourceConfig {
    /// An Aravis device id (`Vendor-Serial`, as `vod camera list` prints it) or an IP address.
    pub device_id: String,
    pub pixel_format: GigePixelFormat,
    pub exposure_micros: f64,
    pub gain_db: f64,
    /// Caps the camera's frame rate; the camera's own setting when absent.
    pub frame_rate_hz: Option<f64>,
    /// `Software`, or the camera input wired to the trigger (for example `Line1`).
    pub trigger_source: String,
    /// The sensor region to read out; the full sensor when absent.
    pub roi: Option<RoiConfig>,
    /// Stream buffers kept queued at the camera.
    pub buffer_count: u32,
    pub frame_timeout_ms: u32,
    /// Contrast enhancement (CLAHE) against windshield glare; off when absent.
    pub clahe_clip_limit: Option<f64>,
}

/// Sensor pixel formats, spelled as GenICam spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GigePixelFormat {
    Mono8,
    Mono16,
    #[serde(rename = "BayerRG8")]
    BayerRg8,
    #[serde(rename = "BayerGR8")]
    BayerGr8,
    #[serde(rename = "BayerGB8")]
    BayerGb8,
    #[serde(rename = "BayerBG8")]
    BayerBg8,
    #[serde(rename = "RGB8")]
    Rgb8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoiConfig {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Config {
    /// Parses and validates `text`.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config = problems::deserialize_reporting_all(text)?;
        config.check()?;
        Ok(config)
    }

    /// Checks that a well-typed config also makes sense (what [`Config::parse`] checks after
    /// reading the file), for a config built or changed in code.
    pub fn check(&self) -> Result<(), ConfigError> {
        let problems = validate::check(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Reads and checks the file at `path`; its text comes along, as the config history
    /// keeps it.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config = Config::parse(&text)?;
        Ok(LoadedConfig { config, text })
    }
}

/// A config file as read: the config in it and its text.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub text: String,
}

#[cfg(test)]
mod tests;
