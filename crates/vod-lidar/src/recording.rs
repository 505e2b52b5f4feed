//! Recorded scanner sessions: sick_scan_xd's pcapng.json exports (a Wireshark JSON export,
//! one element per TCP segment), split into the scanner's byte stream and decoded.
//!
//! The exports carry no port numbers, so each segment's direction comes from its content: a
//! segment starting a telegram is the client's when its command type is a request (`sRN`,
//! `sWN`, `sMN`, `sEN`) and the scanner's otherwise; a segment that continues a telegram
//! belongs to the side whose telegram is still incomplete.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::cola::{ColaError, Framer, Framing, Response};

mod scan_json;
mod writer;

pub use scan_json::{ChannelJson, ScanJson};
pub use writer::TelegramRecorder;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot read recording {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("recording is not a Wireshark JSON export")]
    Json(#[from] serde_json::Error),
    #[error("segment {segment}: tcp.payload is not colon-separated hex")]
    BadPayload { segment: usize },
    #[error("segment {segment}: tcp.time_relative {value:?} is not a time in seconds")]
    BadTime { segment: usize, value: String },
}

/// Bytes the scanner sent in one TCP segment, at their time relative to the recording start
/// and, where the export has it (`frame.time_epoch`), by the recording host's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub at: Duration,
    pub utc: Option<DateTime<Utc>>,
    pub bytes: Bytes,
}

/// One telegram the scanner sent, decoded, at the time of the segment that completed it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedTelegram {
    pub at: Duration,
    pub telegram: Result<Response, ColaError>,
}

/// The scanner's side of a recorded session.
#[derive(Debug, Clone)]
pub struct Recording {
    scanner_chunks: Vec<Chunk>,
}

#[derive(Deserialize)]
struct Packet {
    #[serde(rename = "_source")]
    source: Source,
}

#[derive(Deserialize)]
struct Source {
    layers: Layers,
}

#[derive(Deserialize)]
struct Layers {
    #[serde(default)]
    frame: Option<FrameLayer>,
    tcp: Tcp,
}

#[derive(Deserialize)]
struct FrameLayer {
    /// Seconds since the Unix epoch, as text.
    #[serde(rename = "frame.time_epoch")]
    time_epoch: Option<String>,
}

#[derive(Deserialize)]
struct Tcp {
    #[serde(rename = "Timestamps")]
    timestamps: Timestamps,
    /// Absent on segments without data (pure ACKs).
    #[serde(rename = "tcp.payload")]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Timestamps {
    #[serde(rename = "tcp.time_relative")]
    time_relative: String,
}

const CLIENT_COMMAND_TYPES: [&[u8]; 4] = [b"sRN", b"sWN", b"sMN", b"sEN"];

