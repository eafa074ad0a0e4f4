//! One JSON object per log line, so logs can be queried rather than grepped.
//! Never pass secrets, tokens, IPs or raw user agents here.

use worker::{console_error, console_log, console_warn};

fn line(level: &str, event: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(64);
    let pairs = [("level", level), ("event", event)].into_iter().chain(fields.iter().copied());
    for (i, (key, value)) in pairs.enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        push_json_string(&mut out, key);
        out.push(':');
        push_json_string(&mut out, value);
    }
    out.push('}');
    out
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    // Serialising a `&str` cannot fail; an empty string is the harmless fallback.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// Informational line.
pub fn info(event: &str, fields: &[(&str, &str)]) {
    console_log!("{}", line("info", event, fields));
}

/// Something went wrong but was handled.
pub fn warn(event: &str, fields: &[(&str, &str)]) {
    console_warn!("{}", line("warn", event, fields));
}

/// Something needs an operator.
pub fn error(event: &str, fields: &[(&str, &str)]) {
    console_error!("{}", line("error", event, fields));
}

/// Informational line carrying one already-serialised JSON object (e.g. a tap) under `key`.
pub fn info_with_json(event: &str, key: &str, json_object: &str) {
    let mut out = line("info", event, &[]);
    out.pop();
    out.push(',');
    push_json_string(&mut out, key);
    out.push(':');
    out.push_str(json_object);
    out.push('}');
    console_log!("{}", out);
}
