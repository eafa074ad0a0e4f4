//! Bands of an event: search, pagination, status and override changes,
//! deletion, CSV import with a per-row error report.

use crate::http::extract::{FormBody, PathParam, QueryParams};
use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use shared::BandId;
use uuid::Uuid;

use super::events::EdgeSync;
use super::page::{Frame, OrPage, PageError, render, see_other};
use crate::band_import;
use crate::domain::DomainError;
use crate::domain::bands::{BandPage, BandPatch, BandQuery, BandStatus, ImportOutcome, RowError};
use crate::domain::events::Event;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::SessionContext;

/// The bands page.
#[derive(Template)]
#[template(path = "bands.html")]
pub struct BandsPage<'a> {
    frame: &'a Frame,
    event: Event,
    sync: EdgeSync,
    page: BandPage,
    q: String,
    status: String,
    import_errors: Vec<RowError>,
    error: Option<String>,
}

/// Search parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    after: Option<String>,
}

/// What a re-rendered bands page reports back about a submitted form.
struct Feedback {
    import_errors: Vec<RowError>,
    error: Option<String>,
    status: StatusCode,
}

async fn page(
    state: &AppState,
    frame: &Frame,
    ctx: &SessionContext,
    id: Uuid,
    search: Search,
    feedback: Feedback,
) -> Result<Response, PageError> {
    let Feedback { import_errors, error, status } = feedback;
    let event = state.domain.get_event(&ctx.actor, id).await.or_page(frame)?;
    let band_status = match search.status.as_str() {
        "" => None,
        s => Some(BandStatus::parse(s).or_page(frame)?),
    };
    let query = BandQuery {
        q: Some(search.q.clone()),
        status: band_status,
        after: search.after.clone(),
        limit: Some(50),
    };
    // Postgres text cannot hold NUL: no band matches a search containing one
    // (and the query would fail), so the answer is the empty page it is.
    let impossible = [Some(&search.q), search.after.as_ref()].into_iter().flatten().any(|s| s.contains('\0'));
    let bands = if impossible {
        BandPage { bands: Vec::new(), next: None, total: 0 }
    } else {
        state.domain.list_bands(&ctx.actor, id, query).await.or_page(frame)?
    };
    let sync = EdgeSync::of(&state.domain.db, id).await.or_page(frame)?;
    Ok(render(
        frame,
        status,
        &BandsPage {
            frame,
            event,
            sync,
            page: bands,
            q: search.q,
            status: search.status,
            import_errors,
            error,
        },
    ))
}

/// `GET /events/{id}/bands`.
pub async fn list(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    QueryParams(search): QueryParams<Search>,
) -> Result<Response, PageError> {
    page(
        &state,
        &frame,
        &ctx,
        id,
        search,
        Feedback { import_errors: Vec::new(), error: None, status: StatusCode::OK },
    )
    .await
}

/// `POST /events/{id}/bands/import` (multipart: `file`).
pub async fn import(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let mut bytes = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| PageError::new(&frame, ApiError::bad_request("malformed", e.to_string())))?
    {
        if field.name() == Some("file") {
            bytes =
                Some(field.bytes().await.map_err(|e| {
                    PageError::new(&frame, ApiError::bad_request("malformed", e.to_string()))
                })?);
        }
    }
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
        return page(
            &state,
            &frame,
            &ctx,
            id,
            Search::default(),
            Feedback {
                import_errors: Vec::new(),
                error: Some("Choose a CSV file to import.".into()),
                status: StatusCode::UNPROCESSABLE_ENTITY,
            },
        )
        .await;
    };
    let outcome = match band_import::parse(&bytes) {
        Ok(parsed) => {
            state.domain.import_bands(&ctx.actor, id, parsed.bands, parsed.errors).await.or_page(&frame)?
        }
        Err(errors) => ImportOutcome::Rejected { errors },
    };
    match outcome {
        ImportOutcome::Imported { .. } => Ok(see_other(&format!("/events/{id}/bands?notice=bands-imported"))),
        ImportOutcome::Rejected { errors } => {
            let message = format!("Nothing was imported: {} row(s) need fixing.", errors.len());
            page(
                &state,
                &frame,
                &ctx,
                id,
                Search::default(),
                Feedback {
                    import_errors: errors,
                    error: Some(message),
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                },
            )
            .await
        }
    }
}

/// Band edit form.
#[derive(Deserialize)]
pub struct BandForm {
    status: String,
    #[serde(default)]
    override_url: String,
    #[serde(default)]
    label: String,
}

/// `POST /bands/{band_id}`.
pub async fn update(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(raw): PathParam<String>,
    FormBody(form): FormBody<BandForm>,
) -> Result<Response, PageError> {
    let band_id = BandId::parse(&raw).map_err(|_| PageError::new(&frame, ApiError::NotFound))?;
    let band = state.domain.get_band(&ctx.actor, &band_id).await.or_page(&frame)?;
    let status = BandStatus::parse(&form.status).or_page(&frame)?;
    let patch =
        BandPatch { status: Some(status), override_url: Some(form.override_url), label: Some(form.label) };
    match state.domain.update_band(&ctx.actor, &band_id, patch).await {
        Ok(_) => Ok(see_other(&format!("/events/{}/bands?q={}&notice=band-saved", band.event_id, band_id))),
        Err(DomainError::Invalid { field, reason }) => {
            let search = Search { q: band_id.to_string(), ..Search::default() };
            page(
                &state,
                &frame,
                &ctx,
                band.event_id,
                search,
                Feedback {
                    import_errors: Vec::new(),
                    error: Some(format!("{band_id}: {}: {reason}", field.replace('_', " "))),
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                },
            )
            .await
        }
        Err(e) => Err(PageError::new(&frame, e)),
    }
}

/// `POST /bands/{band_id}/delete`: the band goes to the trash; back to its event's bands.
pub async fn delete(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(raw): PathParam<String>,
) -> Result<Response, PageError> {
    let band_id = BandId::parse(&raw).map_err(|_| PageError::new(&frame, ApiError::NotFound))?;
    // Read first for the way back (and the 404 another organisation's band gets).
    let band = state.domain.get_band(&ctx.actor, &band_id).await.or_page(&frame)?;
    state.domain.delete_band(&ctx.actor, &band_id).await.or_page(&frame)?;
    Ok(see_other(&format!("/events/{}/bands?notice=band-deleted", band.event_id)))
}
