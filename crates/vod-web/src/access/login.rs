//! Signing in and out, and the first run: a box without users shows `/setup`, which creates
//! the first admin once, with the one-time token that `vod run` printed in its log. There is
//! no default password. Sign-in attempts are limited per client address and per user name.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;

use super::sessions::{SESSION_COOKIE, random_token};
use super::{FORM_COOKIE, Identity, constant_time_eq, cookie};
use crate::{AppError, AppState};

/// The shortest password the first-run page and `vod user add` accept.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// The routes anyone may reach.
pub(crate) fn open_router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/setup", get(setup_page).post(setup))
}

/// Signing out needs the session (and its CSRF token) it ends.
pub(crate) fn session_router() -> Router<AppState> {
    Router::new().route("/logout", axum::routing::post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    site_id: String,
    csrf: String,
    next: String,
    error: String,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    site_id: String,
    csrf: String,
    error: String,
    min_password_chars: usize,
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
struct SetupForm {
    csrf: String,
    token: String,
    name: String,
    password: String,
    repeat: String,
}

async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<NextQuery>,
) -> Result<Response, AppError> {
    if state.store.user_count().await? == 0 {
        return Ok(Redirect::to("/setup").into_response());
    }
    let next = safe_next(query.next.as_deref().unwrap_or("/"));
    login_form(&state, next, "", StatusCode::OK)
}

/// The login form, with `error` above it when an attempt failed.
fn login_form(
    state: &AppState,
    next: &str,
    error: &str,
    status: StatusCode,
) -> Result<Response, AppError> {
    form_with_cookie(
        state,
        |csrf| {
            LoginPage {
                site_id: state.site_id.to_string(),
                csrf,
                next: next.to_owned(),
                error: error.to_owned(),
            }
            .render()
        },
        status,
    )
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let again = |error: &str, status| login_form(&state, safe_next(&form.next), error, status);
    if !form_token_matches(&headers, &form.csrf) {
        state.access.refuse("csrf");
        return again(
            "The form was out of date; sign in again.",
            StatusCode::FORBIDDEN,
        );
    }
    let logins = &state.access.metrics.logins_total;
    if !state
        .access
        .login_allowed(&peer.ip().to_string(), &form.name)
    {
        logins.with_label_values(&["limited"]).inc();
        state.access.refuse("rate");
        return again(
            "Too many attempts; wait a minute and try again.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let Some(user) = state.store.verify_user(&form.name, &form.password).await? else {
        logins.with_label_values(&["failed"]).inc();
        tracing::info!(user = %form.name, address = %peer.ip(), "A sign-in failed.");
        return again("Wrong user name or password.", StatusCode::UNAUTHORIZED);
    };
    logins.with_label_values(&["ok"]).inc();
    tracing::info!(user = %user.name, address = %peer.ip(), "Signed in.");
    let token = state.access.sessions.start(&user.name);
    Ok(signed_in(&state, &token, safe_next(&form.next)))
}

async fn logout(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.access.sessions.end(token);
    }
    tracing::info!(user = %identity.name, "Signed out.");
    (
        [(
            header::SET_COOKIE,
            cookie_value(&state, SESSION_COOKIE, "", true),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

async fn setup_page(State(state): State<AppState>) -> Result<Response, AppError> {
    if state.store.user_count().await? > 0 || !state.access.setup_pending() {
        return Ok(Redirect::to("/login").into_response());
    }
    setup_form(&state, "", StatusCode::OK)
}

/// The first-run form, with `error` above it when an attempt failed.
fn setup_form(state: &AppState, error: &str, status: StatusCode) -> Result<Response, AppError> {
    form_with_cookie(
        state,
        |csrf| {
            SetupPage {
                site_id: state.site_id.to_string(),
                csrf,
                error: error.to_owned(),
                min_password_chars: MIN_PASSWORD_CHARS,
            }
            .render()
        },
        status,
    )
}

async fn setup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Result<Response, AppError> {
    if state.store.user_count().await? > 0 {
        return Ok(Redirect::to("/login").into_response());
    }
    let again = |error: &str, status| setup_form(&state, error, status);
    if !form_token_matches(&headers, &form.csrf) {
        state.access.refuse("csrf");
        return again(
            "The form was out of date; try again.",
            StatusCode::FORBIDDEN,
        );
    }
    if let Err(problem) = check_new_user(&form.name, &form.password) {
        return again(&problem, StatusCode::BAD_REQUEST);
    }
    if form.password != form.repeat {
        return again("The two passwords differ.", StatusCode::BAD_REQUEST);
    }
    // The token is checked last, so that a typing mistake above does not use it up; and it is
    // rate-limited as a sign-in is.
    if !state
        .access
        .login_allowed(&peer.ip().to_string(), "first-run")
    {
        state.access.refuse("rate");
        return again(
            "Too many attempts; wait a minute.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    if !state.access.take_setup_token(form.token.trim()) {
        state.access.refuse("setup_token");
        return again(
            "That is not the first-run token of this start (see the log of vod run).",
            StatusCode::FORBIDDEN,
        );
    }
    let Some(admin) = state
        .store
        .create_first_admin(&form.name, &form.password)
        .await?
    else {
        return Ok(Redirect::to("/login").into_response());
    };
    tracing::warn!(user = %admin.name, address = %peer.ip(), "The first admin was created.");
    let token = state.access.sessions.start(&admin.name);
    Ok(signed_in(&state, &token, "/"))
}

/// A name of a user or an API token: 1 to 64 letters, digits, '.', '_' or '-'.
pub(crate) fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A user name and password good enough for the box, or why not.
pub fn check_new_user(name: &str, password: &str) -> Result<(), String> {
    if !plain_name(name) {
        return Err("A user name is 1 to 64 letters, digits, '.', '_' or '-'.".to_owned());
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "A password has at least {MIN_PASSWORD_CHARS} characters."
        ));
    }
    Ok(())
}

/// Renders a form whose CSRF token is also set as a cookie (the forms before a session).
fn form_with_cookie(
    state: &AppState,
    render: impl FnOnce(String) -> askama::Result<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let token = random_token();
    let page = render(token.clone())?;
    let cookie = cookie_value(state, FORM_COOKIE, &token, false);
    let mut response = (status, Html(page)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

fn form_token_matches(headers: &HeaderMap, offered: &str) -> bool {
    cookie(headers, FORM_COOKIE).is_some_and(|expected| constant_time_eq(expected, offered))
}

fn signed_in(state: &AppState, token: &str, next: &str) -> Response {
    let mut response = Redirect::to(next).into_response();
    for cookie in [
        cookie_value(state, SESSION_COOKIE, token, false),
        cookie_value(state, FORM_COOKIE, "", true),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            // Appended: each cookie is a header of its own.
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A cookie of the page: HttpOnly, SameSite=Strict, and Secure when the page is served over
/// TLS; `expire` clears it.
fn cookie_value(state: &AppState, name: &str, value: &str, expire: bool) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if expire {
        cookie.push_str("; Max-Age=0");
    }
    if state.secure_cookies {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Where to go after signing in: a path on this box only, never another site.
fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\');
    if local { next } else { "/" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_on_only_to_a_path_of_this_box() {
        assert_eq!(safe_next("/captures?lane=1"), "/captures?lane=1");
        for foreign in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "",
        ] {
            assert_eq!(safe_next(foreign), "/", "{foreign}");
        }
    }

    #[test]
    fn new_users_need_a_plain_name_and_a_long_password() {
        assert!(check_new_user("ana", "correct horse").is_ok());
        assert!(check_new_user("", "correct horse").is_err());
        assert!(check_new_user("ana smith", "correct horse").is_err());
        assert!(check_new_user("ana", "short").is_err());
    }
}
