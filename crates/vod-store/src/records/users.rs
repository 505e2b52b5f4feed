//! Users of the web page, with Argon2id password hashes, and the API tokens of machine
//! clients (only their SHA-256 is kept).

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use sqlx::FromRow;

use crate::error::StoreError;
use crate::jobs::now_ms;
use crate::store::Store;

/// What a user or a token may do; each role may do everything of those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum Role {
    /// Looks only.
    Viewer,
    /// Configuration, review, test captures, jobs.
    Technician,
    /// Users and tokens, and everything else.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Technician, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Technician => "technician",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API token, without the token.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// A user, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at_ms: i64,
}

impl Store {
    /// Adds a user; `None` when the name is taken.
    pub async fn create_user(
        &self,
        name: &str,
        password: &str,
        role: Role,
    ) -> Result<Option<User>, StoreError> {
        let hash = hash_password(password).await?;
        sqlx::query_as(
            "INSERT INTO users (name, password_hash, role, created_at_ms) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO NOTHING RETURNING id, name, role, created_at_ms",
        )
        .bind(name)
        .bind(hash)
        .bind(role)
        .bind(now_ms())
        .fetch_optional(&self.writer)
        .await
        .map_err(StoreError::database("adding a user"))
    }

    /// How many users exist: none means the box still waits for its first admin.
    pub async fn user_count(&self) -> Result<u64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.reader)
            .await
            .map_err(StoreError::database("counting users"))
    }

    /// Adds the first user, an admin, only while no user exists; `None` when one does.
    pub async fn create_first_admin(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError> {
        let hash = hash_password(password).await?;
        sqlx::query_as(
            "INSERT INTO users (name, password_hash, role, created_at_ms) \
             SELECT ?, ?, 'admin', ? WHERE NOT EXISTS (SELECT 1 FROM users) \
             RETURNING id, name, role, created_at_ms",
        )
        .bind(name)
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(&self.writer)
        .await
        .map_err(StoreError::database("adding the first admin"))
    }

    /// The user `name`, if there is one.
    pub async fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as("SELECT id, name, role, created_at_ms FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(StoreError::database("reading a user"))
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query_as("SELECT id, name, role, created_at_ms FROM users ORDER BY name")
            .fetch_all(&self.reader)
            .await
            .map_err(StoreError::database("listing users"))
    }

    /// Sets a user's password; false when there is no such user.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<bool, StoreError> {
        let hash = hash_password(password).await?;
        let updated = sqlx::query("UPDATE users SET password_hash = ? WHERE name = ?")
            .bind(hash)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(StoreError::database("setting a password"))?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Sets a user's role; false when there is no such user.
    pub async fn set_role(&self, name: &str, role: Role) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE users SET role = ? WHERE name = ?")
            .bind(role)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(StoreError::database("setting a role"))?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Removes a user; false when there is no such user.
    pub async fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(StoreError::database("removing a user"))?
            .rows_affected();
        Ok(deleted == 1)
    }

    /// The user, when `name` exists and `password` is theirs; `None` otherwise (which of the
    /// two failed is not told).
    pub async fn verify_user(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError> {
        let row: Option<(i64, String, Role, i64, String)> = sqlx::query_as(
            "SELECT id, name, role, created_at_ms, password_hash FROM users WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(StoreError::database("reading a user"))?;
        let (user, hash) = match row {
            Some((id, name, role, created_at_ms, hash)) => (
                Some(User {
                    id,
                    name,
                    role,
                    created_at_ms,
                }),
                Some(hash),
            ),
            None => (None, None),
        };
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            // An unknown name costs a verification too, so its answer takes as long as a
            // wrong password's and does not tell which names exist.
            let hash = hash.as_deref().unwrap_or_else(|| unknown_user_hash());
            PasswordHash::new(hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .map_err(StoreError::HashTask)?;
        Ok(user.filter(|_| matches))
    }
}

impl Store {
    /// Makes an API token; returns it with the token itself, which is not kept and cannot be
    /// shown again. `None` when the name is taken.
    pub async fn create_api_token(
        &self,
        name: &str,
        role: Role,
        created_by: &str,
    ) -> Result<Option<(ApiToken, String)>, StoreError> {
        let bytes: [u8; 32] = rand::random();
        let token = format!("vod_{}", hex(&bytes));
        let made: Option<ApiToken> = sqlx::query_as(
            "INSERT INTO api_tokens (name, token_sha256, role, created_by, created_at_ms) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING \
             RETURNING id, name, role, created_by, created_at_ms",
        )
        .bind(name)
        .bind(token_sha256(&token))
        .bind(role)
        .bind(created_by)
        .bind(now_ms())
        .fetch_optional(&self.writer)
        .await
        .map_err(StoreError::database("adding an API token"))?;
        Ok(made.map(|made| (made, token)))
    }

    /// The token whose secret `token` is, if any.
    pub async fn api_token(&self, token: &str) -> Result<Option<ApiToken>, StoreError> {
        sqlx::query_as(
            "SELECT id, name, role, created_by, created_at_ms FROM api_tokens \
             WHERE token_sha256 = ?",
        )
        .bind(token_sha256(token))
        .fetch_optional(&self.reader)
        .await
        .map_err(StoreError::database("reading an API token"))
    }

    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        sqlx::query_as(
            "SELECT id, name, role, created_by, created_at_ms FROM api_tokens ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::database("listing API tokens"))
    }

    /// Revokes a token; false when there is no such token.
    pub async fn delete_api_token(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM api_tokens WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(StoreError::database("revoking an API token"))?
            .rows_affected();
        Ok(deleted == 1)
    }
}

/// Tokens are long random strings: a plain SHA-256 is enough to keep them unreadable.
fn token_sha256(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A hash of a random password, verified against when the name is unknown.
fn unknown_user_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(salt.as_str().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

/// Hashes off the async threads: Argon2 takes tens of milliseconds by design.
async fn hash_password(password: &str) -> Result<String, StoreError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| StoreError::PasswordHash(error.to_string()))
    })
    .await
    .map_err(StoreError::HashTask)?
}
