//! Events: the list, creation, deletion, and the event page (destination,
//! schedule, what a tap gets right now, band counts, edge sync, latest taps).

use crate::http::extract::{FormBody, PathParam};
use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::account::step_up_first;
use super::charts::{self, Timeline};
use super::page::{Frame, OrPage, PageError, render, see_other};
use crate::analytics::{self, RecentHit};
use crate::domain::DomainError;
use crate::domain::events::{Event, EventPatch, EventStatus, EventWindow, NewEvent, NewWindow};
use crate::domain::orgs::Organization;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::SessionContext;
use crate::kv_sync::{pusher, records};

/// One row of the events list.
pub struct EventRow {
    event: Event,
    taps_today: i64,
    synced: bool,
}

/// The events list.
#[derive(Template)]
#[template(path = "events.html")]
pub struct EventsPage<'a> {
    frame: &'a Frame,
    rows: Vec<EventRow>,
}

/// `GET /events`.
pub async fn list(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
) -> Result<Response, PageError> {
    let events = state.domain.list_events(&ctx.actor, 200, 0).await.or_page(&frame)?;
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let midnight = state
        .clock
        .now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or_else(|| state.clock.now());
    let counts = analytics::taps_since(&state.domain.db, &ids, midnight).await.or_page(&frame)?;
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let pending = pusher::pending_for_event(&state.domain.db, event.id).await.or_page(&frame)?;
        let taps_today = counts.iter().find(|(id, _)| *id == event.id).map_or(0, |(_, n)| *n);
        rows.push(EventRow { event, taps_today, synced: pending == 0 });
    }
    Ok(render(&frame, StatusCode::OK, &EventsPage { frame: &frame, rows }))
}

/// The new-event form.
#[derive(Template)]
#[template(path = "event_new.html")]
pub struct NewEventPage<'a> {
    frame: &'a Frame,
    orgs: Vec<Organization>,
    form: EventForm,
    error: Option<String>,
}

/// Event form fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventForm {
    #[serde(default)]
    org_id: Option<Uuid>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    default_url: String,
    #[serde(default)]
    fallback_url: String,
    #[serde(default)]
    status: Option<String>,
}

/// `GET /events/new`.
pub async fn new_form(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
) -> Result<Response, PageError> {
    let orgs = state.domain.list_orgs(&ctx.actor).await.or_page(&frame)?;
    let form = EventForm { timezone: "UTC".into(), ..EventForm::default() };
    Ok(render(&frame, StatusCode::OK, &NewEventPage { frame: &frame, orgs, form, error: None }))
}

fn invalid(e: &DomainError) -> Option<String> {
    match e {
        DomainError::Invalid { field, reason } => Some(format!("{}: {reason}", field.replace('_', " "))),
        DomainError::Conflict(message) => Some(message.clone()),
        _ => None,
    }
}

/// `POST /events`.
pub async fn create(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    FormBody(form): FormBody<EventForm>,
) -> Result<Response, PageError> {
    let orgs = state.domain.list_orgs(&ctx.actor).await.or_page(&frame)?;
    let org_id = form.org_id.or(ctx.user.org_id).or_else(|| orgs.first().map(|o| o.id)).unwrap_or_default();
    let status = match form.status.as_deref().map(EventStatus::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            return Ok(render(
                &frame,
                StatusCode::UNPROCESSABLE_ENTITY,
                &NewEventPage { frame: &frame, orgs, error: invalid(&e), form },
            ));
        }
    };
    let input = NewEvent {
        org_id,
        name: form.name.clone(),
        timezone: Some(form.timezone.clone()),
        default_url: Some(form.default_url.clone()),
        fallback_url: Some(form.fallback_url.clone()),
        status,
        starts_at: None,
        ends_at: None,
    };
    match state.domain.create_event(&ctx.actor, input).await {
        Ok(event) => Ok(see_other(&format!("/events/{}?notice=event-created", event.id))),
        Err(e) => match invalid(&e) {
            Some(error) => Ok(render(
                &frame,
                StatusCode::UNPROCESSABLE_ENTITY,
                &NewEventPage { frame: &frame, orgs, form, error: Some(error) },
            )),
            None => Err(PageError::new(&frame, e)),
        },
    }
}

