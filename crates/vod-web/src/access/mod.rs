//! Who may do what, on by default: every route but `/healthz`, the login and first-run pages
//! and the static files needs an identity (a signed-in session or an API token) with a role;
//! every request must name an allowed host; every unsafe request that carries a cookie must
//! come from the page's own origin and, in a session, carry its CSRF token.
//!
//! - `sessions`: the in-memory sessions behind the cookie;
//! - `login`: `/login`, `/logout`, the first-run page `/setup`, with rate limits;
//! - `guard`: the host allow-list, the Origin check and the security headers of every answer.

mod guard;
pub(crate) mod login;
pub(crate) mod sessions;

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use prometheus::{IntCounterVec, Opts, Registry};
use vod_store::Role;

pub(crate) use guard::{guard, security_headers};
pub(crate) use sessions::Sessions;

use crate::AppState;

/// The largest form or JSON body an unsafe request may send.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The cookie of the CSRF token of the forms shown before a session exists (login, first run).
const FORM_COOKIE: &str = "vod_form";

/// The counters of the page's access control.
#[derive(Debug, Clone)]
pub struct AccessMetrics {
    /// Requests refused, by reason: host, origin, csrf, unauthenticated, forbidden, rate.
    pub refused_total: IntCounterVec,
    /// Sign-in attempts by result: ok, failed, limited.
    pub logins_total: IntCounterVec,
}

impl AccessMetrics {
    pub fn register(registry: &Registry) -> Result<AccessMetrics, prometheus::Error> {
        let refused_total = IntCounterVec::new(
            Opts::new(
                "vod_web_requests_refused_total",
                "Requests to the web page refused, by reason.",
            ),
            &["reason"],
        )?;
        let logins_total = IntCounterVec::new(
            Opts::new("vod_web_logins_total", "Sign-in attempts, by result."),
            &["result"],
        )?;
        registry.register(Box::new(refused_total.clone()))?;
        registry.register(Box::new(logins_total.clone()))?;
        Ok(AccessMetrics {
            refused_total,
            logins_total,
        })
    }
}

/// What access control keeps between requests.
#[derive(Debug)]
pub struct Access {
    pub(crate) sessions: Sessions,
    /// Sign-in attempts per client address and per user name.
    login_limits: DefaultKeyedRateLimiter<String>,
    /// While no user exists: the one-time token that the first-run page asks for.
    setup_token: Mutex<Option<String>>,
    pub(crate) metrics: AccessMetrics,
}

impl Access {
    pub fn new(metrics: AccessMetrics) -> Access {
        let per_minute = NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN);
        Access {
            sessions: Sessions::default(),
            login_limits: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            setup_token: Mutex::new(None),
            metrics,
        }
    }

    /// Makes the one-time first-run token (the box has no user); returns it for the log.
    pub fn issue_setup_token(&self) -> String {
        let token = sessions::random_token();
        *self.setup_lock() = Some(token.clone());
        token
    }

    /// Takes the first-run token if `offered` is it: it works once.
    pub(crate) fn take_setup_token(&self, offered: &str) -> bool {
        let mut token = self.setup_lock();
        let matches = token
            .as_deref()
            .is_some_and(|expected| constant_time_eq(expected, offered));
        if matches {
            *token = None;
        }
        matches
    }

    pub(crate) fn setup_pending(&self) -> bool {
        self.setup_lock().is_some()
    }

    /// Whether one more sign-in attempt from `address` for `user` is allowed now.
    pub(crate) fn login_allowed(&self, address: &str, user: &str) -> bool {
        let by_address = self.login_limits.check_key(&format!("address {address}"));
        let by_user = self.login_limits.check_key(&format!("user {user}"));
        if self.login_limits.len() > 10_000 {
            self.login_limits.retain_recent();
        }
        by_address.is_ok() && by_user.is_ok()
    }

    pub(crate) fn refuse(&self, reason: &str) {
        self.metrics
            .refused_total
            .with_label_values(&[reason])
            .inc();
    }

    fn setup_lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.setup_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's name, or `token:NAME` for an API token: the actor in the config history.
    pub name: String,
    pub role: Role,
    /// The session's CSRF token, for the forms of the page; `None` for an API token.
    pub csrf: Option<String>,
}

