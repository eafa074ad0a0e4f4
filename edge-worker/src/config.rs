//! Worker configuration, read from bindings (`wrangler.toml` vars and secrets).

use std::cell::OnceCell;
use std::rc::Rc;

use shared::Keyring;
use worker::Env;

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

thread_local! {
    static CACHED: OnceCell<Rc<EdgeConfig>> = const { OnceCell::new() };
}

impl EdgeConfig {
    /// The configuration, read once per isolate: bindings cannot change
    /// during an isolate's life, and the tap path should not pay for them.
    pub fn get(env: &Env) -> Rc<EdgeConfig> {
        CACHED.with(|cell| Rc::clone(cell.get_or_init(|| Rc::new(Self::from_env(env)))))
    }

    /// Reads the configuration; an invalid `FALLBACK_URL` is treated as absent and logged.
    fn from_env(env: &Env) -> Self {
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
            event_cache_ms: (number(env, "EVENT_CACHE_SECONDS", 5) * 1000) as f64,
            read_through_timeout_ms: number(env, "READ_THROUGH_TIMEOUT_MS", 1500) as u32,
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

/// A non-negative integer var, or `default` when unset or malformed.
pub fn number(env: &Env, name: &str, default: u64) -> u64 {
    var(env, name).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(default)
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string()).filter(|v| !v.trim().is_empty())
}
