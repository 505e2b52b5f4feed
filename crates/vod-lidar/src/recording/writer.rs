//! Recording what a scanner sends, in the form [`Recording`](super::Recording) reads: a
//! Wireshark JSON export with one element per scan telegram (CoLa-B framed, its time relative
//! to the start of the recording and `frame.time_epoch` by the host's clock). The scanner's thread only hands each telegram to a bounded
//! queue; a writer thread of its own formats and writes it, one element per line, so that a
//! file cut short by a crash still reads up to its last whole line. A full queue drops the
//! telegram and counts it: recording never slows the scanner.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use prometheus::IntCounter;

use crate::cola::encode_cola_b;

/// Telegrams waiting for the writer: at 50 scans a second, 40 s of them.
const QUEUE_TELEGRAMS: usize = 2048;

/// A handle to one scanner's recording; clones write to the same file.
#[derive(Debug, Clone)]
pub struct TelegramRecorder {
    started: Instant,
    queue: SyncSender<Telegram>,
    dropped: IntCounter,
}

impl TelegramRecorder {
    /// Creates `path` and the writer thread. Times are relative to `started`. The file is
    /// closed (its JSON array ended) when the last handle is dropped.
    pub fn create(
        path: &Path,
        started: Instant,
        dropped: IntCounter,
    ) -> std::io::Result<TelegramRecorder> {
        let file = File::create(path)?;
        let (queue, telegrams) = sync_channel(QUEUE_TELEGRAMS);
        let name = path.display().to_string();
        std::thread::Builder::new()
            .name("lidar-recorder".to_owned())
            .spawn(move || {
                if let Err(error) = write_all(BufWriter::new(file), &telegrams) {
                    tracing::error!(file = %name, %error, "Recording the scanner stopped.");
                }
            })?;
        Ok(TelegramRecorder {
            started,
            queue,
            dropped,
        })
    }

    /// Queues one telegram's payload, received at `at` (`utc` by the host's clock).
    pub fn record(&self, at: Instant, utc: DateTime<Utc>, payload: &Bytes) {
        let telegram = Telegram {
            relative_s: at.saturating_duration_since(self.started).as_secs_f64(),
            utc,
            payload: payload.clone(),
        };
        match self.queue.try_send(telegram) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped.inc(),
        }
    }
}

/// One telegram waiting to be written.
struct Telegram {
    relative_s: f64,
    utc: DateTime<Utc>,
    payload: Bytes,
}

fn write_all(mut out: impl Write, telegrams: &Receiver<Telegram>) -> std::io::Result<()> {
    out.write_all(b"[\n")?;
    let mut first = true;
    while let Ok(next) = telegrams.recv() {
        // Everything queued, then written out while the queue is dry: a crash loses little.
        for telegram in std::iter::once(next).chain(telegrams.try_iter()) {
            let Ok(framed) = encode_cola_b(&telegram.payload) else {
                continue;
            };
            if !first {
                out.write_all(b",\n")?;
            }
            first = false;
            // The epoch in whole microseconds, truncated: the millisecond a vehicle id is
            // made of stays the one the box saw.
            let micros = telegram.utc.timestamp_micros();
            let (seconds, fraction) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
            write!(
                out,
                r#"{{"_source":{{"layers":{{"frame":{{"frame.time_epoch":"{seconds}.{fraction:06}"}},"tcp":{{"Timestamps":{{"tcp.time_relative":"{:.6}"}},"tcp.payload":"{}"}}}}}}}}"#,
                telegram.relative_s,
                hex(&framed)
            )?;
        }
        out.flush()?;
    }
    out.write_all(b"\n]\n")?;
    out.flush()
}

/// Colon-separated hex, as Wireshark writes `tcp.payload`.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 3);
    for (i, byte) in bytes.iter().enumerate() {
        let separator = if i > 0 { ":" } else { "" };
        let _infallible = write!(text, "{separator}{byte:02x}");
    }
    text
}
