//! The emulator's TCP server: answers a client's commands like a SICK scanner and, once it
//! has subscribed, streams scan telegrams at their pace: emulated traffic, or a recording
//! played back. Each client has its own stream; a client that goes away ends only its own.

use std::io;
use std::net::SocketAddr;

use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Duration, Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::EmulatorConfig;
use super::scanner::ScanSource;
use super::sopas::{self, ScanConfig};
use vod_lidar::cola::{
    ColaError, DeviceState, Framer, Framing, Request, Response, SICK_CLIENT_PASSWORD_HASH,
    encode_cola_b,
};

/// How long to wait before accepting again after `accept` failed (out of descriptors...).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The scan telegrams one client gets once subscribed, each due at its time.
pub(super) trait TelegramStream: Send {
    /// Starts the pace over: the next telegram is due at `now`.
    fn restart(&mut self, now: Instant);
    /// When the next telegram is due.
    fn next_due(&self) -> Instant;
    /// The next telegram's payload, ready for CoLa-B framing.
    fn next_payload(&mut self) -> io::Result<Vec<u8>>;
}

/// Emulated traffic, one scan per scan period.
struct Emulated {
    source: ScanSource,
    start: Instant,
    sent_since_start: u32,
    /// When the traffic's first scan was due, for a road that does not wait for its client:
    /// a subscription then gets the scan due now, and the scans due before are skipped.
    origin: Option<Instant>,
}

impl TelegramStream for Emulated {
    fn restart(&mut self, now: Instant) {
        match self.origin {
            None => {
                self.start = now;
                self.sent_since_start = 0;
            }
            Some(_) => {
                // Generated and dropped: the source's traffic only goes forward scan by scan.
                while self.next_due() < now {
                    self.source.next_scan();
                    self.sent_since_start = self.sent_since_start.saturating_add(1);
                }
            }
        }
    }

    fn next_due(&self) -> Instant {
        self.start + self.source.period() * self.sent_since_start
    }

    fn next_payload(&mut self) -> io::Result<Vec<u8>> {
        self.sent_since_start = self.sent_since_start.saturating_add(1);
        Response::ScanData(Box::new(self.source.next_scan()))
            .encode()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }
}

/// Serves emulated scanners on `listener` until `shutdown`, which also ends every client's
/// stream; each client's traffic starts when it subscribes. Fails only for an invalid
/// `config`.
pub async fn serve(
    listener: TcpListener,
    config: EmulatorConfig,
    shutdown: CancellationToken,
) -> io::Result<()> {
    serve_on_clock(listener, config, None, shutdown).await
}

/// As [`serve`], but the traffic runs from `origin` whether or not a client listens, as a
/// road does: two emulators given one origin (two scan planes of one road) are in step
/// however far apart their clients subscribe.
pub async fn serve_from(
    listener: TcpListener,
    config: EmulatorConfig,
    origin: Instant,
    shutdown: CancellationToken,
) -> io::Result<()> {
    serve_on_clock(listener, config, Some(origin), shutdown).await
}

async fn serve_on_clock(
    listener: TcpListener,
    config: EmulatorConfig,
    origin: Option<Instant>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    config
        .validate()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    tracing::info!(address = ?listener.local_addr().ok(), "Scanner emulator listening.");
    let scan_config = ScanConfig::of_scan(&ScanSource::new(&config).next_scan());
    accept_clients(listener, shutdown, scan_config, move || Emulated {
        source: ScanSource::new(&config),
        start: origin.unwrap_or_else(Instant::now),
        sent_since_start: 0,
        origin,
    })
    .await
}

/// Accepts clients until `shutdown`, each served with a stream from `new_stream`; commands
/// about the scan configuration are answered with `scan_config`.
pub(super) async fn accept_clients<S: TelegramStream + 'static>(
    listener: TcpListener,
    shutdown: CancellationToken,
    scan_config: ScanConfig,
    new_stream: impl Fn() -> S,
) -> io::Result<()> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let telegrams = new_stream();
                    let shutdown = shutdown.child_token();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = shutdown.cancelled() => {}
                            result = serve_client(stream, telegrams, scan_config) => match result {
                                Ok(()) => tracing::debug!(%peer, "Emulator client left."),
                                Err(error) => tracing::debug!(%peer, %error, "Emulator client dropped."),
                            },
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "Scanner emulator failed to accept; retrying.");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            },
        }
    }
}

