//! The scanner session against the emulator, against a real recording replayed, and against a
//! scripted fake scanner that misbehaves.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::sync::atomic::{AtomicU32, Ordering};

use prometheus::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;
use std::time::Duration;

use vod_core::config::ScannerConfig;
use vod_core::{Event, Hub};
use vod_lidar::LidarMetrics;
use vod_lidar::cola::{DeviceState, Framer, Framing, Request, Response, encode_cola_b};
use vod_lidar::session::ScannerSession;
use vod_sim::emulator::scanner::ScanSource;
use vod_sim::emulator::{self, EmulatorConfig};

const PATIENCE: Duration = Duration::from_secs(20);

fn scanner(address: String) -> ScannerConfig {
    ScannerConfig {
        name: "gantry".into(),
        address,
        mount_height_mm: 6000,
        connect_timeout_ms: 1000,
        stall_timeout_ms: None,
    }
}

/// A scanner whose stream may pause for seconds on a loaded machine without counting as a
/// stall: for the tests that assert no reconnection.
fn patient(address: String) -> ScannerConfig {
    ScannerConfig {
        stall_timeout_ms: Some(10_000),
        ..scanner(address)
    }
}

fn metrics() -> LidarMetrics {
    LidarMetrics::register(&Registry::new()).unwrap()
}

#[tokio::test]
async fn streams_scans_from_the_emulator() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    tokio::spawn(emulator::serve(
        listener,
        EmulatorConfig::bench_rig(),
        shutdown.clone(),
    ));
    let metrics = metrics();
    let hub = Hub::new(16);
    let mut events = hub.subscribe();
    let mut session = ScannerSession::new(&patient(address.clone()), &metrics, hub);
    for expected_counter in 0..5 {
        let scan = timeout(PATIENCE, session.next_scan()).await.unwrap();
        assert_eq!(scan.scan_counter, expected_counter);
        assert_eq!(&*scan.scanner, "gantry");
        assert_eq!(scan.ranges_mm.len(), 1141);
        assert_eq!(scan.scan_frequency_hz, 25.0);
    }
    assert!(matches!(
        &*events.recv().await.unwrap(),
        Event::ScannerConnected { scanner, address: a } if &**scanner == "gantry" && *a == address
    ));
    let connected = metrics.connected.with_label_values(&["gantry"]);
    assert_eq!(connected.get(), 1);
    assert_eq!(
        metrics
            .reconnects_total
            .with_label_values(&["gantry"])
            .get(),
        0
    );
    drop(session);
    assert_eq!(connected.get(), 0);
    shutdown.cancel();
}

/// How the fake scanner treats a connection.
#[derive(Debug, Clone, Copy)]
struct Script {
    grant_access: bool,
    /// The status code answered to `sRN STlms` (7: ready for measurement).
    device_status: u16,
    /// Scans sent after the subscription, preceded by one telegram with a bad checksum;
    /// then the fake goes silent but keeps the connection open.
    scans: u16,
}

/// What the fake scanner saw.
#[derive(Debug, Default)]
struct Seen {
    connections: AtomicU32,
    /// `LMCstartmeas` requests.
    starts: AtomicU32,
}

async fn fake_scanner(listener: TcpListener, script: Script, seen: Arc<Seen>) {
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        seen.connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(fake_connection(stream, script, seen.clone()));
    }
}

