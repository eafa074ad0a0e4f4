//! Password reset by emailed link.
//!
//! A request always gets the same answer, immediately (the work happens
//! after the response, so timing reveals nothing either). At most three
//! requests per account per hour. Tokens are 256 random bits, stored only as
//! SHA-256, valid 30 minutes, single use, and void once a newer token is
//! issued or the password changes by any route. Completing a reset ends every
//! session of the user.

use chrono::Duration;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::client::Client;
use super::policy::{self, PolicyError};
use super::{password, session};
use crate::audit::Entry;
use crate::domain::DomainError;
use crate::domain::actor::{Actor, Principal, Role};
use crate::http::AppState;

/// Token lifetime.
pub const TOKEN_MINUTES: i64 = 30;
/// Requests per account per hour.
pub const MAX_PER_HOUR: i64 = 3;

/// Why a reset could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, used, voided or expired token (never says which).
    #[error("this reset link is invalid or has expired")]
    InvalidToken,
    /// The new password breaks the policy.
    #[error("{0}")]
    Policy(#[from] PolicyError),
    /// Something broke.
    #[error("internal error")]
    Internal(#[from] DomainError),
}

impl From<sqlx::Error> for ResetError {
    fn from(e: sqlx::Error) -> Self {
        ResetError::Internal(DomainError::from(e))
    }
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Accepts a reset request for `email`; the outcome is the same for every
/// address and the work (lookup, token, mail) happens after the answer.
pub fn request(state: &AppState, email: String, client: Client, request_id: Option<String>) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = issue(&state, &email, &client, request_id).await {
            tracing::error!(error = %e, "password reset request failed");
        }
    });
}

#[derive(sqlx::FromRow)]
struct Target {
    id: Uuid,
    email: String,
    role: String,
    org_id: Option<Uuid>,
}

