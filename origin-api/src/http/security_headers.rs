//! The shared security headers (same list as the edge) on every response.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use shared::security_headers::{HSTS, SECURITY_HEADERS, STRICT_CSP};

use super::AppState;

/// Adds the headers; a route that sets its own CSP (dashboard pages, with a nonce) keeps it.
pub async fn apply(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    headers.entry(HeaderName::from_static(STRICT_CSP.0)).or_insert(HeaderValue::from_static(STRICT_CSP.1));
    headers.entry(axum::http::header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    if state.config.is_production() {
        headers.insert(HeaderName::from_static(HSTS.0), HeaderValue::from_static(HSTS.1));
    }
    response
}
