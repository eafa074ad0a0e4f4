//! `/api/v1/orgs`.

use crate::http::extract::PathParam;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use super::json::ApiJson;
use crate::domain::orgs::{NewOrg, OrgPatch, Organization};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::SessionContext;

/// `GET /api/v1/orgs`.
pub async fn list(
    State(state): State<AppState>,
    ctx: SessionContext,
) -> Result<Json<Vec<Organization>>, ApiError> {
    Ok(Json(state.domain.list_orgs(&ctx.actor).await?))
}

/// `POST /api/v1/orgs` (ADMIN).
pub async fn create(
    State(state): State<AppState>,
    ctx: SessionContext,
    ApiJson(body): ApiJson<NewOrg>,
) -> Result<(StatusCode, Json<Organization>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.domain.create_org(&ctx.actor, body).await?)))
}

/// `GET /api/v1/orgs/{id}`.
pub async fn get(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Organization>, ApiError> {
    Ok(Json(state.domain.get_org(&ctx.actor, id).await?))
}

/// `PATCH /api/v1/orgs/{id}`: name (ADMIN) or the MFA requirement (ADMIN, or the organisation's own members).
pub async fn update(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    ApiJson(body): ApiJson<OrgPatch>,
) -> Result<Json<Organization>, ApiError> {
    Ok(Json(state.domain.update_org(&ctx.actor, id, body).await?))
}
