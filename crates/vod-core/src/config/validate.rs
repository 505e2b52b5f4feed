//! Checks that a well-typed config also makes sense: names unique, references resolve,
//! ranges ordered, ports distinct.

use std::collections::HashSet;

use super::{
    CameraSource, CameraTrigger, Config, GigeSourceConfig, Problem, SimSource, SweepSchedule,
};

pub(super) fn check(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |path: String, reason: &str| {
        problems.push(Problem {
            path,
            reason: reason.to_owned(),
        })
    };

    if config.site.id.trim().is_empty() {
        problem("site.id".into(), "must not be empty");
    }
    if let Err(error) = tracing_subscriber::EnvFilter::try_new(&config.log.filter) {
        problem(
            "log.filter".into(),
            &format!("not a log filter such as \"info,vod_lidar=debug\": {error}"),
        );
    }
    if config.web.listen == config.metrics.listen {
        problem(
            "metrics.listen".into(),
            "must differ from web.listen: metrics have a port of their own",
        );
    }
    check_web(config, &mut problem);
    let retention = &config.retention;
    for (key, value) in [
        (
            "captures_max_age_days",
            u64::from(retention.captures_max_age_days),
        ),
        ("job_history_days", u64::from(retention.job_history_days)),
        (
            "vehicles_max_age_days",
            u64::from(retention.vehicles_max_age_days),
        ),
        ("image_quota_bytes", retention.image_quota_bytes),
    ] {
        if value == 0 {
            problem(format!("retention.{key}"), "must be at least 1");
        }
    }
    check_sweep_schedule(config, &mut problem);
    check_job_queues(config, &mut problem);
    let supervisor = &config.supervisor;
    if supervisor.window_s == 0 {
        problem("supervisor.window_s".into(), "must be at least 1");
    }
    if supervisor.backoff_initial_ms == 0 {
        problem("supervisor.backoff_initial_ms".into(), "must be at least 1");
    }
    if supervisor.backoff_max_ms < supervisor.backoff_initial_ms {
        problem(
            "supervisor.backoff_max_ms".into(),
            "must not be less than backoff_initial_ms",
        );
    }
    if let Some(bus) = &config.bus {
        if !(bus.nats_url.starts_with("nats://") || bus.nats_url.starts_with("tls://")) {
            problem("bus.nats_url".into(), "must start with nats:// or tls://");
        }
        let methods = [
            ("user", bus.user.is_some()),
            ("token", bus.token.is_some()),
            ("nkey_seed_file", bus.nkey_seed_file.is_some()),
            ("creds_file", bus.creds_file.is_some()),
        ];
        if methods.iter().filter(|(_, set)| *set).count() > 1 {
            problem(
                "bus".into(),
                "set at most one of user (with password), token, nkey_seed_file and creds_file",
            );
        }
        if bus.user.is_some() != bus.password.is_some() {
            problem("bus.password".into(), "user and password go together");
        }
        if bus.tls_cert_file.is_some() != bus.tls_key_file.is_some() {
            problem(
                "bus.tls_key_file".into(),
                "tls_cert_file and tls_key_file go together",
            );
        }
        if bus.subject_prefix.is_empty()
            || bus
                .subject_prefix
                .contains(|c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>'))
        {
            problem(
                "bus.subject_prefix".into(),
                "must be one subject token: not empty, no spaces, dots, * or >",
            );
        }
    }
    let detector = &config.detector;
    for (key, value) in [
        ("background_scans", detector.background_scans),
        ("foreground_threshold_mm", detector.foreground_threshold_mm),
        ("min_object_beams", detector.min_object_beams),
        ("enter_scans", detector.enter_scans),
        ("leave_scans", detector.leave_scans),
    ] {
        if value == 0 {
            problem(format!("detector.{key}"), "must be at least 1");
        }
    }

    let scanner_names = unique_names(
        config.scanners.iter().map(|s| s.name.as_str()),
        "scanners",
        &mut problem,
    );
    if config.scanners.is_empty() {
        problem("scanners".into(), "at least one scanner is needed");
    }
    for (i, scanner) in config.scanners.iter().enumerate() {
        if !is_host_port(&scanner.address) {
            problem(
                format!("scanners[{i}].address"),
                "must be host:port, such as 192.168.0.1:2112",
            );
        }
        if scanner.mount_height_mm == 0 {
            problem(format!("scanners[{i}].mount_height_mm"), "must be above 0");
        }
        if scanner.connect_timeout_ms == 0 {
            problem(
                format!("scanners[{i}].connect_timeout_ms"),
                "must be at least 1",
            );
        }
        if scanner.stall_timeout_ms.is_some_and(|ms| ms < 100) {
            problem(
                format!("scanners[{i}].stall_timeout_ms"),
                "must be at least 100",
            );
        }
    }

    let lane_names = unique_names(
        config.lanes.iter().map(|l| l.name.as_str()),
        "lanes",
        &mut problem,
    );
    if config.lanes.is_empty() {
        problem("lanes".into(), "at least one lane is needed");
    }
    for (i, lane) in config.lanes.iter().enumerate() {
        if !scanner_names.contains(lane.scanner.as_str()) {
            problem(
                format!("lanes[{i}].scanner"),
                "names no scanner in [[scanners]]",
            );
        }
        if lane.lateral_from_mm >= lane.lateral_to_mm {
            problem(
                format!("lanes[{i}].lateral_to_mm"),
                "must be greater than lateral_from_mm",
            );
        }
    }

    unique_names(
        config.cameras.iter().map(|c| c.name.as_str()),
        "cameras",
        &mut problem,
    );
    for (i, camera) in config.cameras.iter().enumerate() {
        if !lane_names.contains(camera.lane.as_str()) {
            problem(format!("cameras[{i}].lane"), "names no lane in [[lanes]]");
        }
        if camera.burst_frames == 0 {
            problem(format!("cameras[{i}].burst_frames"), "must be at least 1");
        }
        match &camera.source {
            CameraSource::Sim(SimSource { width, height, .. }) => {
                if !(1..=16384).contains(width) || !(1..=16384).contains(height) {
                    problem(
                        format!("cameras[{i}].width"),
                        "width and height must be within 1..=16384",
                    );
                }
            }
            CameraSource::Gige(gige) => {
                check_gige(gige, &format!("cameras[{i}].source.gige"), &mut problem);
            }
            CameraSource::Usb(usb) => {
                let at = format!("cameras[{i}].source.usb");
                if super::usb_device_index(&usb.device).is_none() {
                    problem(format!("{at}.device"), "must be /dev/videoN or an index N");
                }
                if usb.ring_frames == 0 {
                    problem(format!("{at}.ring_frames"), "must be at least 1");
                }
            }
        }
    }
    check_vision(config, &mut problem);
    check_uplink(config, &mut problem);
    check_speed_planes(config, &mut problem);
    check_camera_triggers(config, &mut problem);
    problems
}

/// Shortest and longest distance between two scan planes: closer than this the travel time
/// is a few scans and the speed too coarse; farther, vehicles overtake between the planes.
const PLANE_DISTANCE_MM: std::ops::RangeInclusive<u32> = 500..=50_000;
/// Farthest a camera may look past the first scan plane.
const MAX_TRIGGER_DISTANCE_MM: u32 = 100_000;

fn check_speed_planes(config: &Config, problem: &mut impl FnMut(String, &str)) {
    let mut lanes_seen = HashSet::new();
    for (i, plane) in config.speed_planes.iter().enumerate() {
        let at = format!("speed_planes[{i}]");
        match config.lanes.iter().find(|lane| lane.name == plane.lane) {
            None => problem(format!("{at}.lane"), "names no lane in [[lanes]]"),
            Some(lane) if lane.scanner == plane.second_scanner => problem(
                format!("{at}.second_scanner"),
                "must differ from the lane's own scanner",
            ),
            Some(_) => {}
        }
        if !lanes_seen.insert(plane.lane.as_str()) {
            problem(format!("{at}.lane"), "the lane already has a speed plane");
        }
        if !config
            .scanners
            .iter()
            .any(|scanner| scanner.name == plane.second_scanner)
        {
            problem(
                format!("{at}.second_scanner"),
                "names no scanner in [[scanners]]",
            );
        }
        if !PLANE_DISTANCE_MM.contains(&plane.plane_distance_mm) {
            problem(
                format!("{at}.plane_distance_mm"),
                &format!(
                    "must be within {}..={}",
                    PLANE_DISTANCE_MM.start(),
                    PLANE_DISTANCE_MM.end()
                ),
            );
        }
    }
}

fn check_camera_triggers(config: &Config, problem: &mut impl FnMut(String, &str)) {
    for (i, camera) in config.cameras.iter().enumerate() {
        let at = format!("cameras[{i}]");
        if let CameraTrigger::DistanceMm(distance_mm) = camera.trigger {
            if !config
                .speed_planes
                .iter()
                .any(|plane| plane.lane == camera.lane)
            {
                problem(
                    format!("{at}.trigger_distance_mm"),
                    "needs a measured speed: the camera's lane has no [[speed_planes]] entry",
                );
            }
            if distance_mm == 0 || distance_mm > MAX_TRIGGER_DISTANCE_MM {
                problem(
                    format!("{at}.trigger_distance_mm"),
                    &format!("must be within 1..={MAX_TRIGGER_DISTANCE_MM}"),
                );
            }
        }
    }
}

fn check_vision(config: &Config, problem: &mut impl FnMut(String, &str)) {
    let vision = &config.vision;
    for (key, value) in [
        ("person_model", &vision.person_model),
        ("face_model", &vision.face_model),
    ] {
        if !value.ends_with(".toml") || value.contains('/') {
            problem(
                format!("vision.{key}"),
                "must be a manifest file name (*.toml) in models_dir",
            );
        }
    }
    if vision.threads == 0 || vision.threads > 64 {
        problem("vision.threads".into(), "must be within 1..=64");
    }
    if vision.batch_size == 0 || vision.batch_size > 64 {
        problem("vision.batch_size".into(), "must be within 1..=64");
    }
    if !(0.0..=1.0).contains(&vision.review_below) {
        problem("vision.review_below".into(), "must be within 0..=1");
    }
    if vision.inference_timeout_ms == 0 {
        problem("vision.inference_timeout_ms".into(), "must be at least 1");
    }
    if config.record.as_ref().is_some_and(|record| record.bursts) && !vision.evidence_raw {
        problem(
            "record.bursts".into(),
            "raw bursts are recorded only in evidence mode (vision.evidence_raw = true)",
        );
    }
    let mut seen = HashSet::new();
    for (i, rows) in vision.seat_rows.iter().enumerate() {
        if !config.cameras.iter().any(|c| c.name == rows.camera) {
            problem(
                format!("vision.seat_rows[{i}].camera"),
                "names no camera in [[cameras]]",
            );
        } else if !seen.insert(rows.camera.as_str()) {
            problem(
                format!("vision.seat_rows[{i}].camera"),
                "has seat rows twice",
            );
        }
        for (key, zone) in [
            ("front", rows.front),
            ("rear", rows.rear),
            ("third", rows.third),
        ] {
            if zone.is_some_and(|[from, to]| !(0.0 <= from && from < to && to <= 1.0)) {
                problem(
                    format!("vision.seat_rows[{i}].{key}"),
                    "must be [from, to] with 0 <= from < to <= 1",
                );
            }
        }
    }
}

fn unique_names<'a>(
    names: impl Iterator<Item = &'a str>,
    section: &str,
    problem: &mut impl FnMut(String, &str),
) -> HashSet<&'a str> {
    let mut seen = HashSet::new();
    for (i, name) in names.enumerate() {
        if name.trim().is_empty() {
            problem(format!("{section}[{i}].name"), "must not be empty");
        } else if !seen.insert(name) {
            problem(
                format!("{section}[{i}].name"),
                "is used twice; names must be unique",
            );
        }
    }
    seen
}

