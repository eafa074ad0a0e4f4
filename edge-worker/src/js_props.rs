//! Reading `request.cf` without the `worker` crate's panicking accessors.

use wasm_bindgen::JsValue;
use web_sys::Request;

/// Country and colo from `request.cf`, each only if well-formed.
pub fn country_and_colo(req: &Request) -> (Option<String>, Option<String>) {
    let cf = js_sys::Reflect::get(req.as_ref(), &JsValue::from_str("cf")).unwrap_or(JsValue::UNDEFINED);
    if !cf.is_object() {
        return (None, None);
    }
    let text =
        |name: &str| js_sys::Reflect::get(&cf, &JsValue::from_str(name)).ok().and_then(|v| v.as_string());
    let country = text("country")
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    let colo =
        text("colo").filter(|c| (3..=4).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_uppercase()));
    (country, colo)
}
