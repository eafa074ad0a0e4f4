//! The in-process limiter (one replica, or Redis unavailable by design).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::{Decision, Quota, gcra};

/// Keys kept before old ones are swept.
const SWEEP_AT: usize = 100_000;

/// GCRA state per key, in memory.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    tats: Mutex<HashMap<String, i64>>,
}

impl MemoryLimiter {
    /// Applies one request for `key` at `now`.
    pub fn check(&self, key: &str, quota: Quota, now: DateTime<Utc>) -> Decision {
        let Ok(mut tats) = self.tats.lock() else {
            return Decision::Allow { remaining: 0 };
        };
        if tats.len() >= SWEEP_AT {
            let now_ms = now.timestamp_millis();
            tats.retain(|_, tat| *tat > now_ms);
        }
        let (decision, next) = gcra(tats.get(key).copied(), now, quota);
        if let Some(tat) = next {
            tats.insert(key.to_string(), tat);
        }
        decision
    }
}