async fn serve_client(
    mut stream: TcpStream,
    mut telegrams: impl TelegramStream,
    scan_config: ScanConfig,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let peer = stream.peer_addr()?;
    let mut framer = Framer::new(Framing::ColaB);
    let mut streaming = false;
    let mut buffer = vec![0u8; 4096];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                framer.push(&buffer[..n]);
                while let Some(frame) = framer.next_frame() {
                    let request = frame.and_then(|frame| Request::decode(&frame.payload));
                    let Some(response) = answer(request, peer, &scan_config) else { continue };
                    if let Response::ScanDataSubscription { enabled } = response {
                        if enabled && !streaming {
                            telegrams.restart(Instant::now());
                        }
                        streaming = enabled;
                    }
                    send(&mut stream, &response).await?;
                }
            }
            () = sleep_until(telegrams.next_due()), if streaming => {
                let payload = telegrams.next_payload()?;
                write_telegram(&mut stream, &payload).await?;
            }
        }
    }
}

fn answer(
    request: Result<Request, ColaError>,
    peer: SocketAddr,
    scan_config: &ScanConfig,
) -> Option<Response> {
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(%peer, %error, "Emulator got a bad telegram; ignoring it.");
            return None;
        }
    };
    Some(match request {
        Request::SetAccessMode {
            user_level,
            password_hash,
        } => Response::AccessMode {
            granted: user_level == 3 && password_hash == SICK_CLIENT_PASSWORD_HASH,
        },
        Request::StartMeasurement => Response::StartMeasurement { error_code: 0 },
        Request::Run => Response::Run { success: true },
        Request::SubscribeScanData { enabled } => Response::ScanDataSubscription { enabled },
        Request::ReadDeviceState => {
            let now = Utc::now();
            Response::DeviceState(DeviceState {
                status_code: DeviceState::READY_FOR_MEASUREMENT,
                temperature_ok: true,
                time: now.format("%H:%M:%S").to_string(),
                date: now.format("%d.%m.%Y").to_string(),
                leds: [0, 0, 0],
            })
        }
        Request::Other { command, args } => {
            let response = sopas::answer(&command, &args, scan_config);
            if let Response::Error { code } = response {
                tracing::debug!(%peer, command, code, "Emulator does not know this command.");
            }
            response
        }
    })
}

async fn send(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
    let payload = response
        .encode()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    write_telegram(stream, &payload).await
}

