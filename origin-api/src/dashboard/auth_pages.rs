//! Sign-in, the second-factor challenge, MFA enrolment, forgotten and reset
//! passwords, sign-out.

use crate::http::extract::{FormBody, QueryParams};
use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;

use super::page::{Frame, OrPage, PageError, local_path, render, see_other};
use crate::api::mfa::{api_error, finish_sign_in};
use crate::audit::Entry;
use crate::auth::client::Client;
use crate::auth::login::{self, LoginError};
use crate::auth::reset::{self, ResetError};
use crate::auth::session::{self, Stage};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::request_id::RequestId;
use crate::http::session_auth::{SessionContext, clear_cookie, session_cookie};
use crate::mfa::service::{self, Proof};

/// Sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    frame: &'a Frame,
    email: String,
    next: String,
    error: Option<&'a str>,
}

/// `?next=` after sign-in.
#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `GET /login`.
pub async fn login_form(frame: Frame, QueryParams(q): QueryParams<Next>) -> Response {
    render(
        &frame,
        StatusCode::OK,
        &LoginPage { frame: &frame, email: String::new(), next: local_path(q.next.as_deref()), error: None },
    )
}

/// Sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: SecretString,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /login`.
pub async fn login_submit(
    State(state): State<AppState>,
    frame: Frame,
    client: Client,
    request_id: Option<axum::Extension<RequestId>>,
    FormBody(form): FormBody<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    match login::login(&state, &form.email, form.password, &client, request_id.map(|r| r.0.0)).await {
        Ok(done) => {
            let token = state.jwt.issue(
                crate::auth::jwt::SessionClaims { sid: done.session.id, sub: done.user.id },
                state.clock.now(),
            );
            let target = if done.session.stage == Stage::MfaPending {
                format!(
                    "/login/mfa?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                )
            } else {
                next
            };
            let mut response = see_other(&target);
            response.headers_mut().append(header::SET_COOKIE, session_cookie(&state.config, &token));
            response
        }
        Err(e) => {
            let (status, message) = match e {
                LoginError::InvalidCredentials => (
                    StatusCode::UNAUTHORIZED,
                    "That email and password do not match an account we can sign you in to.",
                ),
                LoginError::Throttled { .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many sign-in attempts from here. Wait a few minutes and try again.",
                ),
                LoginError::Internal(e) => return PageError::new(&frame, e).into_response(),
            };
            render(
                &frame,
                status,
                &LoginPage { frame: &frame, email: form.email, next, error: Some(message) },
            )
        }
    }
}

/// Second-factor page.
#[derive(Template)]
#[template(path = "login_mfa.html")]
pub struct MfaPage<'a> {
    frame: &'a Frame,
    next: String,
    error: Option<&'a str>,
}

/// `GET /login/mfa`.
pub async fn mfa_form(mut frame: Frame, ctx: SessionContext, QueryParams(q): QueryParams<Next>) -> Response {
    frame.csrf = ctx.session.csrf_token.clone();
    render(
        &frame,
        StatusCode::OK,
        &MfaPage { frame: &frame, next: local_path(q.next.as_deref()), error: None },
    )
}

