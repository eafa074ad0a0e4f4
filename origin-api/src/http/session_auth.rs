//! The one layer every route goes through: who is calling, and may they.
//!
//! Each route declares an [`Access`]; [`enforce`] turns the session cookie
//! into a [`SessionContext`] (JWT → live server-side session → user), checks
//! the stage and role, and for state-changing requests the CSRF origin and
//! token. Handlers then only ever see an authorised actor, and the domain
//! filters every query by that actor's organisation.

use axum::body::{Body, Bytes};
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Duration;

use super::AppState;
use super::error::ApiError;
use super::request_id::RequestId;
use crate::auth::client::Client;
use crate::auth::csrf;
use crate::auth::jwt::SessionClaims;
use crate::auth::session::{self, AuthUser, Session, Stage};
use crate::config::Config;
use crate::domain::actor::{Actor, Principal, Role};
use crate::ratelimit::{self, Decision, Quota};

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Anyone (sign-in, password reset, health). State-changing requests still need our origin.
    Public,
    /// The edge: HMAC-signed requests, checked by the handler.
    Signed,
    /// A session that passed the password but still owes its second factor.
    MfaPending,
    /// A signed-in user who must still enrol a second factor (enrolment routes only).
    Enrolment,
    /// Any signed-in user.
    User,
    /// A signed-in ADMIN.
    Admin,
}

/// The caller of a route that needs a session.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The session.
    pub session: Session,
    /// Its user.
    pub user: AuthUser,
    /// The actor for domain calls and the audit trail.
    pub actor: Actor,
}

impl FromRequestParts<AppState> for SessionContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<SessionContext>().cloned().ok_or(ApiError::Unauthorized)
    }
}

/// Session cookie name: `__Host-` in production (Secure, Path=/, no Domain — cannot be planted by a subdomain).
pub fn cookie_name(config: &Config) -> &'static str {
    if config.is_production() { "__Host-sm_session" } else { "sm_session" }
}

