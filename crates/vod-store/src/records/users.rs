//! Users of the web page, with Argon2id password hashes.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sqlx::FromRow;

use crate::error::StoreError;
use crate::jobs::now_ms;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum Role {
    Technician,
    Admin,
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
