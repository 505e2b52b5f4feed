//! Every metric of the LIDAR side, registered in one place.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Trigger latency buckets, in seconds: 50 µs to 100 ms.
const LATENCY_BUCKETS_S: [f64; 11] = [
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
];

/// The LIDAR metrics; cheap to clone (each handle shares its series).
#[derive(Debug, Clone)]
pub struct LidarMetrics {
    /// `vod_lidar_connected{scanner}`: 1 while the scanner's stream is up, else 0.
    pub connected: IntGaugeVec,
    /// `vod_lidar_reconnects_total{scanner}`: connection attempts after a failure.
    pub reconnects_total: IntCounterVec,
    /// `vod_lidar_decode_errors_total{scanner}`: telegrams that could not be framed or decoded.
    pub decode_errors_total: IntCounterVec,
    /// `vod_lidar_scans_total{scanner}`: scans handed to the detector.
    pub scans_total: IntCounterVec,
    /// `vod_lidar_scans_rejected_total{scanner}`: scans the detector could not use.
    pub scans_rejected_total: IntCounterVec,
    /// `vod_lidar_vehicles_total{lane}`: vehicles that entered.
    pub vehicles_total: IntCounterVec,
    /// `vod_lidar_triggers_dropped_total{camera}`: trigger commands lost to a full channel.
    pub triggers_dropped_total: IntCounterVec,
    /// `vod_lidar_vehicles_classified_total{lane,class}`: vehicles that left, by size class.
    pub vehicles_classified_total: IntCounterVec,
    /// `vod_lidar_trigger_latency_seconds{camera}`: from the socket read that completed the
    /// detection to the trigger command handed to the camera.
    pub trigger_latency_seconds: HistogramVec,
    /// `vod_lidar_device_state{scanner}`: the status code the scanner last reported (`sRN
    /// STlms`): 7 ready for measurement; 0 to 2 (undefined, initialisation, configuration)
    /// keep the session from measuring.
    pub device_state: IntGaugeVec,
    /// `vod_lidar_speed_unmeasured_total{lane}`: vehicles of a lane with two planes that left
    /// without a speed (not seen in the second plane in time).
    pub speed_unmeasured_total: IntCounterVec,
    /// `vod_lidar_realtime{scanner}`: 1 when the scanner's thread runs under real-time
    /// scheduling (SCHED_FIFO), 0 when the process may not (it lacks CAP_SYS_NICE).
    pub realtime: IntGaugeVec,
    /// `vod_lidar_detector_settings_applied_total{scanner}`: new lane zones and detector
    /// thresholds taken up while the box ran (between vehicles).
    pub detector_settings_applied_total: IntCounterVec,
    /// `vod_lidar_vehicle_records_dropped_total`: vehicle events the recorder's channel had no
    /// room for (the store fell far behind); the vehicles were detected and triggered.
    pub vehicle_records_dropped_total: IntCounter,
    /// `vod_lidar_recorded_telegrams_dropped_total{scanner}`: scan telegrams `[record]` could
    /// not write (its queue was full: the disk is too slow).
    pub recorded_telegrams_dropped_total: IntCounterVec,
}

