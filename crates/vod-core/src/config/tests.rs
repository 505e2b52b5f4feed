//! Config parsing and validation over the bench-rig example and broken variants of it.

use super::*;

const BENCH: &str = include_str!("../../../../deploy/bench/vod.toml");

fn problems_of(text: &str) -> Vec<String> {
    match Config::parse(text) {
        Ok(_) => panic!("config unexpectedly valid"),
        Err(error) => error.problems().iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn the_bench_rig_example_is_valid() {
    let config = Config::parse(BENCH).unwrap();
    assert_eq!(config.site.id, "bench-rig");
    assert_eq!(config.lanes.len(), 2);
    assert_eq!(config.storage.database_path(), Path::new("./data/vod.db"));
    assert_eq!(config.bus.as_ref().unwrap().subject_prefix, "vod");
    assert_eq!(config.detector, DetectorConfig::BENCH_RIG);
}

#[test]
fn reports_wrong_type_unknown_and_missing_keys_together() {
    let text = BENCH
        .replace("max_restarts = 10", "max_restarts = \"ten\"")
        .replace("[web]", "[web]\ncolour = \"blue\"")
        .replace("mount_height_mm = 6000\n", "");
    let problems = problems_of(&text);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with("web.colour: unknown key"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("supervisor.max_restarts: invalid type"),
        "{problems:#?}"
    );
    assert_eq!(
        problems[2],
        "scanners[0].mount_height_mm: missing required key"
    );
}

#[test]
fn a_missing_section_is_one_problem() {
    let text = BENCH.replace("[detector]", "[unused]");
    let problems = problems_of(&text);
    assert!(
        problems.contains(&"detector: missing required key".to_owned()),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("unused: unknown key")),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
}

#[test]
fn mistyped_array_elements_keep_their_index() {
    let text = BENCH.replace("lateral_to_mm = 0", "lateral_to_mm = \"zero\"");
    let problems = problems_of(&text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("lanes[0].lateral_to_mm: invalid type"),
        "{problems:#?}"
    );
}

#[test]
fn semantic_problems_name_their_keys() {
    let text = BENCH
        .replace(
            "scanner = \"gantry\"\nlateral_from_mm = 0",
            "scanner = \"nope\"\nlateral_from_mm = 0",
        )
        .replace("lane = \"lane-2\"", "lane = \"lane-9\"")
        .replace("listen = \"127.0.0.1:9100\"", "listen = \"127.0.0.1:8080\"");
    let problems = problems_of(&text);
    assert_eq!(
        problems,
        [
            "metrics.listen: must differ from web.listen: metrics have a port of their own",
            "lanes[1].scanner: names no scanner in [[scanners]]",
            "cameras[1].lane: names no lane in [[lanes]]",
        ]
    );
}

#[test]
fn syntax_errors_are_reported() {
    let error = Config::parse("[site\nid = 1").unwrap_err();
    assert!(matches!(error, ConfigError::Syntax(_)), "{error}");
}

#[test]
fn a_bad_log_filter_is_a_problem_of_the_file() {
    let text = BENCH.replace("filter = \"info\"", "filter = \"info,vod=loud\"");
    let problems = problems_of(&text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("log.filter: not a log filter"),
        "{problems:#?}"
    );
}

#[test]
fn a_bad_socket_address_is_a_typed_problem() {
    let text = BENCH.replace("listen = \"127.0.0.1:8080\"", "listen = \"localhost\"");
    let problems = problems_of(&text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].starts_with("web.listen:"), "{problems:#?}");
}

const GIGE_CAMERA: &str = r#"[[cameras]]
name = "cam-1"
lane = "lane-1"
trigger_delay_ms = 20
burst_frames = 2
burst_interval_ms = 40
[cameras.source.gige]
device_id = "Aravis-Fake-GV01"
pixel_format = "BayerRG8"
exposure_micros = 800.0
gain_db = 6.0
trigger_source = "Line1"
buffer_count = 8
frame_timeout_ms = 500
clahe_clip_limit = 2.0
[cameras.source.gige.roi]
x = 0
y = 128
width = 1280
height = 768
"#;

fn with_gige_camera(gige: &str) -> String {
    let sim_camera = "[[cameras]]\nname = \"cam-1\"\nlane = \"lane-1\"\nsource = \"sim\"\nwidth = 1280\nheight = 1024\ntrigger_delay_ms = 20\nburst_frames = 2\nburst_interval_ms = 40\n";
    assert!(BENCH.contains(sim_camera));
    BENCH.replace(sim_camera, gige)
}

#[test]
fn a_gige_camera_source_parses() {
    let config = Config::parse(&with_gige_camera(GIGE_CAMERA)).unwrap();
    let CameraSource::Gige(gige) = &config.cameras[0].source else {
        panic!("{:?}", config.cameras[0].source);
    };
    assert_eq!(gige.pixel_format, GigePixelFormat::BayerRg8);
    assert_eq!(gige.trigger_source, "Line1");
    assert_eq!(gige.frame_rate_hz, None);
    assert_eq!(gige.roi.map(|roi| roi.height), Some(768));
    assert_eq!(
        config.cameras[1].source,
        CameraSource::Sim(SimSource::sized(1280, 1024))
    );
}

#[test]
fn only_a_simulated_camera_has_a_size() {
    let sized = GIGE_CAMERA.replace(
        "trigger_delay_ms = 20",
        "trigger_delay_ms = 20\nwidth = 1280",
    );
    assert_eq!(
        problems_of(&with_gige_camera(&sized)),
        [
            "cameras[0].width: only a simulated camera (source = \"sim\") has a size; a real one reports its own"
        ]
    );
    let unsized_sim = BENCH.replacen("width = 1280\nheight = 1024\n", "", 1);
    assert_eq!(
        problems_of(&unsized_sim),
        [
            "cameras[0].width: missing: the simulated image size",
            "cameras[0].height: missing: the simulated image size"
        ]
    );
}

#[test]
fn gige_camera_problems_name_their_keys() {
    let text = with_gige_camera(
        &GIGE_CAMERA
            .replace("exposure_micros = 800.0", "exposure_micros = 0.0")
            .replace("buffer_count = 8", "buffer_count = 0"),
    );
    assert_eq!(
        problems_of(&text),
        [
            "cameras[0].source.gige.exposure_micros: must be within (0, 1000000]",
            "cameras[0].source.gige.buffer_count: must be at least 1",
        ]
    );
    let text = with_gige_camera(&GIGE_CAMERA.replace("\"BayerRG8\"", "\"YUV422\""));
    let problems = problems_of(&text);
    assert!(
        problems[0].contains("unknown variant `YUV422`"),
        "{problems:?}"
    );
}

#[test]
fn vision_settings_are_checked() {
    let config = Config::parse(BENCH).unwrap();
    assert_eq!(config.vision.anonymize, AnonymizeTarget::Faces);
    assert_eq!(config.vision.seat_rows[0].front, Some([0.46, 0.85]));
    let text = BENCH
        .replace("threads = 1 ", "threads = 0 ")
        .replace("batch_size = 1 ", "batch_size = 0 ")
        .replace("review_below = 0.2", "review_below = 1.5")
        .replace("face_model = \"centerface.toml\"", "face_model = \"faces\"")
        .replace("camera = \"cam-2\"", "camera = \"cam-9\"")
        .replacen("rear = [0.1, 0.46]\n\n", "rear = [0.46, 0.1]\n\n", 1);
    let mut problems = problems_of(&text);
    problems.sort();
    let keys: Vec<&str> = problems
        .iter()
        .map(|p| p.split(':').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "vision.batch_size",
            "vision.face_model",
            "vision.review_below",
            "vision.seat_rows[0].rear",
            "vision.seat_rows[1].camera",
            "vision.threads",
        ],
        "{problems:#?}"
    );
}

