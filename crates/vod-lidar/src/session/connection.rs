//! One TCP connection to a scanner: the login handshake, then telegrams read through the
//! framer and decoded into scans, with stall detection.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use chrono::Utc;
use prometheus::{IntCounter, IntGauge};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use vod_core::Scan;
use vod_core::log_budget::LogBudget;

use super::SessionError;
use crate::cola::{
    ColaError, DeviceState, Framer, Framing, Request, Response, SICK_CLIENT_PASSWORD_HASH,
    encode_cola_b,
};
use crate::recording::TelegramRecorder;

/// Device status codes that must not start measuring: 0 undefined (the device is in error),
/// 1 initialisation, 2 configuration.
const NOT_READY_STATES: std::ops::RangeInclusive<u16> = 0..=2;

/// The scan period assumed before the first scan tells the real one.
const DEFAULT_SCAN_PERIOD: Duration = Duration::from_secs(1);
/// A stall is this many scan periods without a scan...
const STALL_PERIODS: u32 = 3;
/// ...but never less than this: a late scan or two is jitter, not a dead scanner.
const MIN_STALL_TIMEOUT: Duration = Duration::from_millis(300);
const READ_BUFFER_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub(super) struct Connection {
    scanner: Arc<str>,
    stream: TcpStream,
    framer: Framer,
    buffer: BytesMut,
    stall_timeout: Duration,
    /// The configured stall deadline, which the scan period does not change.
    stall_override: Option<Duration>,
    last_scan_at: Instant,
    delivered_scans: bool,
    /// Where every scan telegram goes too, when the box records.
    pub(super) recorder: Option<TelegramRecorder>,
}

/// How often a stream of bad telegrams is logged at most.
const BAD_TELEGRAM_LOG_EVERY: Duration = Duration::from_secs(10);

/// Bad telegrams of one scanner: each counted, logged once per interval, across reconnects
/// (garbage that makes the session reconnect every few seconds must not log each time).
#[derive(Debug)]
pub(super) struct BadTelegrams {
    scanner: Arc<str>,
    counter: IntCounter,
    log: LogBudget,
}

impl BadTelegrams {
    pub(super) fn new(scanner: Arc<str>, counter: IntCounter) -> BadTelegrams {
        BadTelegrams {
            scanner,
            counter,
            log: LogBudget::new(BAD_TELEGRAM_LOG_EVERY),
        }
    }

    fn count(&mut self, error: &ColaError) {
        self.counter.inc();
        if let Some(unlogged) = self.log.allow(std::time::Instant::now()) {
            tracing::warn!(
                scanner = %self.scanner,
                %error,
                unlogged_since_last_line = unlogged,
                "Dropped a bad telegram from the scanner (counted in vod_lidar_decode_errors_total; \
                 logged once per 10 s at most)."
            );
        }
    }
}

impl Connection {
    /// Connects, logs in, checks the device state (`sRN STlms`, set on `device_state`),
    /// starts measuring and subscribes to the scan stream; each step must be answered within
    /// `timeout_ms`. A device that is not ready or too hot or cold is refused. A scan stream
    /// silent for `stall_override`, or else three scan periods, is a stall.
    pub(super) async fn open(
        scanner: &Arc<str>,
        address: &str,
        timeout_ms: u64,
        stall_override: Option<Duration>,
        bad_telegrams: &mut BadTelegrams,
        device_state: &IntGauge,
    ) -> Result<Connection, SessionError> {
        let limit = Duration::from_millis(timeout_ms);
        let stream = timeout(limit, TcpStream::connect(address))
            .await
            .map_err(|_| SessionError::ConnectTimeout(timeout_ms))?
            .map_err(SessionError::Connect)?;
        stream.set_nodelay(true).map_err(SessionError::Connect)?;
        let mut connection = Connection {
            scanner: scanner.clone(),
            stream,
            framer: Framer::new(Framing::ColaB),
            buffer: BytesMut::with_capacity(READ_BUFFER_BYTES),
            stall_timeout: stall_override.unwrap_or(stall_timeout(DEFAULT_SCAN_PERIOD)),
            stall_override,
            last_scan_at: Instant::now(),
            delivered_scans: false,
            recorder: None,
        };
        let login = Request::SetAccessMode {
            user_level: 3,
            password_hash: SICK_CLIENT_PASSWORD_HASH,
        };
        let steps = [
            ("SetAccessMode", login),
            ("STlms", Request::ReadDeviceState),
            ("LMCstartmeas", Request::StartMeasurement),
            ("Run", Request::Run),
            ("LMDscandata", Request::SubscribeScanData { enabled: true }),
        ];
        for (command, request) in steps {
            let answer = connection
                .ask(command, &request, limit, bad_telegrams)
                .await?;
            let refusal = match answer {
                Response::AccessMode { granted: false } => Some("access denied".to_owned()),
                Response::DeviceState(state) => {
                    device_state.set(i64::from(state.status_code));
                    device_refusal(&state)
                }
                Response::StartMeasurement { error_code } if error_code != 0 => {
                    Some(format!("error code {error_code}"))
                }
                Response::Run { success: false } => Some("run failed".to_owned()),
                Response::ScanDataSubscription { enabled: false } => {
                    Some("stream not enabled".to_owned())
                }
                Response::Error { code } => Some(format!("SOPAS error {code}")),
                _ => None,
            };
            if let Some(detail) = refusal {
                return Err(SessionError::Refused { command, detail });
            }
        }
        connection.last_scan_at = Instant::now();
        Ok(connection)
    }

