//! What a change to the config changes, key path by key path, and which of those paths the
//! running box applies at once. Configs are compared as the file spells them (their
//! serialized trees), so the paths are the file's: `cameras[0].trigger_delay_ms`.

use serde_json::Value;

use super::Config;
use super::path::{KeyPath, Segment};

/// The key paths (with every index written `[]`) that the running box applies without a
/// restart, each with everything below it. Every other path waits for a restart.
pub const LIVE_PATHS: &[&str] = &[
    "vision",
    "detector",
    "retention",
    "jobs",
    "log.filter",
    "web.allowed_hosts",
    "web.session_idle_minutes",
    "web.readyz",
    "metrics.access",
    "uplink.cloud",
    "uplink.push",
    "lanes[].lateral_from_mm",
    "lanes[].lateral_to_mm",
    "cameras[].trigger_delay_ms",
    "cameras[].trigger_distance_mm",
    "cameras[].burst_frames",
    "cameras[].burst_interval_ms",
    "cameras[].source.gige.exposure_micros",
    "cameras[].source.gige.gain_db",
];

/// Whether a change at `path` applies without a restart.
pub fn is_live(path: &KeyPath) -> bool {
    let pattern = path.pattern();
    LIVE_PATHS.iter().any(|live| {
        pattern
            .strip_prefix(live)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    })
}

/// The config as the file spells it. A `Config` is plain data: serializing it cannot fail.
pub fn tree(config: &Config) -> Value {
    serde_json::to_value(config).unwrap_or(Value::Null)
}

/// Every path whose value differs between the two configs, sorted: the deepest path that
/// differs, or an array as a whole when its length changed.
pub fn changed_paths(old: &Config, new: &Config) -> Vec<KeyPath> {
    let mut paths = Vec::new();
    differences(&KeyPath::default(), &tree(old), &tree(new), &mut paths);
    paths.sort();
    paths
}

fn differences(at: &KeyPath, old: &Value, new: &Value, paths: &mut Vec<KeyPath>) {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = at.child(Segment::Key(key.clone()));
                match (old.get(key), new.get(key)) {
                    (Some(a), Some(b)) => differences(&child, a, b, paths),
                    (None, None) => {}
                    _ => paths.push(child),
                }
            }
        }
        (Value::Array(old), Value::Array(new)) if old.len() == new.len() => {
            for (index, (a, b)) in old.iter().zip(new).enumerate() {
                differences(&at.child(Segment::Index(index)), a, b, paths);
            }
        }
        (old, new) if old != new => paths.push(at.clone()),
        _ => {}
    }
}

/// How a new config meets the running one: the config to run with (the new one, with the
/// running value kept at every path that waits for a restart), and the changed paths split
/// by how they apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub effective: Config,
    pub live: Vec<KeyPath>,
    pub restart: Vec<KeyPath>,
    /// Set when the live part alone would make an invalid config: then nothing applies live
    /// and every changed path waits for the restart; this says why.
    pub held_back: Option<String>,
}

impl Plan {
    pub fn between(running: &Config, next: &Config) -> Plan {
        let (live, restart): (Vec<KeyPath>, Vec<KeyPath>) =
            changed_paths(running, next).into_iter().partition(is_live);
        let mut effective = tree(next);
        let running_tree = tree(running);
        for path in &restart {
            put(&mut effective, path, lookup(&running_tree, path).cloned());
        }
        let effective = serde_json::from_value::<Config>(effective)
            .map_err(|error| error.to_string())
            .and_then(|config| {
                config.check().map_err(|error| error.to_string())?;
                Ok(config)
            });
        match effective {
            Ok(effective) => Plan {
                effective,
                live,
                restart,
                held_back: None,
            },
            Err(reason) => Plan {
                effective: running.clone(),
                live: Vec::new(),
                restart: {
                    let mut all: Vec<KeyPath> = live.into_iter().chain(restart).collect();
                    all.sort();
                    all
                },
                held_back: Some(format!(
                    "applied without the restart, the change would leave the running config \
                     invalid, so all of it waits for the restart: {reason}"
                )),
            },
        }
    }
}

/// The value at `path` in `tree`.
pub fn lookup<'a>(tree: &'a Value, path: &KeyPath) -> Option<&'a Value> {
    path.0
        .iter()
        .try_fold(tree, |value, segment| match (value, segment) {
            (Value::Object(map), Segment::Key(key)) => map.get(key),
            (Value::Array(items), Segment::Index(index)) => items.get(*index),
            _ => None,
        })
}

