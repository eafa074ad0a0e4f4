//! One JSON object per log line, so logs can be queried rather than grepped.
//! Never pass secrets, tokens, IPs or raw user agents here.

use worker::{console_error, console_log, console_warn};

fn line(level: &str, event: &str, fields: &[(&str, &str)]) -> String {
    let mut map = serde_json::Map::with_capacity(fields.len() + 2);
    map.insert("level".into(), level.into());
    map.insert("event".into(), event.into());
    for (k, v) in fields {
        map.insert((*k).into(), (*v).into());
    }
    serde_json::Value::Object(map).to_string()
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