impl LidarMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str, label: &str| -> Result<_, prometheus::Error> {
            let counter = IntCounterVec::new(Opts::new(name, help), &[label])?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        let connected = IntGaugeVec::new(
            Opts::new(
                "vod_lidar_connected",
                "1 while the scanner's scan stream is up, else 0.",
            ),
            &["scanner"],
        )?;
        registry.register(Box::new(connected.clone()))?;
        let device_state = IntGaugeVec::new(
            Opts::new(
                "vod_lidar_device_state",
                "The scanner's last reported device status code (7: ready for measurement).",
            ),
            &["scanner"],
        )?;
        registry.register(Box::new(device_state.clone()))?;
        let realtime = IntGaugeVec::new(
            Opts::new(
                "vod_lidar_realtime",
                "1 when the scanner's thread runs under real-time scheduling (SCHED_FIFO).",
            ),
            &["scanner"],
        )?;
        registry.register(Box::new(realtime.clone()))?;
        let vehicles_classified_total = IntCounterVec::new(
            Opts::new(
                "vod_lidar_vehicles_classified_total",
                "Vehicles that left a lane, by size class.",
            ),
            &["lane", "class"],
        )?;
        registry.register(Box::new(vehicles_classified_total.clone()))?;
        let trigger_latency_seconds = HistogramVec::new(
            HistogramOpts::new(
                "vod_lidar_trigger_latency_seconds",
                "From the scanner socket read that completed a detection to the trigger command.",
            )
            .buckets(LATENCY_BUCKETS_S.to_vec()),
            &["camera"],
        )?;
        registry.register(Box::new(trigger_latency_seconds.clone()))?;
        let vehicle_records_dropped_total = IntCounter::with_opts(Opts::new(
            "vod_lidar_vehicle_records_dropped_total",
            "Vehicle events not recorded because the recorder's channel was full.",
        ))?;
        registry.register(Box::new(vehicle_records_dropped_total.clone()))?;
        Ok(LidarMetrics {
            vehicle_records_dropped_total,
            recorded_telegrams_dropped_total: counter(
                "vod_lidar_recorded_telegrams_dropped_total",
                "Scan telegrams not recorded because the recording's queue was full.",
                "scanner",
            )?,
            device_state,
            realtime,
            speed_unmeasured_total: counter(
                "vod_lidar_speed_unmeasured_total",
                "Vehicles of a lane with two scan planes that left without a measured speed.",
                "lane",
            )?,
            vehicles_classified_total,
            trigger_latency_seconds,
            connected,
            reconnects_total: counter(
                "vod_lidar_reconnects_total",
                "Connection attempts to a scanner after a failure.",
                "scanner",
            )?,
            decode_errors_total: counter(
                "vod_lidar_decode_errors_total",
                "Telegrams from a scanner that could not be framed or decoded.",
                "scanner",
            )?,
            scans_total: counter(
                "vod_lidar_scans_total",
                "Scans handed to the vehicle detector.",
                "scanner",
            )?,
            scans_rejected_total: counter(
                "vod_lidar_scans_rejected_total",
                "Scans the vehicle detector could not use (their geometry changed).",
                "scanner",
            )?,
            vehicles_total: counter(
                "vod_lidar_vehicles_total",
                "Vehicles that entered a lane.",
                "lane",
            )?,
            detector_settings_applied_total: counter(
                "vod_lidar_detector_settings_applied_total",
                "New lane zones and detector thresholds a running scanner task took up.",
                "scanner",
            )?,
            triggers_dropped_total: counter(
                "vod_lidar_triggers_dropped_total",
                "Camera trigger commands dropped because the camera's channel was full.",
                "camera",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_every_metric_once() {
        let registry = Registry::new();
        let metrics = LidarMetrics::register(&registry).unwrap();
        metrics.connected.with_label_values(&["gantry"]).set(1);
        metrics.device_state.with_label_values(&["gantry"]).set(7);
        metrics
            .vehicles_classified_total
            .with_label_values(&["x", "car"])
            .inc();
        metrics
            .trigger_latency_seconds
            .with_label_values(&["x"])
            .observe(1e-3);
        for counter in [
            &metrics.reconnects_total,
            &metrics.decode_errors_total,
            &metrics.scans_total,
            &metrics.scans_rejected_total,
            &metrics.vehicles_total,
            &metrics.triggers_dropped_total,
            &metrics.speed_unmeasured_total,
            &metrics.detector_settings_applied_total,
        ] {
            counter.with_label_values(&["x"]).inc();
        }
        metrics.vehicle_records_dropped_total.inc();
        let mut names: Vec<_> = registry
            .gather()
            .iter()
            .map(|family| family.name().to_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "vod_lidar_connected",
                "vod_lidar_decode_errors_total",
                "vod_lidar_detector_settings_applied_total",
                "vod_lidar_device_state",
                "vod_lidar_reconnects_total",
                "vod_lidar_scans_rejected_total",
                "vod_lidar_scans_total",
                "vod_lidar_speed_unmeasured_total",
                "vod_lidar_trigger_latency_seconds",
                "vod_lidar_triggers_dropped_total",
                "vod_lidar_vehicle_records_dropped_total",
                "vod_lidar_vehicles_classified_total",
                "vod_lidar_vehicles_total",
            ]
        );
        assert!(LidarMetrics::register(&registry).is_err());
    }
}
