//! Rate limiting with GCRA (the generic cell rate algorithm): each key has a
//! "theoretical arrival time"; a request is allowed if it is not more than
//! the burst tolerance ahead of now. One number per key, exact, and the
//! same arithmetic in process and in Redis.
//!
//! [`Limiter`] uses Redis when `REDIS_URL` is set, so all replicas share one
//! budget per key. If Redis fails or is slow (over [`redis::TIMEOUT`]), the
//! request is checked against this replica's in-process limiter instead:
//! limits stay in force (per replica, so up to N times looser with N
//! replicas) and the outage never turns into refused or failed requests.
//! Each degraded check logs `event = "ratelimit_degraded"`.

pub mod classes;
pub mod memory;
pub mod redis;

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A rate: `burst` requests at once, refilled at one per `period / burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed at once.
    pub burst: u32,
    /// Time to refill the whole burst.
    pub period: Duration,
}

impl Quota {
    /// `burst` per `period`.
    pub const fn new(burst: u32, period: Duration) -> Self {
        Self { burst, period }
    }

    /// Milliseconds between two requests at the steady rate.
    pub fn emission_ms(&self) -> i64 {
        (self.period.as_millis() as i64 / i64::from(self.burst.max(1))).max(1)
    }
}

/// The limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; `remaining` more fit in the burst right now.
    Allow {
        /// Requests left before limiting.
        remaining: u32,
    },
    /// Too many; retry after this long.
    Deny {
        /// Time until one request is allowed again.
        retry_after: Duration,
    },
}

/// One GCRA step: given the stored arrival time (ms), decide and return the new one.
pub fn gcra(tat_ms: Option<i64>, now: DateTime<Utc>, quota: Quota) -> (Decision, Option<i64>) {
    let now_ms = now.timestamp_millis();
    let emission = quota.emission_ms();
    let tolerance = emission * i64::from(quota.burst.max(1));
    // Allowed requests never put the TAT more than `tolerance` ahead of now; one
    // that is, was stored before the clock stepped back: start the key afresh
    // rather than refuse it for as long as the step (only the server's own
    // clock can do this, never a client).
    let tat = match tat_ms {
        Some(tat) if tat <= now_ms + tolerance => tat.max(now_ms),
        _ => now_ms,
    };
    let new_tat = tat + emission;
    let allow_at = new_tat - tolerance;
    if allow_at > now_ms {
        let wait = (allow_at - now_ms) as u64;
        return (Decision::Deny { retry_after: Duration::from_millis(wait) }, None);
    }
    let remaining = ((now_ms - allow_at) / emission).clamp(0, i64::from(u32::MAX)) as u32;
    (Decision::Allow { remaining }, Some(new_tat))
}

/// The limiter the service uses: Redis when configured, in-process otherwise or as fallback.
pub struct Limiter {
    memory: memory::MemoryLimiter,
    shared: Option<redis::RedisLimiter>,
}

impl Limiter {
    /// In-process only.
    pub fn in_process() -> Self {
        Self { memory: memory::MemoryLimiter::default(), shared: None }
    }

    /// Shared through Redis at `url`, with the in-process limiter as fallback.
    pub fn shared(url: &str, prefix: &str) -> Result<Self, ::redis::RedisError> {
        Ok(Self {
            memory: memory::MemoryLimiter::default(),
            shared: Some(redis::RedisLimiter::new(url, prefix)?),
        })
    }

    /// Whether limits are shared across replicas.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Applies one request for `key`.
    pub async fn check(&self, key: &str, quota: Quota, now: DateTime<Utc>) -> Decision {
        if let Some(shared) = &self.shared {
            match tokio::time::timeout(redis::TIMEOUT, shared.check(key, quota)).await {
                Ok(Ok(decision)) => return decision,
                Ok(Err(e)) => {
                    tracing::warn!(event = "ratelimit_degraded", error = %e, "Redis limiter failed; limiting in process")
                }
                Err(_) => tracing::warn!(
                    event = "ratelimit_degraded",
                    "Redis limiter timed out; limiting in process"
                ),
            }
        }
        self.memory.check(key, quota, now)
    }

    /// Redis health for `/readyz` (`None` when not configured).
    pub async fn shared_health(&self) -> Option<Result<(), String>> {
        let shared = self.shared.as_ref()?;
        Some(match tokio::time::timeout(redis::TIMEOUT * 4, shared.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let quota = Quota::new(5, Duration::from_secs(60));
        let t0 = Utc::now();
        let mut tat = None;
        for i in 0..5 {
            let (d, next) = gcra(tat, t0, quota);
            assert_eq!(d, Decision::Allow { remaining: 4 - i }, "request {i}");
            tat = next;
        }
        let (d, next) = gcra(tat, t0, quota);
        assert_eq!(d, Decision::Deny { retry_after: Duration::from_secs(12) });
        assert!(next.is_none(), "a denied request does not consume");
        // One emission interval later, exactly one more fits.
        let t1 = t0 + chrono::Duration::seconds(12);
        assert!(matches!(gcra(tat, t1, quota).0, Decision::Allow { remaining: 0 }));
        assert!(matches!(gcra(tat, t1 - chrono::Duration::milliseconds(1), quota).0, Decision::Deny { .. }));
    }

    #[test]
    fn a_clock_stepping_back_does_not_lock_a_key_out_for_the_step() {
        let quota = Quota::new(5, Duration::from_secs(60));
        let t0 = Utc::now();
        let (_, tat) = gcra(None, t0, quota);
        // Two minutes back (an NTP step): more than the whole burst window.
        let (d, next) = gcra(tat, t0 - chrono::Duration::minutes(2), quota);
        assert_eq!(d, Decision::Allow { remaining: 4 });
        assert!(next.is_some());
        // Within the window nothing else changes: a spent budget is refused.
        let mut tat = None;
        for _ in 0..5 {
            tat = gcra(tat, t0, quota).1;
        }
        assert!(matches!(gcra(tat, t0, quota).0, Decision::Deny { .. }));
    }
}
