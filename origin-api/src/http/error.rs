//! The one place errors become HTTP answers: a stable
//! `{"error": {"code", "message"}}` body, never SQL, stacks or secrets.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::DomainError;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or invalid credentials or signature.
    #[error("authentication required")]
    Unauthorized,
    /// Authenticated but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// Not allowed, with a reason the user should see.
    #[error("{0}")]
    ForbiddenBecause(&'static str),
    /// Signed in, but a second factor must be set up before anything else.
    #[error("set up two-factor authentication to continue")]
    MfaEnrolmentRequired,
    /// The action needs a second-factor proof from the last 10 minutes.
    #[error("confirm with your authentication code to continue")]
    StepUpRequired,
    /// Sign-in refused (never says why).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Rate limited.
    #[error("too many requests; retry later")]
    TooManyRequests {
        /// When to retry.
        retry_after: std::time::Duration,
    },
    /// No such resource (or not visible to the caller).
    #[error("not found")]
    NotFound,
    /// The route exists, not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Unparseable request.
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// Body or item count over the limit.
    #[error("{message}")]
    TooLarge {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// Well-formed but breaking a rule.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// Collides with existing data.
    #[error("{0}")]
    Conflict(String),
    /// Anything else: logged with detail, answered without.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// Shorthand for [`ApiError::BadRequest`].
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code, message: message.into() }
    }

    /// Shorthand for [`ApiError::Unprocessable`].
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable { code, message: message.into() }
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", self.to_string()),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", self.to_string()),
            ApiError::ForbiddenBecause(reason) => (StatusCode::FORBIDDEN, "forbidden", (*reason).to_string()),
            ApiError::MfaEnrolmentRequired => {
                (StatusCode::FORBIDDEN, "mfa_enrolment_required", self.to_string())
            }
            ApiError::StepUpRequired => (StatusCode::FORBIDDEN, "step_up_required", self.to_string()),
            ApiError::InvalidCredentials => {
                (StatusCode::UNAUTHORIZED, "invalid_credentials", self.to_string())
            }
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", self.to_string())
            }
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", self.to_string()),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", self.to_string())
            }
            ApiError::BadRequest { code, message } => (StatusCode::BAD_REQUEST, code, message.clone()),
            ApiError::TooLarge { code, message } => (StatusCode::PAYLOAD_TOO_LARGE, code, message.clone()),
            ApiError::Unprocessable { code, message } => {
                (StatusCode::UNPROCESSABLE_ENTITY, code, message.clone())
            }
            ApiError::Conflict(message) => (StatusCode::CONFLICT, "conflict", message.clone()),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = ?e, "request failed");
        }
        let (status, code, message) = self.parts();
        let mut response =
            (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response();
        if let ApiError::TooManyRequests { retry_after } = &self {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound => ApiError::NotFound,
            DomainError::Forbidden => ApiError::Forbidden,
            DomainError::Invalid { field, reason } => {
                ApiError::unprocessable("invalid", format!("{field}: {reason}"))
            }
            DomainError::Conflict(message) => ApiError::Conflict(message),
            DomainError::Database(e) => ApiError::Internal(e.into()),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        // What a database error means to the caller is the domain's call.
        ApiError::from(DomainError::from(e))
    }
}