async fn write_telegram(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let telegram = encode_cola_b(payload)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    stream.write_all(&telegram).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn request(stream: &mut TcpStream, framer: &mut Framer, request: Request) -> Response {
        let telegram = encode_cola_b(&request.encode()).unwrap();
        stream.write_all(&telegram).await.unwrap();
        next_response(stream, framer).await
    }

    async fn next_response(stream: &mut TcpStream, framer: &mut Framer) -> Response {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(frame) = framer.next_frame() {
                return Response::decode(&frame.unwrap().payload).unwrap();
            }
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the emulator closed the connection");
            framer.push(&buffer[..n]);
        }
    }

    #[tokio::test]
    async fn answers_commands_and_streams_scans_per_client() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let mut config = EmulatorConfig::bench_rig();
        config.scan_frequency_hz = 100.0;
        let server = tokio::spawn(serve(listener, config, shutdown.clone()));

        let mut first = TcpStream::connect(address).await.unwrap();
        let mut framer = Framer::new(Framing::ColaB);
        let cases = [
            (
                Request::SetAccessMode {
                    user_level: 3,
                    password_hash: 1,
                },
                Response::AccessMode { granted: false },
            ),
            (
                Request::SetAccessMode {
                    user_level: 3,
                    password_hash: SICK_CLIENT_PASSWORD_HASH,
                },
                Response::AccessMode { granted: true },
            ),
            (
                Request::StartMeasurement,
                Response::StartMeasurement { error_code: 0 },
            ),
            (Request::Run, Response::Run { success: true }),
            (
                Request::Other {
                    command: "sRN NoSuchVariable".into(),
                    args: vec![],
                },
                Response::Error { code: 3 },
            ),
        ];
        for (sent, expected) in cases {
            assert_eq!(request(&mut first, &mut framer, sent).await, expected);
        }
        let Response::DeviceState(state) =
            request(&mut first, &mut framer, Request::ReadDeviceState).await
        else {
            panic!("STlms must answer with the device state");
        };
        assert_eq!(state.status_code, 7);

        let subscribe = Request::SubscribeScanData { enabled: true };
        assert_eq!(
            request(&mut first, &mut framer, subscribe.clone()).await,
            Response::ScanDataSubscription { enabled: true }
        );
        for expected_counter in 0..3 {
            let Response::ScanData(scan) = next_response(&mut first, &mut framer).await else {
                panic!("expected a scan");
            };
            assert_eq!(scan.scan_counter, expected_counter);
        }

        // A second client gets its own stream from the start; the first one leaving ends
        // only the first stream.
        let mut second = TcpStream::connect(address).await.unwrap();
        let mut second_framer = Framer::new(Framing::ColaB);
        request(&mut second, &mut second_framer, subscribe).await;
        drop(first);
        for expected_counter in 0..3 {
            let Response::ScanData(scan) = next_response(&mut second, &mut second_framer).await
            else {
                panic!("expected a scan");
            };
            assert_eq!(scan.scan_counter, expected_counter);
        }

        shutdown.cancel();
        server.await.unwrap().unwrap();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), second.read_to_end(&mut rest));
        assert!(
            closed.await.is_ok(),
            "shutdown must end every client's stream"
        );
    }

    /// What SICK's sick_scan_xd 3.9.0 sends an LMS5xx while it starts up (its launch file
    /// sick_lms_5xx.launch, Cola-B), as its log printed it: type and name, binary arguments.
    const SICK_SCAN_XD_STARTUP: [(&str, &[u8]); 22] = [
        ("sRN SCdevicestate", b""),
        ("sMN SetAccessMode", b"\x03\xf4\x72\x47\x44"),
        ("sWN EIHstCola", b"\x01"),
        ("sRN FirmwareVersion", b""),
        ("sRN SCdevicestate", b""),
        ("sRN ODoprh", b""),
        ("sRN ODpwrc", b""),
        ("sRN LocationName", b""),
        ("sRN LMPoutputRange", b""),
        (
            "sWN LMPoutputRange",
            b"\x00\x01\x00\x00\x06\x83\xff\xff\x3c\xb0\x00\x1c\x3a\x90",
        ),
        ("sRN LMPoutputRange", b""),
        ("sRN field000", b""),
        ("sRN LIDinputstate", b""),
        (
            "sWN LMDscandatacfg",
            b"\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01",
        ),
        ("sRN LMDscandatacfg", b""),
        ("sWN FREchoFilter", b"\x02"),
        ("sEN LFErec", b"\x01"),
        ("sEN LIDoutputstate", b"\x01"),
        ("sEN LIDinputstate", b"\x01"),
        ("sMN LMCstartmeas", b""),
        ("sMN Run", b""),
        ("sEN LMDscandata", b"\x01"),
    ];

    #[tokio::test]
    async fn answers_sick_scan_xd_start_up_and_streams_to_it() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            EmulatorConfig::bench_rig(),
            shutdown.clone(),
        ));
        let mut client = TcpStream::connect(address).await.unwrap();
        let mut framer = Framer::new(Framing::ColaB);
        for (command, args) in SICK_SCAN_XD_STARTUP {
            let (kind, name) = command.split_once(' ').unwrap();
            let sent = Request::decode(&[command.as_bytes(), b" ", args].concat()).unwrap();
            let answer = request(&mut client, &mut framer, sent)
                .await
                .encode()
                .unwrap();
            // Every request gets its own positive answer: sRN -> sRA, sWN -> sWA,
            // sMN -> sAN, sEN -> sEA, each with the request's name.
            let expected_kind = match kind {
                "sRN" => "sRA",
                "sWN" => "sWA",
                "sMN" => "sAN",
                _ => "sEA",
            };
            let expected = format!("{expected_kind} {name}");
            assert!(
                answer.starts_with(expected.as_bytes()),
                "{command}: {:?}",
                String::from_utf8_lossy(&answer)
            );
        }
        let Response::ScanData(scan) = next_response(&mut client, &mut framer).await else {
            panic!("expected a scan after the subscription");
        };
        assert_eq!(scan.channels_16bit[0].values.len(), 1141);
        shutdown.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn refuses_an_invalid_config() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = EmulatorConfig::bench_rig();
        config.lanes.clear();
        let error = serve(listener, config, CancellationToken::new())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
