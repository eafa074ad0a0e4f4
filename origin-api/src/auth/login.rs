//! Signing in with email and password, with account lockout.
//!
//! Five consecutive failures lock the account for 15 minutes (state in
//! Postgres, so it holds across replicas and restarts). The answer never
//! tells whether the account exists, is locked or is deactivated, and an
//! unknown account costs the same password-hashing work as a known one.
//! Every failure, lockout and unlock is an audit row and a WARN log line with
//! a stable `event` field to alert on. Per-IP throttling on top stops one
//! address from spraying many accounts.
//!
//! Wrong second-factor codes, and wrong passwords given inside a session
//! (changing the password, turning off MFA), count towards the same lockout.
//! For a user with a second factor a right password is only half the proof,
//! so it does not clear the count: only a right second factor does.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::PgConnection;
use uuid::Uuid;

use super::client::Client;
use super::password::{self, Verified};
use super::session::{self, AuthUser, Session, Stage};
use crate::audit::Entry;
use crate::domain::DomainError;
use crate::domain::actor::{Actor, Principal};
use crate::http::AppState;
use crate::ratelimit::{Decision, Quota};

/// Consecutive failures that lock an account.
pub const MAX_FAILURES: i32 = 5;
/// Lock duration.
pub const LOCK_MINUTES: i64 = 15;
/// Sign-in attempts per client IP (any accounts): a burst of 20, refilling
/// one every 15 seconds (GCRA: 20 per 5 minutes, sustained).
pub const IP_QUOTA: Quota = Quota::new(20, Duration::from_secs(300));

/// Why sign-in failed (deliberately coarse towards the client).
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong email or password, locked, or deactivated: the client cannot tell which.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many attempts from this client.
    #[error("too many sign-in attempts; try again later")]
    Throttled {
        /// When to try again.
        retry_after: Duration,
    },
    /// Something broke.
    #[error("internal error")]
    Internal(#[from] DomainError),
}

impl From<sqlx::Error> for LoginError {
    fn from(e: sqlx::Error) -> Self {
        LoginError::Internal(DomainError::from(e))
    }
}

/// A successful password step.
pub struct LoggedIn {
    /// The new session (a fresh id: no fixation).
    pub session: Session,
    /// Its user.
    pub user: AuthUser,
}

#[derive(sqlx::FromRow)]
struct Candidate {
    id: Uuid,
    email: String,
    name: String,
    role: String,
    org_id: Option<Uuid>,
    password_hash: String,
    deactivated_at: Option<DateTime<Utc>>,
}

/// The actor for audit rows about a sign-in attempt.
fn attempt_actor(client: &Client, request_id: Option<String>, user: Option<&Candidate>) -> Actor {
    let principal = match user {
        Some(c) => Principal::User {
            id: c.id,
            role: crate::domain::actor::Role::parse(&c.role).unwrap_or(crate::domain::actor::Role::Customer),
            org_id: c.org_id,
            email: c.email.clone(),
        },
        None => Principal::Anonymous,
    };
    Actor {
        principal,
        request_id,
        ip_hash: Some(client.ip_hash.clone()),
        user_agent: Some(client.user_agent.clone()),
    }
}

