//! The countability of the shipped config on hard simulated scenes of a seed it was not tuned
//! on: the captures it leaves to automatic enforcement are right more often than the ones it
//! flags, and a vehicle that truly holds one person is never miscounted unflagged (the whole
//! measurement, with the goals, is `vod bench occupancy`: docs/PERFORMANCE.md).
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::path::{Path, PathBuf};

use vod_core::config::{Config, SimScenes};
use vod_sim::occupancy_accuracy::{AccuracyReport, measure_config};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_flag_goes_where_the_counts_are_in_doubt() {
    let mut config = Config::load(&repo().join("deploy/bench/vod.toml"))
        .unwrap()
        .config;
    config.vision.models_dir = repo().join("models");
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
