//! The daily retention job: raw taps past their TTL become hourly summaries
//! and their day partitions are dropped; expired auth state and delivered
//! outbox rows are cleared; audit rows older than 13 months leave only once
//! exported. Every step is idempotent, so a run that died halfway is simply
//! run again; an advisory lock makes one replica do it.
//!
//! Order matters for safety: a day is summarised (and marked so in the same
//! transaction) before anything of it is dropped, and the drop step only
//! drops days already marked.

pub mod cleanup;
pub mod job_runs;
pub mod lock;
pub mod purge_deleted;
pub mod rollup;
pub mod schedule;
pub mod tap_partitions;

mod audit_purge;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

use crate::audit::{self, Entry};
use crate::clock::Clock;
use crate::domain::actor::Actor;
use shared::Keyring;

/// How long things are kept; fixed per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Days raw taps are kept (`RETENTION_TAP_DAYS`, default 90).
    pub tap_days: u32,
    /// Months audit rows are kept at least (`RETENTION_AUDIT_MONTHS`, never under 13).
    pub audit_months: u32,
    /// Rows deleted per statement in batched deletes.
    pub batch: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self { tap_days: 90, audit_months: MIN_AUDIT_MONTHS, batch: 10_000 }
    }
}

/// The shortest audit retention the job accepts (SOC 2 evidence for a year's audit window).
pub const MIN_AUDIT_MONTHS: u32 = 13;

impl Policy {
    /// The last day whose taps are due: every tap older than `tap_days`
    /// lies on or before it (the rest of that day goes a little early, as a summary).
    pub fn last_expired_day(&self, as_of: DateTime<Utc>) -> NaiveDate {
        (as_of - chrono::Duration::days(i64::from(self.tap_days))).date_naive()
    }
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// The moment the run acts for (the clock's now, or `--now`).
    pub as_of: DateTime<Utc>,
    /// Count what would be done, change nothing.
    pub dry_run: bool,
}

/// Counts per step (`taps_summarised`, `partitions_dropped`, …).
pub type Counts = BTreeMap<&'static str, i64>;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This run did the work (or, dry, counted it).
    Done {
        /// Its `job_runs` id.
        run_id: uuid::Uuid,
        /// Counts per step.
        counts: Counts,
    },
    /// Another run holds the lock; this one did nothing.
    Skipped,
}

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The job's name in `job_runs` and the audit log.
pub const JOB: &str = "retention";

/// Runs the whole job once, if no other run holds the lock.
pub async fn run(
    db: &PgPool,
    keys: &Keyring,
    clock: &dyn Clock,
    policy: Policy,
    options: RunOptions,
) -> Result<Outcome, RetentionError> {
    let Some(guard) = lock::try_acquire(db).await? else {
        tracing::info!(event = "retention_skipped", "another retention run holds the lock");
        return Ok(Outcome::Skipped);
    };
    let run_id = job_runs::start(db, JOB, options, clock.now()).await?;
    let result = steps(db, keys, clock, policy, options).await;
    let outcome = match result {
        Ok(counts) => {
            job_runs::finish(db, run_id, clock.now(), &counts).await?;
            let mut tx = db.begin().await?;
            let entry = Entry::new("retention.run", "job_run", run_id, None).after(serde_json::json!({
                "as_of": options.as_of,
                "dry_run": options.dry_run,
                "counts": counts,
            }));
            audit::record(&mut tx, keys, clock, &Actor::system(JOB), entry).await?;
            tx.commit().await?;
            tracing::info!(event = "retention_done", %run_id, dry_run = options.dry_run, counts = ?counts, "retention run finished");
            Ok(Outcome::Done { run_id, counts })
        }
        Err(e) => {
            tracing::error!(event = "retention_failed", %run_id, error = %e, "retention run failed");
            job_runs::fail(db, run_id, clock.now(), &e.to_string()).await?;
            Err(e)
        }
    };
    guard.release().await?;
    outcome
}

/// The steps in their safe order.
async fn steps(
    db: &PgPool,
    keys: &Keyring,
    clock: &dyn Clock,
    policy: Policy,
    options: RunOptions,
) -> Result<Counts, RetentionError> {
    let mut counts = Counts::new();
    let dry = options.dry_run;
    let created = if dry {
        crate::partitions::missing_ahead(db, options.as_of).await?
    } else {
        i64::from(crate::partitions::ensure_ahead(db, options.as_of).await?)
    };
    counts.insert("partitions_created", created);
    let last_day = policy.last_expired_day(options.as_of);
    let summarised = rollup::summarise_due_days(db, last_day, dry).await?;
    counts.insert("days_summarised", summarised.days);
    counts.insert("taps_summarised", summarised.hits);
    let dropped = tap_partitions::drop_summarised(db, last_day, policy.batch, dry).await?;
    counts.insert("hourly_rollup_rows_deleted", rollup::forget_hourly(db, last_day, dry).await?);
    counts.insert("partitions_dropped", dropped.partitions);
    counts.insert("taps_dropped", dropped.rows_in_partitions);
    counts.insert("default_partition_rows_deleted", dropped.rows_in_default);
    for (step, n) in cleanup::run(db, options.as_of, policy.batch, dry).await? {
        counts.insert(step, n);
    }
    let purged = purge_deleted::run(db, keys, clock, options.as_of, policy.batch, dry).await?;
    counts.insert("deleted_bands_purged", purged.bands);
    counts.insert("deleted_events_purged", purged.events);
    counts.insert("deleted_users_purged", purged.users);
    counts.insert("deleted_orgs_purged", purged.orgs);
    counts.insert("audit_rows_purged", audit_purge::run(db, options.as_of, policy, dry).await?);
    Ok(counts)
}
