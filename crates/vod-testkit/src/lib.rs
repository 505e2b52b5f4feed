//! Test support: real servers started on free loopback ports and stopped on drop, a wait
//! helper for TCP ports, plain HTTP and NATS clients, and a real store in a directory.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Waits until something accepts TCP connections at `address`, or panics after `timeout`.
pub fn wait_for_port(address: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on {address} after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A nats-server with JetStream, on a free loopback port, killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    port: u16,
    _store: tempfile::TempDir,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        NatsServer::with_config(free_port(), "jetstream { store_dir: \"{store}\" }")
    }

    /// A nats-server on `port` with the configuration `config` (nats-server's own format), in
    /// which `{store}` stands for a JetStream directory of its own.
    pub fn with_config(port: u16, config: &str) -> NatsServer {
        let store = tempfile::tempdir().expect("temp dir for JetStream");
        let file = store.path().join("nats-server.conf");
        let config = config.replace("{store}", &store.path().join("js").to_string_lossy());
        std::fs::write(&file, format!("host: 127.0.0.1\nport: {port}\n{config}\n"))
            .expect("write the nats-server config");
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (scripts/setup.sh test)");
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(10),
        );
        NatsServer {
            child,
            port,
            _store: store,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// A NATS request from outside the process under test, as an engineer's tool sends it;
/// returns the reply's payload as text. Errors as text.
pub fn nats_request(
    url: &str,
    subject: &str,
    payload: &str,
    timeout: Duration,
) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    runtime.block_on(async {
        let client = async_nats::connect(url)
            .await
            .map_err(|error| error.to_string())?;
        let reply = tokio::time::timeout(
            timeout,
            client.request(subject.to_owned(), payload.to_owned().into()),
        )
        .await
        .map_err(|_| format!("no reply on {subject} within {timeout:?}"))?
        .map_err(|error| error.to_string())?;
        String::from_utf8(reply.payload.to_vec()).map_err(|error| error.to_string())
    })
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _already_gone = self.child.kill();
        let _reaped = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET; returns the status code and the body. Errors as text, for polling.
pub fn http_get(address: SocketAddr, path: &str) -> Result<(u16, String), String> {
    http_request(address, "GET", path, b"").map_err(|error| format!("GET {address}{path}: {error}"))
}

/// The sum of every sample of metric `name` (all label sets) in a Prometheus text body.
pub fn metric_sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An S3 API server (moto_server, which `scripts/setup.sh test` installs into
/// `.tools/moto`) on a free loopback port, killed on drop.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    pub fn start() -> S3Server {
        let port = free_port();
        let program = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.tools/moto/bin/moto_server");
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "{} must be installed (scripts/setup.sh test): {error}",
                    program.display()
                )
            });
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(30),
        );
        S3Server { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (S3's PUT on the bucket's path).
    pub fn create_bucket(&self, bucket: &str) {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let (status, body) = http_request(address, "PUT", &format!("/{bucket}"), b"")
            .expect("the S3 server answers");
        assert_eq!(status, 200, "creating bucket {bucket}: {body}");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _already_gone = self.child.kill();
        let _reaped = self.child.wait();
    }
}

/// A TCP gate on a free loopback port that forwards to `upstream` while it is open: closing
/// it refuses new connections and cuts those open, as a network outage does, while the server
/// behind it keeps what it has. It can also slip bytes of its own into what the upstream sends
/// (line noise, a broken switch).
#[derive(Debug)]
pub struct TcpGate {
    port: u16,
    upstream: SocketAddr,
    open: Option<tokio::task::JoinHandle<()>>,
    injected: tokio::sync::broadcast::Sender<Vec<u8>>,
}

impl TcpGate {
    /// A gate, open; needs a tokio runtime.
    pub fn new(upstream: SocketAddr) -> TcpGate {
        let mut gate = TcpGate {
            port: free_port(),
            upstream,
            open: None,
            injected: tokio::sync::broadcast::channel(64).0,
        };
        gate.open();
        gate
    }

