//! The HTTP surface: routes, shared state, middleware.

pub mod error;
pub mod request_id;
pub mod security_headers;
pub mod signed;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::Domain;
use crate::{band_lookup, ingest};
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Domain services (and the database).
    pub domain: Domain,
    /// Configuration.
    pub config: Arc<Config>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/internal/v1/taps", post(ingest::ingest))
        .route("/internal/v1/bands/{id}", get(band_lookup::lookup))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), security_headers::apply))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
