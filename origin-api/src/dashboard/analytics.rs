//! Analytics of an event: taps per hour, unique bands, repeats, device
//! split, excluded hits counted apart; a date range; CSV export.

use crate::http::extract::{PathParam, QueryParams};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::charts::{self, HourChart};
use super::page::{Frame, OrPage, PageError, render};
use crate::analytics::{self, Totals};
use crate::domain::events::Event;
use crate::http::AppState;
use crate::http::session_auth::SessionContext;

/// Range parameters (dates, UTC, inclusive).
#[derive(Debug, Default, Deserialize)]
pub struct Range {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

impl Range {
    /// `[from 00:00, to+1 00:00)`; defaults to the last 7 days; at most 92 days.
    fn bounds(&self, now: DateTime<Utc>) -> (NaiveDate, NaiveDate, DateTime<Utc>, DateTime<Utc>) {
        let parse = |s: &Option<String>| {
            s.as_deref().and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        };
        let today = now.date_naive();
        let to = parse(&self.to).unwrap_or(today);
        let from = parse(&self.from).unwrap_or(to - Duration::days(6)).min(to);
        let from = from.max(to - Duration::days(91));
        let start = from.and_hms_opt(0, 0, 0).map_or(now, |d| d.and_utc());
        let end = (to + Duration::days(1)).and_hms_opt(0, 0, 0).map_or(now, |d| d.and_utc());
        (from, to, start, end)
    }
}

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
    QueryParams(range): QueryParams<Range>,
) -> Result<Response, PageError> {
    let event = state.domain.get_event(&ctx.actor, id).await.or_page(&frame)?;
    let (from, to, start, end) = range.bounds(state.clock.now());
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
    QueryParams(range): QueryParams<Range>,
) -> Result<Response, PageError> {
    let event = state.domain.get_event(&ctx.actor, id).await.or_page(&frame)?;
    let (from, to, start, end) = range.bounds(state.clock.now());
    let hours = analytics::hourly(&state.domain.db, id, start, end).await.or_page(&frame)?;
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
