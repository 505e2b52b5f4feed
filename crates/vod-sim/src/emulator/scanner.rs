//! The emulated LMS511's scans: 1141 beams from -5 deg in steps of 1/6 deg, DIST1 (16-bit,
//! millimetres) and RSSI1 (8-bit), ray cast against the traffic at the scan's time, with the
//! configured noise: range jitter, lost echoes, raindrops and a wet road's mirror images.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::EmulatorConfig;
use super::geometry::{Section, Surface, cast, mirror_range};
use super::traffic::Traffic;
use vod_lidar::cola::{Channel, ChannelName, ScanData, ScanDataKind};

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
const RSSI_RAIN: u8 = 15;
const RSSI_MIRROR: u8 = 30;
/// Raindrops echo from this far out up to the surface behind them.
const RAIN_MIN_RANGE_MM: f64 = 500.0;

/// Makes one client's scans, one after the other.
#[derive(Debug)]
pub struct ScanSource {
    config: EmulatorConfig,
    traffic: Traffic,
    noise: StdRng,
    index: u64,
}

impl ScanSource {
    pub fn new(config: &EmulatorConfig) -> Self {
        ScanSource {
            config: config.clone(),
            traffic: Traffic::new(config),
            noise: StdRng::seed_from_u64(config.seed.rotate_left(17)),
            index: 0,
        }
    }

    /// Time between two scans.
    pub fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.config.scan_frequency_hz)
    }

    pub fn next_scan(&mut self) -> ScanData {
        let at = Duration::from_secs_f64(self.index as f64 / self.config.scan_frequency_hz);
        let sections = self.traffic.sections_at(&self.config, at);
        let (ranges, rssi): (Vec<u16>, Vec<u8>) =
            (0..BEAMS).map(|beam| self.beam(beam, &sections)).unzip();
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

impl ScanSource {
    /// One beam's range (mm, 0 for no echo) and remission.
    fn beam(&mut self, beam: u16, sections: &[Section]) -> (u16, u8) {
        let config = &self.config;
        let angle_deg =
            f64::from(START_ANGLE_DEG_X10000 + i32::from(beam) * i32::from(STEP_DEG_X10000))
                / 10_000.0;
        let mount_height_mm = f64::from(config.mount_height_mm);
        let Some((range_mm, surface)) = cast(mount_height_mm, angle_deg, sections, MAX_RANGE_MM)
        else {
            return (0, 0);
        };
        let noise = &mut self.noise;
        if config.dropout_probability > 0.0 && noise.random_bool(config.dropout_probability) {
            return (0, 0);
        }
        let (range_mm, rssi) = if config.rain_probability > 0.0
            && range_mm > RAIN_MIN_RANGE_MM
            && noise.random_bool(config.rain_probability)
        {
            (noise.random_range(RAIN_MIN_RANGE_MM..range_mm), RSSI_RAIN)
        } else {
            match surface {
                Surface::Vehicle => (range_mm, RSSI_VEHICLE),
                Surface::Road if config.wet_road => {
                    match mirror_range(mount_height_mm, angle_deg, sections) {
                        Some(mirror_mm) if mirror_mm <= MAX_RANGE_MM => (mirror_mm, RSSI_MIRROR),
                        _ => (range_mm, RSSI_ROAD),
                    }
                }
                Surface::Road => (range_mm, RSSI_ROAD),
            }
        };
        let noise_mm = f64::from(config.range_noise_mm);
        let noisy = range_mm + noise.random_range(-noise_mm..=noise_mm);
        (noisy.round().clamp(1.0, MAX_RANGE_MM) as u16, rssi)
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

    #[test]
    fn scans_have_the_lms511_geometry_and_show_the_traffic() {
        let mut config = EmulatorConfig::bench_rig();
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

#[cfg(test)]
mod noise_tests {
    use super::*;

    /// Beams at and below the horizon over an empty road, counted by what they returned.
    fn count(config: &EmulatorConfig, scans: usize) -> (usize, usize, usize) {
        let mut source = ScanSource::new(config);
        let (mut lost, mut rain, mut echoes) = (0, 0, 0);
        for _ in 0..scans {
            let scan = source.next_scan();
            let rssi = &scan.channels_8bit[0].values;
            for (beam, &range) in scan.channels_16bit[0].values.iter().enumerate() {
                // Beams below 30 deg reach the road from 6 m up (within 12 m).
                if !(181..=960).contains(&beam) {
                    continue;
                }
                match (range, rssi[beam]) {
                    (0, _) => lost += 1,
                    (_, RSSI_RAIN) => rain += 1,
                    _ => echoes += 1,
                }
            }
        }
        (lost, rain, echoes)
    }

    #[test]
    fn dropouts_and_raindrops_come_at_their_rates() {
        let mut config = EmulatorConfig::bench_rig();
        config.flow_per_hour = 0.0;
        assert_eq!(count(&config, 10), (0, 0, 7800));
        config.dropout_probability = 0.02;
        config.rain_probability = 0.05;
        let (lost, rain, echoes) = count(&config, 100);
        assert_eq!(lost + rain + echoes, 78_000);
        assert!((1200..=1900).contains(&lost), "{lost}");
        // Rain only where the beam kept its echo: 5 % of 98 %.
        assert!((3300..=4300).contains(&rain), "{rain}");
    }

    #[test]
    fn a_wet_road_shows_mirror_images_beside_vehicles() {
        let mut config = EmulatorConfig::bench_rig();
        config.flow_per_hour = 3600.0;
        config.range_noise_mm = 0;
        config.wet_road = true;
        let mut source = ScanSource::new(&config);
        let mut mirrored = 0;
        for _ in 0..250 {
            let scan = source.next_scan();
            for (beam, &range) in scan.channels_16bit[0].values.iter().enumerate() {
                if scan.channels_8bit[0].values[beam] == RSSI_MIRROR {
                    let angle = (-5.0 + beam as f64 * 0.1667).to_radians();
                    // From below the road: longer than the road along the same beam.
                    assert!(f64::from(range) > 6000.0 / angle.sin(), "beam {beam}");
                    mirrored += 1;
                }
            }
        }
        assert!(mirrored > 0);
        config.wet_road = false;
        let mut dry = ScanSource::new(&config);
        for _ in 0..250 {
            assert!(
                !dry.next_scan().channels_8bit[0]
                    .values
                    .contains(&RSSI_MIRROR)
            );
        }
    }
}
