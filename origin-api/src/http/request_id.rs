//! One id per request: on the tracing span of every log line and in the
//! `x-request-id` response header (and error bodies' logs), so a user's
//! report can be matched to the logs.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use shared::signing::VerifiedHeaders;
use tracing::Instrument;

/// The request's id, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Assigns a fresh id, opens the request span, and echoes the id back.
pub async fn assign(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let signed = verified_signature(&state, &req);
    let id = signed
        .as_ref()
        .and_then(|_| edge_request_id(&req))
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    if let Some(verified) = signed {
        // The signed handlers take it from here instead of computing the HMAC again.
        req.extensions_mut().insert(verified);
    }
    let route = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_string());
    let method = req.method().clone();
    // user_id and org_id are filled in by the authorization layer once it knows them.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        route = route.as_deref().unwrap_or("(unmatched)"),
        status = tracing::field::Empty,
        user_id = tracing::field::Empty,
        org_id = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("status", status);
    state.metrics.request(
        route.as_deref().unwrap_or("(unmatched)"),
        method.as_str(),
        status,
        started.elapsed().as_secs_f64(),
    );
    span.in_scope(|| {
        tracing::info!(
            event = "request",
            status,
            latency_ms = started.elapsed().as_millis() as u64,
            "handled"
        );
    });
    let mut response = if status >= 400 { with_request_id_in_error(response, &id).await } else { response };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Largest JSON error body rewritten to carry the request id.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Adds `error.request_id` to a JSON error body, so a user's report can be matched to the logs.
async fn with_request_id_in_error(response: Response, id: &str) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut value) if value.get("error").is_some_and(serde_json::Value::is_object) => {
            value["error"]["request_id"] = serde_json::Value::String(id.to_string());
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            axum::body::Body::from(value.to_string())
        }
        _ => axum::body::Body::from(bytes),
    };
    Response::from_parts(parts, body)
}

/// The signature headers of a call to an internal route, when they verify
/// (a failure is left to the handler, which refuses and logs it).
fn verified_signature(state: &super::AppState, req: &Request) -> Option<VerifiedHeaders> {
    if !req.uri().path().starts_with("/internal/") {
        return None;
    }
    let headers = req.headers();
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    shared::signing::verify_headers(
        &state.config.signing_keys,
        req.method().as_str(),
        target,
        |name| headers.get(name).and_then(|v| v.to_str().ok()),
        state.clock.now().timestamp(),
    )
    .ok()
}

/// The edge's own id for a signed call (`X-Request-Id`, else `cf-ray`), so one
/// id follows a tap from the edge's log to the origin's. Taken only when the
/// signature headers verify, and only if it is short and plain (it goes into
/// every log line): `edge-<id>`.
fn edge_request_id(req: &Request) -> Option<String> {
    let headers = req.headers();
    let raw = headers.get("x-request-id").or_else(|| headers.get("cf-ray"))?.to_str().ok()?;
    let plain =
        !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    plain.then(|| format!("edge-{raw}"))
}