#[test]
fn a_usb_camera_source_parses_and_is_checked() {
    let usb = GIGE_CAMERA
        .split("[cameras.source.gige]")
        .next()
        .unwrap()
        .to_owned()
        + "[cameras.source.usb]\ndevice = \"/dev/video0\"\nring_frames = 16\ntolerance_ms = 40\n";
    let config = Config::parse(&with_gige_camera(&usb)).unwrap();
    assert!(matches!(&config.cameras[0].source, CameraSource::Usb(u) if u.device == "/dev/video0"));
    let bad = usb.replace("ring_frames = 16", "ring_frames = 0");
    assert_eq!(
        problems_of(&with_gige_camera(&bad)),
        ["cameras[0].source.usb.ring_frames: must be at least 1"]
    );
    let unnamed = usb.replace("/dev/video0", "front-camera");
    assert_eq!(
        problems_of(&with_gige_camera(&unnamed)),
        ["cameras[0].source.usb.device: must be /dev/videoN or an index N"]
    );
    assert_eq!(super::usb_device_index("/dev/video2"), Some(2));
    assert_eq!(super::usb_device_index("3"), Some(3));
}

#[test]
fn the_sweep_runs_by_interval_or_by_cron_never_both() {
    let config = Config::parse(BENCH).unwrap();
    assert_eq!(config.retention.sweep, SweepSchedule::EverySeconds(600));
    let cron = BENCH.replace("sweep_every_s = 600", "sweep_cron = \"0 */10 * * * *\"");
    let config = Config::parse(&cron).unwrap();
    assert_eq!(
        config.retention.sweep,
        SweepSchedule::Cron("0 */10 * * * *".into())
    );

    let both = BENCH.replace(
        "sweep_every_s = 600",
        "sweep_every_s = 600\nsweep_cron = \"0 * * * *\"",
    );
    assert_eq!(
        problems_of(&both),
        ["retention.sweep_cron: give either sweep_every_s or sweep_cron, not both"]
    );
    let neither = BENCH.replace("sweep_every_s = 600", "");
    assert_eq!(
        problems_of(&neither),
        ["retention.sweep_every_s: missing: give sweep_every_s or sweep_cron"]
    );
    let bad = BENCH.replace("sweep_every_s = 600", "sweep_cron = \"0 */10 * *\"");
    let problems = problems_of(&bad);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("retention.sweep_cron: not a cron expression"),
        "{problems:#?}"
    );
}

