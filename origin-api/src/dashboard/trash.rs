//! Trash: what the user deleted and may still restore (events and bands of
//! their organisation; for ADMINs also users and organisations), and the
//! restore buttons. The rules (who, how long) are the domain's.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use shared::BandId;
use uuid::Uuid;

use super::page::{Frame, OrPage, PageError, render, see_other};
use crate::domain::DomainError;
use crate::domain::trash::TrashItem;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::PathParam;
use crate::http::session_auth::SessionContext;

/// One deleted item as shown.
pub struct TrashRow {
    kind: &'static str,
    id: String,
    name: String,
    org: String,
    deleted_at: DateTime<Utc>,
    deleted_by: String,
    restorable_until: DateTime<Utc>,
    restore_path: String,
}

/// The trash page.
#[derive(Template)]
#[template(path = "trash.html")]
pub struct TrashPage<'a> {
    frame: &'a Frame,
    rows: Vec<TrashRow>,
    is_admin: bool,
    error: Option<String>,
}

/// What a kind is called on the page, and the segment of its restore route.
fn kind_of(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "event" => ("Event", "events"),
        "band" => ("Band", "bands"),
        "user" => ("User", "users"),
        "org" => ("Organisation", "orgs"),
        _ => return None,
    })
}

fn row(item: TrashItem, org_names: &[(Uuid, String)]) -> Option<TrashRow> {
    let (kind, segment) = kind_of(&item.kind)?;
    let org = item
        .org_id
        .and_then(|id| org_names.iter().find(|(o, _)| *o == id))
        .map(|(_, name)| name.clone())
        .unwrap_or_default();
    Some(TrashRow {
        kind,
        restore_path: format!("/trash/{segment}/{}/restore", item.id),
        id: item.id,
        name: item.name,
        org,
        deleted_at: item.deleted_at,
        deleted_by: item.deleted_by.unwrap_or_else(|| "an operator (command line)".into()),
        restorable_until: item.restorable_until,
    })
}

async fn page(
    state: &AppState,
    frame: &Frame,
    ctx: &SessionContext,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let items = state.domain.list_trash(&ctx.actor).await.or_page(frame)?;
    let is_admin = ctx.actor.is_platform();
    let mut org_names: Vec<(Uuid, String)> = Vec::new();
    if is_admin {
        // A deleted organisation names itself; live ones come from the list.
        org_names.extend(
            items.iter().filter(|i| i.kind == "org").filter_map(|i| Some((i.org_id?, i.name.clone()))),
        );
        let orgs = state.domain.list_orgs(&ctx.actor).await.or_page(frame)?;
        org_names.extend(orgs.into_iter().map(|o| (o.id, o.name)));
    }
    let rows = items.into_iter().filter_map(|item| row(item, &org_names)).collect();
    Ok(render(frame, status, &TrashPage { frame, rows, is_admin, error }))
}

/// `GET /trash`.
pub async fn list(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
) -> Result<Response, PageError> {
    page(&state, &frame, &ctx, None, StatusCode::OK).await
}

/// Back to the trash after a restore; a refusal the user can act on (too late,
/// its event is deleted) is shown there, anything else is an error page.
async fn restored(
    state: &AppState,
    frame: &Frame,
    ctx: &SessionContext,
    notice: &str,
    result: Result<(), DomainError>,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(see_other(&format!("/trash?notice={notice}"))),
        Err(DomainError::Conflict(message)) => {
            page(state, frame, ctx, Some(message), StatusCode::CONFLICT).await
        }
        Err(e) => Err(PageError::new(frame, e)),
    }
}

/// `POST /trash/events/{id}/restore`: the event and the bands deleted with it.
pub async fn restore_event(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, PageError> {
    let result = state.domain.restore_event(&ctx.actor, id).await;
    restored(&state, &frame, &ctx, "event-restored", result).await
}

/// `POST /trash/bands/{band_id}/restore`.
pub async fn restore_band(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(raw): PathParam<String>,
) -> Result<Response, PageError> {
    let band_id = BandId::parse(&raw).map_err(|_| PageError::new(&frame, ApiError::NotFound))?;
    let result = state.domain.restore_band(&ctx.actor, &band_id).await;
    restored(&state, &frame, &ctx, "band-restored", result).await
}

/// `POST /trash/users/{id}/restore` (ADMIN).
pub async fn restore_user(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, PageError> {
    let result = state.domain.restore_user(&ctx.actor, id).await;
    restored(&state, &frame, &ctx, "user-restored", result).await
}

/// `POST /trash/orgs/{id}/restore` (ADMIN): with what was deleted along with it.
pub async fn restore_org(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, PageError> {
    let result = state.domain.restore_org(&ctx.actor, id).await;
    restored(&state, &frame, &ctx, "org-restored", result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_the_domain_lists_has_a_restore_route() {
        let table = crate::http::routes::table();
        for kind in ["event", "band", "user", "org"] {
            let Some((_, segment)) = kind_of(kind) else { panic!("{kind} has no name on the page") };
            let prefix = format!("/trash/{segment}/");
            assert!(
                table.iter().any(|r| r.path.starts_with(&prefix) && r.path.ends_with("/restore")),
                "{kind}: no {prefix}…/restore route"
            );
        }
        assert!(kind_of("window").is_none());
    }
}