/// Second-factor form.
#[derive(Deserialize)]
pub struct MfaForm {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /login/mfa`.
pub async fn mfa_submit(
    State(state): State<AppState>,
    mut frame: Frame,
    ctx: SessionContext,
    FormBody(form): FormBody<MfaForm>,
) -> Response {
    frame.csrf = ctx.session.csrf_token.clone();
    let next = local_path(form.next.as_deref());
    let proof = Proof {
        code: form.code.filter(|c| !c.trim().is_empty()),
        recovery_code: form.recovery_code.filter(|c| !c.trim().is_empty()),
    };
    match finish_sign_in(&state, &ctx, &proof).await {
        Ok((_, token)) => {
            let mut response = see_other(&next);
            response.headers_mut().append(header::SET_COOKIE, session_cookie(&state.config, &token));
            response
        }
        Err(ApiError::Unauthorized) => see_other("/login"),
        Err(ApiError::Unprocessable { .. }) => render(
            &frame,
            StatusCode::UNPROCESSABLE_ENTITY,
            &MfaPage {
                frame: &frame,
                next,
                error: Some(
                    "That code is not valid. Use the current code from your app, or one of your recovery codes.",
                ),
            },
        ),
        Err(e) => PageError::new(&frame, e).into_response(),
    }
}

/// Enrolment page.
#[derive(Template)]
#[template(path = "enrol.html")]
pub struct EnrolPage<'a> {
    frame: &'a Frame,
    enrolled: bool,
    required: bool,
    qr_svg: String,
    secret: String,
    error: Option<&'a str>,
}

/// `GET /mfa/enrol`: a fresh secret and its QR code (or the status, when enrolled).
pub async fn enrol_form(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
) -> Result<Response, PageError> {
    if ctx.user.mfa_enrolled {
        return Ok(render(
            &frame,
            StatusCode::OK,
            &EnrolPage {
                frame: &frame,
                enrolled: true,
                required: ctx.user.mfa_required,
                qr_svg: String::new(),
                secret: String::new(),
                error: None,
            },
        ));
    }
    let enrolment = service::begin_enrolment(&state, &ctx.actor, ctx.user.id, &ctx.user.email)
        .await
        .map_err(api_error)
        .or_page(&frame)?;
    Ok(render(
        &frame,
        StatusCode::OK,
        &EnrolPage {
            frame: &frame,
            enrolled: false,
            required: ctx.user.mfa_required,
            qr_svg: enrolment.qr_svg,
            secret: enrolment.secret_base32,
            error: None,
        },
    ))
}

/// Recovery codes, shown once.
#[derive(Template)]
#[template(path = "enrol_done.html")]
pub struct EnrolDonePage<'a> {
    frame: &'a Frame,
    codes: Vec<String>,
}

/// Code form.
#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// `POST /mfa/enrol`: confirms with a code; shows the recovery codes.
pub async fn enrol_submit(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
    FormBody(form): FormBody<CodeForm>,
) -> Result<Response, PageError> {
    match service::confirm_enrolment(&state, &ctx.actor, ctx.user.id, &form.code).await {
        Ok(codes) => {
            let mut conn = state.domain.db.acquire().await.or_page(&frame)?;
            session::mark_mfa(&mut conn, ctx.session.id, state.clock.now()).await.or_page(&frame)?;
            Ok(render(&frame, StatusCode::OK, &EnrolDonePage { frame: &frame, codes }))
        }
        Err(crate::mfa::service::MfaError::InvalidCode) => {
            // Show a new secret: the old one may have been mistyped into the app.
            let enrolment = service::begin_enrolment(&state, &ctx.actor, ctx.user.id, &ctx.user.email)
                .await
                .map_err(api_error)
                .or_page(&frame)?;
            Ok(render(
                &frame,
                StatusCode::UNPROCESSABLE_ENTITY,
                &EnrolPage {
                    frame: &frame,
                    enrolled: false,
                    required: ctx.user.mfa_required,
                    qr_svg: enrolment.qr_svg,
                    secret: enrolment.secret_base32,
                    error: Some("That code did not match. Scan this new code and try again."),
                },
            ))
        }
        Err(e) => Err(PageError::new(&frame, api_error(e))),
    }
}

/// Forgotten-password page.
#[derive(Template)]
#[template(path = "forgot.html")]
pub struct ForgotPage<'a> {
    frame: &'a Frame,
}

/// `GET /forgot-password`.
pub async fn forgot_form(frame: Frame) -> Response {
    render(&frame, StatusCode::OK, &ForgotPage { frame: &frame })
}

/// Forgotten-password form.
#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// `POST /forgot-password`: the same answer for every address.
pub async fn forgot_submit(
    State(state): State<AppState>,
    client: Client,
    request_id: Option<axum::Extension<RequestId>>,
    FormBody(form): FormBody<ForgotForm>,
) -> Response {
    if let crate::ratelimit::Decision::Allow { .. } =
        state.limiter.check(&format!("reset:ip:{}", client.ip), login::IP_QUOTA, state.clock.now()).await
    {
        reset::request(&state, form.email, client, request_id.map(|r| r.0.0));
    }
    see_other("/login?notice=reset-sent")
}

/// Reset page.
#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage<'a> {
    frame: &'a Frame,
    token: String,
    error: Option<String>,
    /// The link can still be used: the form, not just a way to ask for a new link.
    usable: bool,
}

/// `?token=`.
#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// Whether a reset link can still be used, on the conditions `reset::complete`
/// applies: a used, voided, expired or made-up link says so when it is opened,
/// not after its user has chosen a new password.
async fn reset_link_usable(state: &AppState, token: &str) -> Result<bool, sqlx::Error> {
    use sha2::Digest;
    let token = token.trim();
    if token.is_empty() {
        return Ok(false);
    }
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM password_resets r JOIN users u ON u.id = r.user_id
          WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.voided_at IS NULL AND r.expires_at > $2
            AND u.deleted_at IS NULL AND u.deactivated_at IS NULL)",
    )
    .bind(sha2::Sha256::digest(token.as_bytes()).to_vec())
    .bind(state.clock.now())
    .fetch_one(&state.domain.db)
    .await
}

/// `GET /reset-password?token=…`.
pub async fn reset_form(
    State(state): State<AppState>,
    frame: Frame,
    QueryParams(q): QueryParams<TokenQuery>,
) -> Response {
    let page = match reset_link_usable(&state, &q.token).await {
        Ok(true) => ResetPage { frame: &frame, token: q.token, error: None, usable: true },
        Ok(false) => ResetPage {
            frame: &frame,
            token: String::new(),
            error: Some(ResetError::InvalidToken.to_string()),
            usable: false,
        },
        Err(e) => return PageError::new(&frame, e).into_response(),
    };
    render(&frame, StatusCode::OK, &page)
}

/// Reset form.
#[derive(Deserialize)]
pub struct ResetForm {
    token: String,
    password: SecretString,
}

/// `POST /reset-password`.
pub async fn reset_submit(
    State(state): State<AppState>,
    frame: Frame,
    client: Client,
    request_id: Option<axum::Extension<RequestId>>,
    FormBody(form): FormBody<ResetForm>,
) -> Response {
    match reset::complete(&state, &form.token, form.password, &client, request_id.map(|r| r.0.0)).await {
        Ok(()) => see_other("/login?notice=password-reset"),
        Err(ResetError::Internal(e)) => PageError::new(&frame, e).into_response(),
        Err(e) => {
            let usable = !matches!(e, ResetError::InvalidToken);
            let token = if usable { form.token } else { String::new() };
            render(
                &frame,
                StatusCode::UNPROCESSABLE_ENTITY,
                &ResetPage { frame: &frame, token, error: Some(e.to_string()), usable },
            )
        }
    }
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    frame: Frame,
    ctx: SessionContext,
) -> Result<Response, PageError> {
    let mut tx = state.domain.begin().await.or_page(&frame)?;
    session::revoke(&mut tx, ctx.session.id, state.clock.now(), "logout").await.or_page(&frame)?;
    state
        .domain
        .audit(&mut tx, &ctx.actor, Entry::new("auth.logout", "user", ctx.user.id, ctx.user.org_id))
        .await
        .or_page(&frame)?;
    tx.commit().await.or_page(&frame)?;
    let mut response = see_other("/login");
    response.headers_mut().append(header::SET_COOKIE, clear_cookie(&state.config));
    Ok(response)
}
