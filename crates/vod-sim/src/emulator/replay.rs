//! Playing a recording back as a scanner: the server answers the client's commands as the
//! emulator does, then streams the recording's scan telegrams byte for byte at the pace they
//! were recorded, over and over (one mean scan period between the last and the first).

use std::io;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::server::{TelegramStream, accept_clients};
use super::sopas::ScanConfig;
use vod_lidar::cola::Response;
use vod_lidar::recording::{RecordedScanPayload, Recording};

/// A recording's scan telegrams, their times relative to the first one.
struct Replay {
    scans: Arc<[RecordedScanPayload]>,
    /// The recording's length plus one mean scan period: when a repeat starts.
    round: Duration,
    start: Instant,
    next: usize,
    rounds: u32,
}

impl TelegramStream for Replay {
    fn restart(&mut self, now: Instant) {
        self.start = now;
        self.next = 0;
        self.rounds = 0;
    }

    fn next_due(&self) -> Instant {
        let first = self.scans[0].at;
        self.start + self.round * self.rounds + (self.scans[self.next].at - first)
    }

    fn next_payload(&mut self) -> io::Result<Vec<u8>> {
        let payload = self.scans[self.next].payload.to_vec();
        self.next += 1;
        if self.next == self.scans.len() {
            self.next = 0;
            self.rounds = self.rounds.saturating_add(1);
        }
        Ok(payload)
    }
}

/// Serves `recording` to every client that connects on `listener` until `shutdown`. Fails
/// with `InvalidInput` for a recording with fewer than two scan telegrams (no pace to keep).
pub async fn serve_replay(
    listener: TcpListener,
    recording: &Recording,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let scans: Arc<[RecordedScanPayload]> = recording.scan_payloads().into();
    let span = match (scans.first(), scans.last()) {
        (Some(first), Some(last)) if last.at > first.at => last.at - first.at,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the recording needs at least two LMDscandata telegrams, apart in time, to replay",
            ));
        }
    };
    let gaps = u32::try_from(scans.len() - 1).unwrap_or(u32::MAX);
    let round = span + span / gaps;
    let scan_config = match Response::decode(&scans[0].payload) {
        Ok(Response::ScanData(scan)) => ScanConfig::of_scan(&scan),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the recording's first LMDscandata telegram does not decode",
            ));
        }
    };
    tracing::info!(address = ?listener.local_addr().ok(), scans = scans.len(), "Scanner replay listening.");
    accept_clients(listener, shutdown, scan_config, move || Replay {
        scans: scans.clone(),
        round,
        start: Instant::now(),
        next: 0,
        rounds: 0,
    })
    .await
}
