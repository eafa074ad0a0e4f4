//! Day partitions of `tap_logs`, created ahead of time.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Days of partitions kept ready ahead of today.
pub const DAYS_AHEAD: i32 = 8;

/// Ensures partitions from yesterday to `DAYS_AHEAD` days out; returns how many were created.
pub async fn ensure_ahead(db: &PgPool, now: DateTime<Utc>) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT ensure_tap_partitions($1::date - 1, $2)")
        .bind(now.date_naive())
        .bind(DAYS_AHEAD + 2)
        .fetch_one(db)
        .await
}

/// How many of the partitions [`ensure_ahead`] would create are missing (for dry runs).
pub async fn missing_ahead(db: &PgPool, now: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM generate_series($1::date - 1, $1::date - 1 + $2 - 1, interval '1 day') d
         WHERE to_regclass(format('tap_logs_p%s', to_char(d, 'YYYYMMDD'))) IS NULL",
    )
    .bind(now.date_naive())
    .bind(DAYS_AHEAD + 2)
    .fetch_one(db)
    .await
}
