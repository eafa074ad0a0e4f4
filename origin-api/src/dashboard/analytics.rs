//! Analytics of an event: taps per hour, unique bands, repeats, device
//! split, excluded hits counted apart; a date range; CSV export.

use crate::http::extract::{PathParam, QueryParams};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::charts::{self, HourChart};
use super::page::{Frame, OrPage, PageError, render};
use crate::analytics::range::RangeQuery;
use crate::analytics::{self, Totals};
use crate::domain::events::Event;
use crate::http::AppState;
use crate::http::session_auth::SessionContext;

/// The analytics page.
#[derive(Template)]
#[template(path = "analytics.html")]
pub struct AnalyticsPage<'a> {
    frame: &'a Frame,
    event: Event,
    from: String,
    to: String,
    totals: Totals,
    chart: HourChart,
}

/// `GET /events/{id}/analytics?from=&to=`.
pub async fn show(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    QueryParams(query): QueryParams<RangeQuery>,
) -> Result<Response, PageError> {
    let event = state.domain.get_event(&ctx.actor, id).await.or_page(&frame)?;
    // A person fixes a range in the form, which shows the range read: repair, don't refuse.
    let range = query.lenient(state.clock.now().date_naive());
    let (from, to, start, end) = (range.from, range.to, range.start(), range.end());
    let db = &state.domain.db;
    let hours = analytics::hourly(db, id, start, end).await.or_page(&frame)?;
    let totals = analytics::totals(db, id, start, end).await.or_page(&frame)?;
    let chart = charts::hours(&hours, start, end);
    Ok(render(
        &frame,
        StatusCode::OK,
        &AnalyticsPage { frame: &frame, event, from: from.to_string(), to: to.to_string(), totals, chart },
    ))
}

/// `GET /events/{id}/analytics.csv?from=&to=`: one row per hour.
pub async fn csv(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    QueryParams(query): QueryParams<RangeQuery>,
) -> Result<Response, PageError> {
    let event = state.domain.get_event(&ctx.actor, id).await.or_page(&frame)?;
    let range = query.lenient(state.clock.now().date_naive());
    let (from, to) = (range.from, range.to);
    let hours = analytics::hourly(&state.domain.db, id, range.start(), range.end()).await.or_page(&frame)?;
    let mut out = String::from("hour_utc,taps,unique_bands,repeats,excluded,ios,android,other\n");
    for h in hours {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            h.hour.format("%Y-%m-%dT%H:00:00Z"),
            h.taps,
            h.unique_bands,
            h.repeats,
            h.excluded,
            h.ios,
            h.android,
            h.other
        ));
    }
    // The file name is built from the id and dates only: no user text in a header.
    let name = format!("attachment; filename=\"taps-{}-{from}-{to}.csv\"", event.id);
    let mut response = out.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
