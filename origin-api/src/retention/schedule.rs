//! When the job runs: daily at a fixed UTC hour (default 03:00), and once
//! soon after start if the last scheduled run was missed (the process was
//! down at that hour). Every replica keeps the schedule; the lock makes
//! exactly one of them do the work.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use sqlx::PgPool;

use super::{JOB, Policy, RunOptions, job_runs};
use crate::clock::Clock;
use shared::Keyring;

/// The first scheduled moment strictly after `after`, at `hour`:00 UTC.
pub fn next_run(after: DateTime<Utc>, hour: u32) -> DateTime<Utc> {
    let at = NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or(NaiveTime::MIN);
    let today = after.date_naive().and_time(at).and_utc();
    if today > after { today } else { today + chrono::Duration::days(1) }
}

/// The latest scheduled moment at or before `now`.
pub fn previous_run(now: DateTime<Utc>, hour: u32) -> DateTime<Utc> {
    next_run(now, hour) - chrono::Duration::days(1)
}

/// Runs the job on schedule until the task is dropped.
pub async fn run_forever(db: PgPool, keys: Keyring, clock: Arc<dyn Clock>, policy: Policy, hour: u32) {
    // Catch up once if today's (or yesterday's) run never happened.
    let missed = match job_runs::last_success(&db, JOB).await {
        Ok(last) => last.is_none_or(|t| t < previous_run(clock.now(), hour)),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the last retention run");
            false
        }
    };
    if missed {
        once(&db, &keys, clock.as_ref(), policy).await;
    }
    loop {
        let now = clock.now();
        let wait = (next_run(now, hour) - now).to_std().unwrap_or(Duration::from_secs(60));
        tokio::time::sleep(wait).await;
        once(&db, &keys, clock.as_ref(), policy).await;
    }
}

async fn once(db: &PgPool, keys: &Keyring, clock: &dyn Clock, policy: Policy) {
    let options = RunOptions { as_of: clock.now(), dry_run: false };
    // A failure is logged and recorded in job_runs by `run`; tomorrow's run tries again.
    let _ = super::run(db, keys, clock, policy, options).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_next_run_is_the_coming_hour_today_or_tomorrow() {
        assert_eq!(next_run(t("2026-12-03T02:59:59Z"), 3), t("2026-12-03T03:00:00Z"));
        assert_eq!(next_run(t("2026-12-03T03:00:00Z"), 3), t("2026-12-04T03:00:00Z"));
        assert_eq!(next_run(t("2026-12-31T23:00:00Z"), 3), t("2027-01-01T03:00:00Z"));
        assert_eq!(previous_run(t("2026-12-03T10:00:00Z"), 3), t("2026-12-03T03:00:00Z"));
        assert_eq!(previous_run(t("2026-12-03T01:00:00Z"), 3), t("2026-12-02T03:00:00Z"));
    }
}
