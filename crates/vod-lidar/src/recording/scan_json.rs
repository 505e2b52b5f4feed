//! The summary of one scan that `vod lidar decode --json` prints: the counters, the scan
//! frequency, and every channel with its scaling, its angles in degrees and its raw values.

use serde::Serialize;

use crate::cola::{Channel, ScanData};

/// One scan as a JSON object; channels keep their raw integers as the scanner sent them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanJson {
    pub scan_counter: u16,
    pub telegram_counter: u16,
    pub time_since_power_up_us: u32,
    pub scan_frequency_hz: f64,
    /// The 16-bit channels, then the 8-bit ones, each in telegram order.
    pub channels: Vec<ChannelJson>,
}

/// One channel: a value's measurement is `value * scale + offset`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelJson {
    pub name: String,
    pub scale: f32,
    pub offset: f32,
    pub start_angle_deg: f64,
    pub step_deg: f64,
    pub values: Vec<u16>,
}

impl From<&ScanData> for ScanJson {
    fn from(scan: &ScanData) -> Self {
        let wide = scan
            .channels_16bit
            .iter()
            .map(|c| channel(c, c.values.clone()));
        let narrow = scan
            .channels_8bit
            .iter()
            .map(|c| channel(c, c.values.iter().map(|&v| v.into()).collect()));
        ScanJson {
            scan_counter: scan.scan_counter,
            telegram_counter: scan.telegram_counter,
            time_since_power_up_us: scan.time_since_power_up_us,
            scan_frequency_hz: scan.scan_frequency_hz(),
            channels: wide.chain(narrow).collect(),
        }
    }
}

fn channel<T>(channel: &Channel<T>, values: Vec<u16>) -> ChannelJson {
    ChannelJson {
        name: channel.name.to_string(),
        scale: channel.scale_factor,
        offset: channel.scale_offset,
        start_angle_deg: f64::from(channel.start_angle_deg_x10000) / 10_000.0,
        step_deg: f64::from(channel.step_deg_x10000) / 10_000.0,
        values,
    }
}
