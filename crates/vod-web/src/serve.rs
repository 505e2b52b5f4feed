//! Serving a router so that a slow or hostile client costs a connection, never the box: a
//! cap on open connections (one more is closed at once and counted), a deadline for the
//! request's first byte and for its whole header (an idle or slow connection is closed), one
//! request per connection (no idle keep-alive to hold a slot), and a graceful stop that lets
//! requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use vod_core::{Component, TaskError};

/// What one connection may cost the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; one more is closed at once and counted.
    pub max_connections: u32,
    /// How long a client may take to send a request's header, also the longest a
    /// connection stays open idle.
    pub header_timeout: Duration,
}

/// How long requests in flight get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The counters of every server of the box, labelled by server (`web`, `metrics`).
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    pub connections_open: IntGaugeVec,
    pub connections_refused_total: IntCounterVec,
}

impl ServerMetrics {
    pub fn register(registry: &Registry) -> Result<ServerMetrics, prometheus::Error> {
        let connections_open = IntGaugeVec::new(
            Opts::new("vod_web_connections_open", "HTTP connections open now."),
            &["server"],
        )?;
        let connections_refused_total = IntCounterVec::new(
            Opts::new(
                "vod_web_connections_refused_total",
                "HTTP connections closed at once because the server held its maximum.",
            ),
            &["server"],
        )?;
        registry.register(Box::new(connections_open.clone()))?;
        registry.register(Box::new(connections_refused_total.clone()))?;
        Ok(ServerMetrics {
            connections_open,
            connections_refused_total,
        })
    }
}

/// An HTTP server: a socket bound once before start and the router it serves. Each run
/// serves a duplicate of the socket, so a restarted server never gives up its port.
pub struct Server {
    name: &'static str,
    listener: std::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: ServerMetrics,
    /// Serves HTTPS instead of HTTP.
    tls: Option<TlsAcceptor>,
}

impl Server {
    /// A server named `name` (its metrics label) on `listener`, which is made non-blocking
    /// for the async runtime.
    pub fn new(
        name: &'static str,
        listener: std::net::TcpListener,
        router: Router,
        limits: ConnectionLimits,
        metrics: ServerMetrics,
    ) -> std::io::Result<Server> {
        listener.set_nonblocking(true)?;
        Ok(Server {
            name,
            listener,
            router,
            limits,
            metrics,
            tls: None,
        })
    }

    /// Serves HTTPS with `acceptor`.
    pub fn with_tls(mut self, acceptor: TlsAcceptor) -> Server {
        self.tls = Some(acceptor);
        self
    }
}

/// A connection's byte stream, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

type ConnectionError = Box<dyn std::error::Error + Send + Sync>;

/// The stream to serve HTTP on: the TCP stream itself, or its TLS session once the handshake
/// is done, which must be within `deadline`.
async fn open_stream(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    deadline: Duration,
) -> Result<Box<dyn Stream>, ConnectionError> {
    let Some(acceptor) = tls else {
        return Ok(Box::new(stream));
    };
    match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
        Ok(Ok(session)) => Ok(Box::new(session)),
        Ok(Err(error)) => Err(error.into()),
        Err(_) => Err("the TLS handshake took too long".into()),
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("listener", &self.listener)
            .field("limits", &self.limits)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Component for Server {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        let listener = TcpListener::from_std(self.listener.try_clone()?)?;
        let slots = Arc::new(Semaphore::new(self.limits.max_connections as usize));
        let graceful = GracefulShutdown::new();
        let open = self
            .metrics
            .connections_open
            .with_label_values(&[self.name]);
        let refused = self
            .metrics
            .connections_refused_total
            .with_label_values(&[self.name]);
        loop {
            let (stream, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener itself is fine.
                    Err(error) => {
                        tracing::debug!(%error, server = self.name, "Accepting a connection failed.");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                refused.inc();
                drop(stream);
                continue;
            };
            let header_timeout = self.limits.header_timeout;
            let router = self.router.clone();
            let service =
                TowerToHyperService::new(tower::service_fn(move |request: Request<_>| {
                    let mut request = request.map(axum::body::Body::new);
                    request
                        .extensions_mut()
                        .insert(ConnectInfo::<SocketAddr>(peer));
                    router.clone().oneshot(request)
                }));
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(false);
            let open = open.clone();
            open.inc();
            let watcher = graceful.watcher();
            let tls = self.tls.clone();
            tokio::spawn(async move {
                // hyper's header deadline starts with the first byte: a client that sends
                // nothing is closed here.
                let mut first = [0u8; 1];
                let spoke = tokio::time::timeout(header_timeout, stream.peek(&mut first)).await;
                if matches!(spoke, Ok(Ok(read)) if read > 0) {
                    let outcome = match open_stream(stream, tls, header_timeout).await {
                        Ok(io) => {
                            let connection = builder
                                .serve_connection_with_upgrades(TokioIo::new(io), service)
                                .into_owned();
                            watcher.watch(connection).await
                        }
                        Err(error) => Err(error),
                    };
                    if let Err(error) = outcome {
                        tracing::debug!(%error, "An HTTP connection ended with an error.");
                    }
                }
                open.dec();
                drop(slot);
            });
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                server = self.name,
                "Requests still running at shutdown were cut."
            );
        }
        Ok(())
    }
}
