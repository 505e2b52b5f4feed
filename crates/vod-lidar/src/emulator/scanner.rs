//! The emulated LMS511's scans: 1141 beams from -5 deg in steps of 1/6 deg, DIST1 (16-bit,
//! millimetres) and RSSI1 (8-bit), ray cast against the traffic at the scan's time.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::EmulatorConfig;
use super::geometry::{Surface, cast};
use super::traffic::Traffic;
use crate::cola::{Channel, ChannelName, ScanData, ScanDataKind};

const BEAMS: u16 = 1141;
const START_ANGLE_DEG_X10000: i32 = -50_000;
const STEP_DEG_X10000: u16 = 1667;
/// Ranges beyond this do not fit a 16-bit millimetre channel: no echo.
const MAX_RANGE_MM: f64 = 65_000.0;
const SERIAL_NUMBER: u32 = 20_240_001;
/// The emulated scanner has been on for a while when a client arrives.
const POWER_UP_US_AT_START: u32 = 10_000_000;
const RSSI_ROAD: u8 = 60;
const RSSI_VEHICLE: u8 = 180;

/// Makes one client's scans, one after the other.
#[derive(Debug)]
pub(crate) struct ScanSource {
    config: EmulatorConfig,
    traffic: Traffic,
    noise: StdRng,
    index: u64,
}

impl ScanSource {
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        ScanSource {
            config: config.clone(),
            traffic: Traffic::new(config),
            noise: StdRng::seed_from_u64(config.seed.rotate_left(17)),
            index: 0,
        }
    }

    /// Time between two scans.
    pub(crate) fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.config.scan_frequency_hz)
    }

    pub(crate) fn next_scan(&mut self) -> ScanData {
        let at = Duration::from_secs_f64(self.index as f64 / self.config.scan_frequency_hz);
        let sections = self.traffic.sections_at(&self.config, at);
        let mount_height_mm = f64::from(self.config.mount_height_mm);
        let noise_mm = f64::from(self.config.range_noise_mm);
        let (ranges, rssi): (Vec<u16>, Vec<u8>) = (0..BEAMS)
            .map(|beam| {
                let angle_deg = f64::from(
                    START_ANGLE_DEG_X10000 + i32::from(beam) * i32::from(STEP_DEG_X10000),
                ) / 10_000.0;
                match cast(mount_height_mm, angle_deg, &sections, MAX_RANGE_MM) {
                    None => (0, 0),
                    Some((range_mm, surface)) => {
                        let noisy = range_mm + self.noise.random_range(-noise_mm..=noise_mm);
                        let rssi = match surface {
                            Surface::Road => RSSI_ROAD,
                            Surface::Vehicle => RSSI_VEHICLE,
                        };
                        (noisy.round().clamp(1.0, MAX_RANGE_MM) as u16, rssi)
                    }
                }
            })
            .unzip();
        let scan_us = POWER_UP_US_AT_START.wrapping_add(at.as_micros() as u32);
        let period_us = self.period().as_micros() as u32;
        let step_deg = f64::from(STEP_DEG_X10000) / 10_000.0;
        let scan = ScanData {
            kind: ScanDataKind::Event,
            version: 1,
            device_number: 1,
            serial_number: SERIAL_NUMBER,
            device_status: [0, 0],
            telegram_counter: self.index as u16,
            scan_counter: self.index as u16,
            time_since_power_up_us: scan_us,
            time_of_transmission_us: scan_us.wrapping_add(period_us),
            input_status: [0, 0],
            output_status: [0, 0],
            layer_angle: 0,
            scan_frequency_hz_x100: (self.config.scan_frequency_hz * 100.0).round() as u32,
            // Shots per second over a whole turn of the mirror, in 100 Hz.
            measurement_frequency_hz_div100: (self.config.scan_frequency_hz * 360.0
                / step_deg
                / 100.0)
                .round() as u32,
            encoders: Vec::new(),
            channels_16bit: vec![channel(ChannelName::DIST1, ranges)],
            channels_8bit: vec![channel(ChannelName::RSSI1, rssi)],
            position: None,
            device_name: None,
            comment: None,
            time_stamp: None,
            event: None,
        };
        self.index += 1;
        scan
    }
}

fn channel<T>(name: ChannelName, values: Vec<T>) -> Channel<T> {
    Channel {
        name,
        scale_factor: 1.0,
        scale_offset: 0.0,
        start_angle_deg_x10000: START_ANGLE_DEG_X10000,
        step_deg_x10000: STEP_DEG_X10000,
        values,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::Utc;

    use super::*;
    use crate::emulator::ground_truth;
    use crate::emulator::tests::config;

    #[test]
    fn scans_have_the_lms511_geometry_and_show_the_traffic() {
        let mut config = config();
        config.flow_per_hour = 3600.0;
        config.range_noise_mm = 0;
        let passes = ground_truth(&config, Duration::from_secs(10));
        let mut source = ScanSource::new(&config);
        let mut saw_vehicle = false;
        for index in 0..250u32 {
            let data = source.next_scan();
            assert_eq!(data.scan_counter, index as u16);
            assert_eq!(
                data.time_since_power_up_us,
                POWER_UP_US_AT_START + index * 40_000
            );
            assert_eq!(data.measurement_frequency_hz_div100, 540);
            let scan = data
                .to_scan("emulated".into(), Instant::now(), Utc::now())
                .unwrap();
            assert_eq!(scan.ranges_mm.len(), 1141);
            assert_eq!((scan.start_angle_deg, scan.step_deg), (-5.0, 0.1667));
            // Straight down (90 deg is beam 570) the road is 6 m away, unless a vehicle is there.
            let at = Duration::from_millis(u64::from(index) * 40);
            let over_nadir = passes.iter().any(|p| {
                let s = p.section();
                p.arrival <= at
                    && at < p.departure
                    && s.lateral_from_mm <= 0.0
                    && 0.0 <= s.lateral_to_mm
            });
            if !over_nadir {
                assert!(
                    (scan.ranges_mm[570] - 6000.0).abs() < 5.0,
                    "{}",
                    scan.ranges_mm[570]
                );
            }
            // Beams above the horizon never echo.
            assert_eq!(scan.ranges_mm[0], 0.0);
            assert_eq!(scan.ranges_mm[1140], 0.0);
            saw_vehicle |= data.channels_8bit[0].values.contains(&RSSI_VEHICLE);
        }
        assert!(saw_vehicle);
    }
}