impl Recording {
    pub fn load(path: &Path) -> Result<Recording, RecordingError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecordingError::Read {
            path: path.to_owned(),
            source,
        })?;
        Recording::from_json(&text)
    }

    /// Reads an export; one that a crash cut short ([`TelegramRecorder`]'s one element per
    /// line, without the closing bracket) reads up to its last whole element.
    pub fn from_json(text: &str) -> Result<Recording, RecordingError> {
        let packets: Vec<Packet> = match serde_json::from_str(text) {
            Ok(packets) => packets,
            // The last line may be cut inside the element, even right after a brace.
            Err(error) => (0..2)
                .filter_map(|skip| cut_short(text, skip))
                .find_map(|closed| serde_json::from_str(&closed).ok())
                .ok_or(error)?,
        };
        let mut scanner_side = Framer::new(Framing::ColaB);
        let mut client_side = Framer::new(Framing::ColaB);
        let mut scanner_chunks = Vec::new();
        for (segment, packet) in packets.into_iter().enumerate() {
            let utc = packet
                .source
                .layers
                .frame
                .and_then(|frame| frame.time_epoch)
                .and_then(|epoch| parse_epoch(&epoch));
            let tcp = packet.source.layers.tcp;
            let Some(payload) = tcp.payload else { continue };
            let bytes = parse_hex(&payload).ok_or(RecordingError::BadPayload { segment })?;
            let at = parse_seconds(&tcp.timestamps.time_relative).ok_or_else(|| {
                RecordingError::BadTime {
                    segment,
                    value: tcp.timestamps.time_relative.clone(),
                }
            })?;
            let from_client = match bytes.get(..11) {
                Some(head) if head.starts_with(&[0x02; 4]) => {
                    CLIENT_COMMAND_TYPES.contains(&&head[8..11])
                }
                _ => client_side.buffered_len() > 0 && scanner_side.buffered_len() == 0,
            };
            let side = if from_client {
                &mut client_side
            } else {
                &mut scanner_side
            };
            side.push(&bytes);
            while side.next_frame().is_some() {}
            if !from_client {
                scanner_chunks.push(Chunk {
                    at,
                    utc,
                    bytes: bytes.into(),
                });
            }
        }
        Ok(Recording { scanner_chunks })
    }

    /// The scanner's byte stream as it arrived, for a replay server to send again.
    pub fn scanner_chunks(&self) -> &[Chunk] {
        &self.scanner_chunks
    }

    /// Every telegram in the scanner's stream, decoded, with framing errors in place.
    pub fn telegrams(&self) -> Vec<RecordedTelegram> {
        let mut framer = Framer::new(Framing::ColaB);
        let mut telegrams = Vec::new();
        for chunk in &self.scanner_chunks {
            framer.push(&chunk.bytes);
            while let Some(frame) = framer.next_frame() {
                telegrams.push(RecordedTelegram {
                    at: chunk.at,
                    telegram: frame.and_then(|frame| Response::decode(&frame.payload)),
                });
            }
        }
        telegrams
    }
}

/// One streamed scan telegram's payload (`sSN LMDscandata ...`) as the scanner sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedScanPayload {
    pub at: Duration,
    /// When the recording box received it, where the export says.
    pub utc: Option<DateTime<Utc>>,
    pub payload: Bytes,
}

impl Recording {
    /// The streamed scan telegrams' payloads, undecoded, at the times they arrived: what a
    /// replay sends again. Telegrams with framing errors are left out.
    pub fn scan_payloads(&self) -> Vec<RecordedScanPayload> {
        let mut framer = Framer::new(Framing::ColaB);
        let mut payloads = Vec::new();
        for chunk in &self.scanner_chunks {
            framer.push(&chunk.bytes);
            while let Some(frame) = framer.next_frame() {
                match frame {
                    Ok(frame) if frame.payload.starts_with(b"sSN LMDscandata ") => {
                        payloads.push(RecordedScanPayload {
                            at: chunk.at,
                            utc: chunk.utc,
                            payload: frame.payload,
                        });
                    }
                    _ => {}
                }
            }
        }
        payloads
    }
}

/// The elements of an export that ends before its closing bracket, up to the last line but
/// `skip` that ends an element, closed again.
fn cut_short(text: &str, skip: usize) -> Option<String> {
    if text.trim_end().ends_with(']') {
        return None;
    }
    let whole: Vec<&str> = text.lines().collect();
    let last = whole
        .iter()
        .enumerate()
        .filter(|(_, line)| line.trim_end().trim_end_matches(',').ends_with('}'))
        .map(|(i, _)| i)
        .rev()
        .nth(skip)?;
    let mut closed = whole[..=last].join("\n");
    if closed.ends_with(',') {
        closed.pop();
    }
    closed.push_str("\n]");
    Some(closed)
}

/// `1780000000.123456`: seconds since the epoch with up to nanoseconds.
fn parse_epoch(text: &str) -> Option<DateTime<Utc>> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = fraction.get(..fraction.len().min(9))?;
    let nanos = format!("{digits:0<9}").parse::<u32>().ok()?;
    DateTime::from_timestamp(seconds.parse().ok()?, nanos)
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(':')
        .map(|byte| match byte.len() {
            2 => u8::from_str_radix(byte, 16).ok(),
            _ => None,
        })
        .collect()
}

fn parse_seconds(text: &str) -> Option<Duration> {
    Duration::try_from_secs_f64(text.parse().ok()?).ok()
}

#[cfg(test)]
mod tests;
