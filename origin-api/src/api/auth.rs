//! `/api/v1/auth/*` and `/api/v1/me*`: sign-in, sign-out, password reset and change.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::json::ApiJson;
use crate::audit::Entry;
use crate::auth::client::Client;
use crate::auth::jwt::SessionClaims;
use crate::auth::login::{self, LoginError, RecheckError};
use crate::auth::password;
use crate::auth::policy;
use crate::auth::reset::{self, ResetError};
use crate::auth::session::{self, Stage};
use crate::domain::DomainError;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::request_id::RequestId;
use crate::http::session_auth::{SessionContext, clear_cookie, session_cookie};

/// Sign-in body.
#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: SecretString,
}

/// `POST /api/v1/auth/login`.
pub async fn login_handler(
    State(state): State<AppState>,
    client: Client,
    request_id: Option<axum::Extension<RequestId>>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let request_id = request_id.map(|r| r.0.0);
    let logged_in =
        login::login(&state, &body.email, body.password, &client, request_id).await.map_err(|e| match e {
            LoginError::InvalidCredentials => ApiError::InvalidCredentials,
            LoginError::Throttled { retry_after } => ApiError::TooManyRequests { retry_after },
            LoginError::Internal(e) => e.into(),
        })?;
    let token = state
        .jwt
        .issue(SessionClaims { sid: logged_in.session.id, sub: logged_in.user.id }, state.clock.now());
    let mut response = Json(json!({
        "user": logged_in.user,
        "csrf_token": logged_in.session.csrf_token,
        "stage": logged_in.session.stage,
    }))
    .into_response();
    response.headers_mut().append(header::SET_COOKIE, session_cookie(&state.config, &token));
    Ok(response)
}

/// `POST /api/v1/auth/logout`.
pub async fn logout(State(state): State<AppState>, ctx: SessionContext) -> Result<Response, ApiError> {
    let mut tx = state.domain.begin().await?;
    session::revoke(&mut tx, ctx.session.id, state.clock.now(), "logout").await?;
    state
        .domain
        .audit(&mut tx, &ctx.actor, Entry::new("auth.logout", "user", ctx.user.id, ctx.user.org_id))
        .await?;
    tx.commit().await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().append(header::SET_COOKIE, clear_cookie(&state.config));
    Ok(response)
}

/// `GET /api/v1/me`.
pub async fn me(ctx: SessionContext) -> Json<serde_json::Value> {
    Json(json!({ "user": ctx.user, "session": ctx.session, "csrf_token": ctx.session.csrf_token }))
}

/// Reset request body.
#[derive(Deserialize)]
pub struct ResetRequestBody {
    email: String,
}

/// The one answer every reset request gets.
const RESET_ANSWER: &str = "If an account exists for that address, a reset link is on its way.";

/// `POST /api/v1/auth/password-reset`: always 202 with the same body.
pub async fn reset_request(
    State(state): State<AppState>,
    client: Client,
    request_id: Option<axum::Extension<RequestId>>,
    ApiJson(body): ApiJson<ResetRequestBody>,
) -> Response {
    if let crate::ratelimit::Decision::Deny { .. } =
        state.limiter.check(&format!("reset:ip:{}", client.ip), login::IP_QUOTA, state.clock.now()).await
    {
        tracing::warn!(event = "reset_throttled_ip", ip_hash = %client.ip_hash, "reset requests throttled for a client");
    } else {
        reset::request(&state, body.email, client, request_id.map(|r| r.0.0));
    }
    (StatusCode::ACCEPTED, Json(json!({ "message": RESET_ANSWER }))).into_response()
}

/// Reset completion body.
#[derive(Deserialize)]
pub struct ResetCompleteBody {
    token: String,
    password: SecretString,
}

/// `POST /api/v1/auth/password-reset/complete`.
pub async fn reset_complete(
    State(state): State<AppState>,
    client: Client,
    request_id: Option<axum::Extension<RequestId>>,
    ApiJson(body): ApiJson<ResetCompleteBody>,
) -> Result<StatusCode, ApiError> {
    reset::complete(&state, &body.token, body.password, &client, request_id.map(|r| r.0.0)).await.map_err(
        |e| match e {
            ResetError::InvalidToken => ApiError::bad_request("invalid_token", e.to_string()),
            ResetError::Policy(p) => ApiError::unprocessable("weak_password", p.to_string()),
            ResetError::Internal(e) => e.into(),
        },
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// Password change body.
#[derive(Deserialize)]
pub struct ChangePasswordBody {
    current_password: SecretString,
    new_password: SecretString,
}

/// `POST /api/v1/me/password`: needs the current password; ends every other
/// session and moves this one to a new id.
pub async fn change_password(
    State(state): State<AppState>,
    ctx: SessionContext,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> Result<Response, ApiError> {
    let (csrf_token, token) =
        change_own_password(&state, &ctx, body.current_password, body.new_password).await?;
    let mut response = Json(json!({ "csrf_token": csrf_token })).into_response();
    response.headers_mut().append(header::SET_COOKIE, session_cookie(&state.config, &token));
    Ok(response)
}

/// Re-checks the signed-in caller's password before a sensitive change.
/// Guessing it from a stolen session counts like failed sign-ins; a locked
/// account makes no change, and this session ends (as in `mfa::prove`).
pub async fn recheck_password(
    state: &AppState,
    ctx: &SessionContext,
    password: SecretString,
    wrong: &'static str,
) -> Result<(), ApiError> {
    match login::recheck_password(state, &ctx.actor, ctx.user.id, ctx.user.org_id, password).await {
        Ok(()) => Ok(()),
        Err(RecheckError::Wrong) => Err(ApiError::unprocessable("wrong_password", wrong)),
        Err(RecheckError::Locked) => {
            let mut conn = state.domain.db.acquire().await?;
            session::revoke(&mut conn, ctx.session.id, state.clock.now(), "account locked").await?;
            Err(ApiError::Unauthorized)
        }
        Err(RecheckError::Internal(e)) => Err(e.into()),
    }
}

/// Changes the caller's password (API and dashboard): answers the new
/// session's CSRF token and its signed token.
pub async fn change_own_password(
    state: &AppState,
    ctx: &SessionContext,
    current_password: SecretString,
    new_password: SecretString,
) -> Result<(String, String), ApiError> {
    recheck_password(state, ctx, current_password, "the current password is wrong").await?;
    let mut tx = state.domain.begin().await?;
    let org = reset::org_name(&mut tx, ctx.user.org_id).await?;
    policy::check(new_password.expose_secret(), &[&ctx.user.email, &ctx.user.name, &org])
        .map_err(|e| ApiError::unprocessable("weak_password", e.to_string()))?;
    let hash =
        password::hash(new_password).await.map_err(|e| DomainError::invalid("password", e.to_string()))?;
    reset::set_password(
        state,
        &mut tx,
        &ctx.actor,
        ctx.user.id,
        ctx.user.org_id,
        &hash,
        None,
        "password changed",
    )
    .await?;
    let now = state.clock.now();
    let fresh = session::create(
        &mut tx,
        ctx.user.id,
        Stage::Full,
        now,
        ctx.session.ip_hash.as_deref(),
        ctx.session.user_agent.as_deref(),
    )
    .await?;
    state
        .domain
        .audit(&mut tx, &ctx.actor, Entry::new("auth.password_changed", "user", ctx.user.id, ctx.user.org_id))
        .await?;
    tx.commit().await?;
    let token = state.jwt.issue(SessionClaims { sid: fresh.id, sub: ctx.user.id }, now);
    Ok((fresh.csrf_token, token))
}
