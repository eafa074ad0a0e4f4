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
    add(response.headers_mut(), state.config.is_production());
    response
}

/// The headers every response carries; HSTS only in production, which is served over HTTPS only.
fn add(headers: &mut axum::http::HeaderMap, production: bool) {
    for (name, value) in SECURITY_HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    headers.entry(HeaderName::from_static(STRICT_CSP.0)).or_insert(HeaderValue::from_static(STRICT_CSP.1));
    headers.entry(axum::http::header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    if production {
        headers.insert(HeaderName::from_static(HSTS.0), HeaderValue::from_static(HSTS.1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_adds_hsts_and_a_page_keeps_its_own_csp() {
        let mut dev = axum::http::HeaderMap::new();
        add(&mut dev, false);
        assert!(dev.get(HSTS.0).is_none(), "never pin a development host to HTTPS");
        assert_eq!(dev.get("x-xss-protection").and_then(|v| v.to_str().ok()), Some("0"));
        assert_eq!(dev.get(STRICT_CSP.0).and_then(|v| v.to_str().ok()), Some(STRICT_CSP.1));

        let mut prod = axum::http::HeaderMap::new();
        prod.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'self'; script-src 'nonce-x'"),
        );
        add(&mut prod, true);
        assert_eq!(prod.get(HSTS.0).and_then(|v| v.to_str().ok()), Some(HSTS.1));
        assert_eq!(
            prod.get("content-security-policy").and_then(|v| v.to_str().ok()),
            Some("default-src 'self'; script-src 'nonce-x'"),
            "a dashboard page's nonce CSP is kept"
        );
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(prod.get(*name).and_then(|v| v.to_str().ok()), Some(*value), "{name}");
        }
    }
}
