//! MFA operations: enrolment, second-factor checks (sign-in and step-up),
//! recovery codes, disabling one's own MFA, and an ADMIN's reset of another
//! user's MFA. Every one is audited; recovery-code use also mails the user.

use chrono::{DateTime, Utc};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::secret_box::{self, Sealed};
use super::{recovery, totp};
use crate::audit::Entry;
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::http::AppState;

/// Why an MFA operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// Wrong, reused or expired code.
    #[error("that code is not valid")]
    InvalidCode,
    /// No second factor is set up.
    #[error("no second factor is set up")]
    NotEnrolled,
    /// Already enrolled (disable or reset first).
    #[error("a second factor is already set up")]
    AlreadyEnrolled,
    /// Not allowed for this user.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// The stored secret cannot be used (key missing or data altered).
    #[error("the stored MFA secret cannot be read")]
    Unreadable(#[from] secret_box::SecretBoxError),
    /// Something else.
    #[error("internal error")]
    Internal(#[from] DomainError),
}

impl From<sqlx::Error> for MfaError {
    fn from(e: sqlx::Error) -> Self {
        MfaError::Internal(DomainError::from(e))
    }
}

/// A second-factor proof.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Proof {
    /// A 6-digit TOTP code.
    #[serde(default)]
    pub code: Option<String>,
    /// A recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// What a new enrolment shows the user.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    /// `otpauth://totp/…` for authenticator apps.
    pub otpauth_uri: String,
    /// The secret in base32, for manual entry.
    pub secret_base32: String,
    /// The URI as a QR code (SVG).
    pub qr_svg: String,
}

#[derive(sqlx::FromRow)]
struct StoredTotp {
    key_id: String,
    nonce: Vec<u8>,
    secret_encrypted: Vec<u8>,
    confirmed_at: Option<DateTime<Utc>>,
    last_used_step: i64,
}

impl StoredTotp {
    fn sealed(&self) -> Sealed {
        Sealed {
            key_id: self.key_id.clone(),
            nonce: self.nonce.clone(),
            ciphertext: self.secret_encrypted.clone(),
        }
    }
}

async fn stored(
    conn: &mut PgConnection,
    user_id: Uuid,
    lock: bool,
) -> Result<Option<StoredTotp>, sqlx::Error> {
    let sql = if lock {
        "SELECT key_id, nonce, secret_encrypted, confirmed_at, last_used_step FROM mfa_totp WHERE user_id = $1 FOR UPDATE"
    } else {
        "SELECT key_id, nonce, secret_encrypted, confirmed_at, last_used_step FROM mfa_totp WHERE user_id = $1"
    };
    sqlx::query_as(sql).bind(user_id).fetch_optional(conn).await
}

/// Whether the user has a confirmed second factor.
pub async fn is_enrolled(conn: &mut PgConnection, user_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await
}

/// Starts (or restarts) enrolment: a new secret, not trusted until confirmed.
pub async fn begin_enrolment(
    state: &AppState,
    actor: &Actor,
    user_id: Uuid,
    email: &str,
) -> Result<Enrolment, MfaError> {
    let mut tx = state.domain.begin().await?;
    if stored(&mut tx, user_id, true).await?.is_some_and(|t| t.confirmed_at.is_some()) {
        return Err(MfaError::AlreadyEnrolled);
    }
    let secret = totp::new_secret();
    let sealed = secret_box::seal(&state.config.mfa_keys, user_id, &secret)?;
    sqlx::query(
        "INSERT INTO mfa_totp (user_id, key_id, nonce, secret_encrypted, confirmed_at, last_used_step, created_at)
         VALUES ($1, $2, $3, $4, NULL, 0, $5)
         ON CONFLICT (user_id) DO UPDATE SET key_id = $2, nonce = $3, secret_encrypted = $4, confirmed_at = NULL,
                                             last_used_step = 0, created_at = $5",
    )
    .bind(user_id)
    .bind(&sealed.key_id)
    .bind(&sealed.nonce)
    .bind(&sealed.ciphertext)
    .bind(state.clock.now())
    .execute(&mut *tx)
    .await?;
    state
        .domain
        .audit(&mut tx, actor, Entry::new("mfa.enrolment_started", "user", user_id, actor_org(actor)))
        .await?;
    tx.commit().await?;
    let otpauth_uri = totp::provisioning_uri(&secret, email)
        .ok_or(MfaError::NotAllowed("cannot build the enrolment URI"))?;
    let qr_svg = QrCode::new(otpauth_uri.as_bytes())
        .map(|qr| qr.render::<svg::Color<'_>>().min_dimensions(220, 220).quiet_zone(true).build())
        .unwrap_or_default();
    Ok(Enrolment { otpauth_uri, secret_base32: totp::base32(&secret), qr_svg })
}

/// Completes enrolment with a code from the new secret; returns the recovery codes (shown once).
pub async fn confirm_enrolment(
    state: &AppState,
    actor: &Actor,
    user_id: Uuid,
    code: &str,
) -> Result<Vec<String>, MfaError> {
    let now = state.clock.now();
    let mut tx = state.domain.begin().await?;
    let pending = stored(&mut tx, user_id, true).await?.ok_or(MfaError::NotEnrolled)?;
    if pending.confirmed_at.is_some() {
        return Err(MfaError::AlreadyEnrolled);
    }
    let secret = secret_box::open(&state.config.mfa_keys, user_id, &pending.sealed())?;
    let Some(step) = totp::accept(&secret, code, now.timestamp(), pending.last_used_step) else {
        state
            .domain
            .audit(
                &mut tx,
                actor,
                Entry::new("mfa.verify_failed", "user", user_id, actor_org(actor))
                    .after(serde_json::json!({ "during": "enrolment" })),
            )
            .await?;
        tx.commit().await?;
        tracing::warn!(event = "mfa_verify_failed", user_id = %user_id, during = "enrolment", "wrong code while enrolling");
        return Err(MfaError::InvalidCode);
    };
    sqlx::query("UPDATE mfa_totp SET confirmed_at = $2, last_used_step = $3 WHERE user_id = $1")
        .bind(user_id)
        .bind(now)
        .bind(step)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE users SET mfa_enrolment_required = false WHERE id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let codes = recovery::replace(&mut tx, user_id, now).await?;
    state.domain.audit(&mut tx, actor, Entry::new("mfa.enrolled", "user", user_id, actor_org(actor))).await?;
    tx.commit().await?;
    Ok(codes)
}

/// How a second factor was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proven {
    /// A TOTP code.
    Totp,
    /// A recovery code (this many left).
    RecoveryCode(i64),
}

