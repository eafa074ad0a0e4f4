//! `GET /api/v1/events/{id}/analytics?from=&to=`: an event's totals and taps
//! per hour over whole UTC days, the numbers the dashboard shows.

use crate::http::extract::{PathParam, QueryParams};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::analytics::range::{RangeError, RangeQuery};
use crate::analytics::{self, Hour, Totals};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::SessionContext;

/// The answer.
#[derive(Debug, Serialize)]
pub struct EventAnalytics {
    /// The event.
    pub event_id: Uuid,
    /// First day read (UTC).
    pub from: NaiveDate,
    /// Last day read (UTC, inclusive).
    pub to: NaiveDate,
    /// Start of the range (midnight UTC of `from`).
    pub start: DateTime<Utc>,
    /// End of the range, exclusive (midnight UTC after `to`).
    pub end: DateTime<Utc>,
    /// Totals over the range; previewers, bots and HEAD requests counted apart.
    pub totals: Totals,
    /// Taps per hour, oldest first; hours without hits are left out.
    pub hours: Vec<Hour>,
}

/// The handler.
pub async fn show(
    State(state): State<AppState>,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    QueryParams(query): QueryParams<RangeQuery>,
) -> Result<Json<EventAnalytics>, ApiError> {
    // The event first: an event the caller cannot see is a 404 whatever the range says.
    let event = state.domain.get_event(&ctx.actor, id).await?;
    let range = query.strict(state.clock.now().date_naive()).map_err(api_error)?;
    let (start, end) = (range.start(), range.end());
    let db = &state.domain.db;
    let totals = analytics::totals(db, event.id, start, end).await?;
    let hours = analytics::hourly(db, event.id, start, end).await?;
    Ok(Json(EventAnalytics { event_id: event.id, from: range.from, to: range.to, start, end, totals, hours }))
}

/// A malformed date is an unreadable request (as other bad query parameters
/// are); a readable range that cannot be served breaks a rule.
fn api_error(e: RangeError) -> ApiError {
    match e {
        RangeError::Malformed(_) => ApiError::bad_request("invalid_query", e.to_string()),
        RangeError::Reversed | RangeError::TooLong => ApiError::unprocessable("invalid_range", e.to_string()),
    }
}
