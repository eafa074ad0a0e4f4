//! Rate limiting with GCRA (the generic cell rate algorithm): each key has a
//! "theoretical arrival time"; a request is allowed if it is not more than
//! the burst tolerance ahead of now. One number per key, exact, and the
//! same arithmetic in process and (later) in Redis.

pub mod memory;

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

    fn emission_ms(&self) -> i64 {
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
    let tat = tat_ms.unwrap_or(now_ms).max(now_ms);
    let new_tat = tat + emission;
    let allow_at = new_tat - tolerance;
    if allow_at > now_ms {
        let wait = (allow_at - now_ms) as u64;
        return (Decision::Deny { retry_after: Duration::from_millis(wait) }, None);
    }
    let remaining = ((now_ms - allow_at) / emission).clamp(0, i64::from(u32::MAX)) as u32;
    (Decision::Allow { remaining }, Some(new_tat))
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
}
