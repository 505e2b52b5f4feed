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
        let port = free_port();
        let store = tempfile::tempdir().expect("temp dir for JetStream");
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
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
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .map_err(|e| format!("connect {address}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read {address}{path}: {e}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {response:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_owned()))
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
