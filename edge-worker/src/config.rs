//! Worker configuration, read from bindings (`wrangler.toml` vars and secrets).

use shared::Keyring;
use worker::Env;

/// KV namespace holding `band:` and `event:` records.
pub const KV_BINDING: &str = "BANDS";
/// Queue producer for taps.
pub const QUEUE_BINDING: &str = "TAPS";

/// The settings the tap path and the consumer need.
pub struct EdgeConfig {
    /// Last-resort destination (`FALLBACK_URL`), when valid.
    pub fallback_url: Option<String>,
    /// Origin base URL (`ORIGIN_URL`); unset disables read-through and delivery.
    pub origin_url: Option<String>,
    /// How long event records stay in the isolate cache.
    pub event_cache_ms: f64,
    /// Budget for the KV-miss call to the origin.
    pub read_through_timeout_ms: u32,
}

impl EdgeConfig {
    /// Reads the configuration; an invalid `FALLBACK_URL` is treated as absent and logged.
    pub fn from_env(env: &Env) -> Self {
        let fallback_url = var(env, "FALLBACK_URL").filter(|url| match shared::destination::check(url) {
            Ok(()) => true,
            Err(e) => {
                crate::log::error("config_invalid", &[("var", "FALLBACK_URL"), ("reason", &e.to_string())]);
                false
            }
        });
        Self {
            fallback_url,
            origin_url: origin_url(env),
            event_cache_ms: number(env, "EVENT_CACHE_SECONDS", 5.0) * 1000.0,
            read_through_timeout_ms: number(env, "READ_THROUGH_TIMEOUT_MS", 1500.0) as u32,
        }
    }
}

/// `ORIGIN_URL` without a trailing slash, if set.
pub fn origin_url(env: &Env) -> Option<String> {
    var(env, "ORIGIN_URL").map(|u| u.trim_end_matches('/').to_string())
}

/// The edge ↔ origin keyring from the `SIGNING_KEYS` secret (or var in development).
pub fn keyring(env: &Env) -> Option<Keyring> {
    let spec = env.secret("SIGNING_KEYS").ok().map(|s| s.to_string()).or_else(|| var(env, "SIGNING_KEYS"))?;
    match Keyring::parse(&spec) {
        Ok(ring) => Some(ring),
        Err(e) => {
            crate::log::error("config_invalid", &[("var", "SIGNING_KEYS"), ("reason", &e.to_string())]);
            None
        }
    }
}

/// A numeric var, or `default` when unset or not a finite non-negative number.
pub fn number(env: &Env, name: &str, default: f64) -> f64 {
    var(env, name)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .unwrap_or(default)
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string()).filter(|v| !v.trim().is_empty())
}
