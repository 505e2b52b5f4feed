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
fn a_bad_socket_address_is_a_typed_problem() {
    let text = BENCH.replace("listen = \"127.0.0.1:8080\"", "listen = \"localhost\"");
    let problems = problems_of(&text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].starts_with("web.listen:"), "{problems:#?}");
}

const GIGE_CAMERA: &str = r#"[[cameras]]
name = "cam-1"
lane = "lane-1"
width = 1280
height = 1024
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
    assert_eq!(config.cameras[1].source, CameraSource::Sim);
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
    assert_eq!(config.vision.seat_rows[0].front, Some([0.5, 0.75]));
    let text = BENCH
        .replace("threads = 2 ", "threads = 0 ")
        .replace("review_below = 0.4", "review_below = 1.5")
        .replace(
            "face_model = \"retinaface_mnet025.toml\"",
            "face_model = \"faces\"",
        )
        .replace("camera = \"cam-2\"", "camera = \"cam-9\"")
        .replace("rear = [0.25, 0.5]\n\n", "rear = [0.5, 0.25]\n\n");
    let mut problems = problems_of(&text);
    problems.sort();
    let keys: Vec<&str> = problems
        .iter()
        .map(|p| p.split(':').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
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