async fn fake_connection(mut stream: TcpStream, script: Script, seen: Arc<Seen>) {
    let mut framer = Framer::new(Framing::ColaB);
    let mut buffer = [0u8; 1024];
    loop {
        let Ok(n) = stream.read(&mut buffer).await else {
            return;
        };
        if n == 0 {
            return;
        }
        framer.push(&buffer[..n]);
        while let Some(frame) = framer.next_frame() {
            let answer = match Request::decode(&frame.unwrap().payload).unwrap() {
                Request::SetAccessMode { .. } => Response::AccessMode {
                    granted: script.grant_access,
                },
                Request::ReadDeviceState => Response::DeviceState(DeviceState {
                    status_code: script.device_status,
                    temperature_ok: true,
                    time: "00:34:19".into(),
                    date: "01.01.1970".into(),
                    leds: [0, 0, 0],
                }),
                Request::StartMeasurement => {
                    seen.starts.fetch_add(1, Ordering::SeqCst);
                    Response::StartMeasurement { error_code: 0 }
                }
                Request::Run => Response::Run { success: true },
                Request::SubscribeScanData { enabled } => {
                    Response::ScanDataSubscription { enabled }
                }
                other => panic!("the session should not send {other:?}"),
            };
            let subscribed = matches!(answer, Response::ScanDataSubscription { .. });
            let mut out = encode_cola_b(&answer.encode().unwrap()).unwrap();
            if subscribed {
                let mut bad = encode_cola_b(b"sSN LMDscandata ").unwrap();
                *bad.last_mut().unwrap() ^= 1;
                out.extend(bad);
                let mut source = ScanSource::new(&EmulatorConfig::bench_rig());
                for _ in 0..script.scans {
                    let scan = Response::ScanData(Box::new(source.next_scan()));
                    out.extend(encode_cola_b(&scan.encode().unwrap()).unwrap());
                }
            }
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

#[tokio::test]
async fn a_stalled_scanner_is_dropped_and_reconnected() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Seen::default());
    let script = Script {
        grant_access: true,
        device_status: DeviceState::READY_FOR_MEASUREMENT,
        scans: 3,
    };
    let fake = tokio::spawn(fake_scanner(listener, script, seen.clone()));
    let metrics = metrics();
    let hub = Hub::new(16);
    let mut events = hub.subscribe();
    let mut session = ScannerSession::new(&scanner(address), &metrics, hub);
    let mut counters = Vec::new();
    for _ in 0..6 {
        counters.push(
            timeout(PATIENCE, session.next_scan())
                .await
                .unwrap()
                .scan_counter,
        );
    }
    assert_eq!(counters, [0, 1, 2, 0, 1, 2]);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    let label = ["gantry"];
    assert_eq!(metrics.device_state.with_label_values(&label).get(), 7);
    assert_eq!(metrics.reconnects_total.with_label_values(&label).get(), 1);
    assert_eq!(
        metrics.decode_errors_total.with_label_values(&label).get(),
        2
    );
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let event = events.recv().await.unwrap();
        if let Event::ScannerDisconnected { reason, .. } = &*event {
            assert_eq!(reason, "no scan for 300 ms");
        }
        kinds.push(event.kind());
    }
    assert_eq!(
        kinds,
        [
            "scanner_connected",
            "scanner_disconnected",
            "scanner_connected"
        ]
    );
    fake.abort();
}

#[tokio::test]
async fn a_refusing_scanner_is_retried_with_backoff() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Seen::default());
    let script = Script {
        grant_access: false,
        device_status: DeviceState::READY_FOR_MEASUREMENT,
        scans: 0,
    };
    let fake = tokio::spawn(fake_scanner(listener, script, seen.clone()));
    let metrics = metrics();
    let mut session = ScannerSession::new(&scanner(address), &metrics, Hub::new(4));
    // 100 + 200 + 400 ms of backoff make four attempts in well under 2 s.
    let waited = timeout(Duration::from_secs(2), session.next_scan()).await;
    assert!(waited.is_err(), "a refusing scanner gives no scans");
    let attempts = seen.connections.load(Ordering::SeqCst);
    assert!((2..=6).contains(&attempts), "{attempts} attempts");
    // The last retry may be under way, counted here but not yet accepted there.
    let reconnects = metrics
        .reconnects_total
        .with_label_values(&["gantry"])
        .get();
    assert!(
        [attempts - 1, attempts].contains(&(reconnects as u32)),
        "{reconnects} reconnects for {attempts} attempts"
    );
    assert_eq!(metrics.connected.with_label_values(&["gantry"]).get(), 0);
    fake.abort();
}

