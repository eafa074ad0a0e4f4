//! Outgoing signed requests to the origin, with a deadline.

use std::fmt;

use shared::Keyring;
use worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit, Response};

use crate::nonce;

/// Why a signed request did not produce a response.
pub enum FetchError {
    /// No randomness for the nonce.
    NoRandomness,
    /// The request could not be built or sent.
    Failed(worker::Error),
    /// No answer within the deadline.
    Timeout,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::NoRandomness => f.write_str("no randomness for nonce"),
            FetchError::Failed(e) => write!(f, "request failed: {e}"),
            FetchError::Timeout => f.write_str("timed out"),
        }
    }
}

impl From<worker::Error> for FetchError {
    fn from(e: worker::Error) -> Self {
        FetchError::Failed(e)
    }
}

/// Sends `method origin+target` signed with the keyring's signing key, with
/// `request_id` as `X-Request-Id` (the origin adopts it once the signature checks out).
pub async fn send(
    keyring: &Keyring,
    method: Method,
    origin: &str,
    target: &str,
    body: Option<&[u8]>,
    timeout_ms: u32,
    request_id: &str,
) -> Result<Response, FetchError> {
    let nonce = nonce::fresh().ok_or(FetchError::NoRandomness)?;
    let now_secs = (js_sys::Date::now() / 1000.0) as i64;
    let signed = shared::signing::sign(
        keyring.signing_key(),
        method.as_ref(),
        target,
        now_secs,
        &nonce,
        body.unwrap_or(&[]),
    );
    let headers = Headers::new();
    for (name, value) in signed.pairs() {
        headers.set(name, &value)?;
    }
    headers.set("x-request-id", request_id)?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        headers.set("content-type", "application/json")?;
        init.with_body(Some(js_sys::Uint8Array::from(body).into()));
    }
    init.with_headers(headers);
    let request = Request::new_with_init(&format!("{origin}{target}"), &init)?;
    // The runtime enforces the deadline (AbortSignal.timeout) and cancels the request.
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(timeout_ms));
    Fetch::Request(request)
        .send_with_signal(&signal)
        .await
        .map_err(|e| if signal.aborted() { FetchError::Timeout } else { FetchError::Failed(e) })
}
