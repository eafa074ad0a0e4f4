//! The HTTP surface: routes, shared state, middleware.

pub mod error;
pub mod extract;
pub mod request_id;
pub mod routes;
pub mod security_headers;
pub mod session_auth;
pub mod signed;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;

use crate::auth::jwt::JwtKeys;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::Domain;
use crate::mail::Mailer;
use crate::ratelimit::Limiter;
use error::ApiError;
use session_auth::Access;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Domain services (and the database).
    pub domain: Domain,
    /// Configuration.
    pub config: Arc<Config>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Session tokens.
    pub jwt: JwtKeys,
    /// Rate limits.
    pub limiter: Arc<Limiter>,
    /// Outgoing mail.
    pub mailer: Mailer,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (spec, handler) in routes::handlers() {
        let access = spec.access;
        let guarded = handler
            .route_layer(middleware::from_fn_with_state(state.clone(), move |s, req, next| {
                session_auth::enforce(s, access, req, next)
            }));
        // CSV imports may be large (up to 100 000 bands); everything else keeps axum's 2 MiB default.
        let guarded = if spec.path.ends_with("/bands/import") {
            guarded.layer(DefaultBodyLimit::max(session_auth::MAX_UPLOAD_BYTES))
        } else {
            guarded
        };
        let _: Access = access;
        router = router.route(spec.path, guarded);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), security_headers::apply))
        .layer(middleware::from_fn_with_state(state.clone(), request_id::assign))
        .with_state(state)
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /metrics`: Prometheus text, for a scraper presenting `Authorization: Bearer $METRICS_TOKEN`
/// (404 when no token is configured, 401 for a missing or wrong one).
pub async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use secrecy::ExposeSecret;
    use subtle::ConstantTimeEq;
    let Some(token) = &state.config.metrics_token else {
        return ApiError::NotFound.into_response();
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = token.expose_secret().as_bytes();
    if presented.len() != expected.len() || !bool::from(presented.as_bytes().ct_eq(expected)) {
        tracing::warn!(event = "metrics_unauthorized", "metrics scrape without the right token");
        return ApiError::Unauthorized.into_response();
    }
    match state.metrics.render(&state.domain.db).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `GET /readyz`: the database answers and its schema is this binary's (503 otherwise, with the
/// reason). Redis, when configured, is reported but does not fail readiness: without it rate
/// limits fall back to each replica (see [`crate::ratelimit`]), which is no reason to stop serving.
pub async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let redis = match state.limiter.shared_health().await {
        None => "not configured".to_string(),
        Some(Ok(())) => "ok".to_string(),
        Some(Err(e)) => {
            tracing::warn!(event = "ratelimit_degraded", error = %e, "Redis unreachable: rate limits are per replica");
            format!("degraded: {e}")
        }
    };
    match crate::db::check_ready(&state.domain.db).await {
        Ok(()) => axum::Json(
            serde_json::json!({ "status": "ready", "database": "ok", "migrations": "ok", "redis": redis }),
        )
        .into_response(),
        Err(e) => {
            tracing::warn!(event = "not_ready", reason = %e, "readiness check failed");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(
                    serde_json::json!({ "status": "not_ready", "reason": e.to_string(), "redis": redis }),
                ),
            )
                .into_response()
        }
    }
}

async fn not_found(req: axum::extract::Request) -> axum::response::Response {
    refusal(&req, ApiError::NotFound)
}

async fn method_not_allowed(req: axum::extract::Request) -> axum::response::Response {
    refusal(&req, ApiError::MethodNotAllowed)
}

/// A refusal outside any route: a page for browsers on dashboard paths, JSON elsewhere.
fn refusal(req: &axum::extract::Request, error: ApiError) -> axum::response::Response {
    use axum::response::IntoResponse;
    if crate::dashboard::page::is_page(req.uri().path()) {
        let request_id =
            req.extensions().get::<request_id::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        crate::dashboard::page::refused(req.uri().path(), request_id, error)
    } else {
        error.into_response()
    }
}
