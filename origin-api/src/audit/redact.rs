//! Secrets never enter the audit trail: any field whose name suggests one is
//! replaced, at any depth, before the row is written.

use serde_json::Value;

const SENSITIVE: &[&str] =
    &["password", "secret", "token", "hash", "totp", "recovery", "otp", "key", "cookie", "csrf"];

/// Replaces the values of sensitive-looking fields with `"[redacted]"`.
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if SENSITIVE.iter().any(|s| lower.contains(s)) {
                        (k, Value::String("[redacted]".into()))
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::redact;
    use serde_json::json;

    #[test]
    fn redacts_at_any_depth_and_keeps_the_rest() {
        let v = redact(
            json!({"name": "x", "password_hash": "$argon2", "nested": [{"totpSecret": "AAAA", "ok": 1}], "api_key": "k"}),
        );
        assert_eq!(
            v,
            json!({"name": "x", "password_hash": "[redacted]", "nested": [{"totpSecret": "[redacted]", "ok": 1}], "api_key": "[redacted]"})
        );
    }
}
