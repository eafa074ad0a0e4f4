//! Evidence of every run: the `job_runs` table (start, end, status, counts).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Counts, RunOptions};

/// Records the start of a run; returns its id.
pub async fn start(
    db: &PgPool,
    job: &str,
    options: RunOptions,
    now: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO job_runs (id, job, as_of, dry_run, started_at, status) VALUES ($1, $2, $3, $4, $5, 'running')",
    )
    .bind(id)
    .bind(job)
    .bind(options.as_of)
    .bind(options.dry_run)
    .bind(now)
    .execute(db)
    .await?;
    Ok(id)
}

/// Marks a run succeeded with its counts.
pub async fn finish(db: &PgPool, id: Uuid, now: DateTime<Utc>, counts: &Counts) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE job_runs SET status = 'succeeded', finished_at = $2, counts = $3 WHERE id = $1")
        .bind(id)
        .bind(now)
        .bind(sqlx::types::Json(counts))
        .execute(db)
        .await?;
    Ok(())
}

/// Marks a run failed with the reason.
pub async fn fail(db: &PgPool, id: Uuid, now: DateTime<Utc>, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE job_runs SET status = 'failed', finished_at = $2, error = $3 WHERE id = $1")
        .bind(id)
        .bind(now)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

/// The latest run of `job` that succeeded (not dry), if any: when it was for.
pub async fn last_success(db: &PgPool, job: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(as_of) FROM job_runs WHERE job = $1 AND status = 'succeeded' AND NOT dry_run",
    )
    .bind(job)
    .fetch_one(db)
    .await
}