/// `Set-Cookie` for a session token.
pub fn session_cookie(config: &Config, token: &str) -> HeaderValue {
    let max_age = session::ABSOLUTE_HOURS * 3600;
    let value =
        format!("{}={token}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={max_age}", cookie_name(config));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_cookie(config: &Config) -> HeaderValue {
    let value = format!("{}=; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=0", cookie_name(config));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session token from the `Cookie` header(s).
pub fn read_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Largest form body buffered to read a CSRF field.
const MAX_FORM_BYTES: usize = 1 << 20;

/// Largest upload buffered to read its CSRF field (a CSV import plus the multipart framing).
pub const MAX_UPLOAD_BYTES: usize = crate::band_import::MAX_FILE_BYTES + 64 * 1024;

/// The middleware. `access` is the route's declaration.
pub async fn enforce(State(state): State<AppState>, access: Access, req: Request, next: Next) -> Response {
    // Dashboard pages answer refusals as pages (sign-in redirect, friendly error), the API as JSON.
    let page = crate::dashboard::page::is_page(req.uri().path())
        .then(|| (req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string(), request_id_of(&req)));
    let ip = client_ip_of(&state, &req);
    match authorise(&state, access, req).await {
        Ok((req, refreshed)) => {
            let (req, limit) = match rate_limit(&state, access, req, ip).await {
                Ok(allowed) => allowed,
                Err((quota, decision, e)) => {
                    let mut response = match page {
                        Some((target, request_id)) => crate::dashboard::page::refused(&target, request_id, e),
                        None => e.into_response(),
                    };
                    ratelimit::classes::headers(response.headers_mut(), quota, decision);
                    return response;
                }
            };
            let mut response = next.run(req).await;
            if let Some((quota, decision)) = limit {
                ratelimit::classes::headers(response.headers_mut(), quota, decision);
            }
            // A handler that set the cookie itself (sign-out, a new session) has the last word.
            if let Some(cookie) = refreshed.filter(|_| !response.headers().contains_key(header::SET_COOKIE)) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => {
            // A refused caller still spends its IP's budget: otherwise cookie
            // guessing, or replaying a revoked token (a database read each),
            // would be free and unlimited.
            let limited = match e {
                ApiError::Unauthorized if access != Access::Signed => charge_refused_caller(&state, ip).await,
                _ => None,
            };
            let (e, limit) = match limited {
                Some((quota, decision, refusal)) => (refusal, Some((quota, decision))),
                None => (e, None),
            };
            let mut response = match page {
                Some((target, request_id)) => crate::dashboard::page::refused(&target, request_id, e),
                None => e.into_response(),
            };
            if let Some((quota, decision)) = limit {
                ratelimit::classes::headers(response.headers_mut(), quota, decision);
            }
            response
        }
    }
}

/// The real client IP of `req` (trusted-proxy aware).
fn client_ip_of(state: &AppState, req: &Request) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |ConnectInfo(addr)| addr.ip());
    crate::auth::client::client_ip(&state.config, peer, req.headers())
}

/// Charges an unauthenticated refusal to the client IP's anonymous budget;
/// answers the 429 to send instead when that budget is spent.
async fn charge_refused_caller(state: &AppState, ip: IpAddr) -> Option<Refusal> {
    let quota = state.config.rate_limits.anonymous;
    match state.limiter.check(&format!("ip:{ip}"), quota, state.clock.now()).await {
        Decision::Allow { .. } => None,
        d @ Decision::Deny { retry_after } => {
            tracing::warn!(event = "rate_limited", scope = "ip", "refused caller over its rate limit");
            Some((quota, d, ApiError::TooManyRequests { retry_after }))
        }
    }
}

type Refusal = (Quota, Decision, ApiError);

/// Draws one request from the caller's budget: the signed-in user's (read or
/// write), else the client IP's. The edge's signed calls are not limited here.
async fn rate_limit(
    state: &AppState,
    access: Access,
    req: Request,
    ip: IpAddr,
) -> Result<(Request, Option<(Quota, Decision)>), Refusal> {
    // The edge's signed calls, and probes that must answer while the service is under load.
    if access == Access::Signed || matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return Ok((req, None));
    }
    let limits = state.config.rate_limits;
    let (key, quota) = match req.extensions().get::<SessionContext>() {
        Some(ctx) if is_state_changing(req.method()) => (format!("user:{}:write", ctx.user.id), limits.write),
        Some(ctx) => (format!("user:{}:read", ctx.user.id), limits.read),
        None => {
            return match state.limiter.check(&format!("ip:{ip}"), limits.anonymous, state.clock.now()).await {
                d @ Decision::Allow { .. } => Ok((req, Some((limits.anonymous, d)))),
                d @ Decision::Deny { retry_after } => {
                    tracing::warn!(
                        event = "rate_limited",
                        scope = "ip",
                        "anonymous caller over its rate limit"
                    );
                    Err((limits.anonymous, d, ApiError::TooManyRequests { retry_after }))
                }
            };
        }
    };
    match state.limiter.check(&key, quota, state.clock.now()).await {
        d @ Decision::Allow { .. } => Ok((req, Some((quota, d)))),
        d @ Decision::Deny { retry_after } => {
            tracing::warn!(event = "rate_limited", scope = "user", "user over its rate limit");
            Err((quota, d, ApiError::TooManyRequests { retry_after }))
        }
    }
}

fn request_id_of(req: &Request) -> String {
    req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default()
}