/// Sets (or, with `None`, removes) the value at `path`; a path through something that is not
/// there changes nothing.
fn put(tree: &mut Value, path: &KeyPath, value: Option<Value>) {
    let Some((last, parent)) = path.0.split_last() else {
        if let Some(value) = value {
            *tree = value;
        }
        return;
    };
    let parent = parent
        .iter()
        .try_fold(tree, |value, segment| match (value, segment) {
            (Value::Object(map), Segment::Key(key)) => map.get_mut(key),
            (Value::Array(items), Segment::Index(index)) => items.get_mut(*index),
            _ => None,
        });
    match (parent, last, value) {
        (Some(Value::Object(map)), Segment::Key(key), Some(value)) => {
            map.insert(key.clone(), value);
        }
        (Some(Value::Object(map)), Segment::Key(key), None) => {
            map.remove(key);
        }
        (Some(Value::Array(items)), Segment::Index(index), Some(value)) => {
            if let Some(slot) = items.get_mut(*index) {
                *slot = value;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CameraTrigger, SweepSchedule};

    const BENCH: &str = include_str!("../../../../deploy/bench/vod.toml");

    fn bench() -> Config {
        Config::parse(BENCH).unwrap()
    }

    fn paths(paths: &[KeyPath]) -> Vec<String> {
        paths.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn changed_paths_are_the_files_keys() {
        let old = bench();
        let mut new = bench();
        new.detector.foreground_threshold_mm = 450;
        new.cameras[1].trigger = CameraTrigger::DelayMs(35);
        new.lanes[0].lateral_to_mm = -100;
        new.retention.sweep = SweepSchedule::Cron("0 * * * * *".into());
        new.web.listen.set_port(8081);
        new.vision.seat_rows.pop();
        assert_eq!(
            paths(&changed_paths(&old, &new)),
            [
                "cameras[1].trigger_delay_ms",
                "detector.foreground_threshold_mm",
                "lanes[0].lateral_to_mm",
                "retention.sweep_cron",
                "retention.sweep_every_s",
                "vision.seat_rows",
                "web.listen",
            ]
        );
        assert!(changed_paths(&old, &bench()).is_empty());
    }

    #[test]
    fn live_paths_apply_now_and_the_rest_keeps_its_running_value() {
        let running = bench();
        let mut next = bench();
        next.detector.enter_scans = 3;
        next.cameras[0].burst_frames = 4;
        next.cameras[0].lane = "lane-2".into();
        next.vision.review_below = 0.5;
        next.web.listen.set_port(8081);
        let plan = Plan::between(&running, &next);
        assert_eq!(plan.held_back, None);
        assert_eq!(
            paths(&plan.live),
            [
                "cameras[0].burst_frames",
                "detector.enter_scans",
                "vision.review_below"
            ]
        );
        assert_eq!(paths(&plan.restart), ["cameras[0].lane", "web.listen"]);
        assert_eq!(plan.effective.detector.enter_scans, 3);
        assert_eq!(plan.effective.cameras[0].burst_frames, 4);
        assert_eq!(plan.effective.cameras[0].lane, "lane-1");
        assert_eq!(plan.effective.vision.review_below, 0.5);
        assert_eq!(plan.effective.web.listen, running.web.listen);
    }

    #[test]
    fn a_live_part_that_needs_a_restarted_part_waits_with_it() {
        // Seat rows for a camera that only a restart adds: applied alone they would name a
        // camera the running box does not have.
        let running = bench();
        let mut next = bench();
        let mut third = next.cameras[1].clone();
        third.name = "cam-3".into();
        next.cameras.push(third);
        let mut rows = next.vision.seat_rows[1].clone();
        rows.camera = "cam-3".into();
        next.vision.seat_rows.push(rows);
        let plan = Plan::between(&running, &next);
        assert!(plan.live.is_empty());
        assert_eq!(paths(&plan.restart), ["cameras", "vision.seat_rows"]);
        assert_eq!(plan.effective, running);
        let reason = plan.held_back.unwrap();
        assert!(reason.contains("vision.seat_rows[2].camera"), "{reason}");
    }

    #[test]
    fn only_the_listed_paths_are_live() {
        for (path, live) in [
            ("vision.review_below", true),
            ("vision", true),
            ("jobs.queues.retention.concurrency", true),
            ("log.filter", true),
            ("log.format", false),
            ("lanes[3].lateral_from_mm", true),
            ("lanes[3].scanner", false),
            ("cameras[0].source.gige.exposure_micros", true),
            ("cameras[0].source.gige.pixel_format", false),
            ("detectors", false),
            ("bus.nats_url", false),
            ("uplink.cloud.url", true),
            ("uplink.jetstream.stream", false),
        ] {
            assert_eq!(is_live(&KeyPath::parse(path).unwrap()), live, "{path}");
        }
    }
}