/// Creates a token and mails the link, unless the account is unknown or over its hourly allowance.
pub async fn issue(
    state: &AppState,
    email: &str,
    client: &Client,
    request_id: Option<String>,
) -> Result<(), ResetError> {
    let now = state.clock.now();
    let mut tx = state.domain.begin().await?;
    // Postgres text cannot hold NUL: such an address names no account (and
    // must not reach the query, which would fail and log an error).
    let target: Option<Target> = if email.contains('\0') {
        None
    } else {
        sqlx::query_as(
            "SELECT id, email, role, org_id FROM users
             WHERE lower(email) = lower($1) AND deleted_at IS NULL AND deactivated_at IS NULL FOR UPDATE",
        )
        .bind(email.trim())
        .fetch_optional(&mut *tx)
        .await?
    };
    let Some(user) = target else {
        tracing::info!(event = "password_reset_unknown", ip_hash = %client.ip_hash, "reset requested for an unknown address");
        return Ok(());
    };
    let actor = Actor {
        principal: Principal::User {
            id: user.id,
            role: Role::parse(&user.role).unwrap_or(Role::Customer),
            org_id: user.org_id,
            email: user.email.clone(),
        },
        request_id,
        ip_hash: Some(client.ip_hash.clone()),
        user_agent: Some(client.user_agent.clone()),
    };
    let recent: i64 =
        sqlx::query_scalar("SELECT count(*) FROM password_resets WHERE user_id = $1 AND created_at > $2")
            .bind(user.id)
            .bind(now - Duration::hours(1))
            .fetch_one(&mut *tx)
            .await?;
    if recent >= MAX_PER_HOUR {
        state
            .domain
            .audit(&mut tx, &actor, Entry::new("auth.reset_throttled", "user", user.id, user.org_id))
            .await?;
        tx.commit().await?;
        tracing::warn!(event = "reset_burst", user_id = %user.id, "password reset requests over the hourly limit");
        return Ok(());
    }
    let token = session::random_token();
    sqlx::query("UPDATE password_resets SET voided_at = $2 WHERE user_id = $1 AND used_at IS NULL AND voided_at IS NULL")
        .bind(user.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(Uuid::now_v7())
        .bind(user.id)
        .bind(token_hash(&token))
        .bind(now)
        .bind(now + Duration::minutes(TOKEN_MINUTES))
        .execute(&mut *tx)
        .await?;
    state
        .domain
        .audit(&mut tx, &actor, Entry::new("auth.reset_requested", "user", user.id, user.org_id))
        .await?;
    tx.commit().await?;
    let mut link = state.config.public_url.clone();
    link.set_path("/reset-password");
    link.query_pairs_mut().clear().append_pair("token", &token);
    let body = format!(
        "Someone (hopefully you) asked to reset the password of your SparkMotion account.\n\n\
         Open this link within {TOKEN_MINUTES} minutes to choose a new password:\n\n{link}\n\n\
         If you did not ask, ignore this message: your password stays as it is.\n"
    );
    if let Err(e) = state.mailer.send(&user.email, "Reset your SparkMotion password", body).await {
        tracing::error!(event = "mail_failed", error = %e, user_id = %user.id, "could not send the reset email");
    }
    Ok(())
}

/// Sets a new password with a reset token; ends every session of the user.
pub async fn complete(
    state: &AppState,
    token: &str,
    new_password: SecretString,
    client: &Client,
    request_id: Option<String>,
) -> Result<(), ResetError> {
    let now = state.clock.now();
    let mut tx = state.domain.begin().await?;
    let found: Option<(Uuid, Uuid, String, String, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT r.id, u.id, u.email, u.name, u.role, u.org_id
         FROM password_resets r JOIN users u ON u.id = r.user_id
         WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.voided_at IS NULL AND r.expires_at > $2
           AND u.deleted_at IS NULL AND u.deactivated_at IS NULL
         FOR UPDATE OF r",
    )
    .bind(token_hash(token.trim()))
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((reset_id, user_id, email, name, role, org_id)) = found else {
        tracing::warn!(event = "reset_token_rejected", ip_hash = %client.ip_hash, "invalid password reset token");
        return Err(ResetError::InvalidToken);
    };
    let org_name = org_name(&mut tx, org_id).await?;
    policy::check(new_password.expose_secret(), &[&email, &name, &org_name])?;
    let hash =
        password::hash(new_password).await.map_err(|e| DomainError::invalid("password", e.to_string()))?;
    sqlx::query("UPDATE password_resets SET used_at = $2 WHERE id = $1")
        .bind(reset_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let actor = Actor {
        principal: Principal::User {
            id: user_id,
            role: Role::parse(&role).unwrap_or(Role::Customer),
            org_id,
            email,
        },
        request_id,
        ip_hash: Some(client.ip_hash.clone()),
        user_agent: Some(client.user_agent.clone()),
    };
    let revoked =
        set_password(state, &mut tx, &actor, user_id, org_id, &hash, None, "password reset").await?;
    let entry = Entry::new("auth.reset_completed", "user", user_id, org_id)
        .after(serde_json::json!({ "sessions_revoked": revoked }));
    state.domain.audit(&mut tx, &actor, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// The organisation's name (a policy input), or "" for platform users.
pub async fn org_name(conn: &mut sqlx::PgConnection, org_id: Option<Uuid>) -> Result<String, sqlx::Error> {
    match org_id {
        Some(org) => Ok(sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
            .bind(org)
            .fetch_optional(conn)
            .await?
            .unwrap_or_default()),
        None => Ok(String::new()),
    }
}

/// Stores a new password hash and does what every password change must:
/// voids outstanding reset tokens, clears lockout, and ends the user's
/// sessions (all but `keep`). Returns how many sessions ended.
#[allow(clippy::too_many_arguments)]
pub async fn set_password(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    actor: &Actor,
    user_id: Uuid,
    org_id: Option<Uuid>,
    hash: &str,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<u64, DomainError> {
    let now = state.clock.now();
    sqlx::query(
        "UPDATE users SET password_hash = $2, password_scheme = 'argon2id', password_changed_at = $3,
                failed_logins = 0, locked_until = NULL WHERE id = $1",
    )
    .bind(user_id)
    .bind(hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE password_resets SET voided_at = $2 WHERE user_id = $1 AND used_at IS NULL AND voided_at IS NULL")
        .bind(user_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let revoked = session::revoke_all(conn, user_id, keep, now, reason).await?;
    if revoked > 0 {
        let entry = Entry::new("auth.sessions_revoked", "user", user_id, org_id)
            .after(serde_json::json!({ "count": revoked, "reason": reason }));
        state.domain.audit(conn, actor, entry).await?;
    }
    Ok(revoked)
}
