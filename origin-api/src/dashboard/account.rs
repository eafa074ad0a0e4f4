//! My account: password change, two-factor status and recovery codes,
//! step-up confirmation, sessions and "sign out everywhere".

use crate::http::extract::{FormBody, PathParam, QueryParams};
use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{Frame, OrPage, PageError, local_path, render, see_other};
use crate::api::auth::change_own_password;
use crate::api::mfa::{api_error, step_up_session};
use crate::api::sessions::{revoke_all_own, revoke_own};
use crate::auth::session;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::session_auth::{SessionContext, session_cookie};
use crate::mfa::service::{self, Proof};

/// One of my sessions.
pub struct SessionRow {
    id: Uuid,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    device: String,
    current: bool,
}

/// The account page.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    frame: &'a Frame,
    name: String,
    email: String,
    role: &'static str,
    mfa_enrolled: bool,
    mfa_required: bool,
    codes_left: i64,
    stepped_up: bool,
    sessions: Vec<SessionRow>,
    next: String,
    password_error: Option<String>,
    step_up_error: Option<&'a str>,
    mfa_error: Option<String>,
    /// Why the user was sent here: an action waits for a fresh second factor.
    step_up_reason: Option<&'static str>,
}

/// `?next=` after a step-up.
#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

async fn page<'a>(
    state: &AppState,
    frame: &'a Frame,
    ctx: &SessionContext,
    next: Option<&str>,
    password_error: Option<String>,
    step_up_error: Option<&'a str>,
) -> Result<AccountPage<'a>, PageError> {
    let mut conn = state.domain.db.acquire().await.or_page(frame)?;
    let now = state.clock.now();
    let sessions = session::list_live(&mut conn, ctx.user.id, now).await.or_page(frame)?;
    let codes_left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(ctx.user.id)
            .fetch_one(&mut *conn)
            .await
            .or_page(frame)?;
    Ok(AccountPage {
        frame,
        name: ctx.user.name.clone(),
        email: ctx.user.email.clone(),
        role: ctx.user.role().as_str(),
        mfa_enrolled: ctx.user.mfa_enrolled,
        mfa_required: ctx.user.mfa_required,
        codes_left,
        stepped_up: session::has_recent_mfa(&ctx.session, now),
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                device: s
                    .user_agent
                    .as_deref()
                    .map(describe_device)
                    .unwrap_or_else(|| "Unknown device".into()),
                current: s.id == ctx.session.id,
            })
            .collect(),
        next: next.map(|n| local_path(Some(n))).unwrap_or_else(|| "/account".into()),
        password_error,
        step_up_error,
        mfa_error: None,
        step_up_reason: None,
    })
}

/// A short, human description of a session's browser ("Firefox on Android").
fn describe_device(user_agent: &str) -> String {
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: &[(&str, &str)] = &[
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Mac OS X", "macOS"),
        ("Windows", "Windows"),
        ("Linux", "Linux"),
    ];
    let pick = |table: &[(&str, &'static str)]| {
        table.iter().find(|(needle, _)| user_agent.contains(needle)).map(|(_, name)| *name)
    };
    match (pick(BROWSERS), pick(SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(one), None) | (None, Some(one)) => one.to_string(),
        (None, None) => "Unknown device".to_string(),
    }
}

/// `GET /account`.
pub async fn show(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    QueryParams(q): QueryParams<NextQuery>,
) -> Result<Response, PageError> {
    let page = page(&state, &frame, &ctx, q.next.as_deref(), None, None).await?;
    // A `next` means an action sent the user here; say why, unless they have already confirmed.
    let step_up_reason = match (q.next.is_some() && !page.stepped_up, page.mfa_enrolled) {
        (false, _) => None,
        (true, true) => Some(
            "The action you chose needs a fresh code from your authenticator app. Enter it below to confirm it is you, then do it again.",
        ),
        (true, false) => {
            Some("The action you chose needs two-factor authentication. Turn it on below, then try again.")
        }
    };
    Ok(render(&frame, StatusCode::OK, &AccountPage { step_up_reason, ..page }))
}

/// Sends the user to confirm their second factor (or to turn one on), then back to `back_to`.
pub fn step_up_first(ctx: &SessionContext, back_to: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(back_to.as_bytes()).collect();
    let section = if ctx.user.mfa_enrolled { "step-up" } else { "mfa-h" };
    see_other(&format!("/account?next={next}#{section}"))
}

/// Password change form.
#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: SecretString,
    new_password: SecretString,
}

