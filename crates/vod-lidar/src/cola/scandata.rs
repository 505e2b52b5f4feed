//! The binary `LMDscandata` telegram (`sSN LMDscandata ` streamed, `sRA LMDscandata ` polled):
//! decoding, encoding, and conversion into the detector's [`Scan`].
//!
//! Layout after the command, all big-endian, as in SICK's LMS1xx/LMS5xx telegram listing:
//! version u16, device number u16, serial u32, device status 2×u8, telegram counter u16,
//! scan counter u16, time since power-up µs u32, time of transmission µs u32, inputs 2×u8,
//! outputs 2×u8, layer angle i16, scan frequency (1/100 Hz) u32, measurement frequency
//! (100 Hz) u32, encoder count u16 + (position u32, speed u16) each, 16-bit channel count u16 +
//! channels, 8-bit channel count u16 + channels, where a channel is name (5 ASCII bytes),
//! scale factor f32, scale offset f32, start angle i32 (1/10000 deg), step u16 (1/10000 deg),
//! count u16, values; then five optional blocks, each behind a u16 0/1 marker: position
//! (6×f32 + rotation type u8), device name (u8 length + ASCII), comment (u8 length + ASCII),
//! time stamp (year u16, month, day, hour, minute, second u8, µs u32) and event info
//! (4 ASCII bytes, encoder position u32, time µs u32, angle i32 in 1/10000 deg).

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::BufMut;
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use vod_core::Scan;

use super::ColaError;
use super::wire::{Reader, ascii_string, len_u16, put_string8};

const EVENT_PREFIX: &[u8] = b"sSN LMDscandata ";
const ANSWER_PREFIX: &[u8] = b"sRA LMDscandata ";

/// Whether the scanner streamed the scan (after `sEN LMDscandata 1`) or answered a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanDataKind {
    /// `sSN LMDscandata`
    Event,
    /// `sRA LMDscandata`
    Answer,
}

/// One decoded `LMDscandata` telegram, field for field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanData {
    pub kind: ScanDataKind,
    pub version: u16,
    pub device_number: u16,
    pub serial_number: u32,
    pub device_status: [u8; 2],
    pub telegram_counter: u16,
    pub scan_counter: u16,
    /// When the scan started, in µs since the scanner powered up.
    pub time_since_power_up_us: u32,
    /// When the scan was handed to the interface, in µs since power-up.
    pub time_of_transmission_us: u32,
    pub input_status: [u8; 2],
    pub output_status: [u8; 2],
    /// Layer angle of multi-layer scanners; 0 on single-layer ones.
    pub layer_angle: i16,
    /// Scan frequency in 1/100 Hz (2500 = 25 Hz).
    pub scan_frequency_hz_x100: u32,
    /// Measurement (shot) frequency in units of 100 Hz.
    pub measurement_frequency_hz_div100: u32,
    pub encoders: Vec<Encoder>,
    pub channels_16bit: Vec<Channel<u16>>,
    pub channels_8bit: Vec<Channel<u8>>,
    pub position: Option<Position>,
    pub device_name: Option<String>,
    pub comment: Option<String>,
    pub time_stamp: Option<TimeStamp>,
    pub event: Option<EventInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Encoder {
    pub position_ticks: u32,
    pub speed_ticks_per_mm: u16,
}

/// One output channel: distances (`DIST1`..) or remissions (`RSSI1`..) along the beams.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel<T> {
    pub name: ChannelName,
    pub scale_factor: f32,
    pub scale_offset: f32,
    /// Angle of the first value in 1/10000 deg.
    pub start_angle_deg_x10000: i32,
    /// Angle between neighbouring values in 1/10000 deg.
    pub step_deg_x10000: u16,
    pub values: Vec<T>,
}

/// A channel's five-character name, such as `DIST1` or `RSSI1`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelName([u8; 5]);

impl ChannelName {
    pub const DIST1: ChannelName = ChannelName(*b"DIST1");
    pub const RSSI1: ChannelName = ChannelName(*b"RSSI1");

    /// `None` unless `name` is five printable ASCII characters.
    pub fn new(name: &str) -> Option<Self> {
        let bytes: [u8; 5] = name.as_bytes().try_into().ok()?;
        ascii_string(&bytes, "channel name").ok()?;
        Some(ChannelName(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only printable ASCII ever gets in.
        std::str::from_utf8(&self.0).unwrap_or("?????")
    }
}

impl fmt::Debug for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ChannelName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The scanner's pose as configured in it (units as set up in SOPAS).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Position {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub x_rotation: f32,
    pub y_rotation: f32,
    pub z_rotation: f32,
    /// 0 none, 1 pitch, 2 roll, 3 free.
    pub rotation_type: u8,
}

/// The scanner's real-time clock when the scan was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeStamp {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub microsecond: u32,
}

