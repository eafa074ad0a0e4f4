//! Edge → origin authentication: the shared HMAC scheme, checked on headers
//! before any body byte is read, plus a replay check on the nonce.

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use shared::signing::{VerifiedHeaders, verify_headers};
use sqlx::PgConnection;

use super::AppState;
use super::error::ApiError;

/// Verifies the signature headers and records the nonce (a replay is refused).
pub async fn verify(state: &AppState, parts: &Parts) -> Result<VerifiedHeaders, ApiError> {
    let verified = verify_headers_only(state, parts)?;
    claim_nonce(&mut *state.domain.db.acquire().await?, parts, &verified).await?;
    Ok(verified)
}

/// Checks the signature headers (no database access).
pub fn verify_headers_only(state: &AppState, parts: &Parts) -> Result<VerifiedHeaders, ApiError> {
    // Already verified by the request-id layer (see `request_id::assign`).
    if let Some(verified) = parts.extensions.get::<VerifiedHeaders>() {
        return Ok(verified.clone());
    }
    let target = parts.uri.path_and_query().map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let verified = verify_headers(
        &state.config.signing_keys,
        parts.method.as_str(),
        target,
        |name| parts.headers.get(name).and_then(|v| v.to_str().ok()),
        state.clock.now().timestamp(),
    )
    .map_err(|e| {
        tracing::warn!(event = "signature_rejected", reason = %e, path = parts.uri.path(), "signed request refused");
        ApiError::Unauthorized
    })?;
    Ok(verified)
}

/// Records the request's nonce on `conn` (inside the caller's transaction,
/// when it has one); a nonce seen before is a replay and refused.
pub async fn claim_nonce(
    conn: &mut PgConnection,
    parts: &Parts,
    verified: &VerifiedHeaders,
) -> Result<(), ApiError> {
    let fresh = sqlx::query("INSERT INTO signed_nonces (nonce) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(&verified.nonce)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1;
    if !fresh {
        tracing::warn!(event = "signature_rejected", reason = "replayed nonce", path = parts.uri.path(), key_id = %verified.key_id, "signed request refused");
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

/// Reads at most `limit` bytes of body and checks them against the signed hash.
pub async fn read_body(
    parts: &Parts,
    body: Body,
    verified: &VerifiedHeaders,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large =
        || ApiError::TooLarge { code: "body_too_large", message: format!("body exceeds {limit} bytes") };
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    verified.check_body(&bytes).map_err(|_| {
        tracing::warn!(
            event = "signature_rejected",
            reason = "body hash mismatch",
            path = parts.uri.path(),
            "signed request refused"
        );
        ApiError::Unauthorized
    })?;
    Ok(bytes)
}