#[test]
fn job_queue_overrides_name_known_queues() {
    let with_queues = |queues: &str| BENCH.replace("[web]", &format!("{queues}\n[web]"));
    let config = Config::parse(&with_queues(
        "[jobs.queues.retention]\nconcurrency = 2\nmax_attempts = 5",
    ))
    .unwrap();
    let retention = config.jobs.queue("retention");
    assert_eq!(retention.concurrency, Some(2));
    assert_eq!(retention.max_attempts, Some(5));
    assert_eq!(retention.rate_per_minute, None);
    assert_eq!(Config::parse(BENCH).unwrap().jobs, JobsConfig::default());

    let problems = problems_of(&with_queues(
        "[jobs.queues.uploads]\nconcurrency = 2\n[jobs.queues.retention]\nrate_per_minute = 0",
    ));
    assert_eq!(
        problems,
        [
            "jobs.queues.retention.rate_per_minute: must be at least 1",
            "jobs.queues.uploads: no such queue; the queues are retention, upload, jetstream",
        ]
    );
    let problems = problems_of(&with_queues("[jobs.queues.retention]\nworkers = 2"));
    assert!(
        problems[0].starts_with("jobs.queues.retention.workers: unknown key"),
        "{problems:#?}"
    );
}

/// The bench rig with a second scanner 6 m downstream of lane-1's and cam-1 firing 8 m past
/// the first plane.
fn with_speed_plane(plane: &str, cam_1_trigger: &str) -> String {
    let second_scanner = "[[scanners]]\nname = \"gantry-b\"\naddress = \"127.0.0.1:2113\"\nmount_height_mm = 6000\nconnect_timeout_ms = 2000\n\n[[lanes]]";
    let cam_1 = "name = \"cam-1\"\nlane = \"lane-1\"\nsource = \"sim\"\nwidth = 1280\nheight = 1024\ntrigger_delay_ms = 20\n";
    assert!(BENCH.contains(cam_1));
    BENCH
        .replacen("[[lanes]]", second_scanner, 1)
        .replacen("[[cameras]]", &format!("{plane}\n[[cameras]]"), 1)
        .replacen(
            cam_1,
            &cam_1.replace("trigger_delay_ms = 20\n", cam_1_trigger),
            1,
        )
}

