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

/// A self-signed certificate for `localhost` and its key, as PEM files in `dir`.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    (cert, key, made.cert.der().to_vec())
}

#[tokio::test]
async fn with_a_certificate_the_page_is_served_over_tls_only() {
    let site = Site::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed(dir.path());
    let acceptor = vod_web::tls_acceptor(&cert, &key).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let metrics = ServerMetrics::register(&site.registry).unwrap();
    let limits = ConnectionLimits {
        max_connections: 8,
        header_timeout: Duration::from_secs(5),
    };
    let server = Server::new("web", listener, site.router.clone(), limits, metrics)
        .unwrap()
        .with_tls(acceptor);
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    let server = tokio::spawn(async move { server.run(shutdown).await });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(der.into()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = TcpStream::connect(address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(
        format!(
            "GET /healthz HTTP/1.0\r\nHost: localhost:{}\r\n\r\n",
            address.port()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _closed = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");

    // Plain HTTP on the TLS port gets no page.
    let mut plain = TcpStream::connect(address).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _closed =
        tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("200"),
        "no page over plain HTTP"
    );

    stop.cancel();
    server.await.unwrap().unwrap();
}

#[test]
fn a_missing_or_mismatched_certificate_is_refused_by_its_key_name() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = self_signed(dir.path());
    let missing = vod_web::tls_acceptor(&dir.path().join("none.pem"), &key)
        .err()
        .unwrap();
    assert!(missing.starts_with("web.tls_cert_file"), "{missing}");
    let other = tempfile::tempdir().unwrap();
    let (_, other_key, _) = self_signed(other.path());
    let mismatched = vod_web::tls_acceptor(&cert, &other_key).err().unwrap();
    assert!(mismatched.starts_with("web.tls_key_file"), "{mismatched}");
    assert!(vod_web::tls_acceptor(&cert, &key).is_ok());
}
