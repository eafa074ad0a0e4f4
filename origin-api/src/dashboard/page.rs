//! Rendering a page: the shared frame (navigation, notices, request id), the
//! nonce-based CSP, and errors as friendly pages.

use askama::Template;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use serde::Deserialize;

use crate::domain::actor::Role;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::request_id::RequestId;
use crate::http::session_auth::SessionContext;

/// The signed-in user as the navigation shows them.
#[derive(Debug, Clone)]
pub struct NavUser {
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// ADMIN.
    pub is_admin: bool,
}

/// What every page knows about its request.
#[derive(Debug, Clone)]
pub struct Frame {
    /// CSP nonce for this response.
    pub nonce: String,
    /// The session's CSRF token (empty when signed out).
    pub csrf: String,
    /// The signed-in user.
    pub user: Option<NavUser>,
    /// Request id (shown on error pages).
    pub request_id: String,
    /// A notice after a redirect (`?notice=key`, fixed texts only).
    pub notice: Option<&'static str>,
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

/// Fixed notice texts: the query string picks one, it never supplies text.
fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "event-saved" => {
            "Saved. The edge has it once the badge says “Live”; Cloudflare may take up to a minute to reach every location."
        }
        "event-created" => "Event created.",
        "window-added" => "Window added. The edge follows the schedule on its own once synced.",
        "window-removed" => "Window removed.",
        "band-saved" => "Band saved. The edge has it once synced; allow up to a minute worldwide.",
        "bands-imported" => "Bands imported.",
        "password-changed" => "Password changed. Your other sessions were signed out.",
        "signed-out-everywhere" => "Every other session was signed out.",
        "session-revoked" => "That session was signed out.",
        "user-invited" => "Invitation sent.",
        "user-saved" => "User saved.",
        "mfa-disabled" => "Two-factor authentication is off for your account.",
        "user-deactivated" => "User deactivated; their sessions were signed out.",
        "user-reactivated" => "User reactivated.",
        "mfa-reset" => "Two-factor authentication was reset; the user must enrol again.",
        "reset-sent" => "If an account exists for that address, a reset link is on its way.",
        "password-reset" => "Your password was changed. Sign in with it now.",
        "stepped-up" => "Confirmed: for the next ten minutes, sensitive actions need no new code.",
        "event-deleted" => {
            "Event deleted, with its bands: their taps now go to the fallback. You can restore it from Trash for 30 days."
        }
        "band-deleted" => {
            "Band deleted: its taps now go to the fallback. You can restore it from Trash for 30 days."
        }
        "event-restored" => {
            "Event restored, with the bands deleted along with it. The edge has them again once synced."
        }
        "band-restored" => "Band restored. The edge has it again once synced.",
        "user-restored" => "User restored: they can sign in again with their password.",
        "org-restored" => "Organisation restored, with the events, bands and users deleted along with it.",
        _ => return None,
    })
}

fn nonce() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
}

impl FromRequestParts<AppState> for Frame {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let notice = Query::<NoticeQuery>::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|Query(q)| q.notice)
            .and_then(|k| notice_text(&k));
        let ctx = parts.extensions.get::<SessionContext>();
        Ok(Frame {
            nonce: nonce(),
            csrf: ctx.map(|c| c.session.csrf_token.clone()).unwrap_or_default(),
            user: ctx.map(|c| NavUser {
                name: c.user.name.clone(),
                email: c.user.email.clone(),
                is_admin: c.user.role() == Role::Admin,
            }),
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default(),
            notice,
        })
    }
}

