//! Path, query and body extractors whose failures are ours: the API answers
//! its stable `{"error":…}` shape and pages answer a friendly page, instead
//! of axum's plain-text rejections (which also echo the raw input back).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FormRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::request_id::RequestId;
use crate::dashboard::page;

/// Answers a refused extraction the way the path's audience expects.
fn refuse(path: &str, request_id: Option<&RequestId>, error: ApiError) -> Response {
    if page::is_page(path) {
        page::refused(path, request_id.map(|r| r.0.clone()).unwrap_or_default(), error)
    } else {
        axum::response::IntoResponse::into_response(error)
    }
}

/// Path parameters (e.g. `/events/{id}` as a `Uuid`): a malformed one is "not found".
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParam(value)),
            // An id that cannot exist names nothing: the same answer as an unknown one.
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(refuse(parts.uri.path(), parts.extensions.get(), ApiError::NotFound))
            }
            Err(e) => {
                tracing::error!(error = %e, "path parameters unavailable");
                Err(refuse(
                    parts.uri.path(),
                    parts.extensions.get(),
                    ApiError::Internal(anyhow::anyhow!("{e}")),
                ))
            }
        }
    }
}

/// Query parameters: a malformed one is `400 invalid_query`, naming no input.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let message = format!("invalid query parameters: {}", describe(&e.body_text()));
                Err(refuse(
                    parts.uri.path(),
                    parts.extensions.get(),
                    ApiError::bad_request("invalid_query", message),
                ))
            }
            Err(e) => Err(refuse(
                parts.uri.path(),
                parts.extensions.get(),
                ApiError::bad_request("invalid_query", e.body_text()),
            )),
        }
    }
}

/// An HTML form body (`application/x-www-form-urlencoded`).
pub struct FormBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for FormBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let path = req.uri().path().to_string();
        let request_id = req.extensions().get::<RequestId>().cloned();
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(FormBody(value)),
            Err(e) => {
                let error = match e {
                    FormRejection::InvalidFormContentType(_) => ApiError::bad_request(
                        "unsupported_media_type",
                        "send the form as application/x-www-form-urlencoded",
                    ),
                    FormRejection::BytesRejection(_) => {
                        ApiError::TooLarge { code: "body_too_large", message: "the form is too large".into() }
                    }
                    other => ApiError::unprocessable(
                        "invalid_form",
                        format!("the form is incomplete or malformed: {}", describe(&other.body_text())),
                    ),
                };
                Err(refuse(&path, request_id.as_ref(), error))
            }
        }
    }
}

/// A raw body up to the route's limit; over it is `413 body_too_large`.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let path = req.uri().path().to_string();
        let request_id = req.extensions().get::<RequestId>().cloned();
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(BytesRejection::FailedToBufferBody(_)) => Err(refuse(
                &path,
                request_id.as_ref(),
                ApiError::TooLarge {
                    code: "body_too_large",
                    message: "the body is larger than this endpoint accepts".into(),
                },
            )),
            Err(e) => {
                Err(refuse(&path, request_id.as_ref(), ApiError::bad_request("malformed", e.body_text())))
            }
        }
    }
}

/// serde's explanation, with any quoted input that is not a short plain word
/// elided: "unknown variant `exploded`, expected one of `active`, …" stays
/// useful, a hostile value is not echoed.
fn describe(text: &str) -> String {
    let detail = text.split_once(": ").map_or(text, |(_, d)| d);
    let mut out = String::with_capacity(detail.len().min(240));
    for (i, part) in detail.split('`').enumerate() {
        let plain =
            part.len() <= 32 && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        match (i % 2 == 1, plain) {
            (true, true) => out.push_str(&format!("`{part}`")),
            (true, false) => out.push_str("`…`"),
            (false, _) => out.extend(part.chars().filter(|c| !c.is_control())),
        }
    }
    out.chars().take(240).collect()
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn descriptions_keep_plain_words_and_drop_hostile_input() {
        assert_eq!(
            describe("Failed to deserialize query string: unknown variant `exploded`, expected `active`"),
            "unknown variant `exploded`, expected `active`"
        );
        assert_eq!(describe("x: invalid value `<script>alert(1)</script>`"), "invalid value `…`");
    }
}
