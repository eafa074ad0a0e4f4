//! Every response the worker sends, each with the shared security headers.
//!
//! Headers are built by hand rather than with `Response.redirect`, whose
//! headers are immutable in workerd.

use std::cell::OnceCell;

use shared::security_headers::{HSTS, SECURITY_HEADERS, STRICT_CSP};
use web_sys::{Headers, Response, ResponseInit};
use worker::Result;

thread_local! {
    static TEMPLATE_HTTP: OnceCell<web_sys::Headers> = const { OnceCell::new() };
    static TEMPLATE_HTTPS: OnceCell<web_sys::Headers> = const { OnceCell::new() };
}

/// Security headers, `no-store`, and HSTS when the request came over HTTPS.
///
/// Built once per isolate and copied per response: one call into the
/// runtime instead of one per header, on every tap.
fn base_headers(https: bool) -> Result<Headers> {
    let slot = if https { &TEMPLATE_HTTPS } else { &TEMPLATE_HTTP };
    slot.with(|cell| {
        if cell.get().is_none() {
            let _ = cell.set(build_template(https)?);
        }
        match cell.get() {
            Some(template) => Ok(Headers::new_with_headers(template)?),
            None => build_template(https),
        }
    })
}

fn build_template(https: bool) -> Result<Headers> {
    let headers = Headers::new()?;
    for (name, value) in SECURITY_HEADERS {
        headers.set(name, value)?;
    }
    headers.set(STRICT_CSP.0, STRICT_CSP.1)?;
    headers.set("cache-control", "no-store")?;
    if https {
        headers.set(HSTS.0, HSTS.1)?;
    }
    Ok(headers)
}

/// The tap's answer: 302 to `location`, never cached, never leaking the band id as a referrer.
pub fn redirect(location: &str, https: bool) -> Result<Response> {
    let headers = base_headers(https)?;
    headers.set("location", location)?;
    respond(302, headers, None)
}

fn respond(status: u16, headers: Headers, body: Option<&str>) -> Result<Response> {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    Ok(Response::new_with_opt_str_and_init(body, &init)?)
}

const NOT_FOUND_PAGE: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Not found</title><h1>This link is not a SparkMotion band</h1><p>Check the address and tap again.</p></html>";

/// Invalid band id or unknown path: a tiny page, no lookup done.
pub fn not_found(https: bool, head: bool) -> Result<Response> {
    html(404, NOT_FOUND_PAGE, https, head)
}

/// A method the path does not support.
pub fn method_not_allowed(allow: &str, https: bool) -> Result<Response> {
    let headers = base_headers(https)?;
    headers.set("allow", allow)?;
    headers.set("content-type", "text/plain; charset=utf-8")?;
    respond(405, headers, Some("method not allowed\n"))
}

/// A plain-text answer (health checks).
pub fn text(status: u16, body: &str, https: bool, head: bool) -> Result<Response> {
    let headers = base_headers(https)?;
    headers.set("content-type", "text/plain; charset=utf-8")?;
    respond(status, headers, (!head).then_some(body))
}

/// A JSON answer for the internal API; errors use `{"error":{"code","message"}}`.
pub fn json(status: u16, value: &serde_json::Value, https: bool) -> Result<Response> {
    let headers = base_headers(https)?;
    headers.set("content-type", "application/json")?;
    respond(status, headers, Some(&value.to_string()))
}

/// The stable error shape.
pub fn json_error(status: u16, code: &str, message: &str, https: bool) -> Result<Response> {
    json(status, &serde_json::json!({ "error": { "code": code, "message": message } }), https)
}

fn html(status: u16, page: &str, https: bool, head: bool) -> Result<Response> {
    let headers = base_headers(https)?;
    headers.set("content-type", "text/html; charset=utf-8")?;
    respond(status, headers, (!head).then_some(page))
}
