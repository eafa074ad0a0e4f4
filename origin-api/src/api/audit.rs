//! `GET /api/v1/audit`: the audit trail, filtered (CUSTOMERs: their organisation only).

use crate::http::extract::QueryParams;
use axum::Json;
use axum::extract::State;

use crate::audit::query::{self, AuditEntry, AuditQuery};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::SessionContext;

/// The handler.
pub async fn list(
    State(state): State<AppState>,
    ctx: SessionContext,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    Ok(Json(query::list(&state.domain.db, &ctx.actor, &q).await?))
}