    /// Sends `bytes` to every connected client, between two of the upstream's reads: in the
    /// middle of whatever the upstream was sending.
    pub fn inject(&self, bytes: Vec<u8>) {
        let _no_client = self.injected.send(bytes);
    }

    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn open(&mut self) {
        if self.open.is_some() {
            return;
        }
        let listener = TcpListener::bind(self.address()).expect("the gate's port is free");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        let upstream = self.upstream;
        let injected = self.injected.clone();
        self.open = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let injected = injected.subscribe();
                connections.spawn(async move {
                    if let Ok(outbound) = tokio::net::TcpStream::connect(upstream).await {
                        forward(inbound, outbound, injected).await;
                    }
                });
            }
        }));
    }

    /// Refuses new connections and cuts the open ones.
    pub fn close(&mut self) {
        if let Some(task) = self.open.take() {
            // Dropping the task's JoinSet aborts every forwarding connection.
            task.abort();
        }
    }
}

/// Client to upstream as it comes; upstream to client with the injected bytes in between,
/// until either side closes.
async fn forward(
    inbound: tokio::net::TcpStream,
    outbound: tokio::net::TcpStream,
    mut injected: tokio::sync::broadcast::Receiver<Vec<u8>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = inbound.into_split();
    let (mut upstream_read, mut upstream_write) = outbound.into_split();
    let upwards = tokio::io::copy(&mut client_read, &mut upstream_write);
    let downwards = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                read = upstream_read.read(&mut buffer) => match read {
                    Ok(n) if n > 0 => {
                        if client_write.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                    _ => return,
                },
                bytes = injected.recv() => match bytes {
                    Ok(bytes) => {
                        if client_write.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    };
    tokio::select! {
        _either_closed = upwards => {}
        () = downwards => {}
    }
}

impl Drop for TcpGate {
    fn drop(&mut self) {
        self.close();
    }
}

/// One plain HTTP/1.0 request; returns the status code and the body.
pub fn http_request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(u16, String), String> {
    http_exchange(address, method, path, &[], body).map(|(status, _head, body)| (status, body))
}

/// One HTTP/1.0 request with extra header lines (`Cookie: ...`); returns the status code, the
/// response's head (status line and headers) and its body.
pub fn http_exchange(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Result<(u16, String, String), String> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .map_err(|error| error.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|error| error.to_string())?;
    let extra: String = headers.iter().map(|line| format!("{line}\r\n")).collect();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|error| error.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|error| error.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, head.to_owned(), body.to_owned()))
}

/// Signs in to the box's web page at `address` as a browser does (the login form's cookie
/// and CSRF token, then the form); returns the `Cookie:` header line of the session.
pub fn web_sign_in(address: SocketAddr, user: &str, password: &str) -> Result<String, String> {
    let (_, head, page) = http_exchange(address, "GET", "/login", &[], b"")?;
    let form_cookie = set_cookie(&head, "vod_form").ok_or("no form cookie")?;
    let marker = "name=\"csrf\" value=\"";
    let csrf = page
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("no CSRF field on the login page")?;
    let form = format!(
        "csrf={csrf}&name={user}&password={}",
        password.replace(' ', "+")
    );
    let (status, head, body) = http_exchange(
        address,
        "POST",
        "/login",
        &[
            format!("Cookie: vod_form={form_cookie}"),
            format!("Origin: http://{address}"),
            "Content-Type: application/x-www-form-urlencoded".to_owned(),
        ],
        form.as_bytes(),
    )?;
    let session = set_cookie(&head, "vod_session")
        .ok_or_else(|| format!("not signed in ({status}): {body}"))?;
    Ok(format!("Cookie: vod_session={session}"))
}

fn set_cookie(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case("set-cookie")
                .then_some(value.trim())
        })
        .filter_map(|value| value.split(';').next()?.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A store (a real SQLite file) in `data_dir`, its metrics in a registry of its own.
pub async fn open_store(data_dir: &std::path::Path) -> vod_store::Store {
    let config = vod_core::config::StorageConfig {
        data_dir: data_dir.to_owned(),
    };
    let metrics = vod_store::StoreMetrics::register(&prometheus::Registry::new())
        .expect("a fresh registry takes the store's metrics");
    vod_store::Store::open(&config, metrics)
        .await
        .expect("the store opens in a fresh directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_a_metric_over_its_labels_and_not_its_namesakes() {
        let body = "# HELP x\nvod_a_total{lane=\"1\"} 2\nvod_a_total{lane=\"2\"} 3\nvod_a_total_other 7\nvod_a 1\n";
        assert_eq!(metric_sum(body, "vod_a_total"), 5.0);
        assert_eq!(metric_sum(body, "vod_a"), 1.0);
    }
}
