//! Second-factor endpoints: the sign-in challenge, step-up, enrolment,
//! recovery codes, disabling one's own MFA and an ADMIN's reset of another's.

use crate::http::extract::PathParam;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::json::ApiJson;
use crate::auth::jwt::SessionClaims;
use crate::auth::login;
use crate::auth::session::{self, Stage};
use crate::domain::actor::Role;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::{SessionContext, session_cookie};
use crate::mfa::service::{self, MfaError, Proof};

/// MFA failures as API errors.
pub fn api_error(e: MfaError) -> ApiError {
    match e {
        MfaError::InvalidCode => ApiError::Unprocessable { code: "invalid_code", message: e.to_string() },
        MfaError::NotEnrolled => ApiError::Unprocessable { code: "mfa_not_enrolled", message: e.to_string() },
        MfaError::AlreadyEnrolled => ApiError::Conflict(e.to_string()),
        MfaError::NotAllowed(reason) => ApiError::ForbiddenBecause(reason),
        MfaError::Unreadable(e) => ApiError::Internal(e.into()),
        MfaError::Internal(e) => e.into(),
    }
}

/// The step-up rule: sensitive actions need a second-factor proof from the last 10 minutes.
pub fn require_step_up(state: &AppState, ctx: &SessionContext) -> Result<(), ApiError> {
    if session::has_recent_mfa(&ctx.session, state.clock.now()) {
        Ok(())
    } else {
        Err(ApiError::StepUpRequired)
    }
}

/// The account's lock state, locked for the transaction.
async fn lock_state(
    conn: &mut PgConnection,
    user: Uuid,
) -> Result<(i32, Option<DateTime<Utc>>), sqlx::Error> {
    sqlx::query_as("SELECT failed_logins, locked_until FROM users WHERE id = $1 FOR UPDATE")
        .bind(user)
        .fetch_one(conn)
        .await
}

