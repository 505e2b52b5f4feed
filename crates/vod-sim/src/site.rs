//! The appliance's config for an emulated site: the bench rig's config with the site's own
//! scanners, lanes, speed planes and cameras, for the tests and benchmarks that run the
//! scanner pipelines against the emulator.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use vod_core::config::{
    CameraConfig, Config, ConfigError, LaneConfig, ScannerConfig, SpeedPlaneConfig,
};
use vod_core::{Hub, ScannerView, TriggerCommand, VehicleEvent};
use vod_lidar::{LidarMetrics, ScannerSetup, SpeedPlanes};

const BENCH_RIG: &str = include_str!("../../../deploy/bench/vod.toml");

/// What a test site has in place of the bench rig's scanners, lanes and cameras.
#[derive(Debug, Clone, Default)]
pub struct Site {
    pub scanners: Vec<ScannerConfig>,
    pub lanes: Vec<LaneConfig>,
    pub speed_planes: Vec<SpeedPlaneConfig>,
    pub cameras: Vec<CameraConfig>,
}

impl Site {
    /// The bench rig's config with this site in it, checked as `vod config check` checks a
    /// file; seat rows are kept for the cameras the site has.
    pub fn config(self) -> Result<Config, ConfigError> {
        let mut config = Config::parse(BENCH_RIG)?;
        config
            .vision
            .seat_rows
            .retain(|rows| self.cameras.iter().any(|camera| camera.name == rows.camera));
        config.scanners = self.scanners;
        config.lanes = self.lanes;
        config.speed_planes = self.speed_planes;
        config.cameras = self.cameras;
        config.check()?;
        Ok(config)
    }

    /// The pipeline of `scanner` in this site, its config fixed; every scanner of the site
    /// shares the speed planes of the setup this makes (clone it for the others).
    pub fn scanner_setup(
        self,
        scanner: &str,
        cameras: HashMap<String, mpsc::Sender<TriggerCommand>>,
        vehicles: mpsc::Sender<VehicleEvent>,
        metrics: LidarMetrics,
        hub: Hub,
    ) -> Result<ScannerSetup, ConfigError> {
        let config = self.config()?;
        Ok(ScannerSetup {
            scanner: scanner.to_owned(),
            speed_planes: SpeedPlanes::new(&config.speed_planes),
            config: watch::channel(Arc::new(config)).1,
            cameras,
            vehicles,
            metrics,
            hub,
            view: ScannerView::new(scanner),
            recorder: None,
        })
    }
}