/// The page CSP: scripts only from us and with this response's nonce, styles only from us.
pub fn csp(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Renders `template` as the page of `frame`, with its CSP.
pub fn render(frame: &Frame, status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            if let Ok(v) = HeaderValue::from_str(&csp(&frame.nonce)) {
                headers.insert(header::CONTENT_SECURITY_POLICY, v);
            }
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Redirect after a successful form (303: the browser follows with GET).
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// Frame.
    pub frame: &'a Frame,
    /// Heading.
    pub title: &'a str,
    /// Explanation.
    pub message: String,
}

/// An error on a page: rendered as a friendly page with the request id.
#[derive(Debug)]
pub struct PageError(Box<(Frame, ApiError)>);

impl PageError {
    /// Wraps an error for `frame`'s page.
    pub fn new(frame: &Frame, error: impl Into<ApiError>) -> Self {
        Self(Box::new((frame.clone(), error.into())))
    }
}

/// `?` on domain results inside page handlers.
pub trait OrPage<T> {
    /// Turns the error into a page for `frame`.
    fn or_page(self, frame: &Frame) -> Result<T, PageError>;
}

impl<T, E: Into<ApiError>> OrPage<T> for Result<T, E> {
    fn or_page(self, frame: &Frame) -> Result<T, PageError> {
        self.map_err(|e| PageError::new(frame, e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (frame, error) = *self.0;
        error_page(&frame, error)
    }
}

/// Renders any error as a page (used by handlers and by the authorization layer).
pub fn error_page(frame: &Frame, error: ApiError) -> Response {
    if matches!(error, ApiError::StepUpRequired) {
        // Not an error to the user: confirm the code, then carry on.
        return see_other("/account#step-up");
    }
    let (status, title, message) = match &error {
        ApiError::NotFound => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing here, or it is not yours to see.".to_string(),
        ),
        ApiError::Forbidden | ApiError::ForbiddenBecause(_) => (
            StatusCode::FORBIDDEN,
            "Not allowed",
            if let ApiError::ForbiddenBecause(r) = &error {
                (*r).to_string()
            } else {
                "You do not have access to this page or action. If you submitted a form, reload the page and try again.".into()
            },
        ),
        ApiError::TooManyRequests { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Slow down",
            "Too many attempts. Wait a minute and try again.".into(),
        ),
        ApiError::Internal(e) => {
            tracing::error!(error = ?e, "page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "We could not complete this. It has been logged; quote the request id below if you contact support.".into())
        }
        other => (StatusCode::BAD_REQUEST, "That did not work", other.to_string()),
    };
    render(frame, status, &ErrorPage { frame, title, message })
}

/// How the authorization layer answers a page request it refuses.
pub fn refused(path: &str, request_id: String, error: ApiError) -> Response {
    match error {
        ApiError::Unauthorized => {
            let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        }
        ApiError::MfaEnrolmentRequired => Redirect::to("/mfa/enrol").into_response(),
        other => {
            let frame = Frame { nonce: nonce(), csrf: String::new(), user: None, request_id, notice: None };
            error_page(&frame, other)
        }
    }
}

/// `GET /`: the events list (or, signed out, the sign-in page it redirects to).
pub async fn home() -> Response {
    see_other("/events")
}

/// Whether a path is a dashboard page (as opposed to the API or the edge's routes).
pub fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path.starts_with("/internal/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics"))
}

/// A safe redirect target after sign-in: a local path only (no `//host`, no scheme).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.contains("://") => {
            p.to_string()
        }
        _ => "/events".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_stay_local() {
        assert_eq!(local_path(Some("/events/1")), "/events/1");
        for evil in
            ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)", "evil"]
        {
            assert_eq!(local_path(Some(evil)), "/events", "{evil}");
        }
        assert_eq!(local_path(None), "/events");
    }

    #[test]
    fn deletion_notices_name_the_restore_period_the_domain_keeps() {
        let days = format!("{} days", crate::domain::trash::RESTORE_DAYS);
        for key in ["event-deleted", "band-deleted"] {
            assert!(notice_text(key).is_some_and(|t| t.contains(&days)), "{key}");
        }
    }

    #[test]
    fn csp_has_no_unsafe_sources() {
        let c = csp("abc");
        assert!(c.contains("script-src 'self' 'nonce-abc'") && c.contains("frame-ancestors 'none'"));
        assert!(!c.contains("unsafe"));
    }
}
