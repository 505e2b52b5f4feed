//! One way to connect to NATS with the `[bus]` settings: credentials (user and password,
//! token, nkey seed file or creds file) and TLS (CA file, client certificate, require TLS).
//! The box's own connections retry in the background while NATS is down, so a box without a
//! server keeps working and connects when one appears.

use std::time::Duration;

use vod_core::config::BusConfig;

/// Why a connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bus.{key}: cannot read {path}: {source}")]
    File {
        key: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
}

/// Whether to wait in the background for a server that is not there (the box) or to fail
/// at once (`vod ctl`, which a person is waiting for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    RetryForever,
    FailFast,
}

/// How long `FailFast` waits for the first connection.
const FAIL_FAST_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects as the `[bus]` settings say, naming the connection `name` on the server; logs
/// each change of the connection.
pub async fn connect(
    config: &BusConfig,
    name: String,
    patience: Patience,
) -> Result<async_nats::Client, ConnectError> {
    options(config, name, patience)
        .await?
        .event_callback(|event| async move {
            tracing::info!(%event, "NATS connection changed.");
        })
        .connect(config.nats_url.as_str())
        .await
        .map_err(|source| connect_error(config, source))
}

pub(crate) fn connect_error(config: &BusConfig, source: async_nats::ConnectError) -> ConnectError {
    ConnectError::Connect {
        url: vod_core::config::secrets::mask_urls(&config.nats_url),
        source,
    }
}

/// The options the `[bus]` settings make, credentials and TLS read; without an event
/// callback.
pub(crate) async fn options(
    config: &BusConfig,
    name: String,
    patience: Patience,
) -> Result<async_nats::ConnectOptions, ConnectError> {
    let mut options = async_nats::ConnectOptions::new().name(name);
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some(path) = &config.nkey_seed_file {
        let seed = std::fs::read_to_string(path).map_err(|source| ConnectError::File {
            key: "nkey_seed_file",
            path: path.display().to_string(),
            source,
        })?;
        options = options.nkey(seed.trim().to_owned());
    }
    if let Some(path) = &config.creds_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|source| ConnectError::File {
                key: "creds_file",
                path: path.display().to_string(),
                source,
            })?;
    }
    if let Some(path) = &config.tls_ca_file {
        options = options.add_root_certificates(path.clone());
    }
    if let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    options = options.require_tls(config.require_tls || config.nats_url.starts_with("tls://"));
    Ok(match patience {
        Patience::RetryForever => options.retry_on_initial_connect(),
        Patience::FailFast => options.connection_timeout(FAIL_FAST_TIMEOUT),
    })
}
