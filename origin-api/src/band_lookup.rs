//! `GET /internal/v1/bands/<id>`: the edge's KV-miss read-through (signed).

use crate::http::extract::PathParam;
use axum::Json;
use axum::extract::{Request, State};
use shared::{BandId, BandLookup};

use crate::domain::{bands, events};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::signed;
use crate::kv_sync::records;

/// The handler: the band's and its event's KV records, or 404.
pub async fn lookup(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    req: Request,
) -> Result<Json<BandLookup>, ApiError> {
    let (parts, body) = req.into_parts();
    let verified = signed::verify(&state, &parts).await?;
    signed::read_body(&parts, body, &verified, 0).await?;
    let band_id = BandId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let db = &state.domain.db;
    let band = bands::load(db, &[band_id.to_string()]).await?.into_iter().next().ok_or(ApiError::NotFound)?;
    let event = match events::load(db, band.event_id).await? {
        Some(event) => Some(records::event_record(&event, &events::windows(db, event.id).await?)),
        None => None,
    };
    Ok(Json(BandLookup { band: records::band_record(&band), event }))
}
