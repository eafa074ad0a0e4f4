//! Which budget a request draws from: per signed-in user for reads and for
//! writes, per client IP for anonymous callers. Quotas come from the
//! configuration (`RATE_LIMIT_READ`, `RATE_LIMIT_WRITE`, `RATE_LIMIT_ANONYMOUS`,
//! each `<requests>/<seconds>s`).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

use super::{Decision, Quota};

/// The quotas per route class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Signed-in reads (GET/HEAD), per user.
    pub read: Quota,
    /// Signed-in writes, per user.
    pub write: Quota,
    /// Anonymous callers (sign-in, reset, public pages), per client IP.
    pub anonymous: Quota,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            read: Quota::new(600, Duration::from_secs(60)),
            write: Quota::new(120, Duration::from_secs(60)),
            anonymous: Quota::new(120, Duration::from_secs(60)),
        }
    }
}

/// Parses `<requests>/<seconds>s` (e.g. `600/60s`).
pub fn parse_quota(raw: &str) -> Result<Quota, String> {
    let (n, period) =
        raw.trim().split_once('/').ok_or_else(|| format!("{raw:?}: expected <requests>/<seconds>s"))?;
    let burst: u32 = n.trim().parse().map_err(|_| format!("{raw:?}: {n:?} is not a count"))?;
    let secs: u64 = period
        .trim()
        .trim_end_matches('s')
        .parse()
        .map_err(|_| format!("{raw:?}: {period:?} is not a number of seconds"))?;
    if burst == 0 || secs == 0 {
        return Err(format!("{raw:?}: requests and seconds must be positive"));
    }
    Ok(Quota::new(burst, Duration::from_secs(secs)))
}

/// The `RateLimit-*` headers (IETF draft) for a decision under `quota`.
pub fn headers(headers: &mut HeaderMap, quota: Quota, decision: Decision) {
    let emission = quota.emission_ms().max(1) as u64;
    let (remaining, reset_ms) = match decision {
        Decision::Allow { remaining } => {
            (remaining, emission * u64::from(quota.burst.saturating_sub(remaining)))
        }
        Decision::Deny { retry_after } => (0, retry_after.as_millis() as u64),
    };
    let reset = reset_ms.div_ceil(1000);
    if matches!(decision, Decision::Deny { .. }) {
        // The JSON refusal sets it already; a page refusal gets it here.
        if let Ok(v) = HeaderValue::from_str(&reset.max(1).to_string()) {
            headers.entry(axum::http::header::RETRY_AFTER).or_insert(v);
        }
    }
    for (name, value) in [
        ("ratelimit-limit", quota.burst.to_string()),
        ("ratelimit-remaining", remaining.to_string()),
        ("ratelimit-reset", reset.to_string()),
        ("ratelimit-policy", format!("{};w={}", quota.burst, quota.period.as_secs())),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_and_bad_ones_are_named() {
        assert_eq!(parse_quota("600/60s"), Ok(Quota::new(600, Duration::from_secs(60))));
        assert_eq!(parse_quota(" 5 / 10 "), Ok(Quota::new(5, Duration::from_secs(10))));
        for bad in ["", "600", "x/60s", "600/xs", "0/60s", "5/0s"] {
            assert!(parse_quota(bad).is_err(), "{bad:?}");
        }
    }
}