/// The event page.
#[derive(Template)]
#[template(path = "event.html")]
pub struct EventPage<'a> {
    frame: &'a Frame,
    event: Event,
    windows: Vec<EventWindow>,
    timeline: Option<Timeline>,
    counts: BandCounts,
    now_url: String,
    now_reason: &'static str,
    sync: EdgeSync,
    recent: Vec<RecentHit>,
    form: EventForm,
    error: Option<String>,
    window_error: Option<String>,
}

/// Whether the edge has every change to an event: the badge the event page
/// and its bands page share (`edge_sync.html`).
pub struct EdgeSync {
    /// The event.
    pub event_id: Uuid,
    /// Nothing of the event (its record, its bands, their deletions) is still queued.
    pub live: bool,
}

impl EdgeSync {
    /// The event's sync state now.
    pub async fn of(db: &sqlx::PgPool, event_id: Uuid) -> Result<Self, sqlx::Error> {
        let pending = pusher::pending_for_event(db, event_id).await?;
        Ok(Self { event_id, live: pending == 0 })
    }
}

/// Bands of an event by status.
#[derive(Debug, Default, Clone)]
pub struct BandCounts {
    active: i64,
    disabled: i64,
    lost: i64,
}

impl BandCounts {
    fn total(&self) -> i64 {
        self.active + self.disabled + self.lost
    }
}

/// What a tap of an active band without an override gets right now.
fn now_destination(event: &Event, windows: &[EventWindow], now: DateTime<Utc>) -> (String, &'static str) {
    let record = records::event_record(event, windows);
    let band = shared::BandRecord {
        v: shared::records::RECORD_VERSION,
        rev: 0,
        event_id: event.id,
        org_id: event.org_id,
        status: shared::BandStatus::Active,
        override_url: None,
    };
    let resolution = shared::resolve(&band, Some(&record), now.timestamp(), "the deployment's fallback URL");
    let reason = match resolution.reason {
        shared::Reason::Window => "the schedule window active now",
        shared::Reason::Default => "the event's default destination",
        shared::Reason::EventInactive => "the fallback: the event is not active",
        shared::Reason::EventFrozen => "the fallback: the event is frozen",
        shared::Reason::NoDestination => "the fallback: no destination is set",
        _ => "the fallback",
    };
    (resolution.url.to_string(), reason)
}

/// What a re-rendered event page reports back about a submitted form.
struct Feedback {
    form: Option<EventForm>,
    error: Option<String>,
    window_error: Option<String>,
    status: StatusCode,
}

async fn event_page(
    state: &AppState,
    frame: &Frame,
    ctx: &SessionContext,
    id: Uuid,
    feedback: Feedback,
) -> Result<Response, PageError> {
    let Feedback { form, error, window_error, status } = feedback;
    let event = state.domain.get_event(&ctx.actor, id).await.or_page(frame)?;
    let windows = state.domain.list_windows(&ctx.actor, id).await.or_page(frame)?;
    let now = state.clock.now();
    let db = &state.domain.db;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM bands WHERE event_id = $1 AND deleted_at IS NULL GROUP BY status",
    )
    .bind(id)
    .fetch_all(db)
    .await
    .or_page(frame)?;
    let count = |s: &str| rows.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let counts = BandCounts { active: count("active"), disabled: count("disabled"), lost: count("lost") };
    let (now_url, now_reason) = now_destination(&event, &windows, now);
    let sync = EdgeSync::of(db, id).await.or_page(frame)?;
    let recent = analytics::recent(db, id, 10).await.or_page(frame)?;
    let form = form.unwrap_or_else(|| EventForm {
        org_id: Some(event.org_id),
        name: event.name.clone(),
        timezone: event.timezone.clone(),
        default_url: event.default_url.clone().unwrap_or_default(),
        fallback_url: event.fallback_url.clone().unwrap_or_default(),
        status: Some(format!("{:?}", event.status).to_lowercase()),
    });
    let timeline = charts::timeline(&windows, now);
    Ok(render(
        frame,
        status,
        &EventPage {
            frame,
            event,
            windows,
            timeline,
            counts,
            now_url,
            now_reason,
            sync,
            recent,
            form,
            error,
            window_error,
        },
    ))
}

