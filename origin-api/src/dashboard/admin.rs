//! ADMIN pages: the audit log with filters, and users (invite, role,
//! deactivate/reactivate, MFA reset). Sensitive changes need a step-up.

use crate::http::extract::{FormBody, PathParam, QueryParams};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{Frame, OrPage, PageError, render, see_other};
use crate::api::users::{InviteBody, invite_user};
use crate::audit::query::{self, AuditEntry, AuditQuery};
use crate::auth::client::Client;
use crate::domain::DomainError;
use crate::domain::actor::Role;
use crate::domain::orgs::Organization;
use crate::domain::users::{User, UserPatch};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::SessionContext;

/// Rows per audit page.
const AUDIT_PAGE: i64 = 100;

/// Audit filters as the form sends them (empty fields mean "any").
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditFilters {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor_id: String,
    #[serde(default)]
    target_type: String,
    #[serde(default)]
    target_id: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: Option<i64>,
}

/// A date (`2026-12-03`) or a `datetime-local` value, read as UTC.
fn parse_when(field: &'static str, value: &str) -> Result<Option<DateTime<Utc>>, DomainError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(Some(t.and_utc()));
        }
    }
    Err(DomainError::invalid(field, "use a date like 2026-12-03 or 2026-12-03T18:30 (UTC)"))
}

fn optional(value: &str) -> Option<String> {
    Some(value.trim()).filter(|v| !v.is_empty()).map(str::to_string)
}

/// A text filter: no stored value holds a NUL (Postgres text cannot), and
/// sending one would fail the query, so it is refused like any bad filter.
fn text_filter(field: &'static str, value: &str) -> Result<Option<String>, DomainError> {
    if value.contains('\0') {
        return Err(DomainError::invalid(field, "must not contain control characters"));
    }
    Ok(optional(value))
}

impl AuditFilters {
    fn query(&self) -> Result<AuditQuery, DomainError> {
        let actor_id = match optional(&self.actor_id) {
            Some(id) => {
                Some(Uuid::parse_str(&id).map_err(|_| DomainError::invalid("actor", "not a user id"))?)
            }
            None => None,
        };
        Ok(AuditQuery {
            actor_id,
            action: text_filter("action", &self.action)?,
            target_type: text_filter("target kind", &self.target_type)?,
            target_id: text_filter("target id", &self.target_id)?,
            from: parse_when("from", &self.from)?,
            to: parse_when("to", &self.to)?,
            before: self.before,
            limit: Some(AUDIT_PAGE),
        })
    }

    /// The query string of these filters for the next page.
    fn next_page(&self, before: i64) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("action", &self.action),
            ("actor_id", &self.actor_id),
            ("target_type", &self.target_type),
            ("target_id", &self.target_id),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.trim().is_empty() {
                out.append_pair(k, v.trim());
            }
        }
        out.append_pair("before", &before.to_string());
        out.finish()
    }
}

/// One audit row as shown.
pub struct AuditRow {
    entry: AuditEntry,
    change: String,
}

/// Compact JSON of what changed (the stored values are already redacted).
fn change_of(entry: &AuditEntry) -> String {
    let show = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    match (&entry.before, &entry.after) {
        (None, None) => String::new(),
        (None, Some(_)) => show(&entry.after),
        (Some(_), None) => format!("was {}", show(&entry.before)),
        (Some(_), Some(_)) => format!("{} → {}", show(&entry.before), show(&entry.after)),
    }
}

/// The audit log page.
#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage<'a> {
    frame: &'a Frame,
    filters: AuditFilters,
    rows: Vec<AuditRow>,
    next: Option<String>,
    error: Option<String>,
}

/// `GET /audit`.
pub async fn audit(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    QueryParams(filters): QueryParams<AuditFilters>,
) -> Result<Response, PageError> {
    let query = match filters.query() {
        Ok(q) => q,
        Err(DomainError::Invalid { field, reason }) => {
            let error = Some(format!("{field}: {reason}"));
            return Ok(render(
                &frame,
                StatusCode::UNPROCESSABLE_ENTITY,
                &AuditPage { frame: &frame, filters, rows: Vec::new(), next: None, error },
            ));
        }
        Err(e) => return Err(PageError::new(&frame, e)),
    };
    let entries = query::list(&state.domain.db, &ctx.actor, &query).await.or_page(&frame)?;
    let next = match entries.last() {
        Some(last) if entries.len() as i64 == AUDIT_PAGE => Some(filters.next_page(last.seq)),
        _ => None,
    };
    let rows = entries.into_iter().map(|entry| AuditRow { change: change_of(&entry), entry }).collect();
    Ok(render(&frame, StatusCode::OK, &AuditPage { frame: &frame, filters, rows, next, error: None }))
}

/// One user as listed.
pub struct UserRow {
    user: User,
    org: String,
    mfa: bool,
}

/// The users page.
#[derive(Template)]
#[template(path = "users.html")]
pub struct UsersPage<'a> {
    frame: &'a Frame,
    rows: Vec<UserRow>,
    orgs: Vec<Organization>,
    invite: InviteForm,
    error: Option<String>,
    me: Uuid,
}

/// Invitation form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    org_id: String,
}

async fn users_page<'a>(
    state: &AppState,
    frame: &'a Frame,
    ctx: &SessionContext,
    invite: InviteForm,
    error: Option<String>,
) -> Result<UsersPage<'a>, PageError> {
    let users = state.domain.list_users(&ctx.actor).await.or_page(frame)?;
    let orgs = state.domain.list_orgs(&ctx.actor).await.or_page(frame)?;
    let enrolled: Vec<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM mfa_totp WHERE confirmed_at IS NOT NULL")
            .fetch_all(&state.domain.db)
            .await
            .or_page(frame)?;
    let rows = users
        .into_iter()
        .map(|user| UserRow {
            org: user
                .org_id
                .and_then(|id| orgs.iter().find(|o| o.id == id))
                .map(|o| o.name.clone())
                .unwrap_or_default(),
            mfa: enrolled.contains(&user.id),
            user,
        })
        .collect();
    Ok(UsersPage { frame, rows, orgs, invite, error, me: ctx.user.id })
}