/// A fast digital input event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    /// Four characters, `FDIN` on LMS5xx.
    pub kind: String,
    pub encoder_position_ticks: u32,
    pub time_us: u32,
    pub angle_deg_x10000: i32,
}

impl ScanData {
    /// Decodes a whole payload starting with `sSN LMDscandata ` or `sRA LMDscandata `.
    pub fn decode(payload: &[u8]) -> Result<ScanData, ColaError> {
        let (kind, body) = if let Some(body) = payload.strip_prefix(EVENT_PREFIX) {
            (ScanDataKind::Event, body)
        } else if let Some(body) = payload.strip_prefix(ANSWER_PREFIX) {
            (ScanDataKind::Answer, body)
        } else {
            return Err(ColaError::NotACommand);
        };
        Self::decode_body(kind, body)
    }

    pub(crate) fn decode_body(kind: ScanDataKind, body: &[u8]) -> Result<ScanData, ColaError> {
        let mut r = Reader::new(body);
        let mut scan = ScanData {
            kind,
            version: r.u16("version")?,
            device_number: r.u16("device number")?,
            serial_number: r.u32("serial number")?,
            device_status: [r.u8("device status")?, r.u8("device status")?],
            telegram_counter: r.u16("telegram counter")?,
            scan_counter: r.u16("scan counter")?,
            time_since_power_up_us: r.u32("time since power-up")?,
            time_of_transmission_us: r.u32("time of transmission")?,
            input_status: [r.u8("input status")?, r.u8("input status")?],
            output_status: [r.u8("output status")?, r.u8("output status")?],
            layer_angle: r.i16("layer angle")?,
            scan_frequency_hz_x100: r.u32("scan frequency")?,
            measurement_frequency_hz_div100: r.u32("measurement frequency")?,
            encoders: Vec::new(),
            channels_16bit: Vec::new(),
            channels_8bit: Vec::new(),
            position: None,
            device_name: None,
            comment: None,
            time_stamp: None,
            event: None,
        };
        for _ in 0..r.u16("encoder count")? {
            scan.encoders.push(Encoder {
                position_ticks: r.u32("encoder position")?,
                speed_ticks_per_mm: r.u16("encoder speed")?,
            });
        }
        for _ in 0..r.u16("16-bit channel count")? {
            scan.channels_16bit
                .push(read_channel(&mut r, |r| r.u16("16-bit channel value"))?);
        }
        for _ in 0..r.u16("8-bit channel count")? {
            scan.channels_8bit
                .push(read_channel(&mut r, |r| r.u8("8-bit channel value"))?);
        }
        if r.flag16("position marker")? {
            scan.position = Some(Position {
                x: r.f32("position")?,
                y: r.f32("position")?,
                z: r.f32("position")?,
                x_rotation: r.f32("position")?,
                y_rotation: r.f32("position")?,
                z_rotation: r.f32("position")?,
                rotation_type: r.u8("rotation type")?,
            });
        }
        if r.flag16("device name marker")? {
            scan.device_name = Some(r.string8("device name")?);
        }
        if r.flag16("comment marker")? {
            scan.comment = Some(r.string8("comment")?);
        }
        if r.flag16("time stamp marker")? {
            scan.time_stamp = Some(TimeStamp {
                year: r.u16("time stamp")?,
                month: r.u8("time stamp")?,
                day: r.u8("time stamp")?,
                hour: r.u8("time stamp")?,
                minute: r.u8("time stamp")?,
                second: r.u8("time stamp")?,
                microsecond: r.u32("time stamp")?,
            });
        }
        if r.flag16("event info marker")? {
            scan.event = Some(EventInfo {
                kind: r.ascii(4, "event type")?,
                encoder_position_ticks: r.u32("event encoder position")?,
                time_us: r.u32("event time")?,
                angle_deg_x10000: r.i32("event angle")?,
            });
        }
        r.finish()?;
        Ok(scan)
    }