async fn authorise(
    state: &AppState,
    access: Access,
    req: Request,
) -> Result<(Request, Option<HeaderValue>), ApiError> {
    let changing = is_state_changing(req.method());
    match access {
        Access::Signed => return Ok((req, None)),
        Access::Public => {
            if changing {
                check_origin(state, &req)?;
            }
            return Ok((req, None));
        }
        Access::MfaPending | Access::Enrolment | Access::User | Access::Admin => {}
    }
    let (mut parts, body) = req.into_parts();
    let now = state.clock.now();
    let token = read_cookie(&parts.headers, cookie_name(&state.config)).ok_or(ApiError::Unauthorized)?;
    // The token lives 15 minutes but the session 30 idle: a token that expired
    // while its user was away is accepted to be replaced, if (just below) its
    // session is still live. At most the idle timeout past its expiry, which
    // an honest browser's latest token never needs (its session idles out
    // first), so a token lifted from an old log cannot ride on a session that
    // newer tokens keep alive.
    let verified = state.jwt.verify(token, now, Duration::minutes(session::IDLE_MINUTES)).map_err(|e| {
        tracing::info!(event = "session_token_rejected", reason = %e, "session token refused");
        ApiError::Unauthorized
    })?;
    let SessionClaims { sid, sub } = verified.claims;
    let mut conn = state.domain.db.acquire().await?;
    // Not revoked, not idle, within its absolute end, user active: this is what renews an expired token.
    let (session, user) =
        session::load_live(&mut conn, sid, sub, now).await?.ok_or(ApiError::Unauthorized)?;
    drop(conn);

    let role = user.role();
    let stage_ok = match access {
        Access::MfaPending => session.stage == Stage::MfaPending,
        _ => session.stage == Stage::Full,
    };
    if !stage_ok {
        return Err(ApiError::Unauthorized);
    }
    // An ADMIN (or anyone whose organisation requires it) without a second
    // factor may only enrol, see themselves and sign out.
    if matches!(access, Access::User | Access::Admin) && user.must_enrol() {
        return Err(ApiError::MfaEnrolmentRequired);
    }
    if access == Access::Admin && role != Role::Admin {
        return Err(ApiError::Forbidden);
    }

    let client = Client::from_request_parts(&mut parts, state).await.unwrap_or_else(|e| match e {});
    let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
    let actor = Actor {
        principal: Principal::User { id: user.id, role, org_id: user.org_id, email: user.email.clone() },
        request_id,
        ip_hash: Some(client.ip_hash),
        user_agent: Some(client.user_agent),
    };
    let mut body = body;
    if changing {
        csrf::check_origin(&state.config.public_url, &parts.headers).map_err(|e| csrf_refused(&parts, e))?;
        let header_token =
            parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        let presented = match header_token {
            Some(t) => Some(t),
            None if is_form(&parts.headers) => {
                let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
                    ApiError::TooLarge { code: "body_too_large", message: "form too large".into() }
                })?;
                let field = form_field(&bytes, "csrf_token");
                body = Body::from(bytes);
                field
            }
            None => match multipart_boundary(&parts.headers) {
                Some(boundary) => {
                    let bytes = axum::body::to_bytes(body, MAX_UPLOAD_BYTES).await.map_err(|_| {
                        ApiError::TooLarge { code: "body_too_large", message: "upload too large".into() }
                    })?;
                    let field = multipart_field(bytes.clone(), boundary, "csrf_token").await;
                    body = Body::from(bytes);
                    field
                }
                None => None,
            },
        };
        csrf::check_token(&session.csrf_token, presented.as_deref()).map_err(|e| csrf_refused(&parts, e))?;
    }
    // Keep an active user's token fresh, and replace one that expired while
    // its (still live) session sat idle; the session row decides when idle ends.
    if verified.expired {
        tracing::info!(event = "session_token_renewed", session_id = %sid, "expired token of a live session replaced");
    }
    let refreshed = (verified.expired || now - verified.issued_at > Duration::minutes(5)).then(|| {
        super::session_auth::session_cookie(&state.config, &state.jwt.issue(SessionClaims { sid, sub }, now))
    });
    let span = tracing::Span::current();
    span.record("user_id", tracing::field::display(user.id));
    if let Some(org) = user.org_id {
        span.record("org_id", tracing::field::display(org));
    }
    parts.extensions.insert(SessionContext { session, user, actor });
    Ok((Request::from_parts(parts, body), refreshed))
}

fn check_origin(state: &AppState, req: &Request) -> Result<(), ApiError> {
    csrf::check_origin(&state.config.public_url, req.headers()).map_err(|e| {
        tracing::warn!(event = "csrf_rejected", reason = %e, path = req.uri().path(), "cross-site request refused");
        ApiError::Forbidden
    })
}

