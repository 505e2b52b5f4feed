//! The scanner session: one TCP connection to a SICK scanner at a time, logged in and
//! subscribed to the scan stream, its telegrams turned into [`Scan`]s. The session keeps
//! itself alive: a scanner that goes away, stalls or refuses (a device state that is not ready,
//! or an out-of-range temperature, counts as a refusal) is retried with capped exponential
//! backoff, each retry logged and counted, so the process never dies of it.

mod connection;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};
use vod_core::config::ScannerConfig;
use vod_core::log_budget::LogBudget;
use vod_core::{Event, Hub, Scan};

use crate::metrics::LidarMetrics;
use crate::recording::TelegramRecorder;
use connection::{BadTelegrams, Connection};

const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// Every vehicle is lost while the scanner is away, and a scanner on the local link answers
/// within milliseconds once it is back: a second at most between attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A scanner away for hours: one line per interval, not one per attempt.
const UNREACHABLE_LOG_EVERY: Duration = Duration::from_secs(30);

/// Why a connection ended or could not be made.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("connect timed out after {0} ms")]
    ConnectTimeout(u64),
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    #[error("read failed: {0}")]
    Io(std::io::Error),
    #[error("the scanner closed the connection")]
    Closed,
    #[error("no scan for {0} ms")]
    Stalled(u128),
    #[error("no answer to {command} within {timeout_ms} ms")]
    NoAnswer {
        command: &'static str,
        timeout_ms: u64,
    },
    #[error("the scanner refused {command}: {detail}")]
    Refused {
        command: &'static str,
        detail: String,
    },
}

/// The per-scanner series of the session's metrics.
#[derive(Debug)]
struct SessionMetrics {
    connected: IntGauge,
    reconnects_total: IntCounter,
    device_state: IntGauge,
}

/// A scanner client that hands out scans and reconnects by itself.
#[derive(Debug)]
pub struct ScannerSession {
    scanner: Arc<str>,
    address: String,
    connect_timeout_ms: u64,
    /// The configured stall deadline, else one from the scan period.
    stall_timeout: Option<Duration>,
    metrics: SessionMetrics,
    bad_telegrams: BadTelegrams,
    hub: Hub,
    connection: Option<Connection>,
    scans: VecDeque<Scan>,
    /// Connection attempts that failed in a row, for the backoff.
    failures: u32,
    unreachable_log: LogBudget,
    recorder: Option<TelegramRecorder>,
}

impl ScannerSession {
    /// A session for `scanner`; it connects on the first [`ScannerSession::next_scan`].
    pub fn new(scanner: &ScannerConfig, metrics: &LidarMetrics, hub: Hub) -> Self {
        let label = [scanner.name.as_str()];
        ScannerSession {
            scanner: scanner.name.as_str().into(),
            address: scanner.address.clone(),
            connect_timeout_ms: scanner.connect_timeout_ms,
            stall_timeout: scanner
                .stall_timeout_ms
                .map(|ms| Duration::from_millis(u64::from(ms))),
            metrics: SessionMetrics {
                connected: metrics.connected.with_label_values(&label),
                reconnects_total: metrics.reconnects_total.with_label_values(&label),
                device_state: metrics.device_state.with_label_values(&label),
            },
            bad_telegrams: BadTelegrams::new(
                scanner.name.as_str().into(),
                metrics.decode_errors_total.with_label_values(&label),
            ),
            hub,
            connection: None,
            scans: VecDeque::new(),
            failures: 0,
            unreachable_log: LogBudget::new(UNREACHABLE_LOG_EVERY),
            recorder: None,
        }
    }

    /// Every scan telegram received from now on is recorded too.
    pub fn record_to(&mut self, recorder: TelegramRecorder) {
        self.recorder = Some(recorder);
    }

    /// The next scan, stamped when the socket read that completed it returned. Waits (and
    /// reconnects) as long as it takes. Cancel-safe: dropping the future loses no scan that
    /// was already read.
    pub async fn next_scan(&mut self) -> Scan {
        loop {
            if let Some(scan) = self.scans.pop_front() {
                return scan;
            }
            let Some(connection) = &mut self.connection else {
                self.connect().await;
                continue;
            };
            let read = connection
                .read_scans(&mut self.scans, &mut self.bad_telegrams)
                .await;
            if let Err(cause) = read {
                let delivered = connection.delivered_scans();
                self.connection = None;
                self.metrics.connected.set(0);
                // A connection that worked earns a quick first retry.
                self.failures = if delivered { 1 } else { self.failures + 1 };
                tracing::warn!(scanner = %self.scanner, %cause, "Scanner connection lost; reconnecting.");
                self.hub.publish(Event::ScannerDisconnected {
                    scanner: self.scanner.clone(),
                    reason: cause.to_string(),
                });
            }
        }
    }

    async fn connect(&mut self) {
        loop {
            if self.failures > 0 {
                tokio::time::sleep(backoff(self.failures)).await;
                self.metrics.reconnects_total.inc();
            }
            let opened = Connection::open(
                &self.scanner,
                &self.address,
                self.connect_timeout_ms,
                self.stall_timeout,
                &mut self.bad_telegrams,
                &self.metrics.device_state,
            )
            .await;
            match opened {
                Ok(mut connection) => {
                    connection.recorder = self.recorder.clone();
                    tracing::info!(scanner = %self.scanner, address = %self.address, "Scanner connected.");
                    self.metrics.connected.set(1);
                    self.hub.publish(Event::ScannerConnected {
                        scanner: self.scanner.clone(),
                        address: self.address.clone(),
                    });
                    self.connection = Some(connection);
                    return;
                }
                Err(cause) => {
                    self.failures += 1;
                    if let Some(unlogged) = self.unreachable_log.allow(std::time::Instant::now()) {
                        let delay_ms = backoff(self.failures).as_millis() as u64;
                        tracing::warn!(
                            scanner = %self.scanner,
                            address = %self.address,
                            %cause,
                            delay_ms,
                            unlogged_attempts = unlogged,
                            "Cannot reach the scanner; retrying (each attempt counted in \
                             vod_lidar_reconnects_total, logged once per 30 s at most)."
                        );
                    }
                }
            }
        }
    }
}

impl Drop for ScannerSession {
    fn drop(&mut self) {
        self.metrics.connected.set(0);
    }
}

/// The wait before connection attempt number `failures + 1`.
fn backoff(failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1));
    BACKOFF_INITIAL.saturating_mul(factor).min(BACKOFF_MAX)
}
