//! What every request passes before its route: the Host must be an IP address or an allowed
//! name (a page elsewhere cannot rebind its own name to the box), and an unsafe request that
//! carries a cookie must come from the page's own origin. Every answer gets the security
//! headers.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::is_unsafe;
use crate::AppState;

/// Scripts, styles and images from the box only, no framing, no plugins, forms to the box.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
    style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(host) = host(request.headers()) else {
        state.access.refuse("host");
        return (StatusCode::BAD_REQUEST, "The request names no host.").into_response();
    };
    let allowed = host_allowed(&host, &state.config.current().web.allowed_hosts);
    if !allowed {
        state.access.refuse("host");
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "This box does not answer to that host name; add it to web.allowed_hosts.",
        )
            .into_response();
    }
    if is_unsafe(request.method())
        && request.headers().contains_key(header::COOKIE)
        && !same_origin(request.headers(), &host)
    {
        state.access.refuse("origin");
        tracing::debug!(
            origin = ?request.headers().get(header::ORIGIN),
            host,
            "An unsafe request from another origin was refused."
        );
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: the request does not come from this box's page.",
        )
            .into_response();
    }
    next.run(request).await
}

/// The Host header with its port, lower case.
fn host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?.trim();
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// An IP address (with or without a port) or a name on the list.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = if let Some(v6) = host.strip_prefix('[') {
        return v6
            .split_once(']')
            .is_some_and(|(address, _)| address.parse::<IpAddr>().is_ok());
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    name.parse::<IpAddr>().is_ok()
        || allowed
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
}

/// The Origin names this host; without an Origin, the browser's Sec-Fetch-Site says
/// same-origin.
fn same_origin(headers: &HeaderMap, host: &str) -> bool {
    match headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    {
        Some(origin) => {
            let origin = origin.to_ascii_lowercase();
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|authority| authority == host)
        }
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|site| site == "same-origin"),
    }
}

/// The headers every answer carries unless its handler set them.
pub(crate) fn security_headers() -> [(HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        // Not no-referrer: with it, browsers send `Origin: null` on the page's own form posts,
        // and the Origin check could not tell them from a foreign page's.
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_pass_and_names_must_be_listed() {
        let allowed = vec!["vod-a12.local".to_owned()];
        for host in [
            "127.0.0.1:8080",
            "10.0.0.5",
            "[::1]:8080",
            "vod-a12.local:8080",
            "VOD-A12.local",
        ] {
            assert!(host_allowed(&host.to_ascii_lowercase(), &allowed), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:8080",
            "[evil]:80",
            "localhost",
        ] {
            assert!(!host_allowed(host, &allowed), "{host}");
        }
    }

    #[test]
    fn an_origin_must_name_the_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&headers, "127.0.0.1:8080"));
        assert!(!same_origin(&headers, "127.0.0.1:9090"));
        headers.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(!same_origin(&headers, "127.0.0.1:8080"));
        headers.remove(header::ORIGIN);
        assert!(!same_origin(&headers, "127.0.0.1:8080"), "neither header");
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&headers, "127.0.0.1:8080"));
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&headers, "127.0.0.1:8080"));
    }
}