#[tokio::test]
async fn a_scanner_in_an_error_state_is_not_started_and_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Seen::default());
    let script = Script {
        grant_access: true,
        device_status: 0,
        scans: 3,
    };
    let fake = tokio::spawn(fake_scanner(listener, script, seen.clone()));
    let metrics = metrics();
    let mut session = ScannerSession::new(&scanner(address), &metrics, Hub::new(4));
    // The session retries (the backoff path) until its future is dropped: let it run until
    // the third connection.
    let third_connection = async {
        while seen.connections.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let retried = async {
        tokio::select! {
            _ = session.next_scan() => panic!("a scanner in an error state gave a scan"),
            () = third_connection => {}
        }
    };
    timeout(PATIENCE, retried).await.unwrap();
    assert_eq!(
        seen.starts.load(Ordering::SeqCst),
        0,
        "never told to measure"
    );
    let label = ["gantry"];
    assert_eq!(metrics.device_state.with_label_values(&label).get(), 0);
    assert_eq!(metrics.connected.with_label_values(&label).get(), 0);
    assert!(metrics.reconnects_total.with_label_values(&label).get() >= 2);
    fake.abort();
}

/// The session against a replayed real LMS111 recording: it logs in and subscribes, then gets
/// the recorded scans in order, and the recording again from its start.
#[tokio::test]
async fn streams_a_replayed_recording() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/lidar/20210302_lms111.pcapng.json");
    let recording = vod_lidar::recording::Recording::load(&path).unwrap();
    let recorded: Vec<u32> = recording
        .telegrams()
        .into_iter()
        .filter_map(|t| match t.telegram {
            Ok(Response::ScanData(scan)) => Some(u32::from(scan.scan_counter)),
            _ => None,
        })
        .collect();
    assert_eq!(recorded.len(), 175);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { emulator::serve_replay(listener, &recording, shutdown).await }
    });
    let metrics = metrics();
    let mut session = ScannerSession::new(&patient(address), &metrics, Hub::new(16));
    let mut received = Vec::new();
    for _ in 0..recorded.len() + 3 {
        let scan = timeout(PATIENCE, session.next_scan()).await.unwrap();
        assert_eq!(scan.ranges_mm.len(), 541);
        assert_eq!(scan.scan_frequency_hz, 50.0);
        received.push(scan.scan_counter);
    }
    assert_eq!(received[..recorded.len()], recorded[..]);
    assert_eq!(received[recorded.len()..], recorded[..3]);
    let label = ["gantry"];
    assert_eq!(metrics.reconnects_total.with_label_values(&label).get(), 0);
    assert_eq!(
        metrics.decode_errors_total.with_label_values(&label).get(),
        0
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_replay_needs_scans() {
    let recording = vod_lidar::recording::Recording::from_json("[]").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = emulator::serve_replay(listener, &recording, CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

/// On a shared clock the road does not wait for its client: a session that subscribes two
/// seconds after the traffic's origin gets the scan due then, not the first one.
#[tokio::test]
async fn a_road_on_a_shared_clock_does_not_wait_for_its_client() {
    let shutdown = CancellationToken::new();
    let first_counter = |origin: Option<tokio::time::Instant>| {
        let shutdown = shutdown.clone();
        async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap().to_string();
            let config = EmulatorConfig::bench_rig();
            tokio::spawn(async move {
                match origin {
                    Some(origin) => emulator::serve_from(listener, config, origin, shutdown).await,
                    None => emulator::serve(listener, config, shutdown).await,
                }
            });
            let metrics = metrics();
            let mut session = ScannerSession::new(&scanner(address), &metrics, Hub::new(16));
            let scan = timeout(PATIENCE, session.next_scan()).await.unwrap();
            (scan.scan_counter, scan.scan_frequency_hz)
        }
    };
    let (own_clock, _) = first_counter(None).await;
    let two_seconds_ago = tokio::time::Instant::now() - Duration::from_secs(2);
    let (shared_clock, frequency_hz) = first_counter(Some(two_seconds_ago)).await;
    let skipped = shared_clock - own_clock;
    let due = (2.0 * frequency_hz) as u32;
    assert!(
        (due..due * 10).contains(&skipped),
        "{skipped} scans skipped, {due} were due before the subscription"
    );
    shutdown.cancel();
}