const SPEED_PLANE: &str = "[[speed_planes]]\nlane = \"lane-1\"\nsecond_scanner = \"gantry-b\"\nplane_distance_mm = 6000\n";

#[test]
fn a_speed_plane_and_a_trigger_distance_parse() {
    let config = Config::parse(&with_speed_plane(
        SPEED_PLANE,
        "trigger_distance_mm = 8000\n",
    ))
    .unwrap();
    assert_eq!(
        config.speed_planes,
        [SpeedPlaneConfig {
            lane: "lane-1".into(),
            second_scanner: "gantry-b".into(),
            plane_distance_mm: 6000,
        }]
    );
    let (cam_1, cam_2) = (&config.cameras[0], &config.cameras[1]);
    assert_eq!(cam_1.trigger, CameraTrigger::DistanceMm(8000));
    assert_eq!(cam_2.trigger, CameraTrigger::DelayMs(20));
    // Without the optional section there are no speed planes.
    assert!(Config::parse(BENCH).unwrap().speed_planes.is_empty());
}

#[test]
fn bad_speed_planes_and_camera_triggers_name_their_keys() {
    let cases = [
        (
            SPEED_PLANE.replace("lane-1", "lane-9"),
            "trigger_delay_ms = 20\n",
            "speed_planes[0].lane: names no lane in [[lanes]]",
        ),
        (
            SPEED_PLANE.replace("gantry-b", "gantry-c"),
            "trigger_delay_ms = 20\n",
            "speed_planes[0].second_scanner: names no scanner in [[scanners]]",
        ),
        (
            SPEED_PLANE.replace("\"gantry-b\"", "\"gantry\""),
            "trigger_delay_ms = 20\n",
            "speed_planes[0].second_scanner: must differ from the lane's own scanner",
        ),
        (
            SPEED_PLANE.replace("6000", "499"),
            "trigger_delay_ms = 20\n",
            "speed_planes[0].plane_distance_mm: must be within 500..=50000",
        ),
        (
            SPEED_PLANE.replace("6000", "50001"),
            "trigger_delay_ms = 20\n",
            "speed_planes[0].plane_distance_mm: must be within 500..=50000",
        ),
        (
            format!("{SPEED_PLANE}{SPEED_PLANE}"),
            "trigger_delay_ms = 20\n",
            "speed_planes[1].lane: the lane already has a speed plane",
        ),
        (
            SPEED_PLANE.to_owned(),
            "trigger_delay_ms = 20\ntrigger_distance_mm = 8000\n",
            "cameras[0].trigger_distance_mm: give either trigger_delay_ms or trigger_distance_mm, not both",
        ),
        (
            SPEED_PLANE.to_owned(),
            "",
            "cameras[0].trigger_delay_ms: missing: give trigger_delay_ms or trigger_distance_mm",
        ),
        (
            SPEED_PLANE.to_owned(),
            "trigger_distance_mm = 0\n",
            "cameras[0].trigger_distance_mm: must be within 1..=100000",
        ),
        (
            SPEED_PLANE.replace("lane-1", "lane-2"),
            "trigger_distance_mm = 8000\n",
            "cameras[0].trigger_distance_mm: needs a measured speed: the camera's lane has no [[speed_planes]] entry",
        ),
    ];
    for (plane, trigger, expected) in cases {
        let problems = problems_of(&with_speed_plane(&plane, trigger));
        assert_eq!(problems, [expected], "{plane} {trigger}");
    }
}

