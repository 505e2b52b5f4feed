//! Users and API tokens, for admins: add a user with a role, change a role, remove a user
//! (never the last admin); make an API token (shown once, only its hash is kept) and revoke
//! one.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use vod_store::{ApiToken, Role, User};

use crate::access::Identity;
use crate::access::login::{check_new_user, plain_name};
use crate::layout::Layout;
use crate::{AppError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(page).post(add_user))
        .route("/users/{name}/role", post(set_role))
        .route("/users/{name}/delete", post(delete_user))
        .route("/tokens", post(add_token))
        .route("/tokens/{name}/delete", post(delete_token))
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<User>,
    tokens: Vec<ApiToken>,
    roles: [&'static str; 3],
    message: String,
    message_ok: bool,
    /// A token just made: shown this once.
    new_token: String,
}

#[derive(Deserialize)]
struct NewUserForm {
    name: String,
    role: String,
    password: String,
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
}

#[derive(Deserialize)]
struct NewTokenForm {
    name: String,
    role: String,
}

async fn page(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> Result<Response, AppError> {
    render(&state, &identity, Outcome::None).await
}

/// What the last form did.
enum Outcome {
    None,
    Done(String),
    Refused(StatusCode, String),
    Token(String),
}

async fn add_user(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<NewUserForm>,
) -> Result<Response, AppError> {
    let outcome = match (
        check_new_user(&form.name, &form.password),
        Role::parse(&form.role),
    ) {
        (Err(problem), _) => Outcome::Refused(StatusCode::BAD_REQUEST, problem),
        (_, None) => Outcome::Refused(StatusCode::BAD_REQUEST, "Pick a role.".to_owned()),
        (Ok(()), Some(role)) => match state
            .store
            .create_user(&form.name, &form.password, role)
            .await?
        {
            Some(user) => {
                tracing::info!(user = %user.name, role = %role, by = %identity.name, "A user was added.");
                Outcome::Done(format!("{} was added as {role}.", user.name))
            }
            None => Outcome::Refused(
                StatusCode::CONFLICT,
                format!("{} exists already.", form.name),
            ),
        },
    };
    render(&state, &identity, outcome).await
}

async fn set_role(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(name): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    let Some(role) = Role::parse(&form.role) else {
        return render(
            &state,
            &identity,
            Outcome::Refused(StatusCode::BAD_REQUEST, "Pick a role.".to_owned()),
        )
        .await;
    };
    let outcome = if role != Role::Admin && last_admin(&state, &name).await? {
        Outcome::Refused(
            StatusCode::CONFLICT,
            format!("{name} is the last admin: make another admin first."),
        )
    } else if state.store.set_role(&name, role).await? {
        tracing::info!(user = %name, role = %role, by = %identity.name, "A user's role was changed.");
        Outcome::Done(format!("{name} is now {role}."))
    } else {
        return Err(AppError::NotFound);
    };
    render(&state, &identity, outcome).await
}

async fn delete_user(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let outcome = if last_admin(&state, &name).await? {
        Outcome::Refused(
            StatusCode::CONFLICT,
            format!("{name} is the last admin and stays."),
        )
    } else if state.store.delete_user(&name).await? {
        state.access.sessions.end_user(&name);
        tracing::info!(user = %name, by = %identity.name, "A user was removed.");
        Outcome::Done(format!("{name} was removed and signed out."))
    } else {
        return Err(AppError::NotFound);
    };
    render(&state, &identity, outcome).await
}

async fn add_token(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, AppError> {
    let outcome = match (plain_name(&form.name), Role::parse(&form.role)) {
        (false, _) => Outcome::Refused(
            StatusCode::BAD_REQUEST,
            "A token's name is 1 to 64 letters, digits, '.', '_' or '-'.".to_owned(),
        ),
        (_, None) => Outcome::Refused(StatusCode::BAD_REQUEST, "Pick a role.".to_owned()),
        (true, Some(role)) => match state
            .store
            .create_api_token(&form.name, role, &identity.name)
            .await?
        {
            Some((token, secret)) => {
                tracing::info!(token = %token.name, role = %role, by = %identity.name, "An API token was made.");
                Outcome::Token(secret)
            }
            None => Outcome::Refused(
                StatusCode::CONFLICT,
                format!("A token named {} exists already.", form.name),
            ),
        },
    };
    render(&state, &identity, outcome).await
}

async fn delete_token(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    if !state.store.delete_api_token(&name).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(token = %name, by = %identity.name, "An API token was revoked.");
    render(
        &state,
        &identity,
        Outcome::Done(format!("The token {name} was revoked.")),
    )
    .await
}

/// Whether `name` is an admin and the only one.
async fn last_admin(state: &AppState, name: &str) -> Result<bool, AppError> {
    let users = state.store.users().await?;
    let admins: Vec<&User> = users
        .iter()
        .filter(|user| user.role == Role::Admin)
        .collect();
    Ok(admins.len() == 1 && admins[0].name == name)
}

async fn render(
    state: &AppState,
    identity: &Identity,
    outcome: Outcome,
) -> Result<Response, AppError> {
    let (status, message, message_ok, new_token) = match outcome {
        Outcome::None => (StatusCode::OK, String::new(), true, String::new()),
        Outcome::Done(message) => (StatusCode::OK, message, true, String::new()),
        Outcome::Refused(status, message) => (status, message, false, String::new()),
        Outcome::Token(token) => (
            StatusCode::OK,
            "The token was made. Copy it now: it is not kept and cannot be shown again.".to_owned(),
            true,
            token,
        ),
    };
    let page = UsersPage {
        layout: Layout::new(state, identity, "Users"),
        users: state.store.users().await?,
        tokens: state.store.api_tokens().await?,
        roles: Role::ALL.map(Role::as_str),
        message,
        message_ok,
        new_token,
    };
    Ok((status, Html(page.render()?)).into_response())
}