/// `POST /account/password`.
pub async fn change_password(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    FormBody(form): FormBody<PasswordForm>,
) -> Result<Response, PageError> {
    match change_own_password(&state, &ctx, form.current_password, form.new_password).await {
        Ok((_, token)) => {
            let mut response = see_other("/account?notice=password-changed");
            response.headers_mut().append(header::SET_COOKIE, session_cookie(&state.config, &token));
            Ok(response)
        }
        Err(ApiError::Unprocessable { message, .. }) => {
            let page = page(&state, &frame, &ctx, None, Some(message), None).await?;
            Ok(render(&frame, StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(PageError::new(&frame, e)),
    }
}

/// Step-up form: a code or a recovery code, and where to go next.
#[derive(Deserialize)]
pub struct StepUpForm {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /account/step-up`: proves the second factor for the next ten minutes of sensitive actions.
pub async fn step_up(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    FormBody(form): FormBody<StepUpForm>,
) -> Result<Response, PageError> {
    let proof = Proof {
        code: form.code.filter(|c| !c.trim().is_empty()),
        recovery_code: form.recovery_code.filter(|c| !c.trim().is_empty()),
    };
    match step_up_session(&state, &ctx, &proof).await {
        Ok(()) => Ok(see_other(&local_path(form.next.as_deref().or(Some("/account"))))),
        Err(ApiError::Unauthorized) => Ok(see_other("/login")),
        Err(ApiError::Unprocessable { .. }) => {
            let page =
                page(&state, &frame, &ctx, form.next.as_deref(), None, Some("That code is not valid."))
                    .await?;
            Ok(render(&frame, StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(PageError::new(&frame, e)),
    }
}

/// New recovery codes, shown once.
#[derive(Template)]
#[template(path = "enrol_done.html")]
pub struct CodesPage<'a> {
    frame: &'a Frame,
    codes: Vec<String>,
}

/// `POST /account/recovery-codes` (needs step-up): a new set; the old set stops working.
pub async fn regenerate_codes(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
) -> Result<Response, PageError> {
    crate::api::mfa::require_step_up(&state, &ctx).or_page(&frame)?;
    let codes = service::regenerate_codes(&state, &ctx.actor, ctx.user.id)
        .await
        .map_err(api_error)
        .or_page(&frame)?;
    Ok(render(&frame, StatusCode::OK, &CodesPage { frame: &frame, codes }))
}

/// `POST /account/sessions/{id}/revoke`.
pub async fn revoke_session(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    PathParam(id): PathParam<Uuid>,
) -> Result<Response, PageError> {
    revoke_own(&state, &ctx, id).await.or_page(&frame)?;
    if id == ctx.session.id {
        return Ok(see_other("/login"));
    }
    Ok(see_other("/account?notice=session-revoked"))
}

/// `POST /account/sessions/revoke-others`: "sign out everywhere" else.
pub async fn revoke_others(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
) -> Result<Response, PageError> {
    revoke_all_own(&state, &ctx, Some(ctx.session.id)).await.or_page(&frame)?;
    Ok(see_other("/account?notice=signed-out-everywhere"))
}

/// Form to turn off two-factor authentication.
#[derive(Deserialize)]
pub struct DisableForm {
    password: SecretString,
    #[serde(default)]
    code: Option<String>,
}

/// `POST /account/mfa/disable` (CUSTOMERs whose organisation does not require it).
pub async fn disable_mfa(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    FormBody(form): FormBody<DisableForm>,
) -> Result<Response, PageError> {
    let proof = Proof { code: form.code.filter(|c| !c.trim().is_empty()), recovery_code: None };
    match crate::api::mfa::disable_own_mfa(&state, &ctx, form.password, &proof).await {
        Ok(()) => Ok(see_other("/account?notice=mfa-disabled")),
        Err(ApiError::Unprocessable { message, .. }) => {
            let page = page(&state, &frame, &ctx, None, None, None).await?;
            Ok(render(
                &frame,
                StatusCode::UNPROCESSABLE_ENTITY,
                &AccountPage {
                    mfa_error: Some(format!("Two-factor authentication is still on: {message}.")),
                    ..page
                },
            ))
        }
        Err(e) => Err(PageError::new(&frame, e)),
    }
}