    /// The whole payload, command included.
    pub fn encode(&self) -> Result<Vec<u8>, ColaError> {
        let mut out = Vec::with_capacity(64 + self.channels_16bit.len() * 2048);
        out.put_slice(match self.kind {
            ScanDataKind::Event => EVENT_PREFIX,
            ScanDataKind::Answer => ANSWER_PREFIX,
        });
        out.put_u16(self.version);
        out.put_u16(self.device_number);
        out.put_u32(self.serial_number);
        out.put_slice(&self.device_status);
        out.put_u16(self.telegram_counter);
        out.put_u16(self.scan_counter);
        out.put_u32(self.time_since_power_up_us);
        out.put_u32(self.time_of_transmission_us);
        out.put_slice(&self.input_status);
        out.put_slice(&self.output_status);
        out.put_i16(self.layer_angle);
        out.put_u32(self.scan_frequency_hz_x100);
        out.put_u32(self.measurement_frequency_hz_div100);
        out.put_u16(len_u16(self.encoders.len(), "encoders")?);
        for encoder in &self.encoders {
            out.put_u32(encoder.position_ticks);
            out.put_u16(encoder.speed_ticks_per_mm);
        }
        out.put_u16(len_u16(self.channels_16bit.len(), "16-bit channels")?);
        for channel in &self.channels_16bit {
            put_channel(&mut out, channel, |out, &v| out.put_u16(v))?;
        }
        out.put_u16(len_u16(self.channels_8bit.len(), "8-bit channels")?);
        for channel in &self.channels_8bit {
            put_channel(&mut out, channel, |out, &v| out.put_u8(v))?;
        }
        out.put_u16(self.position.is_some().into());
        if let Some(p) = &self.position {
            for value in [p.x, p.y, p.z, p.x_rotation, p.y_rotation, p.z_rotation] {
                out.put_f32(value);
            }
            out.put_u8(p.rotation_type);
        }
        for (text, field) in [
            (&self.device_name, "device name"),
            (&self.comment, "comment"),
        ] {
            out.put_u16(text.is_some().into());
            if let Some(text) = text {
                put_string8(&mut out, text, field)?;
            }
        }
        out.put_u16(self.time_stamp.is_some().into());
        if let Some(t) = &self.time_stamp {
            out.put_u16(t.year);
            out.put_slice(&[t.month, t.day, t.hour, t.minute, t.second]);
            out.put_u32(t.microsecond);
        }
        out.put_u16(self.event.is_some().into());
        if let Some(e) = &self.event {
            let kind: [u8; 4] =
                e.kind
                    .as_bytes()
                    .try_into()
                    .map_err(|_| ColaError::InvalidValue {
                        field: "event type length",
                        value: e.kind.len() as u64,
                    })?;
            out.put_slice(&kind);
            out.put_u32(e.encoder_position_ticks);
            out.put_u32(e.time_us);
            out.put_i32(e.angle_deg_x10000);
        }
        Ok(out)
    }

    pub fn scan_frequency_hz(&self) -> f64 {
        f64::from(self.scan_frequency_hz_x100) / 100.0
    }

    /// The distances of the first echo (`DIST1`) as the detector consumes them: millimetres
    /// after the channel's scale factor and offset, 0 where the beam had no echo.
    pub fn to_scan(
        &self,
        scanner: Arc<str>,
        received_at: Instant,
        received_utc: DateTime<Utc>,
    ) -> Result<Scan, ColaError> {
        let dist = self
            .channels_16bit
            .iter()
            .find(|c| c.name == ChannelName::DIST1)
            .ok_or(ColaError::NoDistanceChannel)?;
        let ranges_mm = dist
            .values
            .iter()
            .map(|&raw| match raw {
                0 => 0.0,
                raw => (f32::from(raw) * dist.scale_factor + dist.scale_offset).max(0.0),
            })
            .collect();
        Ok(Scan {
            scanner,
            scan_counter: self.scan_counter.into(),
            time_since_power_up_us: self.time_since_power_up_us,
            scan_frequency_hz: self.scan_frequency_hz(),
            start_angle_deg: f64::from(dist.start_angle_deg_x10000) / 10_000.0,
            step_deg: f64::from(dist.step_deg_x10000) / 10_000.0,
            ranges_mm,
            received_at,
            received_utc,
        })
    }
}

fn read_channel<T>(
    r: &mut Reader<'_>,
    mut value: impl FnMut(&mut Reader<'_>) -> Result<T, ColaError>,
) -> Result<Channel<T>, ColaError> {
    let name = r.take(5, "channel name")?;
    ascii_string(name, "channel name")?;
    let mut channel = Channel {
        name: ChannelName([name[0], name[1], name[2], name[3], name[4]]),
        scale_factor: r.f32("scale factor")?,
        scale_offset: r.f32("scale offset")?,
        start_angle_deg_x10000: r.i32("start angle")?,
        step_deg_x10000: r.u16("angular step")?,
        values: Vec::new(),
    };
    let count = r.u16("value count")?;
    channel.values.reserve(count.into());
    for _ in 0..count {
        channel.values.push(value(r)?);
    }
    Ok(channel)
}

fn put_channel<T>(
    out: &mut Vec<u8>,
    channel: &Channel<T>,
    mut put: impl FnMut(&mut Vec<u8>, &T),
) -> Result<(), ColaError> {
    out.put_slice(&channel.name.0);
    out.put_f32(channel.scale_factor);
    out.put_f32(channel.scale_offset);
    out.put_i32(channel.start_angle_deg_x10000);
    out.put_u16(channel.step_deg_x10000);
    out.put_u16(len_u16(channel.values.len(), "channel values")?);
    for value in &channel.values {
        put(out, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