fn csrf_refused(parts: &Parts, e: csrf::CsrfError) -> ApiError {
    tracing::warn!(event = "csrf_rejected", reason = %e, path = parts.uri.path(), "state-changing request refused");
    ApiError::Forbidden
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

fn form_field(body: &Bytes, name: &str) -> Option<String> {
    url::form_urlencoded::parse(body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    multer::parse_boundary(content_type).ok()
}

/// A text field of a buffered multipart body (the dashboard puts `csrf_token` first).
async fn multipart_field(body: Bytes, boundary: String, name: &str) -> Option<String> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    fn key(id: &str) -> String {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        format!("{id}:{}", hex::encode(secret))
    }

    fn config(production: bool) -> Config {
        let keys = [key("s"), key("a"), key("j"), key("m")];
        let mut vars = vec![
            ("APP_ENV", if production { "production" } else { "development" }),
            ("DATABASE_URL", "postgres://x/y"),
            ("SIGNING_KEYS", keys[0].as_str()),
            ("AUDIT_KEYS", keys[1].as_str()),
            ("JWT_KEYS", keys[2].as_str()),
            ("MFA_KEYS", keys[3].as_str()),
        ];
        if production {
            vars.push(("PUBLIC_URL", "https://dashboard.example"));
            vars.push(("SMTP_URL", "smtps://mail.example:465"));
        }
        let config =
            Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
        assert_eq!(config.is_production(), production);
        config
    }

    /// The cookie's name and value, and its attributes lower-cased.
    fn parse(set_cookie: &HeaderValue) -> (String, Vec<String>) {
        let text = set_cookie.to_str().unwrap();
        let mut parts = text.split(';').map(str::trim);
        let pair = parts.next().unwrap().to_string();
        (pair, parts.map(str::to_ascii_lowercase).collect())
    }

    fn assert_safe_attributes(what: &str, attributes: &[String], max_age: i64) {
        for a in ["httponly", "secure", "samesite=lax", "path=/"] {
            assert!(attributes.iter().any(|x| x == a), "{what}: {a} missing from {attributes:?}");
        }
        assert!(attributes.contains(&format!("max-age={max_age}")), "{what}: {attributes:?}");
        assert!(!attributes.iter().any(|a| a.starts_with("domain")), "{what}: no Domain: {attributes:?}");
        assert_eq!(attributes.len(), 5, "{what}: nothing else: {attributes:?}");
    }

    fn cookie_header(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    /// Production names the cookie `__Host-sm_session` with everything the prefix needs
    /// (Secure, Path=/, no Domain) plus HttpOnly and SameSite=Lax, sets and clears it
    /// under that name, and reads only that name (a planted `sm_session` is ignored).
    #[test]
    fn production_uses_a_host_prefixed_cookie_with_safe_attributes() {
        let prod = config(true);
        assert_eq!(cookie_name(&prod), "__Host-sm_session");
        let (pair, attributes) = parse(&session_cookie(&prod, "tok.en.sig"));
        assert_eq!(pair, "__Host-sm_session=tok.en.sig");
        assert_safe_attributes("session cookie", &attributes, session::ABSOLUTE_HOURS * 3600);
        let (pair, attributes) = parse(&clear_cookie(&prod));
        assert_eq!(pair, "__Host-sm_session=", "the clearing cookie must have the same name to replace it");
        assert_safe_attributes("clearing cookie", &attributes, 0);

        let planted = cookie_header("sm_session=planted; __Host-sm_session=real");
        assert_eq!(read_cookie(&planted, cookie_name(&prod)), Some("real"));
        assert_eq!(read_cookie(&cookie_header("sm_session=planted"), cookie_name(&prod)), None);
    }

    /// Development (plain HTTP on localhost) uses `sm_session`, with the same attributes.
    #[test]
    fn development_uses_the_plain_cookie_name() {
        let dev = config(false);
        assert_eq!(cookie_name(&dev), "sm_session");
        let (pair, attributes) = parse(&session_cookie(&dev, "t"));
        assert_eq!(pair, "sm_session=t");
        assert_safe_attributes("session cookie", &attributes, session::ABSOLUTE_HOURS * 3600);
        let (pair, attributes) = parse(&clear_cookie(&dev));
        assert_eq!(pair, "sm_session=");
        assert_safe_attributes("clearing cookie", &attributes, 0);
        assert_eq!(
            read_cookie(&cookie_header("__Host-sm_session=x; sm_session=y"), cookie_name(&dev)),
            Some("y")
        );
    }
}
