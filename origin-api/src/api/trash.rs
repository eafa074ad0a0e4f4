//! Deleting and restoring events and bands (soft deletes, 30 days to undo).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use super::bands::band_id;
use crate::domain::trash::TrashItem;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::PathParam;
use crate::http::session_auth::SessionContext;

/// `DELETE /api/v1/events/{id}`: the event and its bands leave the edge; restorable for 30 days.
pub async fn delete_event(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<StatusCode, ApiError> {
    delete_event_with_step_up(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes an event as the API and the dashboard both do: not found first, then step-up.
pub async fn delete_event_with_step_up(
    state: &AppState,
    ctx: &SessionContext,
    id: Uuid,
) -> Result<(), ApiError> {
    // Another organisation's event is not found before anything else is said about it.
    state.domain.get_event(&ctx.actor, id).await?;
    // A deleted event sends every tap to the fallback: a second factor from the last 10 minutes.
    crate::api::mfa::require_step_up(state, ctx)?;
    state.domain.delete_event(&ctx.actor, id).await?;
    Ok(())
}

/// `POST /api/v1/events/{id}/restore`.
pub async fn restore_event(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.domain.restore_event(&ctx.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/bands/{band_id}`.
pub async fn delete_band(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    state.domain.delete_band(&ctx.actor, &band_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/bands/{band_id}/restore`.
pub async fn restore_band(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    state.domain.restore_band(&ctx.actor, &band_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/trash`: what the caller can still restore.
pub async fn list(
    State(state): State<AppState>,
    ctx: SessionContext,
) -> Result<Json<Vec<TrashItem>>, ApiError> {
    Ok(Json(state.domain.list_trash(&ctx.actor).await?))
}

/// `DELETE /api/v1/users/{id}` (ADMIN): signed out at once; restorable for 30 days.
pub async fn delete_user(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<StatusCode, ApiError> {
    crate::api::mfa::require_step_up(&state, &ctx)?;
    state.domain.delete_user(&ctx.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/users/{id}/restore` (ADMIN).
pub async fn restore_user(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.domain.restore_user(&ctx.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/orgs/{id}` (ADMIN): the organisation with its events, bands and users.
pub async fn delete_org(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<StatusCode, ApiError> {
    crate::api::mfa::require_step_up(&state, &ctx)?;
    state.domain.delete_org(&ctx.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/orgs/{id}/restore` (ADMIN).
pub async fn restore_org(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.domain.restore_org(&ctx.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
