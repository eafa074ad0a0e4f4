//! `/api/v1/events/{id}/bands` and `/api/v1/bands/{band_id}`.

use crate::http::extract::{PathParam, QueryParams, RawBody};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::BandId;
use uuid::Uuid;

use super::json::ApiJson;
use crate::band_import;
use crate::domain::bands::{Band, BandPage, BandPatch, BandQuery, ImportOutcome};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::SessionContext;

/// `GET /api/v1/events/{id}/bands?q=&status=&after=&limit=`.
pub async fn list(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    QueryParams(query): QueryParams<BandQuery>,
) -> Result<Json<BandPage>, ApiError> {
    Ok(Json(state.domain.list_bands(&ctx.actor, id, query).await?))
}

/// `POST /api/v1/events/{id}/bands/import` with a CSV body (up to 100 000 bands, all or nothing).
pub async fn import(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let outcome = match band_import::parse(&body) {
        Ok(parsed) => state.domain.import_bands(&ctx.actor, id, parsed.bands, parsed.errors).await?,
        Err(errors) => {
            // A file-level problem; the event must still exist and be visible.
            state.domain.get_event(&ctx.actor, id).await?;
            ImportOutcome::Rejected { errors }
        }
    };
    Ok(match outcome {
        ImportOutcome::Imported { .. } => (StatusCode::CREATED, Json(outcome)).into_response(),
        ImportOutcome::Rejected { .. } => (StatusCode::UNPROCESSABLE_ENTITY, Json(outcome)).into_response(),
    })
}

/// A path's band id; a malformed one names no band (404).
pub(crate) fn band_id(raw: &str) -> Result<BandId, ApiError> {
    BandId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// `GET /api/v1/bands/{band_id}`.
pub async fn get(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<String>,
) -> Result<Json<Band>, ApiError> {
    Ok(Json(state.domain.get_band(&ctx.actor, &band_id(&id)?).await?))
}

/// `PATCH /api/v1/bands/{band_id}`.
pub async fn update(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<String>,
    ApiJson(body): ApiJson<BandPatch>,
) -> Result<Json<Band>, ApiError> {
    Ok(Json(state.domain.update_band(&ctx.actor, &band_id(&id)?, body).await?))
}