impl Identity {
    pub fn may(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// Who made the request, from its bearer token or its session cookie; `None` for nobody.
pub(crate) async fn identify(state: &AppState, headers: &HeaderMap) -> Option<Identity> {
    if let Some(token) = bearer(headers) {
        return match state.store.api_token(token).await {
            Ok(found) => found.map(|token| Identity {
                name: format!("token:{}", token.name),
                role: token.role,
                csrf: None,
            }),
            Err(error) => {
                tracing::warn!(%error, "An API token could not be checked.");
                None
            }
        };
    }
    let token = cookie(headers, sessions::SESSION_COOKIE)?;
    let idle = Duration::from_secs(u64::from(state.config.current().web.session_idle_minutes) * 60);
    let session = state.access.sessions.touch(token, idle)?;
    match state.store.user(&session.user).await {
        Ok(Some(user)) => Some(Identity {
            name: user.name,
            role: user.role,
            csrf: Some(session.csrf),
        }),
        Ok(None) => {
            state.access.sessions.end_user(&session.user);
            None
        }
        Err(error) => {
            tracing::warn!(%error, "A session's user could not be read.");
            None
        }
    }
}

/// The routes behind it need a viewer at least.
pub(crate) async fn require_viewer(
    state: State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    require(state, Role::Viewer, request, next).await
}

/// The routes behind it need a technician at least.
pub(crate) async fn require_technician(
    state: State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    require(state, Role::Technician, request, next).await
}

/// The routes behind it need an admin.
pub(crate) async fn require_admin(
    state: State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    require(state, Role::Admin, request, next).await
}

async fn require(
    State(state): State<AppState>,
    role: Role,
    request: Request,
    next: Next,
) -> Response {
    let Some(identity) = identify(&state, request.headers()).await else {
        state.access.refuse("unauthenticated");
        return unauthenticated(&request);
    };
    if !identity.may(role) {
        state.access.refuse("forbidden");
        return (
            StatusCode::FORBIDDEN,
            format!(
                "Forbidden: this needs the {role} role; {} is {}.",
                identity.name, identity.role
            ),
        )
            .into_response();
    }
    let mut request = request;
    if is_unsafe(request.method())
        && let Some(expected) = identity.csrf.clone()
    {
        request = match with_csrf_checked(request, &expected).await {
            Ok(request) => request,
            Err(refusal) => {
                state.access.refuse("csrf");
                return refusal;
            }
        };
    }
    request.extensions_mut().insert(identity);
    next.run(request).await
}

/// A page sends the browser to the login page; the API and the event stream answer 401.
fn unauthenticated(request: &Request) -> Response {
    let path = request.uri().path();
    let wants_page = request.method() == Method::GET
        && !path.starts_with("/api/")
        && path != "/events"
        && !path.starts_with("/images/");
    if wants_page {
        let next = request
            .uri()
            .path_and_query()
            .map(|target| target.as_str())
            .unwrap_or("/");
        let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
        return Redirect::to(&format!("/login?{query}")).into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "Sign in, or send an API token: Authorization: Bearer TOKEN.",
    )
        .into_response()
}

/// Reads the body (a form), checks its `csrf` field (or the `X-CSRF-Token` header) against
/// `expected`, and hands the request on with its body.
async fn with_csrf_checked(request: Request, expected: &str) -> Result<Request, Response> {
    let refusal = || {
        (
            StatusCode::FORBIDDEN,
            "Forbidden: the form is out of date or not from this page; reload it and try again.",
        )
            .into_response()
    };
    if let Some(offered) = request.headers().get("x-csrf-token") {
        return if offered
            .to_str()
            .is_ok_and(|offered| constant_time_eq(offered, expected))
        {
            Ok(request)
        } else {
            Err(refusal())
        };
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large.",
        )
            .into_response()
    })?;
    let offered = form_field(&bytes, "csrf");
    if offered.is_some_and(|offered| constant_time_eq(&offered, expected)) {
        Ok(Request::from_parts(parts, Body::from(bytes)))
    } else {
        Err(refusal())
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

pub(crate) fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The value of cookie `name`.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Compares without stopping at the first difference, so the time taken tells nothing of
/// how much of a token was right.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |difference, (x, y)| difference | (x ^ y))
            == 0
}

/// Whether `/readyz` or `/metrics` may be read by this request, for [`vod_core::config::Access`].
pub(crate) async fn machine_access(
    state: &AppState,
    access: vod_core::config::Access,
    headers: &HeaderMap,
) -> bool {
    match access {
        vod_core::config::Access::Open => true,
        vod_core::config::Access::Token => identify(state, headers).await.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_cookie_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; vod_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "vod_session"), Some("abc"));
        assert_eq!(cookie(&headers, "vod"), None);
    }

    #[test]
    fn compares_tokens_whole() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