/// Checks a proof for `user_id` inside `tx`, consuming it (TOTP step or recovery code).
pub async fn check_proof(
    state: &AppState,
    tx: &mut PgConnection,
    user_id: Uuid,
    proof: &Proof,
) -> Result<Proven, MfaError> {
    let now = state.clock.now();
    if let Some(code) = proof.recovery_code.as_deref().filter(|c| !c.trim().is_empty()) {
        if !is_enrolled(tx, user_id).await? {
            return Err(MfaError::NotEnrolled);
        }
        return match recovery::consume(tx, user_id, code, now).await? {
            Some(left) => Ok(Proven::RecoveryCode(left)),
            None => Err(MfaError::InvalidCode),
        };
    }
    let code = proof.code.as_deref().ok_or(MfaError::InvalidCode)?;
    let enrolled =
        stored(tx, user_id, true).await?.filter(|t| t.confirmed_at.is_some()).ok_or(MfaError::NotEnrolled)?;
    let secret = secret_box::open(&state.config.mfa_keys, user_id, &enrolled.sealed())?;
    let step =
        totp::accept(&secret, code, now.timestamp(), enrolled.last_used_step).ok_or(MfaError::InvalidCode)?;
    sqlx::query("UPDATE mfa_totp SET last_used_step = $2 WHERE user_id = $1")
        .bind(user_id)
        .bind(step)
        .execute(&mut *tx)
        .await?;
    Ok(Proven::Totp)
}

/// Audits a successful proof, and mails the user when a recovery code was used.
pub async fn record_proof(
    state: &AppState,
    tx: &mut PgConnection,
    actor: &Actor,
    user_id: Uuid,
    email: &str,
    proven: Proven,
    purpose: &str,
) -> Result<(), MfaError> {
    match proven {
        Proven::Totp => {
            let entry = Entry::new("mfa.verified", "user", user_id, actor_org(actor))
                .after(serde_json::json!({ "purpose": purpose }));
            state.domain.audit(tx, actor, entry).await?;
        }
        Proven::RecoveryCode(left) => {
            let entry = Entry::new("mfa.recovery_code_used", "user", user_id, actor_org(actor))
                .after(serde_json::json!({ "purpose": purpose, "remaining": left }));
            state.domain.audit(tx, actor, entry).await?;
            tracing::warn!(event = "mfa_recovery_code_used", user_id = %user_id, remaining = left, "recovery code used");
            let state = state.clone();
            let email = email.to_string();
            tokio::spawn(async move {
                let body = format!(
                    "A recovery code was just used to sign in to your SparkMotion account ({left} left).\n\n\
                     If this was not you, reset your password and contact your administrator at once.\n"
                );
                if let Err(e) =
                    state.mailer.send(&email, "A recovery code was used on your account", body).await
                {
                    tracing::error!(event = "mail_failed", error = %e, "could not send the recovery-code notice");
                }
            });
        }
    }
    Ok(())
}

/// New recovery codes (the old set stops working).
pub async fn regenerate_codes(
    state: &AppState,
    actor: &Actor,
    user_id: Uuid,
) -> Result<Vec<String>, MfaError> {
    let mut tx = state.domain.begin().await?;
    if !is_enrolled(&mut tx, user_id).await? {
        return Err(MfaError::NotEnrolled);
    }
    let codes = recovery::replace(&mut tx, user_id, state.clock.now()).await?;
    state
        .domain
        .audit(
            &mut tx,
            actor,
            Entry::new("mfa.recovery_codes_regenerated", "user", user_id, actor_org(actor)),
        )
        .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Removes the user's second factor. For an ADMIN reset of another user,
/// also forces re-enrolment and ends their sessions.
pub async fn remove(
    state: &AppState,
    tx: &mut PgConnection,
    actor: &Actor,
    user_id: Uuid,
    org_id: Option<Uuid>,
    by_admin: bool,
) -> Result<(), MfaError> {
    sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
    if by_admin {
        sqlx::query("UPDATE users SET mfa_enrolment_required = true WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let revoked =
            crate::auth::session::revoke_all(tx, user_id, None, state.clock.now(), "MFA reset").await?;
        let entry = Entry::new("mfa.reset", "user", user_id, org_id)
            .after(serde_json::json!({ "sessions_revoked": revoked }));
        state.domain.audit(tx, actor, entry).await?;
        tracing::warn!(event = "mfa_reset", user_id = %user_id, "an administrator reset a user's MFA");
    } else {
        state.domain.audit(tx, actor, Entry::new("mfa.disabled", "user", user_id, org_id)).await?;
        tracing::warn!(event = "mfa_disabled", user_id = %user_id, "a user disabled their MFA");
    }
    Ok(())
}

fn actor_org(actor: &Actor) -> Option<Uuid> {
    match &actor.principal {
        crate::domain::actor::Principal::User { org_id, .. } => *org_id,
        _ => None,
    }
}