/// `GET /users`.
pub async fn users(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
) -> Result<Response, PageError> {
    let page = users_page(
        &state,
        &frame,
        &ctx,
        InviteForm { role: "CUSTOMER".into(), ..InviteForm::default() },
        None,
    )
    .await?;
    Ok(render(&frame, StatusCode::OK, &page))
}

fn form_error(e: &ApiError) -> Option<String> {
    match e {
        ApiError::Unprocessable { message, .. } | ApiError::Conflict(message) => Some(message.clone()),
        _ => None,
    }
}

fn parse_org(value: &str) -> Result<Option<Uuid>, ApiError> {
    match optional(value) {
        Some(id) => Uuid::parse_str(&id)
            .map(Some)
            .map_err(|_| DomainError::invalid("organisation", "choose one from the list").into()),
        None => Ok(None),
    }
}

fn parse_role(value: &str) -> Result<Role, ApiError> {
    Role::parse(value.trim()).ok_or_else(|| DomainError::invalid("role", "ADMIN or CUSTOMER").into())
}

/// `POST /users`: invites a user (they choose their password from the mailed link).
pub async fn invite(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    client: Client,
    FormBody(form): FormBody<InviteForm>,
) -> Result<Response, PageError> {
    let result = async {
        let body = InviteBody {
            email: form.email.clone(),
            name: form.name.clone(),
            role: parse_role(&form.role)?,
            org_id: parse_org(&form.org_id)?,
        };
        invite_user(&state, &ctx, &client, body).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/users?notice=user-invited")),
        Err(e) => match form_error(&e) {
            Some(error) => {
                let page = users_page(&state, &frame, &ctx, form, Some(error)).await?;
                Ok(render(&frame, StatusCode::UNPROCESSABLE_ENTITY, &page))
            }
            None => Err(PageError::new(&frame, e)),
        },
    }
}

/// Sends the ADMIN to confirm their second factor, then back to the users page.
fn step_up_first() -> Response {
    see_other("/account?next=%2Fusers#step-up")
}

/// Runs a sensitive user change: a missing step-up sends the ADMIN to confirm
/// first; validation problems show on the users page.
async fn sensitive(
    state: &AppState,
    frame: &Frame,
    ctx: &SessionContext,
    notice: &str,
    result: Result<(), ApiError>,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(see_other(&format!("/users?notice={notice}"))),
        Err(ApiError::StepUpRequired) => Ok(step_up_first()),
        Err(e) => match form_error(&e) {
            Some(error) => {
                let page = users_page(state, frame, ctx, InviteForm::default(), Some(error)).await?;
                Ok(render(frame, StatusCode::UNPROCESSABLE_ENTITY, &page))
            }
            None => Err(PageError::new(frame, e)),
        },
    }
}

/// User edit form.
#[derive(Debug, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    org_id: String,
}

/// `POST /users/{id}`: role and organisation (needs step-up).
pub async fn update(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
    FormBody(form): FormBody<UserForm>,
) -> Result<Response, PageError> {
    let result = async {
        crate::api::mfa::require_step_up(&state, &ctx)?;
        let patch =
            // The form always shows the organisation: "(no organisation)" means none.
            UserPatch { role: Some(parse_role(&form.role)?), org_id: Some(parse_org(&form.org_id)?), name: None };
        state.domain.update_user(&ctx.actor, id, patch).await?;
        Ok(())
    }
    .await;
    sensitive(&state, &frame, &ctx, "user-saved", result).await
}

/// `POST /users/{id}/deactivate` (needs step-up): signs them out everywhere.
pub async fn deactivate(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, PageError> {
    let result = async {
        crate::api::mfa::require_step_up(&state, &ctx)?;
        state.domain.set_user_active(&ctx.actor, id, false).await?;
        Ok(())
    }
    .await;
    sensitive(&state, &frame, &ctx, "user-deactivated", result).await
}

/// `POST /users/{id}/reactivate`.
pub async fn reactivate(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, PageError> {
    let result = state.domain.set_user_active(&ctx.actor, id, true).await.map(|_| ()).map_err(ApiError::from);
    sensitive(&state, &frame, &ctx, "user-reactivated", result).await
}

/// `POST /users/{id}/mfa-reset` (needs step-up).
pub async fn reset_mfa(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, PageError> {
    let result = crate::api::mfa::reset_user_mfa(&state, &ctx, id).await;
    sensitive(&state, &frame, &ctx, "mfa-reset", result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_dates_accept_days_and_local_times_and_refuse_garbage() {
        assert_eq!(parse_when("from", "").ok(), Some(None));
        assert!(parse_when("from", "2026-12-03").is_ok_and(|t| t.is_some()));
        assert!(parse_when("from", "2026-12-03T18:30").is_ok_and(|t| t.is_some()));
        assert!(parse_when("from", "yesterday").is_err());
        assert!(parse_when("from", "2026-13-01").is_err());
    }

    #[test]
    fn next_page_keeps_the_filters_and_encodes_them() {
        let f = AuditFilters { action: "auth.".into(), target_id: "a&b=c".into(), ..AuditFilters::default() };
        let q = f.next_page(42);
        assert_eq!(q, "action=auth.&target_id=a%26b%3Dc&before=42");
    }
}