/// Checks email and password; on success starts a session — full, or
/// pending a second factor when the user has one.
pub async fn login(
    state: &AppState,
    email: &str,
    password: SecretString,
    client: &Client,
    request_id: Option<String>,
) -> Result<LoggedIn, LoginError> {
    let now = state.clock.now();
    if let Decision::Deny { retry_after } =
        state.limiter.check(&format!("login:ip:{}", client.ip), IP_QUOTA, now).await
    {
        tracing::warn!(event = "login_throttled", ip_hash = %client.ip_hash, "sign-in attempts throttled for a client");
        return Err(LoginError::Throttled { retry_after });
    }
    let db = &state.domain.db;
    // Postgres text cannot hold NUL: such an address names no account (and
    // must not reach the query, which would fail as a 500).
    let candidate: Option<Candidate> = if email.contains('\0') {
        None
    } else {
        sqlx::query_as(
            "SELECT id, email, name, role, org_id, password_hash, deactivated_at
             FROM users WHERE lower(email) = lower($1) AND deleted_at IS NULL",
        )
        .bind(email.trim())
        .fetch_optional(db)
        .await?
    };
    // Always do the hashing work, so timing does not reveal whether the account exists.
    let verified =
        password::verify(password.clone(), candidate.as_ref().map(|c| c.password_hash.clone())).await;
    let actor = attempt_actor(client, request_id, candidate.as_ref());
    let mut tx = db.begin().await?;

    let Some(user) = candidate else {
        let entry = Entry::new("auth.login_failed", "account", "unknown", None)
            .after(serde_json::json!({ "reason": "unknown account" }));
        state.domain.audit(&mut tx, &actor, entry).await?;
        tx.commit().await?;
        tracing::warn!(event = "login_failed", reason = "unknown_account", ip_hash = %client.ip_hash, "sign-in failed");
        return Err(LoginError::InvalidCredentials);
    };

    // Serialise attempts on one account across replicas.
    let (mut failures, locked_until): (i32, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT failed_logins, locked_until FROM users WHERE id = $1 FOR UPDATE")
            .bind(user.id)
            .fetch_one(&mut *tx)
            .await?;
    match locked_until {
        Some(until) if until > now => {
            state
                .domain
                .audit(&mut tx, &actor, Entry::new("auth.login_locked", "user", user.id, user.org_id))
                .await?;
            tx.commit().await?;
            tracing::warn!(event = "login_locked", user_id = %user.id, "sign-in attempt on a locked account");
            return Err(LoginError::InvalidCredentials);
        }
        Some(_) => {
            sqlx::query("UPDATE users SET locked_until = NULL, failed_logins = 0 WHERE id = $1")
                .bind(user.id)
                .execute(&mut *tx)
                .await?;
            state
                .domain
                .audit(&mut tx, &actor, Entry::new("auth.account_unlocked", "user", user.id, user.org_id))
                .await?;
            tracing::warn!(event = "account_unlocked", user_id = %user.id, "account lock expired");
            failures = 0;
        }
        None => {}
    }
    if user.deactivated_at.is_some() {
        state
            .domain
            .audit(
                &mut tx,
                &actor,
                Entry::new("auth.login_refused_deactivated", "user", user.id, user.org_id),
            )
            .await?;
        tx.commit().await?;
        tracing::warn!(event = "login_failed", reason = "deactivated", user_id = %user.id, "sign-in failed");
        return Err(LoginError::InvalidCredentials);
    }
    if verified == Verified::No {
        count_failure(state, &mut tx, &actor, user.id, user.org_id, failures, now).await?;
        tx.commit().await?;
        return Err(LoginError::InvalidCredentials);
    }

    let enrolled = crate::mfa::service::is_enrolled(&mut tx, user.id).await?;
    // With a second factor due, the count runs on until it is proven (see
    // `api::mfa`): clearing it here would let someone who has the password
    // sign in again after every four wrong codes and guess codes for ever.
    if !enrolled {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
    }
    if verified == Verified::YesRehash {
        let upgraded =
            password::hash(password).await.map_err(|e| DomainError::invalid("password", e.to_string()))?;
        sqlx::query("UPDATE users SET password_hash = $2, password_scheme = 'argon2id' WHERE id = $1")
            .bind(user.id)
            .bind(&upgraded)
            .execute(&mut *tx)
            .await?;
        state
            .domain
            .audit(&mut tx, &actor, Entry::new("auth.password_rehashed", "user", user.id, user.org_id))
            .await?;
    }
    let stage = if enrolled { Stage::MfaPending } else { Stage::Full };
    // Same rule as the session loader: ADMINs, flagged users and members of organisations that require it.
    let mfa_required: bool = sqlx::query_scalar(
        "SELECT u.role = 'ADMIN' OR u.mfa_enrolment_required OR coalesce(o.mfa_required, false)
         FROM users u LEFT JOIN organizations o ON o.id = u.org_id WHERE u.id = $1",
    )
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await?;
    let auth_user = AuthUser {
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        org_id: user.org_id,
        mfa_enrolled: enrolled,
        mfa_required,
    };
    let session =
        session::create(&mut tx, user.id, stage, now, Some(&client.ip_hash), Some(&client.user_agent))
            .await?;
    let entry = Entry::new("auth.login_succeeded", "user", user.id, user.org_id)
        .after(serde_json::json!({ "session_id": session.id, "stage": stage }));
    state.domain.audit(&mut tx, &actor, entry).await?;
    tx.commit().await?;
    tracing::info!(event = "login_succeeded", user_id = %auth_user.id, session_id = %session.id, "signed in");
    Ok(LoggedIn { session, user: auth_user })
}

/// Counts a failed proof (a wrong password, or a wrong second factor) for
/// `user_id` inside `tx`; the fifth in a row locks the account. Answers
/// whether this one did.
pub async fn count_failure(
    state: &AppState,
    tx: &mut PgConnection,
    actor: &Actor,
    user_id: Uuid,
    org_id: Option<Uuid>,
    failures_before: i32,
    now: DateTime<Utc>,
) -> Result<bool, LoginError> {
    let failures = failures_before + 1;
    if failures >= MAX_FAILURES {
        let until = now + chrono::Duration::minutes(LOCK_MINUTES);
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = $2 WHERE id = $1")
            .bind(user_id)
            .bind(until)
            .execute(&mut *tx)
            .await?;
        let entry = Entry::new("auth.lockout", "user", user_id, org_id)
            .after(serde_json::json!({ "failures": failures, "locked_until": until }));
        state.domain.audit(tx, actor, entry).await?;
        tracing::warn!(event = "account_locked", user_id = %user_id, locked_until = %until, "account locked after repeated failures");
    } else {
        sqlx::query("UPDATE users SET failed_logins = $2 WHERE id = $1")
            .bind(user_id)
            .bind(failures)
            .execute(&mut *tx)
            .await?;
        let entry = Entry::new("auth.login_failed", "user", user_id, org_id)
            .after(serde_json::json!({ "failures": failures }));
        state.domain.audit(tx, actor, entry).await?;
        tracing::warn!(event = "login_failed", reason = "bad_credentials", user_id = %user_id, failures, "sign-in failed");
    }
    Ok(failures >= MAX_FAILURES)
}

/// Why re-checking a signed-in user's password failed.
#[derive(Debug, thiserror::Error)]
pub enum RecheckError {
    /// The password is wrong (counted; it may have locked the account).
    #[error("the password is wrong")]
    Wrong,
    /// The account is locked: the password was not even looked at.
    #[error("the account is locked")]
    Locked,
    /// Something broke.
    #[error("internal error")]
    Internal(#[from] DomainError),
}

impl From<sqlx::Error> for RecheckError {
    fn from(e: sqlx::Error) -> Self {
        RecheckError::Internal(DomainError::from(e))
    }
}

/// Re-checks the password of a signed-in user before a sensitive change.
/// A wrong one counts like a failed sign-in, so a stolen session cannot guess
/// the password without limit; the one that locks the account also ends all
/// of the user's sessions. A locked account gets no answer about its password.
pub async fn recheck_password(
    state: &AppState,
    actor: &Actor,
    user_id: Uuid,
    org_id: Option<Uuid>,
    password: SecretString,
) -> Result<(), RecheckError> {
    let now = state.clock.now();
    let db = &state.domain.db;
    let (stored, locked_until): (String, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT password_hash, locked_until FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(db)
            .await?;
    if locked_until.is_some_and(|until| until > now) {
        return Err(RecheckError::Locked);
    }
    if password::verify(password, Some(stored)).await != Verified::No {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    let (failures, locked_until): (i32, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT failed_logins, locked_until FROM users WHERE id = $1 FOR UPDATE")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
    // Another request may have locked it while the hash was being checked.
    if locked_until.is_some_and(|until| until > now) {
        return Err(RecheckError::Locked);
    }
    let locked =
        count_failure(state, &mut tx, actor, user_id, org_id, failures, now).await.map_err(|e| match e {
            LoginError::Internal(e) => RecheckError::Internal(e),
            // Counting only ever fails internally.
            LoginError::InvalidCredentials | LoginError::Throttled { .. } => RecheckError::Wrong,
        })?;
    if locked {
        session::revoke_all(&mut tx, user_id, None, now, "account locked").await?;
    }
    tx.commit().await?;
    Err(RecheckError::Wrong)
}
