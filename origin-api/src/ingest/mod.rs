//! `POST /internal/v1/taps`: taps from the edge's queue consumer.
//!
//! Signed (checked before the body is read), ≤ 1 MiB, ≤ 1000 taps; every
//! tap is validated before anything is stored (422 names the first bad one);
//! one bulk insert that skips stored taps makes redeliveries count once;
//! the answer is sent only after the insert (and the request's nonce,
//! in the same transaction) committed.

pub mod store;

use axum::Json;
use axum::extract::{Request, State};
use serde::Deserialize;
use serde_json::value::RawValue;
use shared::tap::MAX_TAPS_PER_BATCH;
use shared::{TapBatchResult, TapEvent};

use self::store::Mode;
use crate::analytics::hourly_rollup::DirtyHours;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::signed;

/// Largest accepted body.
pub const MAX_BODY_BYTES: usize = 1 << 20;

#[derive(Deserialize)]
struct RawBatch<'a> {
    #[serde(borrow)]
    taps: Vec<&'a RawValue>,
}

/// The handler.
pub async fn ingest(State(state): State<AppState>, req: Request) -> Result<Json<TapBatchResult>, ApiError> {
    let (parts, body) = req.into_parts();
    let verified = signed::verify_headers_only(&state, &parts)?;
    // Nonce and taps commit together: one commit (one WAL flush) per batch.
    let mut tx = state.domain.db.begin().await?;
    signed::claim_nonce(&mut tx, &parts, &verified).await?;
    let bytes = signed::read_body(&parts, body, &verified, MAX_BODY_BYTES).await?;
    let raw: RawBatch<'_> = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("malformed", format!("body is not a tap batch: {e}")))?;
    if raw.taps.len() > MAX_TAPS_PER_BATCH {
        return Err(ApiError::TooLarge {
            code: "too_many_taps",
            message: format!("{} taps; at most {MAX_TAPS_PER_BATCH} per request", raw.taps.len()),
        });
    }
    let now_ms = state.clock.now().timestamp_millis();
    let mut taps = Vec::with_capacity(raw.taps.len());
    for (i, item) in raw.taps.iter().enumerate() {
        let tap: TapEvent = serde_json::from_str(item.get())
            .map_err(|e| ApiError::unprocessable("invalid_tap", format!("taps[{i}]: {e}")))?;
        tap.validate(now_ms)
            .map_err(|e| ApiError::unprocessable("invalid_tap", format!("taps[{i}]: {e}")))?;
        taps.push(tap);
    }
    let dirty = DirtyHours::of(&taps);
    let accepted = match store::insert(&mut tx, &taps, &dirty, Mode::NewOnly).await {
        Ok(accepted) => {
            tx.commit().await?;
            accepted
        }
        Err(e) if store::is_stored_already(&e) => {
            // A redelivery: the failed statement aborted the transaction, so
            // the batch (and its nonce) go again in a fresh one, skipping
            // what is stored. Cheaper on the common path than a savepoint.
            tx.rollback().await?;
            let mut tx = state.domain.db.begin().await?;
            signed::claim_nonce(&mut tx, &parts, &verified).await?;
            let accepted = store::insert(&mut tx, &taps, &dirty, Mode::SkipStored).await?;
            tx.commit().await?;
            accepted
        }
        Err(e) => return Err(e.into()),
    };
    let total = taps.len() as u64;
    state.metrics.taps(accepted, total - accepted);
    tracing::info!(event = "taps_ingested", accepted, duplicates = total - accepted, key_id = %verified.key_id);
    Ok(Json(TapBatchResult { accepted, duplicates: total - accepted }))
}
