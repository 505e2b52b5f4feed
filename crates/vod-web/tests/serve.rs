//! The server over a real socket: a connection past the cap is closed at once and counted, an
//! idle connection is closed after the header deadline, and the box's other clients go on.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::time::{Duration, Instant};

use common::Site;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use vod_core::Component;
use vod_web::{ConnectionLimits, Server, ServerMetrics};

/// Reads until the server closes the connection; fails the test after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) {
    let mut buffer = [0u8; 256];
    let read = tokio::time::timeout(within, stream.read(&mut buffer))
        .await
        .unwrap_or_else(|_| panic!("the connection was still open after {within:?}"));
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn a_connection_past_the_cap_is_closed_at_once_and_idle_ones_at_the_header_deadline() {
    let site = Site::new().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let metrics = ServerMetrics::register(&site.registry).unwrap();
    let limits = ConnectionLimits {
        max_connections: 3,
        header_timeout: Duration::from_secs(1),
    };
    let server = Server::new(
        "web",
        listener,
        site.router.clone(),
        limits,
        metrics.clone(),
    )
    .unwrap();
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    let server = tokio::spawn(async move { server.run(shutdown).await });

    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics.connections_open.with_label_values(&["web"]).get() < 3 {
        assert!(
            Instant::now() < deadline,
            "the three connections were not accepted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut fourth = TcpStream::connect(address).await.unwrap();
    closed_within(&mut fourth, Duration::from_secs(5)).await;
    assert_eq!(
        metrics
            .connections_refused_total
            .with_label_values(&["web"])
            .get(),
        1
    );

    let started = Instant::now();
    for stream in &mut idle {
        closed_within(stream, Duration::from_secs(10)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed by the deadline, not at once"
    );

    // A client that starts a request and stalls is closed at the header deadline too.
    let mut slow = TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HT").await.unwrap();
    closed_within(&mut slow, Duration::from_secs(10)).await;

    // The slots are free again: a request is served.
    let mut client = TcpStream::connect(address).await.unwrap();
    client
        .write_all(format!("GET /healthz HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");

    stop.cancel();
    server.await.unwrap().unwrap();
}
