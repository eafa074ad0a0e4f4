//! `/api/v1/sessions`: a user's own sessions, and signing them out.

use crate::http::extract::PathParam;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::audit::Entry;
use crate::auth::session;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::SessionContext;

/// `GET /api/v1/sessions`.
pub async fn list(
    State(state): State<AppState>,
    ctx: SessionContext,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut conn = state.domain.db.acquire().await?;
    let sessions = session::list_live(&mut conn, ctx.user.id, state.clock.now()).await?;
    let sessions: Vec<_> = sessions
        .into_iter()
        .map(|s| json!({ "id": s.id, "created_at": s.created_at, "last_seen_at": s.last_seen_at, "user_agent": s.user_agent, "current": s.id == ctx.session.id }))
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

/// `DELETE /api/v1/sessions/{id}`: one of the caller's own sessions (another user's is 404).
pub async fn revoke(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<StatusCode, ApiError> {
    revoke_own(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends one of the caller's own sessions (API and dashboard); another user's is not found.
pub async fn revoke_own(state: &AppState, ctx: &SessionContext, id: Uuid) -> Result<(), ApiError> {
    let mut tx = state.domain.begin().await?;
    let owned: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL)",
    )
    .bind(id)
    .bind(ctx.user.id)
    .fetch_one(&mut *tx)
    .await?;
    if !owned {
        return Err(ApiError::NotFound);
    }
    session::revoke(&mut tx, id, state.clock.now(), "revoked by user").await?;
    let entry = Entry::new("auth.session_revoked", "session", id, ctx.user.org_id)
        .after(json!({ "user_id": ctx.user.id }));
    state.domain.audit(&mut tx, &ctx.actor, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// `POST /api/v1/sessions/revoke-all`: "sign out everywhere" (this session included).
pub async fn revoke_all(
    State(state): State<AppState>,
    ctx: SessionContext,
) -> Result<Json<serde_json::Value>, ApiError> {
    let count = revoke_all_own(&state, &ctx, None).await?;
    Ok(Json(json!({ "revoked": count })))
}

/// "Sign out everywhere" (API and dashboard): every session of the caller but `keep`.
pub async fn revoke_all_own(
    state: &AppState,
    ctx: &SessionContext,
    keep: Option<Uuid>,
) -> Result<u64, ApiError> {
    let mut tx = state.domain.begin().await?;
    let count =
        session::revoke_all(&mut tx, ctx.user.id, keep, state.clock.now(), "signed out everywhere").await?;
    let entry = Entry::new("auth.sessions_revoked", "user", ctx.user.id, ctx.user.org_id)
        .after(json!({ "count": count, "reason": "signed out everywhere" }));
    state.domain.audit(&mut tx, &ctx.actor, entry).await?;
    tx.commit().await?;
    Ok(count)
}