#[test]
fn bus_credentials_and_tls_are_checked_together() {
    let bus = "nats_url = \"nats://127.0.0.1:4222\"";
    assert!(BENCH.contains(bus));
    let with = |lines: &str| BENCH.replace(bus, lines);
    let tls = with(
        "nats_url = \"tls://nats.example.net:4222\"\nuser = \"box\"\npassword = \"pw\"\n\
         tls_ca_file = \"/etc/vod/nats-ca.pem\"\nrequire_tls = true",
    );
    assert!(Config::parse(&tls).unwrap().bus.unwrap().require_tls);
    assert_eq!(
        problems_of(&with(
            "nats_url = \"http://x\"\nuser = \"box\"\ntoken = \"t\"\ntls_cert_file = \"c.pem\""
        )),
        [
            "bus.nats_url: must start with nats:// or tls://",
            "bus: set at most one of user (with password), token, nkey_seed_file and creds_file",
            "bus.password: user and password go together",
            "bus.tls_key_file: tls_cert_file and tls_key_file go together",
        ]
    );
}

#[test]
fn a_scanners_stall_timeout_is_at_least_100_ms() {
    let line = "connect_timeout_ms = 2000";
    assert!(BENCH.contains(line));
    let text = BENCH.replace(line, "connect_timeout_ms = 2000\nstall_timeout_ms = 50");
    assert_eq!(
        problems_of(&text),
        ["scanners[0].stall_timeout_ms: must be at least 100"]
    );
    let text = BENCH.replace(line, "connect_timeout_ms = 2000\nstall_timeout_ms = 5000");
    assert_eq!(
        Config::parse(&text).unwrap().scanners[0].stall_timeout_ms,
        Some(5000)
    );
}

#[test]
fn a_simulated_camera_can_render_hard_scenes_of_photos_from_a_folder() {
    let text = BENCH.replacen(
        "width = 1280\nheight = 1024\n",
        "width = 1280\nheight = 1024\nscenes = \"hard\"\noccupants_dir = \"photos\"\nside = \"right\"\n",
        1,
    );
    let config = Config::parse(&text).unwrap();
    assert_eq!(
        config.cameras[0].source,
        CameraSource::Sim(SimSource {
            scenes: SimScenes::Hard,
            occupants_dir: Some("photos".into()),
            side: SimSide::Right,
            ..SimSource::sized(1280, 1024)
        })
    );
    // Written back as given, and the default left out.
    let written = toml::to_string(&config).unwrap();
    assert_eq!(Config::parse(&written).unwrap(), config);
    assert_eq!(written.matches("scenes = ").count(), 1, "{written}");
    assert_eq!(written.matches("side = ").count(), 1, "{written}");

    let on_gige = GIGE_CAMERA.replace(
        "trigger_delay_ms = 20",
        "trigger_delay_ms = 20\nscenes = \"hard\"",
    );
    assert_eq!(
        problems_of(&with_gige_camera(&on_gige)),
        ["cameras[0].scenes: only a simulated camera (source = \"sim\") renders scenes"]
    );
}

#[test]
fn raw_bursts_are_recorded_only_in_evidence_mode() {
    let record = format!("{BENCH}\n[record]\ndir = \"recordings\"\nbursts = true\n");
    assert_eq!(
        problems_of(&record),
        [
            "record.bursts: raw bursts are recorded only in evidence mode (vision.evidence_raw = true)"
        ]
    );
    let evidence = record.replace("evidence_raw = false", "evidence_raw = true");
    let config = Config::parse(&evidence).unwrap();
    assert!(config.record.unwrap().bursts);
}