    pub(super) fn delivered_scans(&self) -> bool {
        self.delivered_scans
    }

    /// Sends `request` and waits for its answer (or a refusal), skipping anything else.
    async fn ask(
        &mut self,
        command: &'static str,
        request: &Request,
        limit: Duration,
        bad_telegrams: &mut BadTelegrams,
    ) -> Result<Response, SessionError> {
        let telegram = encode_cola_b(&request.encode())
            .map_err(|error| SessionError::Io(std::io::Error::other(error)))?;
        self.stream
            .write_all(&telegram)
            .await
            .map_err(SessionError::Io)?;
        let deadline = Instant::now() + limit;
        loop {
            while let Some(frame) = self.framer.next_frame() {
                match frame.and_then(|frame| Response::decode(&frame.payload)) {
                    Ok(response) if answers(request, &response) => return Ok(response),
                    Ok(other) => {
                        tracing::debug!(scanner = %self.scanner, ?other, "Skipped a telegram while waiting for an answer.")
                    }
                    Err(error) => bad_telegrams.count(&error),
                }
            }
            let timeout_ms = limit.as_millis() as u64;
            self.fill(deadline).await.map_err(|error| match error {
                SessionError::Stalled(_) => SessionError::NoAnswer {
                    command,
                    timeout_ms,
                },
                other => other,
            })?;
        }
    }

    /// Reads until at least one scan is complete (or the connection fails) and appends the
    /// scans to `scans`.
    pub(super) async fn read_scans(
        &mut self,
        scans: &mut VecDeque<Scan>,
        bad_telegrams: &mut BadTelegrams,
    ) -> Result<(), SessionError> {
        loop {
            // Telegrams left over from the handshake count as received now.
            let (received_at, received_utc) = (std::time::Instant::now(), Utc::now());
            while let Some(frame) = self.framer.next_frame() {
                let scan = frame
                    .and_then(|frame| {
                        let response = Response::decode(&frame.payload)?;
                        if let (Some(recorder), Response::ScanData(_)) = (&self.recorder, &response)
                        {
                            recorder.record(received_at, received_utc, &frame.payload);
                        }
                        Ok(response)
                    })
                    .and_then(|response| match response {
                        Response::ScanData(data) => data
                            .to_scan(self.scanner.clone(), received_at, received_utc)
                            .map(Some),
                        Response::Error { code } => {
                            tracing::warn!(scanner = %self.scanner, code, "The scanner reported a SOPAS error.");
                            Ok(None)
                        }
                        other => {
                            tracing::debug!(scanner = %self.scanner, ?other, "Ignored a telegram.");
                            Ok(None)
                        }
                    });
                match scan {
                    Ok(Some(scan)) => {
                        self.stall_timeout =
                            self.stall_override
                                .unwrap_or(stall_timeout(Duration::from_secs_f64(
                                    1.0 / scan.scan_frequency_hz.max(0.1),
                                )));
                        scans.push_back(scan);
                    }
                    Ok(None) => {}
                    Err(error) => bad_telegrams.count(&error),
                }
            }
            if !scans.is_empty() {
                self.last_scan_at = Instant::now();
                self.delivered_scans = true;
                return Ok(());
            }
            self.fill(self.last_scan_at + self.stall_timeout).await?;
        }
    }

    /// One socket read into the framer, which must return before `deadline`.
    async fn fill(&mut self, deadline: Instant) -> Result<(), SessionError> {
        let read = timeout_at(deadline, self.stream.read_buf(&mut self.buffer))
            .await
            .map_err(|_| SessionError::Stalled(self.stall_timeout.as_millis()))?;
        match read.map_err(SessionError::Io)? {
            0 => Err(SessionError::Closed),
            _ => {
                self.framer.push(&self.buffer);
                self.buffer.clear();
                Ok(())
            }
        }
    }
}

/// Why a device in `state` must not start measuring, if it must not.
pub(super) fn device_refusal(state: &DeviceState) -> Option<String> {
    if NOT_READY_STATES.contains(&state.status_code) {
        Some(format!(
            "device status {} (0 undefined/error, 1 initialising, 2 configuring)",
            state.status_code
        ))
    } else if !state.temperature_ok {
        Some(format!(
            "device temperature out of range (status {})",
            state.status_code
        ))
    } else {
        None
    }
}

fn stall_timeout(scan_period: Duration) -> Duration {
    (scan_period * STALL_PERIODS).max(MIN_STALL_TIMEOUT)
}

/// Whether `response` answers `request` (a refusal answers anything).
fn answers(request: &Request, response: &Response) -> bool {
    matches!(
        (request, response),
        (_, Response::Error { .. })
            | (Request::SetAccessMode { .. }, Response::AccessMode { .. })
            | (Request::ReadDeviceState, Response::DeviceState(_))
            | (Request::StartMeasurement, Response::StartMeasurement { .. })
            | (Request::Run, Response::Run { .. })
            | (
                Request::SubscribeScanData { .. },
                Response::ScanDataSubscription { .. }
            )
    )
}
