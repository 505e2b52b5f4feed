//! The countability of the shipped config on hard simulated scenes of a seed it was not tuned
//! on: the captures it leaves to automatic enforcement are right more often than the ones it
//! flags, a vehicle that truly holds one person is never miscounted unflagged, and a second
//! camera on the lane's other side counts more of the vehicles with someone hidden right (the
//! whole measurement, with the goals, is `vod bench occupancy`: docs/PERFORMANCE.md).
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::path::{Path, PathBuf};

use vod_core::config::{Config, SimScenes};
use vod_sim::occupancy_accuracy::{AccuracyReport, measure_config, seen_from_both_sides};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bench rig's config, with the repository's models.
fn shipped_config() -> Config {
    let mut config = Config::load(&repo().join("deploy/bench/vod.toml"))
        .unwrap()
        .config;
    config.vision.models_dir = repo().join("models");
    config
}

#[test]
fn the_flag_goes_where_the_counts_are_in_doubt() {
    let config = shipped_config();
    let samples = measure_config(&config, SimScenes::Hard, None, 200, 1).unwrap();
    let report = AccuracyReport::of(&samples);
    assert_eq!(report.vehicles, 200);
    let flagged_exact = report.vehicle.exact - report.unflagged_exact;
    // Both kinds occur in these scenes, and the score tells them apart.
    assert!(report.flagged > 0 && report.unflagged > 0, "{report:?}");
    assert!(
        f64::from(report.unflagged_exact) / f64::from(report.unflagged)
            > f64::from(flagged_exact) / f64::from(report.flagged),
        "unflagged {} of {} exact, flagged {} of {}",
        report.unflagged_exact,
        report.unflagged,
        flagged_exact,
        report.flagged
    );
    assert_eq!(report.driver_only.truly_one_miscounted_unflagged, 0);
}

#[test]
fn a_camera_on_the_other_side_finds_whom_the_first_cannot_see() {
    let config = shipped_config();
    let both = seen_from_both_sides(&config).unwrap();
    let hidden_right = |config: &Config| {
        let samples = measure_config(config, SimScenes::Hard, None, 120, 1).unwrap();
        let report = AccuracyReport::of(&samples);
        let hidden = report.by_condition["hidden_behind"];
        (hidden.unflagged_exact, hidden.vehicles, report)
    };
    let (one_side, vehicles, one) = hidden_right(&config);
    let (both_sides, same_vehicles, two) = hidden_right(&both);
    assert_eq!(vehicles, same_vehicles);
    assert!(
        both_sides > one_side,
        "of {vehicles} with someone hidden, right and unflagged: {one_side} from one side, \
         {both_sides} from both"
    );
    assert!(two.unflagged_exact > one.unflagged_exact, "{one:?} {two:?}");
    assert_eq!(two.driver_only.truly_one_miscounted_unflagged, 0);
}