/// `GET /events/{id}`.
pub async fn show(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, PageError> {
    event_page(
        &state,
        &frame,
        &ctx,
        id,
        Feedback { form: None, error: None, window_error: None, status: StatusCode::OK },
    )
    .await
}

/// `POST /events/{id}`: saves the edit form.
pub async fn update(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    FormBody(form): FormBody<EventForm>,
) -> Result<Response, PageError> {
    let status = match form.status.as_deref().map(EventStatus::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            return event_page(
                &state,
                &frame,
                &ctx,
                id,
                Feedback {
                    form: Some(form),
                    error: invalid(&e),
                    window_error: None,
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                },
            )
            .await;
        }
    };
    let patch = EventPatch {
        name: Some(form.name.clone()),
        timezone: Some(form.timezone.clone()),
        default_url: Some(form.default_url.clone()),
        fallback_url: Some(form.fallback_url.clone()),
        status,
        starts_at: None,
        ends_at: None,
    };
    match state.domain.update_event(&ctx.actor, id, patch).await {
        Ok(_) => Ok(see_other(&format!("/events/{id}?notice=event-saved"))),
        Err(e) => match invalid(&e) {
            Some(error) => {
                event_page(
                    &state,
                    &frame,
                    &ctx,
                    id,
                    Feedback {
                        form: Some(form),
                        error: Some(error),
                        window_error: None,
                        status: StatusCode::UNPROCESSABLE_ENTITY,
                    },
                )
                .await
            }
            None => Err(PageError::new(&frame, e)),
        },
    }
}

/// Window form (times in UTC, as `datetime-local` sends them).
#[derive(Deserialize)]
pub struct WindowForm {
    #[serde(default)]
    label: String,
    url: String,
    starts_at: String,
    ends_at: String,
}

fn parse_local(field: &'static str, raw: &str) -> Result<DateTime<Utc>, DomainError> {
    NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map(|t| t.and_utc())
        .map_err(|_| DomainError::invalid(field, "must be a date and time"))
}

/// `POST /events/{id}/windows`.
pub async fn add_window(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    FormBody(form): FormBody<WindowForm>,
) -> Result<Response, PageError> {
    let result = async {
        let starts_at = parse_local("starts_at", &form.starts_at)?;
        let ends_at = parse_local("ends_at", &form.ends_at)?;
        state
            .domain
            .add_window(
                &ctx.actor,
                id,
                NewWindow { label: form.label.clone(), url: form.url.clone(), starts_at, ends_at },
            )
            .await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/events/{id}?notice=window-added"))),
        Err(e) => match invalid(&e) {
            Some(error) => {
                event_page(
                    &state,
                    &frame,
                    &ctx,
                    id,
                    Feedback {
                        form: None,
                        error: None,
                        window_error: Some(error),
                        status: StatusCode::UNPROCESSABLE_ENTITY,
                    },
                )
                .await
            }
            None => Err(PageError::new(&frame, e)),
        },
    }
}

/// `POST /events/{id}/windows/{window_id}/delete`.
pub async fn remove_window(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    Path((id, window)): Path<(Uuid, Uuid)>,
) -> Result<Response, PageError> {
    state.domain.remove_window(&ctx.actor, id, window).await.or_page(&frame)?;
    Ok(see_other(&format!("/events/{id}?notice=window-removed")))
}

/// `POST /events/{id}/delete` (needs step-up): the event and its bands go to the trash.
pub async fn delete(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, PageError> {
    match crate::api::trash::delete_event_with_step_up(&state, &ctx, id).await {
        Ok(()) => Ok(see_other("/events?notice=event-deleted")),
        // Back to this event once confirmed: a form post cannot be replayed, so they delete again.
        Err(ApiError::StepUpRequired) => Ok(step_up_first(&ctx, &format!("/events/{id}?notice=stepped-up"))),
        Err(e) => Err(PageError::new(&frame, e)),
    }
}

/// `GET /events/{id}/sync`: whether the edge has every change (for the page's badge).
pub async fn sync_status(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<serde_json::Value>, PageError> {
    state.domain.get_event(&ctx.actor, id).await.or_page(&frame)?;
    let pending = pusher::pending_for_event(&state.domain.db, id).await.or_page(&frame)?;
    Ok(Json(serde_json::json!({ "synced": pending == 0, "pending": pending })))
}

/// `GET /events/{id}/recent`: the latest hits (for the page's live table).
pub async fn recent(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Vec<RecentHit>>, PageError> {
    state.domain.get_event(&ctx.actor, id).await.or_page(&frame)?;
    Ok(Json(analytics::recent(&state.domain.db, id, 10).await.or_page(&frame)?))
}
