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
