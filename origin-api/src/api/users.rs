//! `/api/v1/users` (ADMIN): invite, list, change role, deactivate.

use crate::http::extract::PathParam;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rand::RngCore;
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use super::json::ApiJson;
use crate::auth::client::Client;
use crate::auth::reset;
use crate::domain::actor::Role;
use crate::domain::users::{NewUser, User, UserPatch};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::SessionContext;

/// `GET /api/v1/users`.
pub async fn list(State(state): State<AppState>, ctx: SessionContext) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.domain.list_users(&ctx.actor).await?))
}

/// Invitation body.
#[derive(Deserialize)]
pub struct InviteBody {
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Organisation (CUSTOMERs).
    pub org_id: Option<Uuid>,
}

/// `POST /api/v1/users`: creates the user with an unusable random password and
/// mails them a reset link to choose their own (the invitation).
pub async fn invite(
    State(state): State<AppState>,
    ctx: SessionContext,
    client: Client,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    Ok((StatusCode::CREATED, Json(invite_user(&state, &ctx, &client, body).await?)))
}

/// Creates a user and mails the invitation (API and dashboard).
pub async fn invite_user(
    state: &AppState,
    ctx: &SessionContext,
    client: &Client,
    body: InviteBody,
) -> Result<User, ApiError> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let input = NewUser {
        email: body.email,
        name: body.name,
        role: body.role,
        org_id: body.org_id,
        password: SecretString::from(hex::encode(secret)),
    };
    let user = state.domain.create_user(&ctx.actor, input).await?;
    if let Err(e) = reset::issue(state, &user.email, client, ctx.actor.request_id.clone()).await {
        tracing::error!(error = %e, user_id = %user.id, "could not send the invitation");
    }
    Ok(user)
}

/// `GET /api/v1/users/{id}`.
pub async fn get(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.domain.get_user(&ctx.actor, id).await?))
}

/// `PATCH /api/v1/users/{id}`: role, organisation or name (a role or organisation change needs step-up).
pub async fn update(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    ApiJson(body): ApiJson<UserPatch>,
) -> Result<Json<User>, ApiError> {
    if body.role.is_some() || body.org_id.is_some() {
        super::mfa::require_step_up(&state, &ctx)?;
    }
    Ok(Json(state.domain.update_user(&ctx.actor, id, body).await?))
}

/// `POST /api/v1/users/{id}/deactivate` (needs step-up).
pub async fn deactivate(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<User>, ApiError> {
    super::mfa::require_step_up(&state, &ctx)?;
    Ok(Json(state.domain.set_user_active(&ctx.actor, id, false).await?))
}

/// `POST /api/v1/users/{id}/reactivate`.
pub async fn reactivate(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.domain.set_user_active(&ctx.actor, id, true).await?))
}