fn is_host_port(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

fn check_gige(gige: &GigeSourceConfig, at: &str, problem: &mut impl FnMut(String, &str)) {
    if gige.device_id.trim().is_empty() {
        problem(format!("{at}.device_id"), "must not be empty");
    }
    if !(gige.exposure_micros > 0.0 && gige.exposure_micros <= 1_000_000.0) {
        problem(
            format!("{at}.exposure_micros"),
            "must be within (0, 1000000]",
        );
    }
    if !gige.gain_db.is_finite() || gige.gain_db < 0.0 {
        problem(format!("{at}.gain_db"), "must be 0 or more");
    }
    if gige
        .frame_rate_hz
        .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
    {
        problem(format!("{at}.frame_rate_hz"), "must be above 0");
    }
    if gige.trigger_source.trim().is_empty() {
        problem(
            format!("{at}.trigger_source"),
            "must be Software or a line such as Line1",
        );
    }
    if gige
        .roi
        .is_some_and(|roi| roi.width == 0 || roi.height == 0)
    {
        problem(format!("{at}.roi"), "width and height must be at least 1");
    }
    if gige.buffer_count == 0 {
        problem(format!("{at}.buffer_count"), "must be at least 1");
    }
    if gige.frame_timeout_ms == 0 {
        problem(format!("{at}.frame_timeout_ms"), "must be at least 1");
    }
    if gige
        .clahe_clip_limit
        .is_some_and(|limit| !(limit > 0.0 && limit.is_finite()))
    {
        problem(format!("{at}.clahe_clip_limit"), "must be above 0");
    }
}

fn check_sweep_schedule(config: &Config, problem: &mut impl FnMut(String, &str)) {
    match &config.retention.sweep {
        SweepSchedule::EverySeconds(0) => {
            problem("retention.sweep_every_s".into(), "must be at least 1");
        }
        SweepSchedule::EverySeconds(_) => {}
        SweepSchedule::Cron(cron) => {
            if let Err(error) = cron.parse::<croner::Cron>() {
                problem(
                    "retention.sweep_cron".into(),
                    &format!("not a cron expression: {error}"),
                );
            }
        }
    }
}

fn check_job_queues(config: &Config, problem: &mut impl FnMut(String, &str)) {
    for (name, queue) in &config.jobs.queues {
        if !super::JOB_QUEUES.contains(&name.as_str()) {
            problem(
                format!("jobs.queues.{name}"),
                &format!(
                    "no such queue; the queues are {}",
                    super::JOB_QUEUES.join(", ")
                ),
            );
        }
        for (key, value) in [
            ("concurrency", queue.concurrency),
            ("rate_per_minute", queue.rate_per_minute),
            ("max_attempts", queue.max_attempts),
        ] {
            if value == Some(0) {
                problem(format!("jobs.queues.{name}.{key}"), "must be at least 1");
            }
        }
    }
}

fn check_uplink(config: &Config, problem: &mut impl FnMut(String, &str)) {
    let uplink = &config.uplink;
    if let Some(cloud) = &uplink.cloud {
        let at = "uplink.cloud";
        let bucket = cloud
            .url
            .strip_prefix("s3://")
            .map(|rest| rest.split('/').next());
        match (bucket, cloud.url.strip_prefix("file://")) {
            (Some(Some(bucket)), _) if !bucket.is_empty() => {}
            (None, Some(path)) if !path.is_empty() => {}
            _ => problem(
                format!("{at}.url"),
                "must be s3://BUCKET/PREFIX or file:///PATH",
            ),
        }
        if cloud
            .endpoint
            .as_ref()
            .is_some_and(|e| !(e.starts_with("http://") || e.starts_with("https://")))
        {
            problem(
                format!("{at}.endpoint"),
                "must start with http:// or https://",
            );
        }
        if cloud.access_key_id.is_some() != cloud.secret_access_key.is_some() {
            problem(
                format!("{at}.secret_access_key"),
                "give both access_key_id and secret_access_key, or neither (then the AWS environment variables are used)",
            );
        }
        if !(1..=64).contains(&cloud.concurrency) {
            problem(format!("{at}.concurrency"), "must be within 1..=64");
        }
        if cloud.max_bytes_per_s == Some(0) {
            problem(format!("{at}.max_bytes_per_s"), "must be at least 1");
        }
        if cloud.retry_max_s == 0 {
            problem(format!("{at}.retry_max_s"), "must be at least 1");
        }
    }
    let push = &uplink.push;
    if push.timeout_ms == 0 {
        problem("uplink.push.timeout_ms".into(), "must be at least 1");
    }
    if push.retry_schedule_s.len() > 32 {
        problem("uplink.push.retry_schedule_s".into(), "at most 32 retries");
    }
    if push.disable_after_s == 0 {
        problem("uplink.push.disable_after_s".into(), "must be at least 1");
    }
    if !(1..=16).contains(&push.concurrency_per_endpoint) {
        problem(
            "uplink.push.concurrency_per_endpoint".into(),
            "must be within 1..=16",
        );
    }
    if let Some(jetstream) = &uplink.jetstream {
        if config.bus.is_none() {
            problem(
                "uplink.jetstream".into(),
                "needs a [bus] section: the stream is on its NATS system",
            );
        }
        if jetstream.stream.is_empty()
            || !jetstream
                .stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            problem(
                "uplink.jetstream.stream".into(),
                "must be letters, digits, _ and -",
            );
        }
        if jetstream.subject.is_empty()
            || jetstream
                .subject
                .contains(|c: char| c.is_whitespace() || matches!(c, '*' | '>'))
        {
            problem(
                "uplink.jetstream.subject".into(),
                "must be a subject without spaces or wildcards",
            );
        }
        if jetstream.duplicate_window_s == 0 {
            problem(
                "uplink.jetstream.duplicate_window_s".into(),
                "must be at least 1",
            );
        }
    }
}

fn check_web(config: &Config, problem: &mut impl FnMut(String, &str)) {
    let web = &config.web;
    for (index, host) in web.allowed_hosts.iter().enumerate() {
        let name_like = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !name_like {
            problem(
                format!("web.allowed_hosts[{index}]"),
                "must be a host name such as \"vod-a12.local\", without scheme or port",
            );
        }
    }
    for (key, value) in [
        ("session_idle_minutes", web.session_idle_minutes),
        ("max_connections", web.max_connections),
        ("header_timeout_s", web.header_timeout_s),
        ("max_event_streams", web.max_event_streams),
    ] {
        if value == 0 {
            problem(format!("web.{key}"), "must be at least 1");
        }
    }
    if web.tls_cert_file.is_some() != web.tls_key_file.is_some() {
        problem(
            "web.tls_key_file".into(),
            "web.tls_cert_file and web.tls_key_file go together: both, or neither for plain HTTP",
        );
    }
    if web.max_event_streams >= web.max_connections {
        problem(
            "web.max_event_streams".into(),
            "must be less than web.max_connections: event streams are connections too",
        );
    }
}
