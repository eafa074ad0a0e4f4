//! `/api/v1/events` and their schedule windows.

use crate::http::extract::{PathParam, QueryParams};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use super::json::ApiJson;
use crate::domain::events::{Event, EventPatch, EventWindow, NewEvent, NewWindow};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::SessionContext;

/// Page parameters.
#[derive(Deserialize)]
pub struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/v1/events`.
pub async fn list(
    State(state): State<AppState>,
    ctx: SessionContext,
    QueryParams(page): QueryParams<Page>,
) -> Result<Json<Vec<Event>>, ApiError> {
    Ok(Json(state.domain.list_events(&ctx.actor, page.limit.unwrap_or(100), page.offset.unwrap_or(0)).await?))
}

/// `POST /api/v1/events`.
pub async fn create(
    State(state): State<AppState>,
    ctx: SessionContext,
    ApiJson(body): ApiJson<NewEvent>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.domain.create_event(&ctx.actor, body).await?)))
}

/// `GET /api/v1/events/{id}`.
pub async fn get(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Event>, ApiError> {
    Ok(Json(state.domain.get_event(&ctx.actor, id).await?))
}

/// `PATCH /api/v1/events/{id}`.
pub async fn update(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    ApiJson(body): ApiJson<EventPatch>,
) -> Result<Json<Event>, ApiError> {
    Ok(Json(state.domain.update_event(&ctx.actor, id, body).await?))
}

/// `GET /api/v1/events/{id}/windows`.
pub async fn windows(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Vec<EventWindow>>, ApiError> {
    Ok(Json(state.domain.list_windows(&ctx.actor, id).await?))
}

/// `POST /api/v1/events/{id}/windows`.
pub async fn add_window(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    ApiJson(body): ApiJson<NewWindow>,
) -> Result<(StatusCode, Json<EventWindow>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.domain.add_window(&ctx.actor, id, body).await?)))
}

/// `DELETE /api/v1/events/{id}/windows/{window_id}`.
pub async fn remove_window(
    State(state): State<AppState>,
    ctx: SessionContext,
    Path((id, window)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    state.domain.remove_window(&ctx.actor, id, window).await?;
    Ok(StatusCode::NO_CONTENT)
}