/// Checks a proof; a wrong one counts towards the same lockout as passwords.
async fn prove(
    state: &AppState,
    ctx: &SessionContext,
    proof: &Proof,
    purpose: &str,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ApiError> {
    let now = state.clock.now();
    let mut tx = state.domain.begin().await?;
    let (failures, locked_until) = lock_state(&mut tx, ctx.user.id).await?;
    if locked_until.is_some_and(|until| until > now) {
        session::revoke(&mut tx, ctx.session.id, now, "account locked").await?;
        tx.commit().await?;
        return Err(ApiError::Unauthorized);
    }
    match service::check_proof(state, &mut tx, ctx.user.id, proof).await {
        Ok(proven) => {
            sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1")
                .bind(ctx.user.id)
                .execute(&mut *tx)
                .await?;
            service::record_proof(state, &mut tx, &ctx.actor, ctx.user.id, &ctx.user.email, proven, purpose)
                .await
                .map_err(api_error)?;
            Ok(tx)
        }
        Err(MfaError::InvalidCode) => {
            let entry = crate::audit::Entry::new("mfa.verify_failed", "user", ctx.user.id, ctx.user.org_id)
                .after(json!({ "purpose": purpose }));
            state.domain.audit(&mut tx, &ctx.actor, entry).await?;
            tracing::warn!(event = "mfa_verify_failed", user_id = %ctx.user.id, purpose, "wrong second-factor code");
            login::count_failure(state, &mut tx, &ctx.actor, ctx.user.id, ctx.user.org_id, failures, now)
                .await
                .map_err(|e| match e {
                    login::LoginError::Internal(e) => ApiError::from(e),
                    _ => ApiError::Unauthorized,
                })?;
            let (_, locked) = lock_state(&mut tx, ctx.user.id).await?;
            if locked.is_some_and(|until| until > now) {
                session::revoke(&mut tx, ctx.session.id, now, "account locked").await?;
            }
            tx.commit().await?;
            Err(api_error(MfaError::InvalidCode))
        }
        Err(e) => Err(api_error(e)),
    }
}

/// Completes a sign-in with a second factor: the pending session ends and a
/// new full one (new id) starts. Returns it and its token.
pub async fn finish_sign_in(
    state: &AppState,
    ctx: &SessionContext,
    proof: &Proof,
) -> Result<(session::Session, String), ApiError> {
    let mut tx = prove(state, ctx, proof, "sign_in").await?;
    let now = state.clock.now();
    session::revoke(&mut tx, ctx.session.id, now, "second factor passed").await?;
    let full = session::create(
        &mut tx,
        ctx.user.id,
        Stage::Full,
        now,
        ctx.session.ip_hash.as_deref(),
        ctx.session.user_agent.as_deref(),
    )
    .await?;
    session::mark_mfa(&mut tx, full.id, now).await?;
    tx.commit().await?;
    let token = state.jwt.issue(SessionClaims { sid: full.id, sub: ctx.user.id }, now);
    Ok((full, token))
}

/// Records a step-up proof in the current session.
pub async fn step_up_session(state: &AppState, ctx: &SessionContext, proof: &Proof) -> Result<(), ApiError> {
    let mut tx = prove(state, ctx, proof, "step_up").await?;
    session::mark_mfa(&mut tx, ctx.session.id, state.clock.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// `POST /api/v1/auth/mfa`: the second step of sign-in; answers a new, full session.
pub async fn challenge(
    State(state): State<AppState>,
    ctx: SessionContext,
    ApiJson(proof): ApiJson<Proof>,
) -> Result<Response, ApiError> {
    let (full, token) = finish_sign_in(&state, &ctx, &proof).await?;
    let mut response = Json(json!({ "user": ctx.user, "csrf_token": full.csrf_token, "stage": Stage::Full }))
        .into_response();
    response.headers_mut().append(header::SET_COOKIE, session_cookie(&state.config, &token));
    Ok(response)
}

/// `POST /api/v1/auth/step-up`: re-prove the second factor for sensitive actions.
pub async fn step_up(
    State(state): State<AppState>,
    ctx: SessionContext,
    ApiJson(proof): ApiJson<Proof>,
) -> Result<StatusCode, ApiError> {
    step_up_session(&state, &ctx, &proof).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me/mfa`.
pub async fn status(
    State(state): State<AppState>,
    ctx: SessionContext,
) -> Result<Json<serde_json::Value>, ApiError> {
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(ctx.user.id)
            .fetch_one(&state.domain.db)
            .await?;
    Ok(Json(
        json!({ "enrolled": ctx.user.mfa_enrolled, "required": ctx.user.mfa_required, "recovery_codes_left": left }),
    ))
}

/// `POST /api/v1/me/mfa/enrol`: a new secret, its `otpauth://` URI and a QR code.
pub async fn enrol(
    State(state): State<AppState>,
    ctx: SessionContext,
) -> Result<Json<service::Enrolment>, ApiError> {
    Ok(Json(
        service::begin_enrolment(&state, &ctx.actor, ctx.user.id, &ctx.user.email)
            .await
            .map_err(api_error)?,
    ))
}

/// Enrolment confirmation body.
#[derive(Deserialize)]
pub struct CodeBody {
    code: String,
}

/// `POST /api/v1/me/mfa/confirm`: completes enrolment; answers the recovery codes (shown once).
pub async fn confirm(
    State(state): State<AppState>,
    ctx: SessionContext,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let codes =
        service::confirm_enrolment(&state, &ctx.actor, ctx.user.id, &body.code).await.map_err(api_error)?;
    let mut conn = state.domain.db.acquire().await?;
    session::mark_mfa(&mut conn, ctx.session.id, state.clock.now()).await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

/// `POST /api/v1/me/mfa/recovery-codes`: a new set (needs step-up); the old set stops working.
pub async fn regenerate(
    State(state): State<AppState>,
    ctx: SessionContext,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_step_up(&state, &ctx)?;
    let codes = service::regenerate_codes(&state, &ctx.actor, ctx.user.id).await.map_err(api_error)?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

/// Disable body: the password and a second-factor proof.
#[derive(Deserialize)]
pub struct DisableBody {
    password: SecretString,
    #[serde(flatten)]
    proof: Proof,
}

/// `POST /api/v1/me/mfa/disable`: impossible for ADMINs and where the organisation requires MFA.
pub async fn disable(
    State(state): State<AppState>,
    ctx: SessionContext,
    ApiJson(body): ApiJson<DisableBody>,
) -> Result<StatusCode, ApiError> {
    disable_own_mfa(&state, &ctx, body.password, &body.proof).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns off the caller's own MFA (API and dashboard): the password and a proof.
pub async fn disable_own_mfa(
    state: &AppState,
    ctx: &SessionContext,
    password: SecretString,
    proof: &Proof,
) -> Result<(), ApiError> {
    if ctx.user.role() == Role::Admin {
        return Err(ApiError::ForbiddenBecause("administrators cannot turn off two-factor authentication"));
    }
    if ctx.user.mfa_required {
        return Err(ApiError::ForbiddenBecause("your organisation requires two-factor authentication"));
    }
    // The password counts towards the lockout like the code (in `prove`): a
    // stolen session must not be a way to guess either without limit.
    super::auth::recheck_password(state, ctx, password, "the password is wrong").await?;
    let mut tx = prove(state, ctx, proof, "disable").await?;
    service::remove(state, &mut tx, &ctx.actor, ctx.user.id, ctx.user.org_id, false)
        .await
        .map_err(api_error)?;
    tx.commit().await?;
    Ok(())
}

/// `POST /api/v1/users/{id}/mfa/reset` (ADMIN, step-up): the user must enrol again at next sign-in.
pub async fn admin_reset(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<StatusCode, ApiError> {
    reset_user_mfa(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An ADMIN's reset of another user's MFA (API and dashboard; needs step-up).
pub async fn reset_user_mfa(state: &AppState, ctx: &SessionContext, id: Uuid) -> Result<(), ApiError> {
    require_step_up(state, ctx)?;
    let target = state.domain.get_user(&ctx.actor, id).await?;
    if target.id == ctx.user.id {
        return Err(ApiError::ForbiddenBecause("reset another administrator's MFA, not your own"));
    }
    let mut tx = state.domain.begin().await?;
    service::remove(state, &mut tx, &ctx.actor, target.id, target.org_id, true).await.map_err(api_error)?;
    tx.commit().await?;
    Ok(())
}
